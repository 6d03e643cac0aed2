"""Multiclass SVM (hinge) loss of class scores against integer labels, averaged over the batch
(Weston and Watkins; CS231n's ``svm_loss``)::

    margins[i, j] = max(0, scores[i, j] - scores[i, y[i]] + margin)     for j != y[i]
    margins[i, y[i]] = 0
    loss = mean_i sum_j margins[i, j]

Shapes: scores (N, C) float, y (N,) integer labels in [0, C); loss is a NumPy scalar of scores'
dtype; dscores has scores' shape and dtype (y gets no gradient). ``margin > 0`` (default 1.0,
CS231n's delta) is a keyword.

A wrong class costs nothing once its score is at least ``margin`` below the correct one:
unlike softmax cross-entropy, a well-classified example stops contributing.
``torch.nn.functional.multi_margin_loss(scores, y, margin=margin)`` is the same loss divided
by C (PyTorch averages the hinge terms over the classes too), so
``svm.forward(scores, y)[0] == C * multi_margin_loss(scores, y)``.

Local gradient, for an upstream scalar ``dout``:

    BEGIN DERIVATION
    with ``active[i, j] = 1`` where ``margins[i, j] > 0`` and 0 elsewhere (0 at the kink
    margins == 0, and for j == y[i]):

    dscores[i, j]    = dout / N * active[i, j]                       for j != y[i]
    dscores[i, y[i]] = -dout / N * sum_j active[i, j]

    Every row of dscores sums to zero: each violated margin pushes its wrong class down and
    the correct class up by the same amount.
    END DERIVATION
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

DEFAULT_MARGIN = 1.0

Cache = tuple[np.ndarray, np.ndarray, np.dtype]  # (active (N, C) bool, y, the scores' dtype)


def forward(scores: np.ndarray, y: np.ndarray,
            margin: float = DEFAULT_MARGIN) -> tuple[np.floating, Cache]:
    """Return ``(loss, cache)``: the mean over the batch of the summed hinge margins."""
    op = "svm.forward"
    check.float_array(op, "scores", scores, ndim=2)
    n, c = scores.shape
    if n == 0 or c == 0:
        raise ValueError(f"{op}: scores must have at least one example and one class, "
                         f"got shape {scores.shape}")
    check.labels(op, "y", y, n, c)
    margin = float(check.positive_real(op, "margin", margin))  # a NumPy float64 upcasts
    rows = np.arange(n)
    # BEGIN SOLUTION hint: compare each score with its row's correct one; the correct class adds 0
    correct = scores[rows, y][:, None]                          # (N, 1)
    margins = np.maximum(0, scores - correct + margin)          # (N, C)
    margins[rows, y] = 0
    loss = margins.sum() / n
    active = margins > 0
    # END SOLUTION
    return scores.dtype.type(loss), (active, y, scores.dtype)


def backward(dout: float | np.floating | np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dscores`` for an upstream scalar ``dout``."""
    active, y, dtype = cache
    dout = check.scalar_dout("svm.backward", dout, dtype)
    # BEGIN SOLUTION hint: which margins are active, and how does each move its two scores?
    n = active.shape[0]
    dscores = active * (dout / n)
    dscores[np.arange(n), y] = -active.sum(axis=1) * (dout / n)
    # END SOLUTION
    return dscores
