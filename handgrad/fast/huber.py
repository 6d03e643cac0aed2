"""Tuned twin of :mod:`handgrad.losses.huber`: the same functions, arguments, results and
errors. Read that module for the math.

Every array is allocated once, C-contiguous, and written with ``out=``; the loss, the mean of
``c * (r - c/2)`` with ``c = clip(r, -delta, delta)``, is summed as two dot products
(``einsum``) without a temporary for the elementwise loss.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = tuple[np.ndarray, int]  # (clip(r, -delta, delta), n)


def forward(pred: np.ndarray, target: np.ndarray,
            delta: float = 1.0) -> tuple[np.floating, Cache]:
    """:func:`handgrad.losses.huber.forward`, tuned: ``(loss, cache)``."""
    op = "huber.forward"
    check.prediction_pair(op, pred, target)
    check.positive_real(op, "delta", delta)
    n = pred.size
    d = pred.dtype.type(delta)
    r = np.subtract(pred, target, out=np.empty(pred.shape, pred.dtype))
    clipped = np.clip(r, -d, d, out=np.empty_like(r))
    # The elementwise loss is c * (r - c/2) with c = clipped: r**2 / 2 where |r| <= delta and
    # delta * (|r| - delta/2) elsewhere. Summed as two dot products, without temporaries.
    c, r = clipped.reshape(-1), r.reshape(-1)
    loss = (np.einsum("i,i->", c, r) - 0.5 * np.einsum("i,i->", c, c)) / n
    return loss, (clipped, n)


def backward(dout: float | np.floating | np.ndarray,
             cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """:func:`handgrad.losses.huber.backward`, tuned: ``(dpred, dtarget)``."""
    clipped, n = cache
    g = check.scalar_dout("huber.backward", dout, clipped.dtype) / n
    dpred = np.multiply(clipped, g, out=np.empty_like(clipped))
    dtarget = np.negative(dpred, out=np.empty_like(dpred))
    return dpred, dtarget
