"""2-D convolution as one matrix product (im2col): the vectorized layer.

Same arguments, results and errors as the teaching version :mod:`handgrad.layers.conv_naive`,
which states the definition; this module computes it without a Python loop over examples,
pixels or filters. "Convolution" is cross-correlation, as in every deep-learning framework.

Shapes: x (N, C, H, W), w (F, C, HH, WW), b (F,), out (N, F, Ho, Wo) with
``Ho = (H + 2*pad - HH) / stride + 1`` and ``Wo = (W + 2*pad - WW) / stride + 1``; ``stride``
and ``pad`` are ints or (height, width) pairs. The filter must fit the padded input and the
stride must tile it exactly, else a ``ValueError`` says which, with the numbers.

im2col: pad x with zeros to xp, and copy the window that output pixel (i, j) of example n
reads into column ``i * Wo + j`` of a matrix ``cols[n]`` of shape (K, Ho*Wo), K = C*HH*WW
(``np.lib.stride_tricks.sliding_window_view`` gives every window as a view; the copy
happens once). With ``w2 = w.reshape(F, K)``, the whole forward pass is::

    out[n] = w2 @ cols[n] + b[:, None]      # (F, Ho*Wo), for every n in one batched product

Local gradients, for an upstream gradient ``dout`` of shape (N, F, Ho, Wo) seen as
``dout[n]`` of shape (F, Ho*Wo):

    BEGIN DERIVATION
    db    = dout summed over n and over the pixels           # (F,)
    dw2   = sum over n of dout[n] @ cols[n].T                # (F, K), reshaped to w's shape
    dcols = w2.T @ dout[n]                                   # (K, Ho*Wo), for every n
    col2im: every column of dcols goes back, added, to the window of xp it was copied from;
    windows overlap when stride < filter size. dx is that sum without the padding border.
    col2im loops over the HH*WW positions inside the filter (9 for a 3x3 filter): position
    (a, e) of every window at once is a strided slice of xp.
    END DERIVATION

The cache holds cols, w and the geometry, so it takes K times the memory of x.
:mod:`handgrad.fast.conv` is a tuned twin with the same contract that the models use.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from handgrad import _validation as check

# (cols, w, x_shape, stride, pad): the columns (N, C*HH*WW, Ho*Wo), the filters, x's shape and
# the options as (height, width) pairs.
Cache = tuple[np.ndarray, np.ndarray, tuple[int, ...], tuple[int, int], tuple[int, int]]


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int | tuple[int, int] = 1,
            pad: int | tuple[int, int] = 0) -> tuple[np.ndarray, Cache]:
    """Convolve x (N, C, H, W) with w (F, C, HH, WW) and add b (F,); returns ``(out, cache)``
    with out of shape (N, F, Ho, Wo), in x's dtype."""
    (sh, sw), (ph, pw), (out_h, out_w) = check.conv_arguments(
        "conv.forward", x, w, b, stride, pad)
    n, c, _, _ = x.shape
    n_filters, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    # windows[n, c, i, j] is the (HH, WW) patch that output pixel (i, j) reads.
    windows = sliding_window_view(xp, (hh, ww), axis=(2, 3))[:, :, ::sh, ::sw]
    # One column per output pixel, rows ordered (c, a, e) like w's last three axes.
    cols = windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * hh * ww, out_h * out_w)
    out = w.reshape(n_filters, -1) @ cols          # (N, F, Ho*Wo): one product for the batch
    out += b[:, None]                              # in place: out is a fresh array
    return out.reshape(n, n_filters, out_h, out_w), (cols, w, x.shape, (sh, sw), (ph, pw))


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dw, db)`` for an upstream gradient ``dout`` of shape (N, F, Ho, Wo)."""
    op = "conv.backward"
    cols, w, x_shape, (sh, sw), (ph, pw) = cache
    n, c, h, width = x_shape
    n_filters, _, hh, ww = w.shape
    out_h = (h + 2 * ph - hh) // sh + 1
    out_w = (width + 2 * pw - ww) // sw + 1
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, (n, n_filters, out_h, out_w), "to match the forward output")
    check.same_dtype(op, x=cols, dout=dout)
    # BEGIN SOLUTION hint: see dout[n] as (F, Ho*Wo) and retrace the forward product
    dout_cols = dout.reshape(n, n_filters, out_h * out_w)
    db = dout_cols.sum(axis=(0, 2))
    dw = (dout_cols @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    dcols = w.reshape(n_filters, -1).T @ dout_cols                    # (N, K, Ho*Wo)
    dcols = dcols.reshape(n, c, hh, ww, out_h, out_w)
    dxp = np.zeros((n, c, h + 2 * ph, width + 2 * pw), dtype=dout.dtype)
    for a in range(hh):             # col2im: filter row a and column e of every window at once
        for e in range(ww):
            dxp[:, :, a:a + sh * out_h:sh, e:e + sw * out_w:sw] += dcols[:, :, a, e]
    dx = dxp[:, :, ph:ph + h, pw:pw + width]
    # END SOLUTION
    return dx, dw, db
