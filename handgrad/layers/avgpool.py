"""Average pooling over windows of an NCHW image: the mean value of each window.

Shapes: x (N, C, H, W); ``size`` is the window (HH, WW) and ``stride`` the step between
windows, each an int or a (height, width) pair; ``stride`` defaults to ``size`` (windows side
by side, as in PyTorch). out (N, C, Ho, Wo) with ``Ho = (H - HH) / stride + 1`` and
``Wo = (W - WW) / stride + 1``::

    out[n, c, i, j] = sum over a < HH, e < WW of  x[n, c, i*stride + a, j*stride + e] / (HH*WW)

The window must fit the input and the stride must tile it exactly, else a ``ValueError`` says
which, with the numbers. As in :mod:`handgrad.layers.maxpool`, element (a, e) of every window
at once is a strided slice of x, so the only loop runs over the HH * WW positions inside a
window. Local gradient, for an upstream gradient ``dout`` of shape (N, C, Ho, Wo):

    BEGIN DERIVATION
    dx[n, c, i*stride + a, j*stride + e] += dout[n, c, i, j] / (HH * WW)   for every a, e
    Each element of a window moves its mean by 1 / (HH * WW) of its own change; overlapping
    windows add their contributions, and pixels in no window get 0. When the windows tile the
    input (stride == size) each slice of dx is written once; otherwise they add into zeros.
    END DERIVATION

The cache holds only the shapes, the dtype and the options.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

# (x_shape, dtype, size, stride): x's shape and dtype and the options as (height, width) pairs.
Cache = tuple[tuple[int, ...], np.dtype, tuple[int, int], tuple[int, int]]


def forward(x: np.ndarray, size: int | tuple[int, int] = 2,
            stride: int | tuple[int, int] | None = None) -> tuple[np.ndarray, Cache]:
    """Return ``(out, cache)`` with out (N, C, Ho, Wo) the mean of every window of x."""
    (hh, ww), (sh, sw), (out_h, out_w) = check.pool_arguments("avgpool.forward", x, size, stride)
    out = x[:, :, 0:sh * out_h:sh, 0:sw * out_w:sw].copy()   # element (0, 0) of every window
    for k in range(1, hh * ww):                 # the other positions k = a * WW + e
        a, e = divmod(k, ww)
        out += x[:, :, a:a + sh * out_h:sh, e:e + sw * out_w:sw]
    out *= x.dtype.type(1 / (hh * ww))          # in place: out is a fresh array
    return out, (x.shape, x.dtype, (hh, ww), (sh, sw))


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dx`` (x's shape and dtype) for an upstream gradient of shape (N, C, Ho, Wo)."""
    op = "avgpool.backward"
    x_shape, dtype, (hh, ww), (sh, sw) = cache
    out_h = (x_shape[2] - hh) // sh + 1
    out_w = (x_shape[3] - ww) // sw + 1
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, x_shape[:2] + (out_h, out_w), "to match the forward output")
    check.dtype_is(op, "dout", dout, dtype, "x")
    # BEGIN SOLUTION hint: how much does each element of a window move its mean?
    share = dout * dtype.type(1 / (hh * ww))
    tiles = (sh, sw) == (hh, ww)   # disjoint windows covering x: every element is written once
    dx = np.empty(x_shape, dtype) if tiles else np.zeros(x_shape, dtype)
    for k in range(hh * ww):
        a, e = divmod(k, ww)
        piece = dx[:, :, a:a + sh * out_h:sh, e:e + sw * out_w:sw]         # (N, C, Ho, Wo)
        if tiles:
            piece[...] = share
        else:
            piece += share
    # END SOLUTION
    return dx
