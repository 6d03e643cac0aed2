"""Activation statistics per layer: mean, spread, saturation and a histogram.

A sigmoid or tanh unit is *saturated* on an example when its local gradient is below a
threshold (``SATURATION_THRESHOLD = 0.01`` by default)::

    sigmoid:  s * (1 - s) < 0.01    i.e. s < 0.0102 or s > 0.9898   (|x| > 4.6)
    tanh:     1 - h**2   < 0.01    i.e. |h| > 0.995                 (|x| > 3.0)

Backpropagation multiplies the gradient by that local gradient, so through a saturated unit
less than 1% of the signal gets back to the weights below (sigmoid passes at most 25% even
at its best, x = 0). A ReLU never saturates on the positive side; its failure is to be zero
on every example (see :mod:`handgrad.diagnostics.dead`), and its statistic here is the
fraction of exact zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handgrad.diagnostics._plain import plain

SATURATION_THRESHOLD = 0.01
HISTOGRAM_BINS = 50
SATURATING = ("sigmoid", "tanh")


def local_gradient(out: np.ndarray, activation: str) -> np.ndarray:
    """The activation's local gradient, from its output: ``s(1 - s)``, ``1 - h**2`` or
    ``1[out > 0]`` for sigmoid, tanh and relu."""
    out = np.asarray(out)
    if activation == "sigmoid":
        return out * (1 - out)
    if activation == "tanh":
        return 1 - out * out
    if activation == "relu":
        return (out > 0).astype(out.dtype)
    raise ValueError(f"local_gradient: activation must be 'sigmoid', 'tanh' or 'relu', "
                     f"got {activation!r}")


def saturated_fraction(out: np.ndarray, activation: str,
                       threshold: float = SATURATION_THRESHOLD) -> float:
    """Fraction of the entries of a sigmoid or tanh output whose local gradient is below
    ``threshold`` (0.0 for relu, which does not saturate)."""
    if activation not in SATURATING:
        if activation == "relu":
            return 0.0
        raise ValueError(f"saturated_fraction: activation must be 'sigmoid', 'tanh' or "
                         f"'relu', got {activation!r}")
    out = np.asarray(out)
    if out.size == 0:
        raise ValueError("saturated_fraction: the activations are empty")
    return float(np.count_nonzero(local_gradient(out, activation) < threshold) / out.size)


def _range(activation: str, out: np.ndarray) -> tuple[float, float]:
    if activation == "sigmoid":
        return 0.0, 1.0
    if activation == "tanh":
        return -1.0, 1.0
    finite = out[np.isfinite(out)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    return (low, high) if high > low else (low, low + 1.0)


@dataclass(frozen=True)
class ActivationStats:
    """Statistics of one layer's outputs over a batch (every unit and example together).

    ``saturated`` is None for activations that do not saturate (relu); ``zero`` is the
    fraction of entries exactly 0; ``counts``/``edges`` form a histogram over the
    activation's range ([0, 1] for sigmoid, [-1, 1] for tanh, [min, max] otherwise).
    """

    layer: str
    activation: str
    mean: float
    std: float
    saturated: float | None
    zero: float
    threshold: float
    counts: list[int] = field(repr=False)
    edges: list[float] = field(repr=False)

    def summary(self) -> str:
        name = f"{self.layer} ({self.activation})" if self.layer else self.activation
        text = f"{name}: mean {self.mean:.3g}, std {self.std:.3g}"
        if self.saturated is not None:
            text += (f", {100 * self.saturated:.1f}% saturated (local gradient < "
                     f"{self.threshold:g})")
        else:
            text += f", {100 * self.zero:.1f}% zeros"
        return text

    def to_dict(self, histogram: bool = True) -> dict[str, Any]:
        """JSON-serializable dict (without the histogram when ``histogram`` is False)."""
        out = plain(self)
        if not histogram:
            del out["counts"], out["edges"]
        return out

    def __str__(self) -> str:
        return self.summary()


def activation_stats(out: np.ndarray, activation: str, *, layer: str = "",
                     threshold: float = SATURATION_THRESHOLD,
                     bins: int | None = HISTOGRAM_BINS) -> ActivationStats:
    """Statistics of a layer's outputs ``out`` (any shape; every entry counts).

    ``bins=None`` skips the histogram (``counts`` and ``edges`` are then empty), which is
    most of the cost."""
    out = np.asarray(out)
    if out.size == 0:
        raise ValueError(f"activation_stats: the activations of {layer or 'the layer'} are "
                         f"empty")
    if activation not in (*SATURATING, "relu"):
        raise ValueError(f"activation_stats: activation must be 'sigmoid', 'tanh' or 'relu', "
                         f"got {activation!r}")
    flat = out.reshape(-1)
    counts, edges = np.zeros(0, dtype=np.int64), np.zeros(0)
    if bins:
        counts, edges = np.histogram(flat[np.isfinite(flat)], bins=bins,
                                     range=_range(activation, flat))
    return ActivationStats(
        layer=layer, activation=activation, mean=float(flat.mean()), std=float(flat.std()),
        saturated=(saturated_fraction(out, activation, threshold)
                   if activation in SATURATING else None),
        zero=float(np.count_nonzero(flat == 0) / flat.size), threshold=float(threshold),
        counts=[int(c) for c in counts], edges=[float(e) for e in edges])


def hidden_layers(model: Any, X: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """``model.hidden_activations(X)``: ``[(layer name, activation, outputs), ...]``."""
    get = getattr(model, "hidden_activations", None)
    if not callable(get):
        raise TypeError(f"{type(model).__name__} has no hidden_activations(X); the layer "
                        f"detectors need it (FullyConnectedNet has it)")
    return list(get(X))


def model_activation_stats(model: Any, X: np.ndarray, *,
                           threshold: float = SATURATION_THRESHOLD,
                           bins: int = HISTOGRAM_BINS) -> list[ActivationStats]:
    """:func:`activation_stats` of every hidden layer of ``model`` on the examples ``X``."""
    return [activation_stats(out, act, layer=name, threshold=threshold, bins=bins)
            for name, act, out in hidden_layers(model, X)]
