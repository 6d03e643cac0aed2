"""Softmax cross-entropy of class scores against integer labels, averaged over the batch.

Shapes: scores (N, C) float, y (N,) integer labels in [0, C); loss is a NumPy scalar of
scores' dtype; dscores has scores' shape and dtype (y gets no gradient).

    p[i, :] = softmax(scores[i, :]) = exp(scores[i, :]) / sum_j exp(scores[i, j])
    loss    = mean_i( -log p[i, y[i]] )
            = mean_i( log sum_j exp(scores[i, j] - m[i]) - (scores[i, y[i]] - m[i]) )

with ``m[i] = max_j scores[i, j]``: subtracting the row maximum makes every exponent <= 0, so
logits of +-1e4 give a finite loss and gradient.

BEGIN DERIVATION
Local gradient, for an upstream scalar dout::

    dscores = dout * (p - onehot(y)) / N

Every row of dscores sums to zero, and only the correct class's entry can be negative.
END DERIVATION
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = tuple[np.ndarray, np.ndarray]  # (p, y): the softmax probabilities (N, C) and the labels


def forward(scores: np.ndarray, y: np.ndarray) -> tuple[np.floating, Cache]:
    """Return ``(loss, cache)``: the mean over the batch of ``-log softmax(scores)[i, y[i]]``."""
    op = "softmax_cross_entropy.forward"
    check.float_array(op, "scores", scores, ndim=2)
    n, c = scores.shape
    if n == 0 or c == 0:
        raise ValueError(f"{op}: scores must have at least one example and one class, "
                         f"got shape {scores.shape}")
    check.labels(op, "y", y, n, c)
    # BEGIN SOLUTION hint: shift rows by their max; loss = mean(logsumexp - shifted[y]); p = softmax
    row_max = scores.max(axis=1)
    p = scores - row_max[:, None]
    with np.errstate(under="ignore"):  # exp of a very negative shifted score is 0: fine
        np.exp(p, out=p)
    z = p.sum(axis=1)                   # sum_j exp(scores[i, j] - row_max[i]), at least 1
    p *= (1 / z)[:, None]
    loss = np.mean(np.log(z) - (scores[np.arange(n), y] - row_max))
    # END SOLUTION
    return loss, (p, y)


def backward(dout: float | np.floating | np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dscores`` (N, C) for an upstream scalar ``dout``."""
    p, y = cache
    dout = check.scalar_dout("softmax_cross_entropy.backward", dout, p.dtype)
    # BEGIN SOLUTION hint: differentiate one example's -log p[y] by each score; p is cached
    n = p.shape[0]
    dscores = p * (dout / n)
    dscores[np.arange(n), y] -= dout / n
    # END SOLUTION
    return dscores
