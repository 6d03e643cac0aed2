"""Squared loss of a clipped error, averaged over all elements (the clipped-TD-error bug).

Shapes: pred and target of one shape and dtype, n = pred.size elements; loss is a NumPy scalar
of their dtype; dpred and dtarget have their shape and dtype. ``clip > 0`` (default 1.0).

    r    = pred - target
    loss = mean( clip(r, -c, c) ** 2 ) / 2

This is what clipping the error before squaring computes (``clip_by_value`` on a DQN's TD
error). Where ``|r| <= c`` it equals the Huber loss with ``delta = c``; beyond, it is the
constant ``c**2 / 2``.

BEGIN DERIVATION
Local gradients, for an upstream scalar dout::

    dpred   = dout * r / n    where |r| <= c
            = 0               where |r| >  c
    dtarget = -dpred

Every element whose error exceeds the clip gets exactly zero gradient: the examples that are
most wrong teach the model nothing. The Huber loss clips the gradient instead (``+-c / n``).
The gradient jumps at ``|r| = c`` (a kink); there it is ``r / n``, as ``clip_by_value`` passes
the gradient when the value equals a bound.
END DERIVATION
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check
from handgrad._blocks import constant, elementwise

Cache = tuple[np.ndarray, int]  # (r where |r| <= clip else 0, n)


def forward(pred: np.ndarray, target: np.ndarray,
            clip: float = 1.0) -> tuple[np.floating, Cache]:
    """Return ``(loss, cache)``: half the mean of the squared error clipped to ``[-clip, clip]``."""
    op = "clipped_error_mse.forward"
    check.prediction_pair(op, pred, target)
    check.positive_real(op, "clip", clip)
    n = pred.size
    # BEGIN SOLUTION hint: the residual, clipped to [-clip, clip], then half the mean of its squares
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
    # END SOLUTION
    return loss, (gated, n)


def backward(dout: float | np.floating | np.ndarray,
             cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(dpred, dtarget)`` for an upstream scalar ``dout``."""
    gated, n = cache
    g = check.scalar_dout("clipped_error_mse.backward", dout, gated.dtype) / n
    # BEGIN SOLUTION hint: where the clip is active, does the loss still move with pred?
    dpred = np.empty(gated.shape, gated.dtype)
    dtarget = np.empty(gated.shape, gated.dtype)

    def kernel(dp: np.ndarray, dt: np.ndarray, r: np.ndarray) -> None:
        np.multiply(r, g, out=dp)
        np.negative(dp, out=dt)

    elementwise(kernel, dpred, dtarget, gated, n_out=2)
    # END SOLUTION
    return dpred, dtarget

