"""The two small models the leak scenarios train (Solver protocol: ``params``, ``loss``).

- :class:`Regressor`: ``affine - relu - affine`` with any regression loss module, to compare
  the squared loss of a clipped error with the Huber loss on a Q-value regression;
- :class:`SequenceRegressor`: a vanilla RNN read out at its last hidden state, to show a
  recurrent gradient exploding or vanishing, with a chosen spectral radius of ``Wh``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from handgrad.diagnostics.recurrent import spectral_radius
from handgrad.diagnostics.zeroed import loss_output_gradients
from handgrad.fast.twins import fastest

# the modules that compute the ops: the tuned twins where there are any
affine = fastest("handgrad.layers.affine")
relu = fastest("handgrad.layers.relu")
rnn = fastest("handgrad.layers.rnn")
mse = fastest("handgrad.losses.mse")

REGRESSION_LOSSES = {"clipped_error_mse": "clip", "huber": "delta"}


class Regressor:
    """``pred = relu(X @ W1 + b1) @ W2 + b2`` (He init) trained with ``loss``:
    ``"clipped_error_mse"`` (option ``clip``) or ``"huber"`` (option ``delta``), both set to
    ``threshold``. Targets ``y`` are (N,) floats."""

    task = "regression"

    def __init__(self, input_dim: int, hidden_dim: int, loss: str, threshold: float = 1.0,
                 seed: int | None = 0) -> None:
        if loss not in REGRESSION_LOSSES:
            raise ValueError(f"Regressor: loss must be one of {', '.join(REGRESSION_LOSSES)}, "
                             f"got {loss!r}")
        self.loss_name = loss
        self._loss = fastest(f"handgrad.losses.{loss}")
        self._options = {REGRESSION_LOSSES[loss]: float(threshold)}
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": rng.standard_normal((input_dim, hidden_dim)) * math.sqrt(2.0 / input_dim),
            "b1": np.zeros(hidden_dim),
            "W2": rng.standard_normal((hidden_dim, 1)) * math.sqrt(2.0 / hidden_dim),
            "b2": np.zeros(1),
        }

    def _forward(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
        p = self.params
        a, c1 = affine.forward(X, p["W1"], p["b1"])
        h, c2 = relu.forward(a)
        pred, c3 = affine.forward(h, p["W2"], p["b2"])
        return pred, h, (c1, c2, c3)

    def hidden_activations(self, X: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
        return [("layer 1", "relu", self._forward(X)[1])]

    def output_gradients(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-example ``dL/dpred`` (N, 1) at the current parameters."""
        pred = self._forward(X)[0]
        return loss_output_gradients(self._loss, pred, y.reshape(pred.shape), **self._options)

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        pred, _, (c1, c2, c3) = self._forward(X)
        if y is None:
            return pred
        loss, cache = self._loss.forward(pred, y.reshape(pred.shape), **self._options)
        dpred, _ = self._loss.backward(1.0, cache)
        grads: dict[str, np.ndarray] = {}
        dh, grads["W2"], grads["b2"] = affine.backward(dpred, c3)
        da = relu.backward(dh, c2)
        _, grads["W1"], grads["b1"] = affine.backward(da, c1)
        return loss, {k: grads[k] for k in self.params}


def recurrent_matrix(hidden_dim: int, radius: float, rng: np.random.Generator) -> np.ndarray:
    """A random non-negative (H, H) matrix scaled to spectral radius ``radius``.

    Non-negative entries make the leading eigenvalue real with a positive eigenvector
    (Perron-Frobenius), so a ReLU recurrence fed by it stays in the linear part of the ReLU,
    as an identity-initialized ReLU RNN does: the gradient then grows or shrinks like
    ``radius ** T``.
    """
    m = np.abs(rng.standard_normal((hidden_dim, hidden_dim)))
    return m * (radius / spectral_radius(m))


class SequenceRegressor:
    """``h = rnn(x, 0, Wx, Wh, b)``; ``pred = h[:, -1] @ Wo + bo``; mean squared error.

    ``x`` is (N, T, D), targets ``y`` are (N,). ``Wh`` is :func:`recurrent_matrix` with
    spectral radius ``radius``; ``activation`` is ``"relu"`` or ``"tanh"``."""

    task = "regression"

    def __init__(self, input_dim: int, hidden_dim: int, radius: float,
                 activation: str = "relu", seed: int | None = 0) -> None:
        rng = np.random.default_rng(seed)
        self.activation = activation
        self.params = {
            "Wx": rng.standard_normal((input_dim, hidden_dim)) / math.sqrt(input_dim),
            "Wh": recurrent_matrix(hidden_dim, radius, rng),
            "b": np.zeros(hidden_dim),
            "Wo": rng.standard_normal((hidden_dim, 1)) / math.sqrt(hidden_dim),
            "bo": np.zeros(1),
        }

    def loss(self, X: np.ndarray, y: np.ndarray | None = None) -> Any:
        p = self.params
        h0 = np.zeros((X.shape[0], p["Wh"].shape[0]), dtype=p["Wh"].dtype)
        h, rnn_cache = rnn.forward(X, h0, p["Wx"], p["Wh"], p["b"], activation=self.activation)
        pred, out_cache = affine.forward(h[:, -1], p["Wo"], p["bo"])
        if y is None:
            return pred
        loss, cache = mse.forward(pred, y.reshape(pred.shape))
        dpred, _ = mse.backward(1.0, cache)
        grads: dict[str, np.ndarray] = {}
        dlast, grads["Wo"], grads["bo"] = affine.backward(dpred, out_cache)
        dh = np.zeros_like(h)
        dh[:, -1] = dlast
        _, _, grads["Wx"], grads["Wh"], grads["b"] = rnn.backward(dh, rnn_cache)
        return loss, {k: grads[k] for k in p}
