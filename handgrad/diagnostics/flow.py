"""Gradient flow: how large the gradients are, how much each step changes the weights, and
how the gradient shrinks or grows from one layer to the one below.

Three numbers per parameter (L2 norms over all its entries):

- ``grad_norms[p] = ||dp||`` and ``relative[p] = ||dp|| / ||p||``, the size of the gradient
  measured in units of the parameter: it sets how fast plain SGD can change ``p``;
- ``update_ratios[p] = ||p_after - p_before|| / ||p_before||`` for one optimizer step: about
  ``1e-3`` is healthy (``HEALTHY_UPDATE_RATIO``); well above (``1e-1``) the learning rate is
  too high, far below (``1e-6``) it is too low or the gradient is not arriving;
- ``layer_ratios["W1/W2"] = ||dW1|| / ||dW2||`` for consecutive weight matrices (parameters
  with two or more dimensions, in the model's order): a ratio far below 1 at every layer is
  a vanishing gradient, far above 1 an exploding one.

A ratio whose denominator is zero is None (a zero-initialized bias has no relative size).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from handgrad.diagnostics._plain import plain

HEALTHY_UPDATE_RATIO = 1e-3


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def norm(a: np.ndarray) -> float:
    """L2 norm of every entry of ``a``, accumulated in float64 (no float32 overflow)."""
    flat = np.asarray(a).reshape(-1)
    if flat.dtype != np.float64:
        flat = flat.astype(np.float64)
    return float(np.sqrt(flat @ flat))


def norms(arrays: Mapping[str, np.ndarray]) -> dict[str, float]:
    """``{name: norm(array)}``."""
    return {name: norm(a) for name, a in arrays.items()}


def _ratio(num: float, den: float) -> float | None:
    if den == 0 or not math.isfinite(den) or not math.isfinite(num):
        return None
    return num / den


def update_ratios(before: Mapping[str, np.ndarray],
                  after: Mapping[str, np.ndarray]) -> dict[str, float | None]:
    """``||after[p] - before[p]|| / ||before[p]||`` for every parameter of ``before``."""
    out: dict[str, float | None] = {}
    for name, old in before.items():
        new = np.asarray(after[name])
        diff = new.astype(np.float64) - old
        out[name] = _ratio(norm(diff), norm(old))
    return out


def weight_names(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """Names of the weight matrices (two or more dimensions), in the mapping's order."""
    return [name for name, a in arrays.items() if np.ndim(a) >= 2]


def layer_ratios(grad_norms: Mapping[str, float],
                 names: list[str] | None = None) -> dict[str, float | None]:
    """``{"W1/W2": ||dW1|| / ||dW2||, ...}`` for consecutive ``names`` (default: every
    entry, in order)."""
    names = list(grad_norms) if names is None else names
    return {f"{a}/{b}": _ratio(grad_norms[a], grad_norms[b])
            for a, b in zip(names[:-1], names[1:], strict=True)}


@dataclass(frozen=True)
class GradientFlow:
    """Gradient and update sizes per parameter (see the module docstring)."""

    grad_norms: dict[str, float]
    param_norms: dict[str, float]
    relative: dict[str, float | None]
    layer_ratios: dict[str, float | None]
    update_ratios: dict[str, float | None] | None = None

    def summary(self) -> str:
        lines = []
        for name, g in self.grad_norms.items():
            rel = self.relative.get(name)
            line = f"{name}: |grad| {g:.3g}"
            line += f", {rel:.2g} of |{name}|" if rel is not None else ""
            upd = (self.update_ratios or {}).get(name)
            line += f", update/size {upd:.2g}" if upd is not None else ""
            lines.append(line)
        ratios = ", ".join(f"{k} {v:.3g}" for k, v in self.layer_ratios.items() if v is not None)
        if ratios:
            lines.append(f"layer gradient ratios: {ratios}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        out = plain(self)
        for key in ("grad_norms", "param_norms"):
            out[key] = {k: _finite(v) for k, v in out[key].items()}
        return out

    def __str__(self) -> str:
        return self.summary()


def gradient_flow(grads: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
                  before: Mapping[str, np.ndarray] | None = None) -> GradientFlow:
    """Gradient flow of ``grads`` for ``params``; with ``before`` (the parameters before the
    step that produced ``params``) also the update ratios."""
    missing = sorted(set(grads) - set(params))
    if missing:
        raise ValueError(f"gradient_flow: gradients {missing} have no parameter")
    g = norms(grads)
    p = norms({k: params[k] for k in grads})
    return GradientFlow(
        grad_norms=g, param_norms=p,
        relative={k: _ratio(g[k], p[k]) for k in g},
        layer_ratios=layer_ratios(g, weight_names(grads)),
        update_ratios=None if before is None else update_ratios(
            {k: before[k] for k in grads if k in before}, params))


def loss_and_grads(model: Any, X: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """``model.loss(X, y)`` without side effects: batchnorm running statistics (the model's
    ``buffers``) are put back as they were afterwards."""
    buffers = getattr(model, "buffers", None) or {}
    saved = {k: np.array(v, copy=True) for k, v in buffers.items()}
    try:
        loss, grads = model.loss(X, y)
    finally:
        for k, v in saved.items():
            np.copyto(buffers[k], v)
    return float(loss), grads


def model_gradient_flow(model: Any, X: np.ndarray, y: np.ndarray) -> GradientFlow:
    """:func:`gradient_flow` of ``model.loss(X, y)``'s gradients at the current parameters
    (training-mode forward pass; running statistics are left unchanged)."""
    _, grads = loss_and_grads(model, X, y)
    return gradient_flow(grads, model.params)
