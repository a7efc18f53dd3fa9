// Op family norm: rules registered here (being written).
