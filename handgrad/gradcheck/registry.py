"""The registry: one entry per differentiable op, the single source of truth for what exists.

An entry says which module implements the op, which of its functions are the forward and the
backward, how to draw small generic random inputs (no ones, no zeros, distinct values, batch of
at least 3, non-square shapes so a transposed gradient is caught), and where the op has kinks.
``handgrad gradcheck``, the contract tests, the benchmarks and the grader all read it.

Inputs keep every coordinate at least ``KINK_MARGIN`` (100 h for the checker's step) from a
kink, so a centred difference never straddles one: ReLU inputs are drawn away from 0, and the
ReLU-activated RNN entries redraw until no pre-activation is that close to 0 along any input
coordinate (distances measured by pushing a tangent through the recurrence). Sizes differ from
one another (N != D != M) so that a transposed gradient has the wrong shape; only the RNN's Wh
and attention's (D, D) projections are square by nature, and there the values catch a
transpose. The drawing helpers live in :mod:`handgrad.gradcheck.sampling` (the LSTM's and
attention's makers in :mod:`handgrad.gradcheck.sequence_inputs`), the ReLU RNN's kink distances in
:mod:`handgrad.gradcheck.rnn_kinks`, max pooling's (ties in a window) in
:mod:`handgrad.gradcheck.pool_kinks`; max pooling draws well-separated values, so that no
window holds a near-tie.

Every entry of an op that has a tuned twin in :mod:`handgrad.fast` (its ``TWINS`` map) gets a
generated twin entry named ``<name>_fast``, with the same inputs computed by the twin.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from handgrad.fast.twins import TWINS
from handgrad.gradcheck import pool_kinks, rnn_kinks, sequence_inputs
from handgrad.gradcheck.outputs import packed
from handgrad.gradcheck.sampling import (
    balanced_signs,
    class_labels,
    normal,
    redraw_until_clear,
    residuals_around,
    signed_away_from_zero,
    well_separated,
)

# make_inputs(rng, dims, dtype) -> (args, kwargs): the positional arguments of forward (arrays,
# integer labels, param dicts) and its keyword options, drawn from ``rng`` at sizes ``dims``.
InputMaker = Callable[[np.random.Generator, Mapping[str, int], np.dtype],
                      tuple[tuple[Any, ...], dict[str, Any]]]

# kink_distance(args, kwargs) -> {arg index: array of each element's distance to the nearest
# point where the op is not differentiable in that argument}; absent indices have no kinks.
KinkDistance = Callable[[tuple[Any, ...], Mapping[str, Any]], dict[int, np.ndarray]]


@dataclass(frozen=True)
class OpSpec:
    """How to find, feed and check one op."""

    name: str                     # unique op name, e.g. "affine", "rnn_step"
    module: str                   # dotted module path, e.g. "handgrad.layers.affine"
    make_inputs: InputMaker
    dims: Mapping[str, int]       # default sizes, e.g. {"N": 4, "D": 5, "M": 3}
    arg_names: tuple[str, ...]    # names of forward's positional arguments, in order
    forward: str = "forward"      # function names inside ``module``
    backward: str = "backward"
    kink_distance: KinkDistance | None = None
    batch_coupled: bool = False   # True when examples interact (batchnorm, mean-reduced losses)
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    # Names of forward's outputs. With two or more, forward returns (*outputs, cache) and
    # backward takes (*douts, cache); the checker sees them side by side (gradcheck.outputs).
    outputs: tuple[str, ...] = ("out",)

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def functions(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """Return ``(forward, backward)`` callables with the one-output contract."""
        module = self.load()
        forward, backward = getattr(module, self.forward), getattr(module, self.backward)
        if len(self.outputs) > 1:
            return packed(forward, backward, len(self.outputs))
        return forward, backward

    def inputs(self, seed: int = 0, dims: Mapping[str, int] | None = None,
               dtype: np.dtype | type = np.float64) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Draw this op's inputs with ``np.random.default_rng(seed)``; ``dims`` overrides sizes."""
        sizes = {**self.dims, **(dims or {})}
        return self.make_inputs(np.random.default_rng(seed), sizes, np.dtype(dtype))


REGISTRY: dict[str, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"registry: op {spec.name!r} is registered twice")
    REGISTRY[spec.name] = spec
    return spec


def suggest(name: str, limit: int = 4) -> list[str]:
    """Registered names close to ``name``: ops containing it as a word part, then near
    spellings (``"softmax"`` -> ``softmax_cross_entropy``, ``temporal_softmax_cross_entropy``)."""
    import difflib

    key = str(name).lower()
    parts = [n for n in REGISTRY if key and key in n.split("_") or n.startswith(key + "_")]
    parts.sort(key=lambda n: (not n.startswith(key), len(n), n))
    close = difflib.get_close_matches(key, list(REGISTRY), n=limit, cutoff=0.6)
    return list(dict.fromkeys(parts + close))[:limit]


def unknown_message(name: str) -> str:
    """``no op named 'x'; did you mean ...?`` with every known op listed after it."""
    close = suggest(name)
    mean = f" (did you mean {' or '.join(repr(n) for n in close)}?)" if close else ""
    return f"no op named {name!r}{mean}; known ops: {', '.join(sorted(REGISTRY))}"


def get(name: str) -> OpSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"registry: {unknown_message(name)}") from None



# ---------------------------------------------------------------------------------------------
# Entries. Keep one block per op module, in the order of handgrad/layers then handgrad/losses.
# ---------------------------------------------------------------------------------------------

# --- handgrad.layers.affine ---------------------------------------------------------------

def _affine_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    n, d1, d2, m = dims["N"], dims["d1"], dims["d2"], dims["M"]
    x = normal(rng, (n, d1, d2), dtype)
    w = normal(rng, (d1 * d2, m), dtype, scale=0.5)
    b = normal(rng, (m,), dtype)
    return (x, w, b), {}


register(OpSpec(
    name="affine", module="handgrad.layers.affine", make_inputs=_affine_inputs,
    dims={"N": 3, "d1": 4, "d2": 2, "M": 5}, arg_names=("x", "w", "b"),
    description="x (N, d1, d2) flattened to (N, d1*d2) @ w + b", tags=("layer",)))

# --- handgrad.layers.attention -----------------------------------------------------------

_ATTENTION_ARGS = ("x", "Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")
_ATTENTION_VARIANTS = (  # name, maker, description
    ("attention", sequence_inputs.attention(),
     "multi-head scaled dot-product self-attention, x (N, T, heads * d)"),
    ("attention_causal", sequence_inputs.attention(causal=True),
     "self-attention with causal=True (position i sees j <= i)"),
    ("attention_mask", sequence_inputs.attention(causal=True, masked=True),
     "self-attention with a (T, T) mask and causal=True; one row fully masked"),
)
for _name, _maker, _about in _ATTENTION_VARIANTS:
    register(OpSpec(
        name=_name, module="handgrad.layers.attention", make_inputs=_maker,
        dims={"N": 3, "T": 4, "heads": 2, "d": 5}, arg_names=_ATTENTION_ARGS,
        description=_about, tags=("layer", "sequence")))
register(OpSpec(
    name="attention_t1", module="handgrad.layers.attention",
    make_inputs=sequence_inputs.attention(), dims={"N": 3, "T": 1, "heads": 2, "d": 4},
    arg_names=_ATTENTION_ARGS, description="self-attention over one position (T = 1: the "
    "softmax is 1)", tags=("layer", "sequence")))


# --- handgrad.layers.avgpool and handgrad.layers.maxpool ----------------------------------

# Pooling variants: (name suffix, size, stride, what it exercises). Sizes are the output's
# (Ho, Wo), so the input always fits and tiles: H = (Ho - 1) * stride + size.
POOL_VARIANTS = (
    ("", 2, 2, "2x2 windows, stride 2: windows tile the input"),
    ("_overlap", 3, 2, "3x3 windows, stride 2: overlapping windows"),
    ("_rect", (3, 2), (1, 2), "3x2 windows, stride (1, 2): overlap down, tiles across"),
)


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _pool_inputs(size: int | tuple[int, int], stride: int | tuple[int, int], *,
                 separated: bool) -> InputMaker:
    (hh, ww), (sh, sw) = _pair(size), _pair(stride)

    def make(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        shape = (dims["N"], dims["C"], (dims["Ho"] - 1) * sh + hh, (dims["Wo"] - 1) * sw + ww)
        # max pooling: values far apart, so no window holds a near-tie (its kinks)
        x = well_separated(rng, shape, dtype) if separated else normal(rng, shape, dtype)
        return (x,), {"size": size, "stride": stride}
    return make


def _max_pool_kinks(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[int, np.ndarray]:
    """The ties of every window, in x."""
    size, stride = (_pair(kwargs[key]) for key in ("size", "stride"))
    return {0: pool_kinks.max_pool_kinks(np.asarray(args[0], dtype=np.float64), size, stride)}


_POOL_DIMS = {"N": 3, "C": 2, "Ho": 4, "Wo": 5}
for _suffix, _size, _stride, _what in POOL_VARIANTS:
    register(OpSpec(
        name=f"avgpool{_suffix}", module="handgrad.layers.avgpool",
        make_inputs=_pool_inputs(_size, _stride, separated=False), dims=_POOL_DIMS,
        arg_names=("x",), description=f"average pooling, {_what}", tags=("layer", "image")))
    register(OpSpec(
        name=f"maxpool{_suffix}", module="handgrad.layers.maxpool",
        make_inputs=_pool_inputs(_size, _stride, separated=True), dims=_POOL_DIMS,
        arg_names=("x",), kink_distance=_max_pool_kinks,
        description=f"max pooling, {_what}; kinks at ties in a window",
        tags=("layer", "image", "kinked")))


# --- handgrad.layers.batchnorm ------------------------------------------------------------

def _batchnorm_inputs(mode: str) -> InputMaker:
    def make(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        n, d = dims["N"], dims["D"]
        # Features with their own offset and spread, so neither mean 0 nor variance 1 holds.
        x = (rng.normal(0.0, 2.0, d) + rng.uniform(0.5, 3.0, d) * rng.standard_normal((n, d)))
        gamma = rng.uniform(0.5, 2.0, d) * np.where(np.arange(d) % 3 == 2, -1.0, 1.0)
        beta = rng.standard_normal(d)
        bn_param = {"mode": mode, "eps": 1e-5, "momentum": 0.9,
                    "running_mean": rng.normal(0.0, 1.0, d).astype(dtype),
                    "running_var": rng.uniform(0.5, 2.0, d).astype(dtype)}
        return (x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), bn_param), {}
    return make


register(OpSpec(
    name="batchnorm", module="handgrad.layers.batchnorm", make_inputs=_batchnorm_inputs("train"),
    dims={"N": 4, "D": 5}, arg_names=("x", "gamma", "beta", "bn_param"), batch_coupled=True,
    description="batch normalization, train mode (batch statistics)", tags=("layer",)))
register(OpSpec(
    name="batchnorm_test", module="handgrad.layers.batchnorm",
    make_inputs=_batchnorm_inputs("test"), dims={"N": 4, "D": 5},
    arg_names=("x", "gamma", "beta", "bn_param"),
    description="batch normalization, test mode (running statistics)", tags=("layer",)))


# --- handgrad.layers.dropout --------------------------------------------------------------

def _dropout_inputs(mode: str, keep_prob: float, image: bool) -> InputMaker:
    """x of shape (N, D), or (N, C, H, W) for ``image``; the mask's seed is drawn from ``rng``,
    so the checker sees one fixed mask in every forward call of a check."""
    def make(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        shape = ((dims["N"], dims["C"], dims["H"], dims["W"]) if image
                 else (dims["N"], dims["D"]))
        x = normal(rng, shape, dtype, scale=1.5)
        dropout_param = {"mode": mode, "keep_prob": keep_prob,
                         "seed": int(rng.integers(2**31))}
        return (x, dropout_param), {}
    return make


register(OpSpec(
    name="dropout", module="handgrad.layers.dropout",
    make_inputs=_dropout_inputs("train", 0.7, image=False), dims={"N": 4, "D": 5},
    arg_names=("x", "dropout_param"), batch_coupled=True,
    description="inverted dropout, train mode, keep_prob 0.7, a fixed seed (the mask is drawn "
                "for the whole batch, so an example's mask depends on its place in it)",
    tags=("layer", "random")))
register(OpSpec(
    name="dropout_image", module="handgrad.layers.dropout",
    make_inputs=_dropout_inputs("train", 0.35, image=True),
    dims={"N": 3, "C": 2, "H": 4, "W": 5}, arg_names=("x", "dropout_param"),
    batch_coupled=True, description="inverted dropout on (N, C, H, W), keep_prob 0.35",
    tags=("layer", "random", "image")))
register(OpSpec(
    name="dropout_test", module="handgrad.layers.dropout",
    make_inputs=_dropout_inputs("test", 0.7, image=False), dims={"N": 4, "D": 5},
    arg_names=("x", "dropout_param"), description="dropout in test mode: the identity",
    tags=("layer",)))

# --- handgrad.layers.conv and handgrad.layers.conv_naive ----------------------------------

# Convolution variants: (name suffix, kernel (HH, WW), stride, pad, what it exercises). Sizes
# are the output's (Ho, Wo), so the filter always fits and the stride tiles:
# H = (Ho - 1) * stride + HH - 2 * pad.
CONV_VARIANTS = (
    ("", (3, 2), 1, 0, "3x2 filters, stride 1, no padding"),
    ("_pad", (2, 3), 1, (1, 2), "2x3 filters, stride 1, padding (1, 2)"),
    ("_stride2_pad1", (3, 3), 2, 1, "3x3 filters, stride 2, padding 1"),
    ("_1x1", (1, 1), 1, 0, "1x1 filters (more filters than rows of im2col)"),
)
CONV_MODULES = (("conv", "handgrad.layers.conv", "im2col"),
                ("conv_naive", "handgrad.layers.conv_naive", "loop over output positions"))


def _conv_inputs(kernel: tuple[int, int], stride: int, pad: int | tuple[int, int]
                 ) -> InputMaker:
    ph, pw = _pair(pad)

    def make(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        n, c, f = dims["N"], dims["C"], dims["F"]
        h = (dims["Ho"] - 1) * stride + kernel[0] - 2 * ph
        w = (dims["Wo"] - 1) * stride + kernel[1] - 2 * pw
        x = normal(rng, (n, c, h, w), dtype)
        fan_in = c * kernel[0] * kernel[1]
        weights = normal(rng, (f, c, *kernel), dtype, scale=1.0 / np.sqrt(fan_in))
        b = normal(rng, (f,), dtype)
        return (x, weights, b), {"stride": stride, "pad": pad}
    return make


for _prefix, _module, _how in CONV_MODULES:
    for _suffix, _kernel, _stride, _pad, _what in CONV_VARIANTS:
        register(OpSpec(
            name=f"{_prefix}{_suffix}", module=_module,
            make_inputs=_conv_inputs(_kernel, _stride, _pad),
            dims={"N": 3, "C": 2, "F": 4, "Ho": 5, "Wo": 7}, arg_names=("x", "w", "b"),
            description=f"2-D convolution ({_how}), {_what}", tags=("layer", "image")))


# --- handgrad.layers.embedding ------------------------------------------------------------

def _embedding_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    n, t, v, d = dims["N"], dims["T"], dims["V"], dims["D"]
    idx = rng.integers(0, v, size=(n, t), dtype=np.int64)
    idx.flat[-1] = idx.flat[0]  # at least one row looked up twice: its gradients must add up
    return (idx, normal(rng, (v, d), dtype)), {}


register(OpSpec(
    name="embedding", module="handgrad.layers.embedding", make_inputs=_embedding_inputs,
    dims={"N": 3, "T": 4, "V": 7, "D": 5}, arg_names=("idx", "W"),
    description="row lookup W[idx]; repeated indices accumulate", tags=("layer",)))

# --- handgrad.layers.lstm ----------------------------------------------------------------

_LSTM_ARGS = ("x", "h0", "Wx", "Wh", "b")
_LSTM_VARIANTS = (  # name, sizes, description
    ("lstm", {"N": 3, "T": 4, "D": 5, "H": 6},
     "LSTM over (N, T, D), gates i, f, o, g, backpropagation through time"),
    ("lstm_t1", {"N": 3, "T": 1, "D": 4, "H": 2}, "LSTM over a single time step (T = 1)"),
)
for _name, _dims, _about in _LSTM_VARIANTS:
    register(OpSpec(
        name=_name, module="handgrad.layers.lstm", make_inputs=sequence_inputs.lstm, dims=_dims,
        arg_names=_LSTM_ARGS, description=_about, tags=("layer", "sequence")))
register(OpSpec(
    name="lstm_step", module="handgrad.layers.lstm", make_inputs=sequence_inputs.lstm_step,
    dims={"N": 3, "D": 5, "H": 4}, arg_names=("x", "prev_h", "prev_c", "Wx", "Wh", "b"),
    forward="step_forward", backward="step_backward", outputs=("next_h", "next_c"),
    description="one LSTM step: (next_h, next_c) from (x, prev_h, prev_c)",
    tags=("layer", "sequence")))


# --- handgrad.layers.groupnorm ------------------------------------------------------------

def _channel_inputs(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype):
    """x (N, C, ...) whose channels have their own offset and spread, gamma (C,) of both signs
    and beta (C,): neither mean 0 nor variance 1 holds anywhere."""
    c = shape[1]
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    offset = rng.normal(0.0, 2.0, c).reshape(per_channel)
    spread = rng.uniform(0.5, 3.0, c).reshape(per_channel)
    x = offset + spread * rng.standard_normal(shape)
    gamma = rng.uniform(0.5, 2.0, c) * np.where(np.arange(c) % 3 == 2, -1.0, 1.0)
    beta = rng.standard_normal(c)
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)


def _groupnorm_inputs(groups: str) -> InputMaker:
    """``groups``: "G" (G groups of Cg channels), "one" (G = 1) or "each" (G = C)."""
    def make(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        g = {"G": dims.get("G", 1), "one": 1, "each": dims.get("C", 1)}[groups]
        c = g * dims["Cg"] if groups == "G" else dims["C"]
        x, gamma, beta = _channel_inputs(rng, (dims["N"], c, dims["H"], dims["W"]), dtype)
        return (x, gamma, beta), {"G": g}
    return make


_NORM_ARGS = ("x", "gamma", "beta")
register(OpSpec(
    name="groupnorm", module="handgrad.layers.groupnorm", make_inputs=_groupnorm_inputs("G"),
    dims={"N": 3, "G": 2, "Cg": 4, "H": 5, "W": 6}, arg_names=_NORM_ARGS,
    description="group normalization of (N, G*Cg, H, W) with G groups of Cg channels",
    tags=("layer", "image")))
register(OpSpec(
    name="groupnorm_one_group", module="handgrad.layers.groupnorm",
    make_inputs=_groupnorm_inputs("one"), dims={"N": 3, "C": 4, "H": 2, "W": 5},
    arg_names=_NORM_ARGS, description="group normalization with G = 1 (layernorm of an image)",
    tags=("layer", "image")))
register(OpSpec(
    name="groupnorm_per_channel", module="handgrad.layers.groupnorm",
    make_inputs=_groupnorm_inputs("each"), dims={"N": 3, "C": 4, "H": 2, "W": 5},
    arg_names=_NORM_ARGS, description="group normalization with G = C (instance normalization)",
    tags=("layer", "image")))


# --- handgrad.layers.layernorm ------------------------------------------------------------

def _layernorm_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    """x (N, D) or (N, T, D) whose rows have their own offset and spread."""
    shape = (dims["N"], dims["T"], dims["D"]) if "T" in dims else (dims["N"], dims["D"])
    d = shape[-1]
    offset = rng.normal(0.0, 2.0, shape[:-1] + (1,))
    spread = rng.uniform(0.5, 3.0, shape[:-1] + (1,))
    x = offset + spread * rng.standard_normal(shape)
    gamma = rng.uniform(0.5, 2.0, d) * np.where(np.arange(d) % 3 == 2, -1.0, 1.0)
    beta = rng.standard_normal(d)
    return (x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)), {}


register(OpSpec(
    name="layernorm", module="handgrad.layers.layernorm", make_inputs=_layernorm_inputs,
    dims={"N": 4, "D": 5}, arg_names=_NORM_ARGS,
    description="layer normalization of (N, D) over the features", tags=("layer",)))
register(OpSpec(
    name="layernorm_sequence", module="handgrad.layers.layernorm",
    make_inputs=_layernorm_inputs, dims={"N": 3, "T": 4, "D": 5}, arg_names=_NORM_ARGS,
    description="layer normalization of (N, T, D) over the last axis",
    tags=("layer", "sequence")))


# --- handgrad.layers.relu -----------------------------------------------------------------

def _relu_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    return (signed_away_from_zero(rng, (dims["N"], dims["D"]), dtype, 0.05, 2.0),), {}


def _relu_kinks(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[int, np.ndarray]:
    return {0: np.abs(np.asarray(args[0], dtype=np.float64))}


register(OpSpec(
    name="relu", module="handgrad.layers.relu", make_inputs=_relu_inputs,
    dims={"N": 4, "D": 5}, arg_names=("x",), kink_distance=_relu_kinks,
    description="max(0, x); kink at x = 0", tags=("layer", "kinked")))


# --- handgrad.layers.rnn ------------------------------------------------------------------

def _rnn_kinks(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[int, np.ndarray]:
    """Kinks of rnn.forward: none for tanh; for relu, where a pre-activation crosses 0."""
    if kwargs.get("activation", "tanh") != "relu":
        return {}
    x, h0, wx, wh, b = (np.asarray(a, dtype=np.float64) for a in args[:5])
    return dict(enumerate(rnn_kinks.relu_kinks(x, h0, wx, wh, b)))


def _rnn_step_kinks(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[int, np.ndarray]:
    """Kinks of rnn.step_forward: one step of the recurrence (T = 1)."""
    if kwargs.get("activation", "tanh") != "relu":
        return {}
    x, prev_h, wx, wh, b = (np.asarray(a, dtype=np.float64) for a in args[:5])
    found = rnn_kinks.relu_kinks(x[:, None, :], prev_h, wx, wh, b)
    found[0] = found[0][:, 0, :]
    return dict(enumerate(found))


def _redraw_tries(pre_activations: int) -> int:
    """Redraws are worth it for small layers only: among thousands of pre-activations some
    always lie near 0, and the checker then reports those entries as kinks."""
    return 50 if pre_activations <= 2000 else 1


def _rnn_weights(rng: np.random.Generator, d: int, hdim: int, dtype: np.dtype,
                 recurrent_scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    wx = normal(rng, (d, hdim), dtype, scale=1.0 / np.sqrt(d))
    wh = normal(rng, (hdim, hdim), dtype, scale=recurrent_scale / np.sqrt(hdim))
    b = normal(rng, (hdim,), dtype, scale=0.3)
    return wx, wh, b


def _rnn_step_inputs(activation: str) -> InputMaker:
    def draw_once(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        n, d, hdim = dims["N"], dims["D"], dims["H"]
        x = normal(rng, (n, d), dtype)
        prev_h = np.tanh(rng.normal(0.0, 1.5, (n, hdim))).astype(dtype)
        wx, wh, b = _rnn_weights(rng, d, hdim, dtype, 1.0 if activation == "tanh" else 0.5)
        kwargs = {} if activation == "tanh" else {"activation": activation}
        return (x, prev_h, wx, wh, b), kwargs

    def make(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        if activation == "tanh":
            return draw_once(rng, dims, dtype)
        return redraw_until_clear(lambda: draw_once(rng, dims, dtype), _rnn_step_kinks,
                                   _redraw_tries(dims["N"] * dims["H"]))
    return make


def _rnn_inputs(activation: str) -> InputMaker:
    def draw_once(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        n, t, d, hdim = dims["N"], dims["T"], dims["D"], dims["H"]
        x = normal(rng, (n, t, d), dtype)
        h0 = np.tanh(rng.normal(0.0, 1.5, (n, hdim))).astype(dtype)
        wx, wh, b = _rnn_weights(rng, d, hdim, dtype, 1.0 if activation == "tanh" else 0.5)
        kwargs = {} if activation == "tanh" else {"activation": activation}
        return (x, h0, wx, wh, b), kwargs

    def make(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        if activation == "tanh":
            return draw_once(rng, dims, dtype)
        return redraw_until_clear(lambda: draw_once(rng, dims, dtype), _rnn_kinks,
                                   _redraw_tries(dims["N"] * dims["T"] * dims["H"]))
    return make


_RNN_STEP_ARGS = ("x", "prev_h", "Wx", "Wh", "b")
_RNN_ARGS = ("x", "h0", "Wx", "Wh", "b")
register(OpSpec(
    name="rnn", module="handgrad.layers.rnn", make_inputs=_rnn_inputs("tanh"),
    dims={"N": 3, "T": 4, "D": 5, "H": 6}, arg_names=_RNN_ARGS, kink_distance=_rnn_kinks,
    description="vanilla tanh RNN over (N, T, D), backpropagation through time",
    tags=("layer", "sequence")))
register(OpSpec(
    name="rnn_relu", module="handgrad.layers.rnn", make_inputs=_rnn_inputs("relu"),
    dims={"N": 3, "T": 4, "D": 5, "H": 6}, arg_names=_RNN_ARGS, kink_distance=_rnn_kinks,
    description="vanilla RNN with activation='relu'; kinks at pre-activation 0",
    tags=("layer", "sequence", "kinked")))
register(OpSpec(
    name="rnn_step", module="handgrad.layers.rnn", make_inputs=_rnn_step_inputs("tanh"),
    dims={"N": 3, "D": 5, "H": 6}, arg_names=_RNN_STEP_ARGS, forward="step_forward",
    backward="step_backward", kink_distance=_rnn_step_kinks,
    description="one tanh RNN step", tags=("layer", "sequence")))
register(OpSpec(
    name="rnn_step_relu", module="handgrad.layers.rnn", make_inputs=_rnn_step_inputs("relu"),
    dims={"N": 3, "D": 5, "H": 6}, arg_names=_RNN_STEP_ARGS, forward="step_forward",
    backward="step_backward", kink_distance=_rnn_step_kinks,
    description="one RNN step with activation='relu'; kinks at pre-activation 0",
    tags=("layer", "sequence", "kinked")))


# --- handgrad.layers.sigmoid --------------------------------------------------------------

def _sigmoid_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    return (normal(rng, (dims["N"], dims["D"]), dtype, scale=2.0),), {}


register(OpSpec(
    name="sigmoid", module="handgrad.layers.sigmoid", make_inputs=_sigmoid_inputs,
    dims={"N": 4, "D": 5}, arg_names=("x",), description="1 / (1 + exp(-x))",
    tags=("layer",)))


# --- handgrad.layers.spatial_batchnorm ----------------------------------------------------

def _spatial_batchnorm_inputs(mode: str) -> InputMaker:
    def make(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        c = dims["C"]
        x, gamma, beta = _channel_inputs(rng, (dims["N"], c, dims["H"], dims["W"]), dtype)
        bn_param = {"mode": mode, "eps": 1e-5, "momentum": 0.9,
                    "running_mean": rng.normal(0.0, 1.0, c).astype(dtype),
                    "running_var": rng.uniform(0.5, 2.0, c).astype(dtype)}
        return (x, gamma, beta, bn_param), {}
    return make


register(OpSpec(
    name="spatial_batchnorm", module="handgrad.layers.spatial_batchnorm",
    make_inputs=_spatial_batchnorm_inputs("train"), dims={"N": 3, "C": 4, "H": 2, "W": 5},
    arg_names=("x", "gamma", "beta", "bn_param"), batch_coupled=True,
    description="spatial batch normalization of (N, C, H, W), train mode",
    tags=("layer", "image")))
register(OpSpec(
    name="spatial_batchnorm_test", module="handgrad.layers.spatial_batchnorm",
    make_inputs=_spatial_batchnorm_inputs("test"), dims={"N": 3, "C": 4, "H": 2, "W": 5},
    arg_names=("x", "gamma", "beta", "bn_param"),
    description="spatial batch normalization, test mode (running statistics)",
    tags=("layer", "image")))

# --- handgrad.layers.tanh -----------------------------------------------------------------

def _tanh_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    return (normal(rng, (dims["N"], dims["D"]), dtype, scale=1.5),), {}


register(OpSpec(
    name="tanh", module="handgrad.layers.tanh", make_inputs=_tanh_inputs,
    dims={"N": 4, "D": 5}, arg_names=("x",), description="tanh(x)", tags=("layer",)))


# --- handgrad.layers.temporal_affine ------------------------------------------------------

def _temporal_affine_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    n, t, d, m = dims["N"], dims["T"], dims["D"], dims["M"]
    x = normal(rng, (n, t, d), dtype)
    w = normal(rng, (d, m), dtype, scale=0.5)
    b = normal(rng, (m,), dtype)
    return (x, w, b), {}


register(OpSpec(
    name="temporal_affine", module="handgrad.layers.temporal_affine",
    make_inputs=_temporal_affine_inputs, dims={"N": 3, "T": 4, "D": 5, "M": 6},
    arg_names=("x", "w", "b"), description="x[n, t] @ w + b at every time step",
    tags=("layer", "sequence")))


# --- handgrad.losses.huber ----------------------------------------------------------------

HUBER_DELTA = 1.3  # not the default 1.0, so a delta hard-coded in backward is caught


def _huber_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    # Residuals from both regimes, well away from |r| = delta where the two pieces meet.
    return residuals_around(rng, dims, dtype, HUBER_DELTA), {"delta": HUBER_DELTA}


register(OpSpec(
    name="huber", module="handgrad.losses.huber", make_inputs=_huber_inputs,
    dims={"N": 4, "D": 3}, arg_names=("pred", "target"), batch_coupled=True,
    description=f"Huber loss, mean over all elements, delta={HUBER_DELTA}; residuals on both "
                f"sides of delta", tags=("loss",)))


# --- handgrad.losses.mse ------------------------------------------------------------------

def _mse_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    shape = (dims["N"], dims["D"])
    return (normal(rng, shape, dtype), normal(rng, shape, dtype)), {}


register(OpSpec(
    name="mse", module="handgrad.losses.mse", make_inputs=_mse_inputs, dims={"N": 4, "D": 3},
    arg_names=("pred", "target"), batch_coupled=True, description="mean squared error",
    tags=("loss",)))


# --- handgrad.losses.softmax_cross_entropy ------------------------------------------------

def _softmax_ce_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    n, c = dims["N"], dims["C"]
    return (normal(rng, (n, c), dtype, scale=1.5), class_labels(rng, (n,), c)), {}


register(OpSpec(
    name="softmax_cross_entropy", module="handgrad.losses.softmax_cross_entropy",
    make_inputs=_softmax_ce_inputs, dims={"N": 4, "C": 5}, arg_names=("scores", "y"),
    batch_coupled=True, description="softmax cross-entropy with integer labels, mean over N",
    tags=("loss",)))


# --- handgrad.losses.svm ------------------------------------------------------------------

def _svm_kinks(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[int, np.ndarray]:
    """The hinge of class j != y[i] bends where scores[i, j] - scores[i, y[i]] + margin = 0:
    along scores[i, j] at that term's distance from 0, along scores[i, y[i]] (which moves every
    term of its row) at the nearest one's."""
    scores, y = np.asarray(args[0], dtype=np.float64), args[1]
    rows = np.arange(scores.shape[0])
    distance = np.abs(scores - scores[rows, y][:, None] + float(kwargs.get("margin", 1.0)))
    distance[rows, y] = np.inf
    distance[rows, y] = distance.min(axis=1)
    return {0: distance}


def _svm_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    def draw():
        n, c = dims["N"], dims["C"]
        return (normal(rng, (n, c), dtype, scale=1.5), class_labels(rng, (n,), c)), {}
    return redraw_until_clear(draw, _svm_kinks)


register(OpSpec(
    name="svm", module="handgrad.losses.svm", make_inputs=_svm_inputs, dims={"N": 4, "C": 5},
    arg_names=("scores", "y"), kink_distance=_svm_kinks, batch_coupled=True,
    description="multiclass hinge loss, margin 1, mean over N; kinks where a margin is 0",
    tags=("loss", "kinked")))


# --- handgrad.losses.temporal_softmax_cross_entropy ---------------------------------------

def _temporal_softmax_ce_inputs(rng: np.random.Generator, dims: Mapping[str, int],
                                dtype: np.dtype):
    n, t, v = dims["N"], dims["T"], dims["V"]
    scores = normal(rng, (n, t, v), dtype, scale=1.5)
    y = class_labels(rng, (n, t), v)
    mask = balanced_signs(rng, (n, t)) > 0
    mask[:, 0] = True   # every sequence counts somewhere
    y[~mask] = -1       # padding targets are ignored where masked out
    return (scores, y, mask), {}


register(OpSpec(
    name="temporal_softmax_cross_entropy",
    module="handgrad.losses.temporal_softmax_cross_entropy",
    make_inputs=_temporal_softmax_ce_inputs, dims={"N": 3, "T": 4, "V": 5},
    arg_names=("scores", "y", "mask"), batch_coupled=True,
    description="masked softmax cross-entropy over (N, T, V), summed over time, mean over N",
    tags=("loss", "sequence")))


# --- handgrad.losses.clipped_error_mse ----------------------------------------------------

CLIPPED_ERROR_CLIP = 1.3  # not the default 1.0, so a clip hard-coded in backward is caught


def _clipped_error_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    # Errors on both sides of the clip (zero gradient beyond it), well away from |r| = clip.
    return residuals_around(rng, dims, dtype, CLIPPED_ERROR_CLIP), {"clip": CLIPPED_ERROR_CLIP}


def _clipped_error_kinks(args: tuple[Any, ...], kwargs: Mapping[str, Any]
                         ) -> dict[int, np.ndarray]:
    """The gradient jumps where |pred - target| = clip, in both arguments."""
    r = np.asarray(args[0], dtype=np.float64) - np.asarray(args[1], dtype=np.float64)
    distance = np.abs(np.abs(r) - float(kwargs.get("clip", 1.0)))
    return {0: distance, 1: distance}


register(OpSpec(
    name="clipped_error_mse", module="handgrad.losses.clipped_error_mse",
    make_inputs=_clipped_error_inputs, dims={"N": 4, "D": 3}, arg_names=("pred", "target"),
    kink_distance=_clipped_error_kinks, batch_coupled=True,
    description=f"half mean of clip(pred - target, -c, c)**2, c={CLIPPED_ERROR_CLIP}; zero "
                f"gradient beyond the clip", tags=("loss", "kinked")))


# --- the tuned twins in handgrad.fast -------------------------------------------------------
# Every entry of a readable module that has a twin (handgrad.fast.TWINS) gets a twin entry,
# ``<name>_fast``: the same inputs, sizes and kinks, computed by the twin. Generated here, after
# all the readable entries, so that a new twin or a new variant of an op is checked without
# another hand-written entry.

def twin_entry(spec: OpSpec) -> OpSpec:
    """The entry of ``spec``'s op computed by its tuned twin (``spec.module`` must have one)."""
    return dataclasses.replace(
        spec, name=f"{spec.name}_fast", module=TWINS[spec.module],
        description=f"the tuned twin of {spec.name}: {spec.description}",
        tags=(*spec.tags, "fast"))


for _spec in [s for s in REGISTRY.values() if s.module in TWINS]:
    register(twin_entry(_spec))
