"""Zeroed gradients: entries and examples whose gradient is exactly zero.

Some operations make the gradient exactly 0 rather than small: a dead ReLU, and a loss whose
error is clipped before it is squared (``clip_by_value`` on a DQN's TD error; see
:mod:`handgrad.losses.clipped_error_mse`): every example whose error exceeds the clip gets no
gradient at all, so the examples that are most wrong teach nothing. The Huber loss clips the
gradient instead and leaves none at zero.

Two measures:

- per parameter, the fraction of gradient entries that are exactly 0;
- per example, the fraction of examples whose gradient row (the loss gradient with respect
  to that example's prediction, ``dL/dscores[i]``) is 0 everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handgrad.diagnostics._plain import plain
from handgrad.fast.twins import fastest

# Losses :func:`model_output_gradients` can run, by the ``loss_name`` a model declares.
LOSS_MODULES = {
    "softmax": "handgrad.losses.softmax_cross_entropy",
    "huber": "handgrad.losses.huber",
    "mse": "handgrad.losses.mse",
    "clipped_error_mse": "handgrad.losses.clipped_error_mse",
}


def zero_fraction(grad: np.ndarray) -> float:
    """Fraction of the entries of ``grad`` that are exactly zero."""
    grad = np.asarray(grad)
    if grad.size == 0:
        raise ValueError("zero_fraction: the gradient is empty")
    return float(np.count_nonzero(grad == 0) / grad.size)


def zero_examples(grad: np.ndarray) -> np.ndarray:
    """Boolean mask (N,): True where example ``i``'s gradient ``grad[i]`` is zero everywhere."""
    grad = np.asarray(grad)
    if grad.ndim == 0 or grad.shape[0] == 0:
        raise ValueError(f"zero_examples: expected a gradient with one row per example, got "
                         f"shape {grad.shape}")
    return ~np.any(grad.reshape(grad.shape[0], -1) != 0, axis=1)


@dataclass(frozen=True)
class ZeroedGradients:
    """Exact zeros per parameter and, when per-example gradients were given, per example.

    ``per_param[p]`` is the fraction of zero entries of ``dp``; ``examples`` is the fraction
    of examples with an all-zero gradient row (None without per-example gradients) and
    ``zero_indices`` lists those examples."""

    per_param: dict[str, float]
    examples: float | None = None
    zero_indices: list[int] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        parts = [f"{name} {100 * f:.1f}%" for name, f in self.per_param.items()]
        text = ("exactly-zero gradient entries: " + ", ".join(parts)) if parts else ""
        if self.examples is not None:
            sep = "; " if text else ""
            text += (f"{sep}{100 * self.examples:.1f}% of examples have an exactly-zero "
                     f"gradient")
        return text or "no gradients given"

    def to_dict(self) -> dict[str, Any]:
        return plain(self)

    def __str__(self) -> str:
        return self.summary()


def zeroed_gradients(grads: Mapping[str, np.ndarray] | None = None,
                     per_example: np.ndarray | None = None) -> ZeroedGradients:
    """Zero fractions of the parameter gradients ``grads`` and of the per-example gradient
    rows ``per_example`` (N, ...), either of which may be omitted."""
    per_param = {name: zero_fraction(g) for name, g in (grads or {}).items()}
    if per_example is None:
        return ZeroedGradients(per_param)
    mask = zero_examples(per_example)
    return ZeroedGradients(per_param, float(mask.mean()),
                           [int(i) for i in np.flatnonzero(mask)])


def loss_output_gradients(loss_module: Any, scores: np.ndarray, targets: np.ndarray,
                          **options: Any) -> np.ndarray:
    """``dL/dscores`` of a loss module (``forward(scores, targets, **options)`` then
    ``backward(1.0, cache)``): one row per example."""
    _, cache = loss_module.forward(scores, targets, **options)
    grads = loss_module.backward(1.0, cache)
    return grads[0] if isinstance(grads, tuple) else grads


def model_output_gradients(model: Any, X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Per-example ``dL/dscores`` for ``X`` at the current parameters (test-mode scores), or
    None when the model's loss is unknown.

    A model may provide ``output_gradients(X, y)`` itself; otherwise its ``loss_name``
    (``FullyConnectedNet``: softmax, huber or mse) picks the loss from ``LOSS_MODULES``."""
    own = getattr(model, "output_gradients", None)
    if callable(own):
        return np.asarray(own(X, y))
    name = getattr(model, "loss_name", None)
    if name not in LOSS_MODULES:
        return None
    module = fastest(LOSS_MODULES[name])
    scores = model.loss(X)
    if getattr(model, "task", "classification") == "regression":
        y = np.asarray(y).reshape(scores.shape).astype(scores.dtype, copy=False)
    return loss_output_gradients(module, scores, y)
