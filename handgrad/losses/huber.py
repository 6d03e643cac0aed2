"""Huber loss, averaged over all elements (``torch.nn.HuberLoss``, reduction='mean').

Shapes: pred and target of one shape and dtype, n = pred.size elements; loss is a NumPy scalar
of their dtype; dpred and dtarget have their shape and dtype. ``delta > 0`` (default 1.0).

    r    = pred - target
    loss = mean( 0.5 * r**2              where |r| <= delta
                 delta * (|r| - delta/2) elsewhere )

Quadratic near zero, linear beyond delta, so one outlier cannot dominate the gradient.

BEGIN DERIVATION
Local gradients, for an upstream scalar dout::

    dpred   = dout * clip(r, -delta, delta) / n
    dtarget = -dpred

For a large error the gradient is +-delta / n, not 0: Huber clips the gradient, and clipping the
error r itself before squaring would zero it instead.
END DERIVATION
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = tuple[np.ndarray, int]  # (clip(r, -delta, delta), n)


def forward(pred: np.ndarray, target: np.ndarray,
            delta: float = 1.0) -> tuple[np.floating, Cache]:
    """Return ``(loss, cache)``: the mean Huber loss of ``pred - target`` with threshold delta."""
    op = "huber.forward"
    check.prediction_pair(op, pred, target)
    delta = float(check.positive_real(op, "delta", delta))  # a NumPy float64 would upcast
    n = pred.size
    # BEGIN SOLUTION hint: the residual, its clipped copy for the cache, then the mean loss
    residual = pred - target
    clipped = np.clip(residual, -delta, delta)
    # clipped * (r - clipped / 2) is r**2 / 2 where |r| <= delta and delta * (|r| - delta/2)
    # elsewhere: both pieces in one expression, and no r**2 that could overflow
    loss = np.mean(clipped * (residual - clipped / 2))
    # END SOLUTION
    return loss, (clipped, n)


def backward(dout: float | np.floating | np.ndarray,
             cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(dpred, dtarget)`` for an upstream scalar ``dout``."""
    clipped, n = cache
    dout = check.scalar_dout("huber.backward", dout, clipped.dtype)
    # BEGIN SOLUTION hint: differentiate each piece by r; how does r move with pred, with target?
    dpred = clipped * (dout / n)
    dtarget = np.negative(dpred)
    # END SOLUTION
    return np.asarray(dpred), np.asarray(dtarget)   # 0-d inputs: arrays, not NumPy scalars
