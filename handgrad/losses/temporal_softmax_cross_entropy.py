"""Temporal softmax cross-entropy with a mask, for sequence models.

Shapes: scores (N, T, V) float, y (N, T) integer targets in [0, V), mask (N, T) bool
(``None`` means every position counts). With ``p = softmax(scores[n, t])``::

    loss = -(1/N) * sum over (n, t) with mask[n, t] of log p[y[n, t]]

The sum runs over the unmasked time steps and is divided by the batch size N, not by the
number of unmasked steps: this is CS231n's ``temporal_softmax_loss`` convention, so the loss
grows with the sequence length and one (N, T) batch weighs every character the same.
Targets at masked-out positions are ignored (they may be any integer, e.g. -1 padding).

BEGIN DERIVATION
Local gradient, for a scalar upstream gradient ``dout``::

    dscores[n, t] = dout * mask[n, t] * (p - onehot(y[n, t])) / N      # (N, T, V)
END DERIVATION

Stable for logits of any size: the row maximum is subtracted before exponentiating, and the
log-probability is ``shifted[y] - log(sum(exp(shifted)))``.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = tuple[np.ndarray, np.ndarray, np.ndarray]


def forward(scores: np.ndarray, y: np.ndarray,
            mask: np.ndarray | None = None) -> tuple[np.floating, Cache]:
    """Return ``(loss, cache)``: the masked cross-entropy summed over time, averaged over N."""
    op = "temporal_softmax_cross_entropy.forward"
    check.float_array(op, "scores", scores, ndim=3)
    n, t, v = scores.shape
    if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu":
        got = y.dtype if isinstance(y, np.ndarray) else type(y).__name__
        raise TypeError(f"{op}: y must be an integer numpy array of class indices, got {got}")
    check.shape_is(op, "y", y, (n, t), "(one target per time step of scores)")
    if mask is None:
        mask = np.ones((n, t), dtype=bool)
    elif not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        got = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
        raise TypeError(f"{op}: mask must be a bool numpy array, got {got}")
    check.shape_is(op, "mask", mask, (n, t), "(one flag per time step of scores)")
    counted = y[mask]
    if counted.size and (counted.min() < 0 or counted.max() >= v):
        bad = counted[(counted < 0) | (counted >= v)][0]
        raise ValueError(f"{op}: y must hold class indices in [0, {v}) at unmasked positions, "
                         f"found {int(bad)}")
    y_safe = np.where(mask, y, 0)

    probs = scores - scores.max(axis=2, keepdims=True)
    correct = np.take_along_axis(probs, y_safe[:, :, None], axis=2)[:, :, 0]
    np.exp(probs, out=probs)
    sums = probs.sum(axis=2, keepdims=True)
    probs /= sums
    log_p = correct - np.log(sums[:, :, 0])
    loss = -log_p[mask].sum() / n if n else np.zeros((), dtype=scores.dtype)
    return scores.dtype.type(loss), (probs, y_safe, mask)


def backward(dout: float | np.floating | np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dscores`` (N, T, V) for a scalar upstream gradient ``dout`` (usually 1.0)."""
    probs, y, mask = cache
    g = check.scalar_dout("temporal_softmax_cross_entropy.backward", dout, probs.dtype)
    # BEGIN SOLUTION hint: softmax cross-entropy at every (n, t); what do masked positions get?
    n = probs.shape[0]
    scale = g / probs.dtype.type(max(n, 1))
    dscores = probs.copy()
    rows, steps = np.arange(n)[:, None], np.arange(y.shape[1])[None, :]
    dscores[rows, steps, y] -= 1
    dscores *= (mask * scale)[:, :, None].astype(probs.dtype, copy=False)
    # END SOLUTION
    return dscores
