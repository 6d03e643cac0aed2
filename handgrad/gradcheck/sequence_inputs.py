"""Generic inputs for the registry's sequence ops: the LSTM and multi-head self-attention.

Each maker takes ``(rng, dims, dtype)`` and returns ``(args, kwargs)`` for the op's forward,
like the other makers of :mod:`handgrad.gradcheck.registry`: normal entries, no zeros or ones,
sizes from ``dims``, and weights scaled so that the gates and the softmax are neither
saturated nor flat (pre-activations and scores of order 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from handgrad.gradcheck.sampling import normal

# make(rng, dims, dtype) -> (args, kwargs), as registry.InputMaker (the registry imports this
# module, so the alias is repeated here rather than imported back)
InputMaker = Callable[[np.random.Generator, Mapping[str, int], np.dtype],
                      tuple[tuple[Any, ...], dict[str, Any]]]


def attention(causal: bool = False, masked: bool = False) -> InputMaker:
    """Self-attention: x (N, T, D) with D = heads * d, four (D, D) projections at 1/sqrt(D)
    scale (scores of order 1: the softmax neither saturated nor uniform) and distinct biases.
    ``masked`` adds a (T, T) mask whose second row allows nothing (its output is bo, its
    gradient 0) and whose other rows allow a random subset that always includes the diagonal."""
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


def _lstm_weights(rng: np.random.Generator, d: int, hdim: int, dtype: np.dtype
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wx (D, 4H), Wh (H, 4H), b (4H,) scaled so that the gates are neither saturated nor
    all near 1/2 (pre-activations of order 1)."""
    wx = normal(rng, (d, 4 * hdim), dtype, scale=1.0 / np.sqrt(d))
    wh = normal(rng, (hdim, 4 * hdim), dtype, scale=1.0 / np.sqrt(hdim))
    b = normal(rng, (4 * hdim,), dtype, scale=0.5)
    return wx, wh, b


def lstm(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    """lstm.forward: x (N, T, D), h0 = tanh of a normal draw (inside (-1, 1)), weights."""
    n, t, d, hdim = dims["N"], dims["T"], dims["D"], dims["H"]
    x = normal(rng, (n, t, d), dtype)
    h0 = np.tanh(rng.normal(0.0, 1.5, (n, hdim))).astype(dtype)
    return (x, h0, *_lstm_weights(rng, d, hdim, dtype)), {}


def lstm_step(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype):
    """lstm.step_forward: x (N, D), prev_h inside (-1, 1), prev_c of any sign and size."""
    n, d, hdim = dims["N"], dims["D"], dims["H"]
    x = normal(rng, (n, d), dtype)
    prev_h = np.tanh(rng.normal(0.0, 1.5, (n, hdim))).astype(dtype)
    prev_c = normal(rng, (n, hdim), dtype, scale=1.5)     # a memory may exceed 1
    return (x, prev_h, prev_c, *_lstm_weights(rng, d, hdim, dtype)), {}
