"""Embedding (lookup table): ``out[n, t] = W[idx[n, t]]``.

Shapes: idx integer (N, T) with values in [0, V) (any integer shape works: out has shape
``idx.shape + (D,)``), W (V, D), out (N, T, D).

BEGIN DERIVATION
Row ``v`` of W receives the sum of the upstream gradients of every position that looked it
up; rows nobody looked up get zero::

    dW[v] = sum over (n, t) with idx[n, t] == v of dout[n, t]     # (V, D)

``np.add.at`` does the scatter-add: unlike ``dW[idx] += dout``, it adds every repeated index.
END DERIVATION

``idx`` holds integers, so it gets no gradient: ``backward`` returns ``dW`` alone.
:mod:`handgrad.fast.embedding` is a tuned twin with the same contract.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = tuple[np.ndarray, tuple[int, int], np.dtype]


def _indices(op: str, idx: object, vocab_size: int) -> np.ndarray:
    if not isinstance(idx, np.ndarray) or idx.dtype.kind not in "iu":
        got = idx.dtype if isinstance(idx, np.ndarray) else type(idx).__name__
        raise TypeError(f"{op}: idx must be an integer numpy array of row indices, got {got}")
    if idx.ndim < 1:
        raise ValueError(f"{op}: idx must have at least 1 dimension, got shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= vocab_size):
        bad = idx[(idx < 0) | (idx >= vocab_size)].flat[0]
        raise ValueError(f"{op}: idx must hold row indices in [0, {vocab_size}) for W with "
                         f"{vocab_size} rows, found {int(bad)}")
    return idx


def forward(idx: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Look up rows of ``W``: returns ``(out, cache)`` with ``out = W[idx]`` of shape (N, T, D)."""
    op = "embedding.forward"
    check.float_array(op, "W", W, ndim=2)
    _indices(op, idx, W.shape[0])
    out = W[idx]
    return out, (idx, W.shape, W.dtype)


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dW`` (V, D) for an upstream gradient ``dout`` of shape ``idx.shape + (D,)``."""
    idx, w_shape, dtype = cache
    check.float_array("embedding.backward", "dout", dout)
    check.shape_is("embedding.backward", "dout", dout, idx.shape + (w_shape[1],),
                   "to match the forward output")
    if dout.dtype != dtype:
        raise TypeError(f"embedding.backward: dout has dtype {dout.dtype} but W has dtype "
                        f"{dtype}; pass all float inputs in one dtype")
    # BEGIN SOLUTION hint: which row of W did each position read? two positions may read one row
    dW = np.zeros(w_shape, dtype=dtype)
    np.add.at(dW, idx, dout)
    # END SOLUTION
    return dW
