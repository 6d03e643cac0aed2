"""Sequential: a net written as a list of layer objects, for when writing ``loss()`` by hand
is not the point. Every layer object is a thin wrapper around a layer module's forward and
backward, so the gradients are exactly the hand-written ones::

    net = Sequential([Affine(64, 100), ReLU(), Affine(100, 10)], loss="softmax", seed=0)
    scores = net.loss(X)              # test mode
    loss, grads = net.loss(X, y)      # grads keyed like net.params: "0.W", "0.b", "2.W", ...

Parameters are named ``"<layer index>.<name>"``; L2 regularization (``reg``) applies to every
weight (``W``, and ``Wx``, ``Wh``, ``Wq``, ``Wk``, ``Wv``, ``Wo`` of the sequence layers).

Layer objects: :class:`Affine` (flattens (N, ...) inputs), :class:`ReLU`, :class:`Sigmoid`,
:class:`Tanh`, :class:`BatchNorm`; for images (N, C, H, W) :class:`Conv`, :class:`MaxPool`,
:class:`AvgPool`, :class:`SpatialBatchNorm`, :class:`GroupNorm`; :class:`Dropout` and
:class:`LayerNorm` for any shape; for sequences (N, T, D) :class:`LSTM` (returns every hidden
state, (N, T, H)) and :class:`Attention`. ``net.loss(X)`` runs every layer in test mode
(running statistics, no dropout), ``net.loss(X, y)`` in train mode. Dropout masks come from
``net.rng``, seeded from ``seed``; the Solver keeps its state in checkpoints::

    net = Sequential([Conv(1, 8, 3, pad=1), SpatialBatchNorm(8), ReLU(), MaxPool(2),
                      Affine(8 * 4 * 4, 10)], seed=0)
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

    # Names of the parameters that are weights (L2 regularization applies to them).
    weights: tuple[str, ...] = ()

    def init(self, rng: np.random.Generator, dtype: np.dtype) -> dict[str, np.ndarray]:
        return {}

    @abstractmethod
    def forward(self, x: np.ndarray, params: dict[str, np.ndarray], mode: str) -> tuple[Any, Any]:
        """Return ``(out, cache)``; ``mode`` is "train" or "test"."""

    @abstractmethod
    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Return ``(dx, grads)`` with ``grads`` keyed like this layer's parameters."""


class Affine(Layer):
    """``x @ W + b``; W drawn with std ``weight_scale`` or, if None, He ``sqrt(2 / in_dim)``.
    An input (N, d1, ..., dk) is flattened to (N, in_dim) (``in_dim = d1 * ... * dk``)."""

    weights = ("W",)

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

    name = "batchnorm"

    def __init__(self, dim: int, momentum: float = 0.9, eps: float = 1e-5) -> None:
        owner = type(self).__name__
        self.dim = c.positive_int(owner, "dim", dim)
        self.bn_param: dict[str, Any] = {
            "mode": "train", "momentum": c.nonneg_float(owner, "momentum", momentum),
            "eps": c.nonneg_float(owner, "eps", eps, positive=True)}
        self._mod = c.layer(self.name)

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
        return f"{type(self).__name__}({self.dim})"


class SpatialBatchNorm(BatchNorm):
    """Batch normalization of the ``dim`` channels of (N, C, H, W), over the batch and the
    pixels; running statistics in ``bn_param`` like :class:`BatchNorm`."""

    name = "spatial_batchnorm"


class _Normalization(Layer):
    """gamma (dim,) and beta (dim,) around a module that takes no mode."""

    name = ""

    def __init__(self, dim: int, **options: Any) -> None:
        self.dim = c.positive_int(type(self).__name__, "dim", dim)
        self.options = options
        self._mod = c.layer(self.name)

    def init(self, rng, dtype):
        return {"gamma": np.ones(self.dim, dtype=dtype), "beta": np.zeros(self.dim, dtype=dtype)}

    def forward(self, x, params, mode):
        return self._mod.forward(x, params["gamma"], params["beta"], **self.options)

    def backward(self, dout, cache):
        dx, dgamma, dbeta = self._mod.backward(dout, cache)
        return dx, {"gamma": dgamma, "beta": dbeta}

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({self.dim}{extra})"


class LayerNorm(_Normalization):
    """Layer normalization over the last axis (``dim`` features) of (N, ..., dim)."""

    name = "layernorm"

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__(dim, eps=c.nonneg_float("LayerNorm", "eps", eps, positive=True))


class GroupNorm(_Normalization):
    """Group normalization of (N, C, H, W) with ``dim = C`` channels in ``groups`` groups."""

    name = "groupnorm"

    def __init__(self, dim: int, groups: int, eps: float = 1e-5) -> None:
        super().__init__(dim, G=c.positive_int("GroupNorm", "groups", groups),
                         eps=c.nonneg_float("GroupNorm", "eps", eps, positive=True))


class Conv(Layer):
    """2-D convolution of (N, in_channels, H, W) with ``out_channels`` filters of
    ``filter_size`` (an int or (HH, WW)); W drawn with std ``weight_scale`` or, if None, He
    ``sqrt(2 / (in_channels * HH * WW))``; b starts at 0."""

    weights = ("W",)

    def __init__(self, in_channels: int, out_channels: int, filter_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, pad: int | tuple[int, int] = 0,
                 weight_scale: float | None = None) -> None:
        owner = "Conv"
        self.in_channels = c.positive_int(owner, "in_channels", in_channels)
        self.out_channels = c.positive_int(owner, "out_channels", out_channels)
        size = (filter_size, filter_size) if isinstance(filter_size, int) else filter_size
        self.filter_size = tuple(c.int_list(owner, "filter_size", list(size)))
        if len(self.filter_size) != 2:
            raise ValueError(f"{owner}: filter_size must be an int or (HH, WW), got "
                             f"{filter_size!r}")
        self.stride, self.pad = stride, pad
        fan_in = self.in_channels * self.filter_size[0] * self.filter_size[1]
        self.weight_scale = (math.sqrt(2.0 / fan_in) if weight_scale is None
                             else c.nonneg_float(owner, "weight_scale", weight_scale,
                                                 positive=True))
        self._mod = c.layer("conv")

    def init(self, rng, dtype):
        shape = (self.out_channels, self.in_channels, *self.filter_size)
        w = self.weight_scale * rng.standard_normal(shape)
        return {"W": w.astype(dtype), "b": np.zeros(self.out_channels, dtype=dtype)}

    def forward(self, x, params, mode):
        return self._mod.forward(x, params["W"], params["b"], stride=self.stride, pad=self.pad)

    def backward(self, dout, cache):
        dx, dw, db = self._mod.backward(dout, cache)
        return dx, {"W": dw, "b": db}

    def __repr__(self) -> str:
        return (f"Conv({self.in_channels}, {self.out_channels}, {self.filter_size}, "
                f"stride={self.stride!r}, pad={self.pad!r})")


class _Pool(Layer):
    name = ""

    def __init__(self, size: int | tuple[int, int] = 2,
                 stride: int | tuple[int, int] | None = None) -> None:
        self.size, self.stride = size, stride
        self._mod = c.layer(self.name)

    def forward(self, x, params, mode):
        return self._mod.forward(x, size=self.size, stride=self.stride)

    def backward(self, dout, cache):
        return self._mod.backward(dout, cache), {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.size!r}, stride={self.stride!r})"


class MaxPool(_Pool):
    """Max pooling of (N, C, H, W) over ``size`` windows, ``stride`` apart (default: size)."""

    name = "maxpool"


class AvgPool(_Pool):
    """Average pooling of (N, C, H, W) over ``size`` windows, ``stride`` apart (default: size)."""

    name = "avgpool"


class Dropout(Layer):
    """Inverted dropout keeping each unit with probability ``keep_prob`` in train mode; the
    identity in test mode. Masks come from ``rng``, which :class:`Sequential` sets to its own
    ``net.rng``."""

    def __init__(self, keep_prob: float) -> None:
        value = c.nonneg_float("Dropout", "keep_prob", keep_prob, positive=True)
        if value > 1:
            raise ValueError(f"Dropout: keep_prob is the probability of keeping a unit, in "
                             f"(0, 1], got {keep_prob!r}")
        self.keep_prob = value
        self.rng = np.random.default_rng()
        self._mod = c.layer("dropout")

    def forward(self, x, params, mode):
        return self._mod.forward(x, {"mode": mode, "keep_prob": self.keep_prob,
                                     "rng": self.rng})

    def backward(self, dout, cache):
        return self._mod.backward(dout, cache), {}

    def __repr__(self) -> str:
        return f"Dropout({self.keep_prob:g})"


class LSTM(Layer):
    """An LSTM over (N, T, input_dim) from a zero state, returning every hidden state
    (N, T, hidden_dim). ``Wx`` (D, 4H) and ``Wh`` (H, 4H) drawn with std ``1/sqrt(fan_in)``,
    ``b`` (4H,) 0 except the forget gate's, 1 (gates i, f, o, g)."""

    weights = ("Wx", "Wh")

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        self.input_dim = c.positive_int("LSTM", "input_dim", input_dim)
        self.hidden_dim = c.positive_int("LSTM", "hidden_dim", hidden_dim)
        self._mod = c.layer("lstm")

    def init(self, rng, dtype):
        d, h = self.input_dim, self.hidden_dim
        b = np.zeros(4 * h)
        b[h:2 * h] = 1.0
        return {"Wx": (rng.standard_normal((d, 4 * h)) / math.sqrt(d)).astype(dtype),
                "Wh": (rng.standard_normal((h, 4 * h)) / math.sqrt(h)).astype(dtype),
                "b": b.astype(dtype)}

    def forward(self, x, params, mode):
        h0 = np.zeros((x.shape[0], self.hidden_dim), dtype=x.dtype)
        return self._mod.forward(x, h0, params["Wx"], params["Wh"], params["b"])

    def backward(self, dout, cache):
        dx, _dh0, dwx, dwh, db = self._mod.backward(dout, cache)
        return dx, {"Wx": dwx, "Wh": dwh, "b": db}

    def __repr__(self) -> str:
        return f"LSTM({self.input_dim}, {self.hidden_dim})"


class Attention(Layer):
    """Multi-head self-attention of (N, T, dim) with ``num_heads`` heads (``causal=True``:
    position i sees j <= i); the four (dim, dim) projections drawn with std ``1/sqrt(dim)``,
    biases 0."""

    weights = ("Wq", "Wk", "Wv", "Wo")
    _names = ("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")

    def __init__(self, dim: int, num_heads: int = 1, causal: bool = False) -> None:
        self.dim = c.positive_int("Attention", "dim", dim)
        self.num_heads = c.positive_int("Attention", "num_heads", num_heads)
        if self.dim % self.num_heads:
            raise ValueError(f"Attention: num_heads {num_heads} must divide dim {dim}")
        self.causal = bool(causal)
        self._mod = c.layer("attention")

    def init(self, rng, dtype):
        out = {}
        for name in self.weights:
            out[name] = (rng.standard_normal((self.dim, self.dim)) / math.sqrt(self.dim)
                         ).astype(dtype)
        for name in ("bq", "bk", "bv", "bo"):
            out[name] = np.zeros(self.dim, dtype=dtype)
        return out

    def forward(self, x, params, mode):
        return self._mod.forward(x, *(params[k] for k in self._names),
                                 num_heads=self.num_heads, causal=self.causal)

    def backward(self, dout, cache):
        dx, *grads = self._mod.backward(dout, cache)
        return dx, dict(zip(self._names, grads, strict=True))

    def __repr__(self) -> str:
        return f"Attention({self.dim}, num_heads={self.num_heads}, causal={self.causal})"


class Sequential:
    """Layers applied in order, then a loss (``"softmax"``, ``"huber"``, ``"mse"`` or
    ``"clipped_error_mse"``)."""

    def __init__(self, layers: Sequence[Layer], loss: str = "softmax", reg: float = 0.0,
                 dtype: Any = np.float64, seed: int | None = None) -> None:
        owner = "Sequential"
        self.layers = list(layers)
        if not self.layers or not all(isinstance(layer, Layer) for layer in self.layers):
            raise TypeError(f"{owner}: layers must be a non-empty list of layer objects "
                            f"(Affine, Conv, ReLU, MaxPool, ..., see handgrad.models)")
        self.loss_name = check.choice(owner, "loss", loss, tuple(c.LOSSES))
        self.task = c.LOSSES[self.loss_name][1]
        self.reg = c.nonneg_float(owner, "reg", reg)
        self.dtype = check.float_dtype(owner, dtype)
        self._loss = c.loss_module(self.loss_name)
        seed = c.seed_value(owner, seed)
        rng = np.random.default_rng(seed)
        # The dropout masks' generator: its own stream, so dropout leaves the weights of a seed
        # unchanged; the Solver saves and restores its state with the checkpoint.
        self.rng = np.random.default_rng(None if seed is None else [seed, 1])
        self.params: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self.layers):
            for name, value in layer.init(rng, self.dtype).items():
                self.params[f"{i}.{name}"] = value
            if isinstance(layer, Dropout):
                layer.rng = self.rng
        self._weights = [f"{i}.{name}" for i, layer in enumerate(self.layers)
                         for name in layer.weights]
        outs = [layer.out_dim for layer in self.layers if isinstance(layer, Affine)]
        self.num_classes = outs[-1] if outs else None

    def __repr__(self) -> str:
        return f"Sequential({self.layers!r}, loss={self.loss_name!r})"

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Batchnorm (and spatial batchnorm) running statistics, ``"<index>.running_mean"`` /
        ``".running_var"`` (the arrays the layers use, so in-place writes take effect)."""
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
            weights = [self.params[k] for k in self._weights]
            loss = loss + c.l2_penalty(self.reg, weights, self.dtype)
            reg = self.dtype.type(self.reg)
            for k in self._weights:
                grads[k] += reg * self.params[k]
        return self.dtype.type(loss), {k: grads[k] for k in self.params}
