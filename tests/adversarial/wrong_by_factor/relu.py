import numpy as np


def forward(x):
    return np.maximum(x, 0), x


def backward(dout, cache):
    return 2 * dout * (cache > 0)
