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
is square by nature, and there the values catch a transpose. The drawing helpers live in
:mod:`handgrad.gradcheck.sampling`, the ReLU RNN's kink distances in
:mod:`handgrad.gradcheck.rnn_kinks`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from handgrad.gradcheck import rnn_kinks
from handgrad.gradcheck.outputs import packed
from handgrad.gradcheck.sampling import (
    balanced_signs,
    class_labels,
    normal,
    redraw_until_clear,
    residuals_around,
    signed_away_from_zero,
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


def get(name: str) -> OpSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"registry: no op named {name!r}; known ops: {known}") from None



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

# --- handgrad.layers.attention (and its twin handgrad.fast.attention) --------------------

def _attention_inputs(causal: bool = False, masked: bool = False) -> InputMaker:
    """x (N, T, D) with D = heads * d, four (D, D) projections at 1/sqrt(D) scale (scores of
    order 1: the softmax neither saturated nor uniform) and distinct biases. ``masked`` adds a
    (T, T) mask whose second row allows nothing (its output is bo, its gradient 0) and whose
    other rows allow a random subset that always includes the diagonal."""
    def make(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
        n, t, heads = dims["N"], dims["T"], dims["heads"]
        d_model = heads * dims["d"]
        x = normal(rng, (n, t, d_model), dtype)
        weights = [normal(rng, (d_model, d_model), dtype, scale=1.5 / np.sqrt(d_model))
                   for _ in range(4)]
        biases = [normal(rng, (d_model,), dtype, scale=0.5) for _ in range(4)]
        kwargs: dict[str, Any] = {"num_heads": heads}
        if causal:
            kwargs["causal"] = True
        if masked:
            mask = (rng.random((t, t)) < 0.6) | np.eye(t, dtype=bool)
            if t > 1:
                mask[1] = False
            kwargs["mask"] = mask
        return (x, *weights, *biases), kwargs
    return make


_ATTENTION_ARGS = ("x", "Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")
_ATTENTION_DIMS = {"N": 3, "T": 4, "heads": 2, "d": 5}
for _module, _suffix in (("handgrad.layers.attention", ""), ("handgrad.fast.attention", "_fast")):
    register(OpSpec(
        name=f"attention{_suffix}", module=_module, make_inputs=_attention_inputs(),
        dims=_ATTENTION_DIMS, arg_names=_ATTENTION_ARGS,
        description="multi-head scaled dot-product self-attention, x (N, T, heads * d)"
                    + (", tuned twin" if _suffix else ""), tags=("layer", "sequence")))
    register(OpSpec(
        name=f"attention_causal{_suffix}", module=_module,
        make_inputs=_attention_inputs(causal=True), dims=_ATTENTION_DIMS,
        arg_names=_ATTENTION_ARGS,
        description="self-attention with causal=True (position i sees j <= i)"
                    + (", tuned twin" if _suffix else ""), tags=("layer", "sequence")))
    register(OpSpec(
        name=f"attention_mask{_suffix}", module=_module,
        make_inputs=_attention_inputs(causal=True, masked=True), dims=_ATTENTION_DIMS,
        arg_names=_ATTENTION_ARGS,
        description="self-attention with a (T, T) mask and causal=True; one row fully masked"
                    + (", tuned twin" if _suffix else ""), tags=("layer", "sequence")))
register(OpSpec(
    name="attention_t1", module="handgrad.layers.attention", make_inputs=_attention_inputs(),
    dims={"N": 3, "T": 1, "heads": 2, "d": 4}, arg_names=_ATTENTION_ARGS,
    description="self-attention over one position (T = 1: the softmax is 1)",
    tags=("layer", "sequence")))


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

# --- handgrad.layers.lstm (and its twin handgrad.fast.lstm) ------------------------------

def _lstm_weights(rng: np.random.Generator, d: int, hdim: int, dtype: np.dtype
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wx (D, 4H), Wh (H, 4H), b (4H,) scaled so that the gates are neither saturated nor
    all near 1/2 (pre-activations of order 1)."""
    wx = normal(rng, (d, 4 * hdim), dtype, scale=1.0 / np.sqrt(d))
    wh = normal(rng, (hdim, 4 * hdim), dtype, scale=1.0 / np.sqrt(hdim))
    b = normal(rng, (4 * hdim,), dtype, scale=0.5)
    return wx, wh, b


def _lstm_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    n, t, d, hdim = dims["N"], dims["T"], dims["D"], dims["H"]
    x = normal(rng, (n, t, d), dtype)
    h0 = np.tanh(rng.normal(0.0, 1.5, (n, hdim))).astype(dtype)
    return (x, h0, *_lstm_weights(rng, d, hdim, dtype)), {}


def _lstm_step_inputs(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    n, d, hdim = dims["N"], dims["D"], dims["H"]
    x = normal(rng, (n, d), dtype)
    prev_h = np.tanh(rng.normal(0.0, 1.5, (n, hdim))).astype(dtype)
    prev_c = normal(rng, (n, hdim), dtype, scale=1.5)     # a memory may exceed 1
    return (x, prev_h, prev_c, *_lstm_weights(rng, d, hdim, dtype)), {}


_LSTM_ARGS = ("x", "h0", "Wx", "Wh", "b")
for _module, _suffix in (("handgrad.layers.lstm", ""), ("handgrad.fast.lstm", "_fast")):
    register(OpSpec(
        name=f"lstm{_suffix}", module=_module, make_inputs=_lstm_inputs,
        dims={"N": 3, "T": 4, "D": 5, "H": 6}, arg_names=_LSTM_ARGS,
        description="LSTM over (N, T, D), gates i, f, o, g, backpropagation through time"
                    + (", tuned twin" if _suffix else ""), tags=("layer", "sequence")))
    register(OpSpec(
        name=f"lstm_t1{_suffix}", module=_module, make_inputs=_lstm_inputs,
        dims={"N": 3, "T": 1, "D": 4, "H": 2}, arg_names=_LSTM_ARGS,
        description="LSTM over a single time step (T = 1)"
                    + (", tuned twin" if _suffix else ""), tags=("layer", "sequence")))
register(OpSpec(
    name="lstm_step", module="handgrad.layers.lstm", make_inputs=_lstm_step_inputs,
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

register(OpSpec(
    name="groupnorm_fast", module="handgrad.fast.groupnorm", make_inputs=_groupnorm_inputs("G"),
    dims={"N": 3, "G": 2, "Cg": 4, "H": 5, "W": 6}, arg_names=_NORM_ARGS,
    description="the tuned twin of groupnorm", tags=("layer", "image", "fast")))


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
register(OpSpec(
    name="layernorm_fast", module="handgrad.fast.layernorm", make_inputs=_layernorm_inputs,
    dims={"N": 3, "T": 4, "D": 5}, arg_names=_NORM_ARGS,
    description="the tuned twin of layernorm, on (N, T, D)", tags=("layer", "fast")))


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

register(OpSpec(
    name="spatial_batchnorm_fast", module="handgrad.fast.spatial_batchnorm",
    make_inputs=_spatial_batchnorm_inputs("train"), dims={"N": 3, "C": 4, "H": 2, "W": 5},
    arg_names=("x", "gamma", "beta", "bn_param"), batch_coupled=True,
    description="the tuned twin of spatial_batchnorm, train mode", tags=("layer", "image", "fast")))
register(OpSpec(
    name="spatial_batchnorm_test_fast", module="handgrad.fast.spatial_batchnorm",
    make_inputs=_spatial_batchnorm_inputs("test"), dims={"N": 3, "C": 4, "H": 2, "W": 5},
    arg_names=("x", "gamma", "beta", "bn_param"),
    description="the tuned twin of spatial_batchnorm, test mode", tags=("layer", "image", "fast")))

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
