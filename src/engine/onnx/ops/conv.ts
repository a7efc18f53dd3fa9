// Op family conv: rules registered here (being written).
