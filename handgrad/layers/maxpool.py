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
HH * WW positions inside a window (4 for 2x2 windows), and forward keeps the running maximum.

Ties: when several elements of a window share its maximum, the first one in row-major window
order (as ``np.argmax`` and PyTorch's CPU kernel choose) is the winner. At a tie the max is not
differentiable (its slope differs on each side); the winner rule is the usual convention.
Local gradient, for an upstream gradient ``dout`` of shape (N, C, Ho, Wo):

    BEGIN DERIVATION
    dx[n, c, i*stride + a, j*stride + e] += dout[n, c, i, j] where (a, e) is the winner of
    window (i, j), and nothing from that window elsewhere.
    max passes its input through unchanged at the winner, so d out / d x is 1 there and 0 at
    every other element of the window; overlapping windows add their contributions.
    Backward compares each slice with out, in row-major order, to find every window's winner.
    When the windows tile the input (stride == size) the slices split x into disjoint pieces
    and each piece is written once; otherwise (overlap, or gaps) they add into zeros.
    END DERIVATION

The cache holds x and the returned out (not copies: do not modify either in place before
``backward``) and the options.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

# (x, out, size, stride): the input (not copied), the output, and the options as (height, width)
# pairs; backward finds each window's winner by comparing x with out.
Cache = tuple[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]]


def forward(x: np.ndarray, size: int | tuple[int, int] = 2,
            stride: int | tuple[int, int] | None = None) -> tuple[np.ndarray, Cache]:
    """Return ``(out, cache)`` with out (N, C, Ho, Wo) the maximum of every window of x."""
    (hh, ww), (sh, sw), (out_h, out_w) = check.pool_arguments("maxpool.forward", x, size, stride)
    # BEGIN SOLUTION hint: one strided slice of x per position inside the window
    out = x[:, :, 0:sh * out_h:sh, 0:sw * out_w:sw].copy()   # element (0, 0) of every window
    for k in range(1, hh * ww):                 # the other positions k = a * WW + e
        a, e = divmod(k, ww)
        np.maximum(out, x[:, :, a:a + sh * out_h:sh, e:e + sw * out_w:sw], out=out)
    # END SOLUTION
    return out, (x, out, (hh, ww), (sh, sw))


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dx`` (x's shape and dtype) for an upstream gradient of shape (N, C, Ho, Wo)."""
    op = "maxpool.backward"
    x, out, (hh, ww), (sh, sw) = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, out.shape, "to match the forward output")
    check.same_dtype(op, x=x, dout=dout)
    out_h, out_w = out.shape[2:]
    # BEGIN SOLUTION hint: the same slices as forward; in each window, which element won?
    tiles = (sh, sw) == (hh, ww)   # disjoint windows covering x: every element is written once
    dx = np.empty_like(x) if tiles else np.zeros_like(x)
    taken = np.zeros(out.shape, dtype=bool)    # windows whose maximum got dout already
    for k in range(hh * ww):                   # positions in row-major order: ties go to the first
        a, e = divmod(k, ww)
        patch = x[:, :, a:a + sh * out_h:sh, e:e + sw * out_w:sw]         # (N, C, Ho, Wo)
        first = (patch == out) & ~taken
        taken |= first
        piece = dx[:, :, a:a + sh * out_h:sh, e:e + sw * out_w:sw]
        if tiles:
            np.multiply(dout, first, out=piece)
        else:
            piece += dout * first
    # END SOLUTION
    return dx
