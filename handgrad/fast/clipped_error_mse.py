"""Tuned twin of :mod:`handgrad.losses.clipped_error_mse`: the same functions, arguments, results
and errors. Read that module for the math.

Both passes run through :func:`handgrad.fast._blocks.elementwise`: cache-sized blocks of the
flattened arrays, spread over the CPU cores. One pass of the forward forms the error, clips it
against constant arrays, sums its square as a dot product per block (the block sums are added
in block order, so the loss does not depend on the number of threads) and gates it; the
backward scales the gated error into both gradients in one pass.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check
from handgrad.fast._blocks import constant, elementwise

Cache = tuple[np.ndarray, int]  # (r where |r| <= clip else 0, n)


def forward(pred: np.ndarray, target: np.ndarray,
            clip: float = 1.0) -> tuple[np.floating, Cache]:
    """:func:`handgrad.losses.clipped_error_mse.forward`, tuned: ``(loss, cache)``."""
    op = "clipped_error_mse.forward"
    check.prediction_pair(op, pred, target)
    check.positive_real(op, "clip", clip)
    n = pred.size
    gated = np.empty(pred.shape, pred.dtype)
    low, high = constant(-clip, pred.dtype), constant(clip, pred.dtype)

    def kernel(g: np.ndarray, p: np.ndarray, t: np.ndarray, r: np.ndarray,
               k: np.ndarray) -> np.floating:
        np.subtract(p, t, out=r)
        np.maximum(r, low[: r.size], out=k)
        np.minimum(k, high[: r.size], out=k)
        total = k @ k
        np.abs(r, out=r)
        np.less_equal(r, high[: r.size], out=r)   # 1 inside the clip, 0 outside
        np.multiply(k, r, out=g)                  # k == r inside; NaN stays NaN
        return total

    with np.errstate(over="ignore"):  # an error too large for the dtype is still clipped to c
        partial_sums = elementwise(kernel, gated, pred, target, scratch=2)
    loss = np.sum(np.array(partial_sums, dtype=pred.dtype)) / (2 * n)
    return loss, (gated, n)


def backward(dout: float | np.floating | np.ndarray,
             cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """:func:`handgrad.losses.clipped_error_mse.backward`, tuned: ``(dpred, dtarget)``."""
    gated, n = cache
    g = check.scalar_dout("clipped_error_mse.backward", dout, gated.dtype) / n
    dpred = np.empty(gated.shape, gated.dtype)
    dtarget = np.empty(gated.shape, gated.dtype)

    def kernel(dp: np.ndarray, dt: np.ndarray, r: np.ndarray) -> None:
        np.multiply(r, g, out=dp)
        np.negative(dp, out=dt)

    elementwise(kernel, dpred, dtarget, gated, n_out=2)
    return dpred, dtarget

