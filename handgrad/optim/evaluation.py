"""The Solver's metrics: accuracy and mean squared error of test-mode predictions, in batches.

The model is called as ``model.loss(X)`` (scores, no labels) on consecutive slices of
``batch_size`` examples. ``subsample`` draws the random subset the Solver measures on after
every epoch; ``is_better`` says which direction is better for each task.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from handgrad.contracts import Model


def subsample(rng: np.random.Generator, X: np.ndarray, y: np.ndarray,
              num_samples: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``num_samples`` examples drawn without replacement from ``rng`` (all when None or
    when there are no more than that)."""
    n = X.shape[0]
    if num_samples is not None and n > num_samples:
        mask = rng.choice(n, num_samples, replace=False)
        return X[mask], y[mask]
    return X, y


def scores(model: Model, X: np.ndarray) -> np.ndarray:
    """``model.loss(X)``: the test-mode scores, which must be an array."""
    out = model.loss(X)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"Solver: model.loss(X) must return an array of scores, "
                        f"got {type(out).__name__}")
    return out


def batched_scores(model: Model, X: np.ndarray, batch_size: int
                   ) -> Iterable[tuple[int, np.ndarray]]:
    """``(start, scores)`` for each slice ``X[start:start + batch_size]``, in test mode."""
    for start in range(0, X.shape[0], batch_size):
        yield start, scores(model, X[start:start + batch_size])


def accuracy(model: Model, X: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """Fraction of examples whose highest score is the label; NaN if any scores are NaN."""
    correct = 0
    for start, out in batched_scores(model, X, batch_size):
        if np.isnan(out).any():
            return float("nan")
        pred = np.argmax(out, axis=-1)
        correct += int(np.count_nonzero(pred == y[start:start + batch_size]))
    return correct / y.size


def mean_squared_error(model: Model, X: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """Mean squared error of the predictions against ``y``, over every output entry."""
    total = 0.0
    for start, out in batched_scores(model, X, batch_size):
        target = y[start:start + batch_size].reshape(out.shape)
        diff = out.astype(np.float64) - target
        total += float(np.dot(diff.ravel(), diff.ravel()))
    return total / y.size


def is_better(task: str, value: float, best: float | None) -> bool:
    """Whether ``value`` beats ``best``: higher accuracy for classification, lower error for
    regression. NaN never does; anything else beats no best yet."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    if task == "classification":
        return value > best
    return value < best
