// Op family compare: rules registered here (being written).
