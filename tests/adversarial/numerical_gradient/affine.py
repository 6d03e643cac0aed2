import numpy as np


def forward(x, w, b):
    x2 = x.reshape(x.shape[0], -1)
    return x2 @ w + b, (x2, w, x.shape)


def good(dout, cache):
    x2, w, shape = cache
    return (dout @ w.T).reshape(shape), x2.T @ dout, dout.sum(axis=0)


def backward(dout, cache):
    x2, w, shape = cache
    x = x2.reshape(shape)
    b = np.zeros(w.shape[1])
    grads = []
    for arr in (x, w, b):
        g = np.zeros_like(arr)
        it = np.nditer(arr, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = arr[i]
            arr[i] = old + 1e-5
            plus = forward(x, w, b)[0]
            arr[i] = old - 1e-5
            minus = forward(x, w, b)[0]
            arr[i] = old
            g[i] = np.sum((plus - minus) * dout) / 2e-5
        grads.append(g)
    return tuple(grads)
