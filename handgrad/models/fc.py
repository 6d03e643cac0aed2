"""Fully connected net: ``{affine - [batchnorm] - activation} x (L - 1) - affine - loss``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, overload

import numpy as np

from handgrad import _validation as check
from handgrad.models import _common as c

INITS = ("he", "xavier", "normal")


class FullyConnectedNet:
    """A fully connected net of any depth, built from handgrad's layer and loss modules.

    Architecture, for ``L = len(hidden_dims) + 1`` affine layers::

        {affine - [batchnorm] - activation} x (L - 1) - affine - loss

    Parameters (CS231n names): ``W1..WL``, ``b1..bL`` and, with batchnorm, ``gamma1..``,
    ``beta1..`` for the hidden layers. Biases and ``beta`` start at 0, ``gamma`` at 1.
    Weights: with ``weight_scale=None`` the ``init`` scheme picks each layer's standard
    deviation from its fan-in ``n_in`` and fan-out ``n_out``:

    - ``"he"``: ``sqrt(2 / n_in)`` (He et al. 2015; the default, right for ReLU),
    - ``"xavier"``: ``sqrt(2 / (n_in + n_out))`` (Glorot & Bengio 2010, normal variant; right
      for tanh and sigmoid),
    - ``"normal"``: ``1e-2`` for every layer.

    A given ``weight_scale`` overrides ``init``: every weight is drawn from
    ``N(0, weight_scale**2)`` (the CS231n convention). Weights are drawn in float64 from
    ``np.random.default_rng(seed)`` and then cast, so a float32 net equals the float64 net of
    the same seed up to rounding.

    Loss: ``"softmax"`` (classification, ``y`` int labels in ``[0, num_classes)``) or
    ``"huber"`` / ``"mse"`` / ``"clipped_error_mse"`` (regression: ``num_classes`` is the
    output dimension and ``y`` a float array (N, num_classes), or (N,) when
    ``num_classes == 1``). L2 regularization adds
    ``0.5 * reg * sum(W**2)`` over the weights (not biases, gamma or beta), so ``dW += reg * W``.

    dtype: every parameter is created in ``dtype`` and the whole forward and backward pass
    runs in it. ``loss`` converts an ``X`` of another dtype with ``astype`` on every call;
    to avoid that per-batch copy, convert the data set once (``X.astype(net.dtype)``) before
    training, as ``handgrad train`` does.
    """

    def __init__(self, hidden_dims: Sequence[int], input_dim: int, num_classes: int,
                 activation: str = "relu", normalization: str | None = None, reg: float = 0.0,
                 weight_scale: float | None = None, init: str = "he", loss: str = "softmax",
                 dtype: Any = np.float64, seed: int | None = None) -> None:
        owner = "FullyConnectedNet"
        self.hidden_dims = c.int_list(owner, "hidden_dims", hidden_dims)
        self.input_dim = c.positive_int(owner, "input_dim", input_dim)
        self.activation = check.choice(owner, "activation", activation, c.ACTIVATIONS)
        if normalization not in (None, "batchnorm"):
            raise ValueError(f"{owner}: normalization must be None or 'batchnorm', "
                             f"got {normalization!r}")
        self.normalization = normalization
        self.loss_name = check.choice(owner, "loss", loss, tuple(c.LOSSES))
        self.task = c.LOSSES[self.loss_name][1]
        min_classes = 2 if self.task == "classification" else 1
        self.num_classes = c.positive_int(owner, "num_classes", num_classes, min_classes)
        self.reg = c.nonneg_float(owner, "reg", reg)
        self.weight_scale = (None if weight_scale is None
                             else c.nonneg_float(owner, "weight_scale", weight_scale,
                                                 positive=True))
        self.init = check.choice(owner, "init", init, INITS)
        self.dtype = check.float_dtype(owner, dtype)
        self.seed = c.seed_value(owner, seed)
        self.num_layers = len(self.hidden_dims) + 1

        self._act = c.layer(self.activation)
        self._affine = c.layer("affine")
        self._bn = c.layer("batchnorm") if normalization == "batchnorm" else None
        self._loss = c.loss_module(self.loss_name)

        rng = np.random.default_rng(self.seed)
        dims = [self.input_dim, *self.hidden_dims, self.num_classes]
        self.params: dict[str, np.ndarray] = {}
        for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=True), start=1):
            std = self._init_std(n_in, n_out)
            self.params[f"W{i}"] = (std * rng.standard_normal((n_in, n_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(n_out, dtype=self.dtype)
            if self._bn is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(n_out, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(n_out, dtype=self.dtype)
        # One bn_param dict per hidden layer (CS231n): mode plus running statistics.
        self.bn_params: list[dict[str, Any]] = []
        if self._bn is not None:
            self.bn_params = [{"mode": "train",
                               "running_mean": np.zeros(d, dtype=self.dtype),
                               "running_var": np.zeros(d, dtype=self.dtype)}
                              for d in self.hidden_dims]

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Arrays that are state but not parameters: the batchnorm running statistics,
        ``running_mean1``, ``running_var1``, ... (the very arrays of ``bn_params``, so writing
        into them in place changes the net). Empty without batchnorm."""
        out: dict[str, np.ndarray] = {}
        for i, bn_param in enumerate(self.bn_params, start=1):
            out[f"running_mean{i}"] = bn_param["running_mean"]
            out[f"running_var{i}"] = bn_param["running_var"]
        return out

    @buffers.setter
    def buffers(self, values: dict[str, np.ndarray]) -> None:
        c.set_buffers("FullyConnectedNet", self.buffers, values, self.dtype)

    def _init_std(self, n_in: int, n_out: int) -> float:
        if self.weight_scale is not None:
            return self.weight_scale
        if self.init == "he":
            return math.sqrt(2.0 / n_in)
        if self.init == "xavier":
            return math.sqrt(2.0 / (n_in + n_out))
        return 1e-2

    def config(self) -> dict[str, Any]:
        """JSON-serializable constructor arguments: ``FullyConnectedNet(**net.config())``
        rebuilds the same architecture (and, with the same seed, the same initial weights)."""
        return {
            "hidden_dims": list(self.hidden_dims), "input_dim": self.input_dim,
            "num_classes": self.num_classes, "activation": self.activation,
            "normalization": self.normalization, "reg": self.reg,
            "weight_scale": self.weight_scale, "init": self.init, "loss": self.loss_name,
            "dtype": self.dtype.name, "seed": self.seed,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"FullyConnectedNet({args})"

    # ------------------------------------------------------------------ forward and backward
    def _input(self, X: Any) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim < 2:
            raise ValueError(f"FullyConnectedNet: X must be (N, {self.input_dim}) (or (N, ...) "
                             f"with {self.input_dim} values per example), got shape {X.shape}")
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        return X

    def _forward(self, X: np.ndarray, mode: str, keep: str = "caches") -> tuple[np.ndarray, list]:
        """Run the hidden layers and the last affine; ``keep`` = "caches" or "activations"."""
        p = self.params
        kept: list = []
        out = X
        for i in range(1, self.num_layers):
            out, affine_cache = self._affine.forward(out, p[f"W{i}"], p[f"b{i}"])
            bn_cache = None
            if self._bn is not None:
                bn_param = self.bn_params[i - 1]
                bn_param["mode"] = mode
                out, bn_cache = self._bn.forward(out, p[f"gamma{i}"], p[f"beta{i}"], bn_param)
            out, act_cache = self._act.forward(out)
            kept.append((affine_cache, bn_cache, act_cache) if keep == "caches" else out)
        scores, affine_cache = self._affine.forward(out, p[f"W{self.num_layers}"],
                                                    p[f"b{self.num_layers}"])
        kept.append(affine_cache)
        return scores, kept

    def _targets(self, y: Any, n: int) -> np.ndarray:
        owner = "FullyConnectedNet.loss"
        if self.task == "classification":
            return y  # the loss module validates labels
        y = np.asarray(y)
        if y.dtype.kind not in "fiu":
            raise TypeError(f"{owner}: regression targets y must be numbers, got {y.dtype}")
        if y.ndim == 1 and self.num_classes == 1:
            y = y[:, None]
        if y.shape != (n, self.num_classes):
            raise ValueError(f"{owner}: regression targets y must have shape "
                             f"({n}, {self.num_classes}), got {y.shape}")
        return y.astype(self.dtype, copy=False)

    @overload
    def loss(self, X: np.ndarray, y: None = None) -> np.ndarray: ...
    @overload
    def loss(self, X: np.ndarray, y: np.ndarray) -> tuple[np.floating, dict[str, np.ndarray]]: ...
    def loss(self, X: np.ndarray, y: np.ndarray | None = None
             ) -> np.ndarray | tuple[np.floating, dict[str, np.ndarray]]:
        """Scores (N, num_classes) in test mode when ``y`` is None; else ``(loss, grads)``.

        With ``y``, batchnorm runs in train mode (batch statistics, running averages
        updated); ``loss`` is a NumPy scalar of the net's dtype including the L2 term, and
        ``grads`` has one array per parameter, keyed like ``params``.
        """
        X = self._input(X)
        if y is None:
            scores, _ = self._forward(X, "test")
            return scores
        target = self._targets(y, X.shape[0])
        scores, caches = self._forward(X, "train")
        loss, loss_cache = self._loss.forward(scores, target)
        dscores = self._loss.backward(c.one(self.dtype), loss_cache)
        if isinstance(dscores, tuple):  # regression losses also return d(target)
            dscores = dscores[0]

        p, L = self.params, self.num_layers
        grads: dict[str, np.ndarray] = {}
        dout, grads[f"W{L}"], grads[f"b{L}"] = self._affine.backward(dscores, caches[-1])
        for i in range(L - 1, 0, -1):
            affine_cache, bn_cache, act_cache = caches[i - 1]
            dout = self._act.backward(dout, act_cache)
            if bn_cache is not None and self._bn is not None:
                dout, grads[f"gamma{i}"], grads[f"beta{i}"] = self._bn.backward(dout, bn_cache)
            dout, grads[f"W{i}"], grads[f"b{i}"] = self._affine.backward(dout, affine_cache)
        if self.reg:
            weights = [p[f"W{i}"] for i in range(1, L + 1)]
            loss = loss + c.l2_penalty(self.reg, weights, self.dtype)
            reg = self.dtype.type(self.reg)
            for i in range(1, L + 1):
                grads[f"W{i}"] += reg * p[f"W{i}"]
        return self.dtype.type(loss), {k: grads[k] for k in p}

    def hidden_activations(self, X: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
        """Post-activation outputs of every hidden layer, in test mode (no statistics change).

        Returns ``[("layer 1", activation, out1), ...]`` with ``out_i`` of shape
        (N, hidden_dims[i - 1]).
        """
        _, outs = self._forward(self._input(X), "test", keep="activations")
        return [(f"layer {i}", self.activation, out)
                for i, out in enumerate(outs[:-1], start=1)]
