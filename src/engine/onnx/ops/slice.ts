// Op family slice: rules registered here (being written).
