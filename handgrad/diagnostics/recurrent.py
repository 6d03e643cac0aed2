"""Recurrent gradient flow: does the gradient survive the trip back through time?

Backpropagation through a vanilla RNN multiplies the gradient by the same matrix at every
step, ``dL/dh_{t-1} = (dL/dh_t * f'(a_t)) @ Wh.T``. Over T steps that is about
``rho(Wh) ** T`` (``rho`` = spectral radius, the largest ``|eigenvalue|``) times the
activation's local gradients: with rho above 1 in the linear part of a ReLU the gradient
explodes, with rho below 1 (or saturated tanh units) it vanishes and the first steps learn
nothing from a loss at the last one.

The probe puts a gradient on the last hidden state only and measures ``||dL/dh_t||`` for
every step t (via ``rnn.backward(..., return_hidden_grads=True)``). The verdict compares
the first step with the last, ``ratio = ||dL/dh_0|| / ||dL/dh_{T-1}||``:

- ``exploding`` when ratio > ``EXPLODING_RATIO`` (1e2) or any norm is not finite;
- ``vanishing`` when ratio < ``VANISHING_RATIO`` (1e-2);
- ``healthy`` otherwise.

``per_step = ratio ** (1 / (T - 1))`` is the average growth factor per step (compare with
the spectral radius).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from handgrad.diagnostics._plain import plain
from handgrad.fast.twins import fastest

rnn = fastest("handgrad.layers.rnn")   # the tuned twin: same results, faster

EXPLODING_RATIO = 1e2
VANISHING_RATIO = 1e-2


def spectral_radius(Wh: np.ndarray) -> float:
    """Largest absolute eigenvalue of the square matrix ``Wh`` (inf if it holds NaN or inf)."""
    Wh = np.asarray(Wh)
    if Wh.ndim != 2 or Wh.shape[0] != Wh.shape[1]:
        raise ValueError(f"spectral_radius: Wh must be a square matrix, got shape {Wh.shape}")
    Wh = Wh.astype(np.float64)
    if not np.all(np.isfinite(Wh)):
        return float("inf")
    return float(np.max(np.abs(np.linalg.eigvals(Wh))))


def hidden_grad_norms(hidden_grads: np.ndarray) -> np.ndarray:
    """``||dL/dh_t||`` over the batch and the units, for every step: (N, T, H) -> (T,)."""
    g = np.asarray(hidden_grads)
    if g.ndim != 3:
        raise ValueError(f"hidden_grad_norms: expected (N, T, H) gradients, got {g.shape}")
    g = g.astype(np.float64, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.einsum("nth,nth->t", g, g))


def verdict(ratio: float | None, *, exploding: float = EXPLODING_RATIO,
            vanishing: float = VANISHING_RATIO) -> str:
    """``"exploding"``, ``"vanishing"`` or ``"healthy"`` for ``||dL/dh_0|| / ||dL/dh_T||``
    (None, for a non-finite norm, counts as exploding)."""
    if ratio is None or not math.isfinite(ratio) or ratio > exploding:
        return "exploding"
    if ratio < vanishing:
        return "vanishing"
    return "healthy"


@dataclass(frozen=True)
class RecurrentFlow:
    """Per-step gradient norms of one probe and the verdict (see the module docstring).

    ``norms[t]`` is None where the norm is not finite; ``ratio`` and ``per_step`` are None
    when they cannot be computed (a non-finite or zero norm)."""

    norms: list[float | None]
    ratio: float | None
    per_step: float | None
    spectral_radius: float
    activation: str
    verdict: str

    @property
    def steps(self) -> int:
        return len(self.norms)

    def summary(self) -> str:
        t_last = self.steps - 1
        if self.ratio is None:
            growth = "the gradient is not finite"
        else:
            growth = (f"|dL/dh_0| / |dL/dh_{t_last}| = {self.ratio:.3g} "
                      f"({self.per_step:.3g} per step)")
        return (f"rnn ({self.activation}, {self.steps} steps, spectral radius of Wh "
                f"{self.spectral_radius:.3g}): {growth}: {self.verdict}")

    def to_dict(self) -> dict[str, Any]:
        return plain(self)

    def __str__(self) -> str:
        return self.summary()


def recurrent_flow(hidden_grads: np.ndarray, Wh: np.ndarray, activation: str = "tanh", *,
                   exploding: float = EXPLODING_RATIO,
                   vanishing: float = VANISHING_RATIO) -> RecurrentFlow:
    """Summarize the total gradients ``hidden_grads`` (N, T, H) reaching every hidden state
    (the sixth result of ``rnn.backward(..., return_hidden_grads=True)``)."""
    values = hidden_grad_norms(hidden_grads)
    first, last = float(values[0]), float(values[-1])
    ratio = first / last if math.isfinite(first) and math.isfinite(last) and last > 0 else None
    per_step = None
    if ratio is not None and ratio > 0 and values.size > 1:
        per_step = float(np.exp(np.log(ratio) / (values.size - 1)))
    return RecurrentFlow(
        norms=[float(v) if math.isfinite(v) else None for v in values], ratio=ratio,
        per_step=per_step, spectral_radius=spectral_radius(Wh), activation=activation,
        verdict=verdict(ratio, exploding=exploding, vanishing=vanishing))


def rnn_gradient_flow(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                      b: np.ndarray, *, activation: str = "tanh",
                      dlast: np.ndarray | None = None, seed: int = 0,
                      exploding: float = EXPLODING_RATIO,
                      vanishing: float = VANISHING_RATIO) -> RecurrentFlow:
    """Run ``rnn.forward`` on ``x`` (N, T, D), put the gradient ``dlast`` (N, H; default a
    standard normal draw from ``seed``) on the last hidden state only, backpropagate through
    time and summarize the gradient reaching every step."""
    with np.errstate(over="ignore", invalid="ignore"):
        h, cache = rnn.forward(x, h0, Wx, Wh, b, activation=activation)
        dh = np.zeros_like(h)
        if dlast is None:
            dlast = np.random.default_rng(seed).standard_normal(h[:, -1].shape)
        dh[:, -1] = dlast
        hidden_grads = rnn.backward(dh, cache, return_hidden_grads=True)[5]
    return recurrent_flow(hidden_grads, Wh, activation, exploding=exploding,
                          vanishing=vanishing)


def model_recurrent_flow(model: Any, X: np.ndarray, *, seed: int = 0,
                         exploding: float = EXPLODING_RATIO,
                         vanishing: float = VANISHING_RATIO) -> RecurrentFlow:
    """:func:`rnn_gradient_flow` for a model with an RNN layer: parameters ``Wx``, ``Wh``,
    ``b`` and an ``activation`` attribute (RNNLanguageModel). Integer inputs ``X`` (N, T) are
    looked up in ``W_embed`` first; float inputs (N, T, D) go in as they are. The initial
    hidden state is zero."""
    p = getattr(model, "params", {})
    if not all(k in p for k in ("Wx", "Wh", "b")):
        raise TypeError(f"{type(model).__name__} has no recurrent parameters Wx, Wh, b")
    X = np.asarray(X)
    if X.dtype.kind in "iu":
        if "W_embed" not in p:
            raise TypeError("model_recurrent_flow: integer inputs need a W_embed parameter")
        x = p["W_embed"][X]
    else:
        x = X.astype(p["Wx"].dtype, copy=False)
    if x.ndim != 3:
        raise ValueError(f"model_recurrent_flow: expected sequences (N, T, D), got {x.shape}")
    h0 = np.zeros((x.shape[0], p["Wh"].shape[0]), dtype=p["Wh"].dtype)
    shape: tuple[int, int] = h0.shape
    dlast = np.random.default_rng(seed).standard_normal(shape).astype(h0.dtype)
    return rnn_gradient_flow(x, h0, p["Wx"], p["Wh"], p["b"],
                             activation=getattr(model, "activation", "tanh"), dlast=dlast,
                             exploding=exploding, vanishing=vanishing)
