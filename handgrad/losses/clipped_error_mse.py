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

Cache = tuple[np.ndarray, int]  # (r where |r| <= clip else 0, n)


def forward(pred: np.ndarray, target: np.ndarray,
            clip: float = 1.0) -> tuple[np.floating, Cache]:
    """Return ``(loss, cache)``: half the mean of the squared error clipped to ``[-clip, clip]``."""
    op = "clipped_error_mse.forward"
    check.prediction_pair(op, pred, target)
    clip = float(check.positive_real(op, "clip", clip))  # a NumPy float64 would upcast
    n = pred.size
    # BEGIN SOLUTION hint: the residual, clipped to [-clip, clip], then half the mean of its squares
    with np.errstate(over="ignore"):  # an error too large for the dtype is still clipped to c
        r = pred - target
    k = np.clip(r, -clip, clip)
    loss = np.mean(k ** 2) / 2
    inside = np.abs(r) <= clip
    gated = k * inside                              # k == r inside, 0 outside; NaN stays NaN
    # END SOLUTION
    return loss, (gated, n)


def backward(dout: float | np.floating | np.ndarray,
             cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(dpred, dtarget)`` for an upstream scalar ``dout``."""
    gated, n = cache
    dout = check.scalar_dout("clipped_error_mse.backward", dout, gated.dtype)
    # BEGIN SOLUTION hint: where the clip is active, does the loss still move with pred?
    dpred = gated * (dout / n)
    dtarget = -dpred
    # END SOLUTION
    return np.asarray(dpred), np.asarray(dtarget)   # 0-d inputs: arrays, not NumPy scalars

