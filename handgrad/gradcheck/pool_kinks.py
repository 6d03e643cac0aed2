"""Distance from a max pool's input to its kinks: the ties inside a pooling window.

``out = max(window)`` is not differentiable where two elements of a window are equal and
largest. Along the coordinate of one element v of a window with maximum m1 and runner-up m2,
the nearest tie is ``m1 - v`` away when v is not the maximum (raise v until it ties) and
``m1 - m2`` when it is (lower it until the runner-up ties). An element that sits in several
windows takes the smallest distance; one that sits in none has no kink (``inf``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def max_pool_kinks(x: np.ndarray, size: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Each element's distance to the nearest tie, for x (N, C, H, W) pooled with windows
    ``size`` = (HH, WW) taken every ``stride`` = (sh, sw); shaped like x."""
    hh, ww = size
    sh, sw = stride
    distance = np.full(x.shape, np.inf)
    if hh * ww == 1:
        return distance                          # a window of one element: the identity
    windows = sliding_window_view(x, (hh, ww), axis=(2, 3))[:, :, ::sh, ::sw]
    out_h, out_w = windows.shape[2:4]
    flat = windows.reshape(*windows.shape[:4], hh * ww)
    ranked = np.sort(flat, axis=-1)
    best, runner_up = ranked[..., -1:], ranked[..., -2:-1]
    is_best = np.arange(hh * ww) == np.argmax(flat, axis=-1)[..., None]
    to_tie = np.where(is_best, best - runner_up, best - flat)      # (N, C, Ho, Wo, HH*WW)
    for k in range(hh * ww):
        a, e = divmod(k, ww)
        piece = distance[:, :, a:a + sh * out_h:sh, e:e + sw * out_w:sw]
        np.minimum(piece, to_tie[..., k], out=piece)
    return distance
