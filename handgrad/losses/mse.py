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
    r = np.subtract(pred, target, out=np.empty(pred.shape, pred.dtype))
    flat = r.reshape(-1)
    loss = np.einsum("i,i->", flat, flat) / r.size
    return loss, r


def backward(dout: float | np.floating | np.ndarray,
             cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(dpred, dtarget)`` for an upstream scalar ``dout``."""
    r = cache
    dout = check.scalar_dout("mse.backward", dout, r.dtype)
    # BEGIN SOLUTION hint: r is cached; how does the mean of the squares move with pred?
    # out= keeps a 0-d input's gradient a 0-d array, where a product would give a scalar
    dpred = np.multiply(r, 2 * dout / r.size, out=np.empty_like(r))
    dtarget = np.negative(dpred, out=np.empty_like(dpred))
    # END SOLUTION
    return dpred, dtarget
