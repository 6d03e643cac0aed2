"""Convolutional net: ``{conv - [spatial batchnorm] - relu - [max pool]} x L - {affine - relu -
[dropout]} x M - affine - softmax``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from handgrad import _validation as check
from handgrad.models import _common as c

NORMALIZATIONS = (None, "spatial_batchnorm")


class ConvNet:
    """A convolutional classifier for NCHW images, built from handgrad's layer modules.

    Architecture, for ``L = len(num_filters)`` conv stages and ``M = len(hidden_dims)``
    hidden affine layers::

        {conv - [spatial batchnorm] - relu - [max pool]} x L
            - {affine - relu - [dropout]} x M - affine - softmax cross-entropy

    Every conv has ``filter_size`` x ``filter_size`` filters, stride 1 and zero padding
    ``pad`` (default ``filter_size // 2``, which keeps the image size for odd filters); every
    max pool (when ``pool > 1``) has ``pool`` x ``pool`` windows side by side. For an input
    (C, H, W), stage l maps (C_{l-1}, H_{l-1}, W_{l-1}) to ``(num_filters[l], Ho / pool,
    Wo / pool)`` with ``Ho = H_{l-1} + 2 pad - filter_size + 1``; the last stage's output is
    flattened into the first affine layer. A filter that does not fit, or a pool that does not
    tile a stage's image, is a ``ValueError`` at construction that names the stage.

    Parameters (CS231n names): ``W1 .. WL`` (F_l, C_{l-1}, k, k) and ``b1 .. bL`` for the
    convs, then ``W{L+1} ..`` (n_in, n_out) and ``b{L+1} ..`` for the affine layers; with
    ``normalization="spatial_batchnorm"``, ``gamma1 .. gammaL`` and ``beta1 .. betaL`` (F_l,)
    for the conv stages (running statistics in ``buffers``). Weights: with
    ``weight_scale=None``, He initialization ``N(0, 2 / fan_in)`` (fan_in = C k k for a conv,
    n_in for an affine layer); a given ``weight_scale`` draws every weight from
    ``N(0, weight_scale**2)``. Biases and beta start at 0, gamma at 1. Weights are drawn in
    float64 from ``np.random.default_rng(seed)`` and cast to ``dtype``.

    Dropout (``keep_prob < 1``) follows every hidden affine - relu, in train mode only; its
    masks come from ``self.rng`` (seeded from ``seed``; the Solver keeps its state in
    checkpoints). L2 regularization adds ``0.5 * reg * sum(W**2)`` over every weight (conv and
    affine), so ``dW += reg * W``.

    ``task = "classification"``: ``loss(X)`` returns scores (N, num_classes) in test mode,
    ``loss(X, y)`` returns ``(loss, grads)`` in train mode. ``X`` is (N, C, H, W); (N, C*H*W)
    rows are reshaped, so a flat data set such as the digits' (N, 64) can be used as is.
    """

    task = "classification"

    def __init__(self, input_dim: Sequence[int] = (1, 8, 8),
                 num_filters: Sequence[int] = (16, 32), filter_size: int = 3,
                 pad: int | None = None, pool: int = 2, hidden_dims: Sequence[int] = (128,),
                 num_classes: int = 10, normalization: str | None = None,
                 keep_prob: float = 1.0, reg: float = 0.0, weight_scale: float | None = None,
                 dtype: Any = np.float64, seed: int | None = None) -> None:
        owner = "ConvNet"
        dims = c.int_list(owner, "input_dim", input_dim)
        if len(dims) != 3:
            raise ValueError(f"{owner}: input_dim must be (C, H, W), got {tuple(input_dim)!r}")
        self.input_dim = tuple(dims)
        self.num_filters = c.int_list(owner, "num_filters", num_filters)
        self.filter_size = c.positive_int(owner, "filter_size", filter_size)
        self.pad = (self.filter_size // 2 if pad is None
                    else c.positive_int(owner, "pad", pad, 0))
        self.pool = c.positive_int(owner, "pool", pool)
        self.hidden_dims = c.int_list(owner, "hidden_dims", hidden_dims)
        self.num_classes = c.positive_int(owner, "num_classes", num_classes, 2)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"{owner}: normalization must be None or 'spatial_batchnorm', "
                             f"got {normalization!r}")
        self.normalization = normalization
        self.keep_prob = c.nonneg_float(owner, "keep_prob", keep_prob, positive=True)
        if self.keep_prob > 1:
            raise ValueError(f"{owner}: keep_prob is the probability of keeping a unit, in "
                             f"(0, 1], got {keep_prob!r}")
        self.reg = c.nonneg_float(owner, "reg", reg)
        self.weight_scale = (None if weight_scale is None
                             else c.nonneg_float(owner, "weight_scale", weight_scale,
                                                 positive=True))
        self.dtype = check.float_dtype(owner, dtype)
        self.seed = c.seed_value(owner, seed)
        self.shapes = self._stage_shapes()
        self.num_conv = len(self.num_filters)
        self.num_layers = self.num_conv + len(self.hidden_dims) + 1

        self._conv = c.layer("conv")
        self._pool = c.layer("maxpool")
        self._sbn = c.layer("spatial_batchnorm") if normalization else None
        self._relu = c.layer("relu")
        self._affine = c.layer("affine")
        self._dropout = c.layer("dropout") if self.keep_prob < 1 else None
        self._loss = c.loss_module("softmax")

        rng = np.random.default_rng(self.seed)
        self.params: dict[str, np.ndarray] = {}
        channels = self.input_dim[0]
        k = self.filter_size
        for i, f in enumerate(self.num_filters, start=1):
            std = self._std(channels * k * k)
            self.params[f"W{i}"] = (std * rng.standard_normal((f, channels, k, k))
                                    ).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(f, dtype=self.dtype)
            if self._sbn is not None:
                self.params[f"gamma{i}"] = np.ones(f, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(f, dtype=self.dtype)
            channels = f
        flat = int(np.prod(self.shapes[-1]))
        sizes = [flat, *self.hidden_dims, self.num_classes]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True),
                                          start=self.num_conv + 1):
            std = self._std(n_in)
            self.params[f"W{i}"] = (std * rng.standard_normal((n_in, n_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(n_out, dtype=self.dtype)
        self.bn_params: list[dict[str, Any]] = []
        if self._sbn is not None:
            self.bn_params = [{"mode": "train",
                               "running_mean": np.zeros(f, dtype=self.dtype),
                               "running_var": np.zeros(f, dtype=self.dtype)}
                              for f in self.num_filters]
        # The dropout masks' generator; its own stream, so that dropout does not change the
        # initial weights of a seed.
        self.rng = np.random.default_rng(None if self.seed is None else [self.seed, 1])

    def _std(self, fan_in: int) -> float:
        return self.weight_scale if self.weight_scale is not None else math.sqrt(2.0 / fan_in)

    def _stage_shapes(self) -> list[tuple[int, int, int]]:
        """(C, H, W) after every conv stage; raises when a filter or a pool does not fit."""
        owner, k, pad, pool = "ConvNet", self.filter_size, self.pad, self.pool
        shape = self.input_dim
        shapes = []
        for i, f in enumerate(self.num_filters, start=1):
            _, h, w = shape
            if h + 2 * pad < k or w + 2 * pad < k:
                raise ValueError(f"{owner}: conv stage {i} gets {h}x{w} images, too small for "
                                 f"{k}x{k} filters with pad {pad}; use fewer stages, a "
                                 f"smaller filter_size or more padding")
            h, w = h + 2 * pad - k + 1, w + 2 * pad - k + 1
            if pool > 1:
                if h % pool or w % pool:
                    raise ValueError(f"{owner}: the {pool}x{pool} pool of conv stage {i} does "
                                     f"not tile its {h}x{w} output; change pool, pad or "
                                     f"filter_size, or use fewer stages")
                h, w = h // pool, w // pool
            shape = (f, h, w)
            shapes.append(shape)
        return shapes

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """The spatial batchnorm running statistics, ``running_mean1``, ``running_var1``, ...
        (the arrays of ``bn_params`` themselves). Empty without normalization."""
        out: dict[str, np.ndarray] = {}
        for i, bn_param in enumerate(self.bn_params, start=1):
            out[f"running_mean{i}"] = bn_param["running_mean"]
            out[f"running_var{i}"] = bn_param["running_var"]
        return out

    @buffers.setter
    def buffers(self, values: dict[str, np.ndarray]) -> None:
        c.set_buffers("ConvNet", self.buffers, values, self.dtype)

    def config(self) -> dict[str, Any]:
        """JSON-serializable constructor arguments: ``ConvNet(**net.config())`` rebuilds the
        same architecture (and, with the same seed, the same initial weights)."""
        return {"input_dim": list(self.input_dim), "num_filters": list(self.num_filters),
                "filter_size": self.filter_size, "pad": self.pad, "pool": self.pool,
                "hidden_dims": list(self.hidden_dims), "num_classes": self.num_classes,
                "normalization": self.normalization, "keep_prob": self.keep_prob,
                "reg": self.reg, "weight_scale": self.weight_scale, "dtype": self.dtype.name,
                "seed": self.seed}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"ConvNet({args})"

    def describe(self) -> str:
        """One line: ``1x8x8 - conv3 16 - pool2 - conv3 32 - pool2 - 128 - 10``."""
        parts = ["x".join(str(d) for d in self.input_dim)]
        for f in self.num_filters:
            parts.append(f"conv{self.filter_size} {f}"
                         + (" sbn" if self.normalization else ""))
            if self.pool > 1:
                parts.append(f"pool{self.pool}")
        parts += [str(h) for h in self.hidden_dims]
        parts.append(str(self.num_classes))
        return " - ".join(parts)

    # ------------------------------------------------------------------ forward and backward
    def _input(self, X: Any) -> np.ndarray:
        X = np.asarray(X)
        c_in, h, w = self.input_dim
        if X.ndim == 2 and X.shape[1] == c_in * h * w:
            X = X.reshape(X.shape[0], c_in, h, w)
        if X.ndim != 4 or X.shape[1:] != self.input_dim:
            raise ValueError(f"ConvNet: X must be (N, {c_in}, {h}, {w}) or (N, {c_in * h * w}), "
                             f"got shape {X.shape}")
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        return X

    def _forward(self, X: np.ndarray, mode: str) -> tuple[np.ndarray, list]:
        p = self.params
        caches: list = []
        out = X
        for i in range(1, self.num_conv + 1):
            out, conv_cache = self._conv.forward(out, p[f"W{i}"], p[f"b{i}"], stride=1,
                                                 pad=self.pad)
            bn_cache = None
            if self._sbn is not None:
                bn_param = self.bn_params[i - 1]
                bn_param["mode"] = mode
                out, bn_cache = self._sbn.forward(out, p[f"gamma{i}"], p[f"beta{i}"], bn_param)
            out, relu_cache = self._relu.forward(out)
            pool_cache = None
            if self.pool > 1:
                out, pool_cache = self._pool.forward(out, size=self.pool, stride=self.pool)
            caches.append((conv_cache, bn_cache, relu_cache, pool_cache))
        for i in range(self.num_conv + 1, self.num_layers):
            out, affine_cache = self._affine.forward(out, p[f"W{i}"], p[f"b{i}"])
            out, relu_cache = self._relu.forward(out)
            drop_cache = None
            if self._dropout is not None:
                out, drop_cache = self._dropout.forward(
                    out, {"mode": mode, "keep_prob": self.keep_prob, "rng": self.rng})
            caches.append((affine_cache, relu_cache, drop_cache))
        L = self.num_layers
        scores, affine_cache = self._affine.forward(out, p[f"W{L}"], p[f"b{L}"])
        caches.append(affine_cache)
        return scores, caches

    def loss(self, X: np.ndarray, y: np.ndarray | None = None
             ) -> np.ndarray | tuple[np.floating, dict[str, np.ndarray]]:
        """Scores (N, num_classes) in test mode when ``y`` is None; else ``(loss, grads)``
        in train mode (batch statistics, dropout), with the L2 term in ``loss`` and one
        gradient per parameter, keyed like ``params``."""
        X = self._input(X)
        if y is None:
            return self._forward(X, "test")[0]
        scores, caches = self._forward(X, "train")
        loss, loss_cache = self._loss.forward(scores, y)
        dscores = self._loss.backward(c.one(self.dtype), loss_cache)

        p, L = self.params, self.num_layers
        grads: dict[str, np.ndarray] = {}
        dout, grads[f"W{L}"], grads[f"b{L}"] = self._affine.backward(dscores, caches[-1])
        for i in range(L - 1, self.num_conv, -1):
            affine_cache, relu_cache, drop_cache = caches[i - 1]
            if drop_cache is not None and self._dropout is not None:
                dout = self._dropout.backward(dout, drop_cache)
            dout = self._relu.backward(dout, relu_cache)
            dout, grads[f"W{i}"], grads[f"b{i}"] = self._affine.backward(dout, affine_cache)
        if self.num_conv:
            dout = dout.reshape(-1, *self.shapes[-1])
        for i in range(self.num_conv, 0, -1):
            conv_cache, bn_cache, relu_cache, pool_cache = caches[i - 1]
            if pool_cache is not None:
                dout = self._pool.backward(dout, pool_cache)
            dout = self._relu.backward(dout, relu_cache)
            if bn_cache is not None and self._sbn is not None:
                dout, grads[f"gamma{i}"], grads[f"beta{i}"] = self._sbn.backward(dout, bn_cache)
            dout, grads[f"W{i}"], grads[f"b{i}"] = self._conv.backward(dout, conv_cache)
        if self.reg:
            weights = [p[f"W{i}"] for i in range(1, L + 1)]
            loss = loss + c.l2_penalty(self.reg, weights, self.dtype)
            reg = self.dtype.type(self.reg)
            for i in range(1, L + 1):
                grads[f"W{i}"] += reg * p[f"W{i}"]
        return self.dtype.type(loss), {k: grads[k] for k in p}
