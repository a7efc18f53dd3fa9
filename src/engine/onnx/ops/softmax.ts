// Op family softmax: rules registered here (being written).
