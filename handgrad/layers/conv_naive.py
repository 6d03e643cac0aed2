"""2-D convolution, written plainly: one output position at a time.

This is the teaching version of :mod:`handgrad.layers.conv` (same arguments, same results, same
errors); it loops over output positions so that every step is one small NumPy expression. Like
every deep-learning framework, "convolution" here is cross-correlation: the filter is not
flipped.

Shapes: x (N, C, H, W) images in NCHW order, w (F, C, HH, WW) filters, b (F,) biases, out
(N, F, Ho, Wo). ``stride`` and ``pad`` are ints or (height, width) pairs. x is padded with
``pad`` zeros on every side, giving xp of shape (N, C, H + 2*pad, W + 2*pad), and, with
s = stride::

    out[n, f, i, j] = b[f] + sum over c, a, e of  xp[n, c, i*s + a, j*s + e] * w[f, c, a, e]

    Ho = (H + 2*pad - HH) / stride + 1          Wo = (W + 2*pad - WW) / stride + 1

The filter must fit the padded input, and the stride must tile it exactly (no pixels left over
at the bottom or the right): anything else is a ``ValueError`` that says which, with the
numbers. Local gradients, for an upstream gradient ``dout`` of shape (N, F, Ho, Wo):

    BEGIN DERIVATION
    db[f]          = sum over n, i, j of  dout[n, f, i, j]
    dw[f, c, a, e] = sum over n, i, j of  dout[n, f, i, j] * xp[n, c, i*s + a, j*s + e]
    dxp[n, c, i*s + a, j*s + e] += sum over f of  dout[n, f, i, j] * w[f, c, a, e]
    Every output position (i, j) sends its gradient back through the window it read; windows
    overlap when stride < filter size, so their contributions add up. dx is dxp without the
    padding border.
    END DERIVATION

The cache holds the padded input, w, the stride and the padding.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

# (xp, w, stride, pad): the padded input (N, C, H + 2*ph, W + 2*pw), the filters, and the
# options as (height, width) pairs.
Cache = tuple[np.ndarray, np.ndarray, tuple[int, int], tuple[int, int]]


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int | tuple[int, int] = 1,
            pad: int | tuple[int, int] = 0) -> tuple[np.ndarray, Cache]:
    """Convolve x (N, C, H, W) with w (F, C, HH, WW) and add b (F,); returns ``(out, cache)``
    with out of shape (N, F, Ho, Wo), in x's dtype."""
    (sh, sw), (ph, pw), (out_h, out_w) = check.conv_arguments(
        "conv_naive.forward", x, w, b, stride, pad)
    n, _, _, _ = x.shape
    n_filters, _, hh, ww = w.shape
    # BEGIN SOLUTION hint: pad x with zeros, then one window of xp per output pixel
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.empty((n, n_filters, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = xp[:, :, i * sh:i * sh + hh, j * sw:j * sw + ww]      # (N, C, HH, WW)
            for f in range(n_filters):
                out[:, f, i, j] = np.sum(window * w[f], axis=(1, 2, 3)) + b[f]   # (N,)
    # END SOLUTION
    return out, (xp, w, (sh, sw), (ph, pw))


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dw, db)`` for an upstream gradient ``dout`` of shape (N, F, Ho, Wo)."""
    op = "conv_naive.backward"
    xp, w, (sh, sw), (ph, pw) = cache
    n, _, hp, wp = xp.shape
    n_filters, _, hh, ww = w.shape
    out_h, out_w = (hp - hh) // sh + 1, (wp - ww) // sw + 1
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, (n, n_filters, out_h, out_w), "to match the forward output")
    check.same_dtype(op, x=xp, dout=dout)
    # BEGIN SOLUTION hint: revisit each window of the forward loop: what did it read?
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(out_h):
        for j in range(out_w):
            window = xp[:, :, i * sh:i * sh + hh, j * sw:j * sw + ww]      # (N, C, HH, WW)
            for f in range(n_filters):
                g = dout[:, f, i, j][:, None, None, None]                  # (N, 1, 1, 1)
                dw[f] += np.sum(g * window, axis=0)
                dxp[:, :, i * sh:i * sh + hh, j * sw:j * sw + ww] += g * w[f]
    db = dout.sum(axis=(0, 2, 3))
    dx = dxp[:, :, ph:hp - ph, pw:wp - pw]
    # END SOLUTION
    return dx, dw, db
