import numpy as np


def forward(x):
    return np.maximum(x, 0), x


def backward(dout, cache):
    raise KeyboardInterrupt
