// Op family matmul: rules registered here (being written).
