// Op family unary: rules registered here (being written).
