"""Sequential: a net written as a list of layer objects, for when writing ``loss()`` by hand
is not the point. Every layer object is a thin wrapper around a layer module's forward and
backward, so the gradients are exactly the hand-written ones::

    net = Sequential([Affine(64, 100), ReLU(), Affine(100, 10)], loss="softmax", seed=0)
    scores = net.loss(X)              # test mode
    loss, grads = net.loss(X, y)      # grads keyed like net.params: "0.W", "0.b", "2.W", ...

Parameters are named ``"<layer index>.<name>"``; L2 regularization (``reg``) applies to every
``W``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, overload

import numpy as np

from handgrad import _validation as check
from handgrad.models import _common as c


class Layer(ABC):
    """A layer object: ``init`` creates its parameters, ``forward``/``backward`` call a module."""

    def init(self, rng: np.random.Generator, dtype: np.dtype) -> dict[str, np.ndarray]:
        return {}

    @abstractmethod
    def forward(self, x: np.ndarray, params: dict[str, np.ndarray], mode: str) -> tuple[Any, Any]:
        """Return ``(out, cache)``; ``mode`` is "train" or "test"."""

    @abstractmethod
    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Return ``(dx, grads)`` with ``grads`` keyed like this layer's parameters."""


class Affine(Layer):
    """``x @ W + b``; W drawn with std ``weight_scale`` or, if None, He ``sqrt(2 / in_dim)``."""

    def __init__(self, in_dim: int, out_dim: int, weight_scale: float | None = None) -> None:
        self.in_dim = c.positive_int("Affine", "in_dim", in_dim)
        self.out_dim = c.positive_int("Affine", "out_dim", out_dim)
        self.weight_scale = (math.sqrt(2.0 / self.in_dim) if weight_scale is None
                             else c.nonneg_float("Affine", "weight_scale", weight_scale,
                                                 positive=True))
        self._mod = c.layer("affine")

    def init(self, rng, dtype):
        w = self.weight_scale * rng.standard_normal((self.in_dim, self.out_dim))
        return {"W": w.astype(dtype), "b": np.zeros(self.out_dim, dtype=dtype)}

    def forward(self, x, params, mode):
        return self._mod.forward(x, params["W"], params["b"])

    def backward(self, dout, cache):
        dx, dw, db = self._mod.backward(dout, cache)
        return dx, {"W": dw, "b": db}

    def __repr__(self) -> str:
        return f"Affine({self.in_dim}, {self.out_dim})"


class _Elementwise(Layer):
    name = ""

    def __init__(self) -> None:
        self._mod = c.layer(self.name)

    def forward(self, x, params, mode):
        return self._mod.forward(x)

    def backward(self, dout, cache):
        return self._mod.backward(dout, cache), {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ReLU(_Elementwise):
    name = "relu"


class Sigmoid(_Elementwise):
    name = "sigmoid"


class Tanh(_Elementwise):
    name = "tanh"


class BatchNorm(Layer):
    """Batch normalization over (N, dim); keeps its running statistics in ``bn_param``."""

    def __init__(self, dim: int, momentum: float = 0.9, eps: float = 1e-5) -> None:
        self.dim = c.positive_int("BatchNorm", "dim", dim)
        self.bn_param: dict[str, Any] = {"mode": "train", "momentum": momentum, "eps": eps}
        self._mod = c.layer("batchnorm")

    def init(self, rng, dtype):
        self.bn_param["running_mean"] = np.zeros(self.dim, dtype=dtype)
        self.bn_param["running_var"] = np.zeros(self.dim, dtype=dtype)
        return {"gamma": np.ones(self.dim, dtype=dtype), "beta": np.zeros(self.dim, dtype=dtype)}

    def forward(self, x, params, mode):
        self.bn_param["mode"] = mode
        return self._mod.forward(x, params["gamma"], params["beta"], self.bn_param)

    def backward(self, dout, cache):
        dx, dgamma, dbeta = self._mod.backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}

    def __repr__(self) -> str:
        return f"BatchNorm({self.dim})"


class Sequential:
    """Layers applied in order, then a loss (``"softmax"``, ``"huber"``, ``"mse"`` or
    ``"clipped_error_mse"``)."""

    def __init__(self, layers: Sequence[Layer], loss: str = "softmax", reg: float = 0.0,
                 dtype: Any = np.float64, seed: int | None = None) -> None:
        owner = "Sequential"
        self.layers = list(layers)
        if not self.layers or not all(isinstance(layer, Layer) for layer in self.layers):
            raise TypeError(f"{owner}: layers must be a non-empty list of layer objects "
                            f"(Affine, ReLU, Sigmoid, Tanh, BatchNorm)")
        self.loss_name = check.choice(owner, "loss", loss, tuple(c.LOSSES))
        self.task = c.LOSSES[self.loss_name][1]
        self.reg = c.nonneg_float(owner, "reg", reg)
        self.dtype = check.float_dtype(owner, dtype)
        self._loss = c.loss_module(self.loss_name)
        rng = np.random.default_rng(c.seed_value(owner, seed))
        self.params: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            for name, value in layer.init(rng, self.dtype).items():
                self.params[f"{i}.{name}"] = value
        outs = [layer.out_dim for layer in self.layers if isinstance(layer, Affine)]
        self.num_classes = outs[-1] if outs else None

    def __repr__(self) -> str:
        return f"Sequential({self.layers!r}, loss={self.loss_name!r})"

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Batchnorm running statistics, ``"<index>.running_mean"`` / ``".running_var"`` (the
        arrays the layers use, so in-place writes take effect)."""
        return {f"{i}.{key}": layer.bn_param[key]
                for i, layer in enumerate(self.layers) if isinstance(layer, BatchNorm)
                for key in ("running_mean", "running_var")}

    @buffers.setter
    def buffers(self, values: dict[str, np.ndarray]) -> None:
        c.set_buffers("Sequential", self.buffers, values, self.dtype)

    def _own(self, i: int) -> dict[str, np.ndarray]:
        prefix = f"{i}."
        return {k[len(prefix):]: v for k, v in self.params.items() if k.startswith(prefix)}

    @overload
    def loss(self, X: np.ndarray, y: None = None) -> np.ndarray: ...
    @overload
    def loss(self, X: np.ndarray, y: np.ndarray) -> tuple[np.floating, dict[str, np.ndarray]]: ...
    def loss(self, X: np.ndarray, y: np.ndarray | None = None
             ) -> np.ndarray | tuple[np.floating, dict[str, np.ndarray]]:
        """Scores in test mode when ``y`` is None; else ``(loss, grads)`` (train mode)."""
        out = np.asarray(X)
        if out.dtype != self.dtype:
            out = out.astype(self.dtype)
        mode = "test" if y is None else "train"
        caches = []
        for i, layer in enumerate(self.layers):
            out, cache = layer.forward(out, self._own(i), mode)
            caches.append(cache)
        if y is None:
            return out
        if self.task == "regression":
            y = np.asarray(y, dtype=self.dtype)
            if y.ndim == 1:
                y = y[:, None]
        loss, loss_cache = self._loss.forward(out, y)
        dout = self._loss.backward(c.one(self.dtype), loss_cache)
        if isinstance(dout, tuple):
            dout = dout[0]
        grads: dict[str, np.ndarray] = {}
        for i in range(len(self.layers) - 1, -1, -1):
            dout, layer_grads = self.layers[i].backward(dout, caches[i])
            grads.update({f"{i}.{k}": v for k, v in layer_grads.items()})
        if self.reg:
            weights = [v for k, v in self.params.items() if k.endswith(".W")]
            loss = loss + c.l2_penalty(self.reg, weights, self.dtype)
            reg = self.dtype.type(self.reg)
            for k, v in self.params.items():
                if k.endswith(".W"):
                    grads[k] += reg * v
        return self.dtype.type(loss), {k: grads[k] for k in self.params}
