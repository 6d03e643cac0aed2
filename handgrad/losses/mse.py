"""Mean squared error, averaged over all elements (``torch.nn.MSELoss``, reduction='mean').

Shapes: pred and target of one shape and dtype, n = pred.size elements; loss is a NumPy scalar
of their dtype; dpred and dtarget have their shape and dtype.

    r    = pred - target
    loss = mean(r**2)          # no factor 1/2, as in PyTorch

BEGIN DERIVATION
Local gradients, for an upstream scalar dout::

    dpred   = 2 * dout * r / n
    dtarget = -dpred
END DERIVATION
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = np.ndarray  # r = pred - target


def forward(pred: np.ndarray, target: np.ndarray) -> tuple[np.floating, Cache]:
    """Return ``(loss, cache)`` with ``loss = mean((pred - target)**2)`` (no factor 1/2)."""
    op = "mse.forward"
    check.prediction_pair(op, pred, target)
    r = pred - target
    loss = np.mean(r ** 2)
    return loss, r


def backward(dout: float | np.floating | np.ndarray,
             cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(dpred, dtarget)`` for an upstream scalar ``dout``."""
    r = cache
    dout = check.scalar_dout("mse.backward", dout, r.dtype)
    # BEGIN SOLUTION hint: r is cached; how does the mean of the squares move with pred?
    dpred = r * (2 * dout / r.size)
    dtarget = -dpred
    # END SOLUTION
    return np.asarray(dpred), np.asarray(dtarget)   # 0-d inputs: arrays, not NumPy scalars
