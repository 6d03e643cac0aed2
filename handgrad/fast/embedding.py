"""Tuned twin of :mod:`handgrad.layers.embedding`: the same functions, arguments, results and
errors. Read that module for the math; ``forward`` is the readable one (a lookup has nothing to
tune).

``backward`` does the scatter-add by sorting the indices once and summing each run of equal
indices with ``np.add.reduceat``; on this project's benchmark machine that is 3-5x faster than
``np.add.at`` for character-level sizes (N=100, T=50, V=62, D=64) and no slower for large
vocabularies. The rows are summed in another order than ``np.add.at`` adds them, so float
results agree to rounding, not bit for bit.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check
from handgrad.layers.embedding import Cache, forward

__all__ = ["Cache", "backward", "forward"]


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """:func:`handgrad.layers.embedding.backward`, tuned: ``dW`` (V, D)."""
    idx, w_shape, dtype = cache
    check.float_array("embedding.backward", "dout", dout)
    check.shape_is("embedding.backward", "dout", dout, idx.shape + (w_shape[1],),
                   "to match the forward output")
    if dout.dtype != dtype:
        raise TypeError(f"embedding.backward: dout has dtype {dout.dtype} but W has dtype "
                        f"{dtype}; pass all float inputs in one dtype")
    flat = idx.reshape(-1)
    rows = dout.reshape(-1, w_shape[1])
    order = np.argsort(flat, kind="stable")
    sorted_idx = flat[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_idx[1:] != sorted_idx[:-1])))
    dW = np.zeros(w_shape, dtype=dtype)
    if flat.size:
        dW[sorted_idx[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return dW
