import numpy as np


def forward(x, w, b):
    x2 = x.reshape(x.shape[0], -1)
    return x2 @ w + b, (x2, w, x.shape)


def backward(dout, cache)
    return None
