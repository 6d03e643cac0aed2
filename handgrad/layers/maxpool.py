"""Max pooling over windows of an NCHW image: the largest value of each window.

Shapes: x (N, C, H, W); ``size`` is the window (HH, WW) and ``stride`` the step between
windows, each an int or a (height, width) pair; ``stride`` defaults to ``size`` (windows side
by side, as in PyTorch). out (N, C, Ho, Wo) with ``Ho = (H - HH) / stride + 1`` and
``Wo = (W - WW) / stride + 1``::

    out[n, c, i, j] = max over a < HH, e < WW of  x[n, c, i*stride + a, j*stride + e]

The window must fit the input and the stride must tile it exactly (no pixels left over at the
bottom or the right), else a ``ValueError`` says which, with the numbers. NaN propagates to
the output.

Vectorized without a loop over examples or pixels: element (a, e) of every window at once is
the strided slice ``x[:, :, a::stride, e::stride]`` (cut to Ho x Wo), so the loop runs over the
HH * WW positions inside a window (4 for 2x2 windows) and keeps, per window, the running
maximum and the position that holds it. When the windows tile the input (stride == size),
those slices split x into disjoint pieces and backward writes each piece once; otherwise
(overlapping windows, or gaps between them) backward adds into zeros.

Ties: when several elements of a window share its maximum, the first one in row-major window
order (as ``np.argmax`` and PyTorch's CPU kernel choose) is the winner. Local gradient, for an
upstream gradient ``dout`` of shape (N, C, Ho, Wo):

    BEGIN DERIVATION
    dx[n, c, i*stride + a, j*stride + e] += dout[n, c, i, j] where (a, e) is the winner of
    window (i, j), and nothing from that window elsewhere.
    max passes its input through unchanged at the winner, so d out / d x is 1 there and 0 at
    every other element of the window; overlapping windows add their contributions.
    END DERIVATION

At a tie the max is not differentiable (its slope differs on each side); the winner rule is the
usual convention. The cache holds the winner of every window, the input's shape and dtype and
the options.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

# (winner, x_shape, dtype, size, stride): the position a * WW + e of each window's maximum
# (N, C, Ho, Wo), x's shape and dtype, and the options as (height, width) pairs.
Cache = tuple[np.ndarray, tuple[int, ...], np.dtype, tuple[int, int], tuple[int, int]]


def forward(x: np.ndarray, size: int | tuple[int, int] = 2,
            stride: int | tuple[int, int] | None = None) -> tuple[np.ndarray, Cache]:
    """Return ``(out, cache)`` with out (N, C, Ho, Wo) the maximum of every window of x."""
    (hh, ww), (sh, sw), (out_h, out_w) = check.pool_arguments("maxpool.forward", x, size, stride)
    # BEGIN SOLUTION hint: one strided slice of x per position inside the window; keep the best
    out = x[:, :, 0:sh * out_h:sh, 0:sw * out_w:sw].copy()   # element (0, 0) of every window
    winner = np.zeros(out.shape, dtype=np.min_scalar_type(hh * ww - 1))
    for k in range(1, hh * ww):                 # the other positions k = a * WW + e, in order
        a, e = divmod(k, ww)
        patch = x[:, :, a:a + sh * out_h:sh, e:e + sw * out_w:sw]          # (N, C, Ho, Wo)
        better = patch > out                    # strictly: a tie keeps the earlier element
        np.copyto(winner, k, where=better)
        np.maximum(out, patch, out=out)
    # END SOLUTION
    return out, (winner, x.shape, x.dtype, (hh, ww), (sh, sw))


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dx`` (x's shape and dtype) for an upstream gradient of shape (N, C, Ho, Wo)."""
    op = "maxpool.backward"
    winner, x_shape, dtype, (hh, ww), (sh, sw) = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, winner.shape, "to match the forward output")
    check.dtype_is(op, "dout", dout, dtype, "x")
    out_h, out_w = winner.shape[2:]
    # BEGIN SOLUTION hint: the same slices as forward; which element of each window won?
    tiles = (sh, sw) == (hh, ww)   # disjoint windows covering x: every element is written once
    dx = np.empty(x_shape, dtype) if tiles else np.zeros(x_shape, dtype)
    for k in range(hh * ww):
        a, e = divmod(k, ww)
        piece = dx[:, :, a:a + sh * out_h:sh, e:e + sw * out_w:sw]         # (N, C, Ho, Wo)
        if tiles:
            np.multiply(dout, winner == k, out=piece)
        else:
            piece += dout * (winner == k)
    # END SOLUTION
    return dx
