"""Tuned twin of :mod:`handgrad.layers.attention`: the same function, results and errors,
faster.

Read :mod:`handgrad.layers.attention` for the math and the shapes. This module computes the
same thing with fewer, larger matrix products, fewer passes over the (N, h, T, T) arrays, and
both CPU cores on the part that BLAS runs on one:

- one (N*T, D) @ (D, 3D) product makes the queries, keys and values at once, and one product
  each gives dx and the three weight gradients in ``backward``; the 1 / sqrt(d) scale is
  folded into the query weights, so it touches (N, T, D) numbers instead of (N, h, T, T);
- the scores are kept transposed, ``sT[n, a, j, i] = s[n, a, i, j]`` (keys along the rows):
  the softmax then reduces over the second-to-last axis, which NumPy vectorizes about three
  times better than a reduction along the last one, and every product is one that BLAS runs
  at full speed (the queries, and in ``backward`` the output gradients, are copied once into
  contiguous (N, h, d, T) arrays: a stacked matmul is several times slower on a transposed
  view as its second operand);
- the per-head products are (T, d) by (d, T) matrices, too small for BLAS to spread over
  threads, so the sequences are cut into blocks that run on the thread pool of
  :mod:`handgrad._blocks`; within a block the scores are computed, masked, exponentiated
  and normalized in place while they sit in the CPU cache, and the weighted sums are written
  straight into the merged (N, T, D) layout;
- the softmax backward takes the sums of ``p * dp`` over the keys with one ``einsum`` pass
  (no temporary) and forms ``ds = p * (dp - that sum)`` in place, block by block.

Caches are this module's own: pass a cache only to the ``backward`` of the module that made it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from handgrad import _validation as check
from handgrad._blocks import blockwise
from handgrad.layers.attention import allowed_positions

__all__ = ["Cache", "backward", "forward"]


class Cache(NamedTuple):
    x2d: np.ndarray        # (N*T, D)
    w_qkv: np.ndarray      # (D, 3D): [Wq * scale, Wk, Wv]
    Wo: np.ndarray         # (D, D)
    qkv: np.ndarray        # (N*T, 3D): [q * scale, k, v] side by side
    p_t: np.ndarray        # (N, h, T, T), the attention weights transposed: p_t[..., j, i]
    Y: np.ndarray          # (N*T, D), the merged heads
    num_heads: int
    scale: float


def _heads(a2d: np.ndarray, n: int, t_steps: int, num_heads: int) -> np.ndarray:
    """(N*T, h*d) -> (N, h, T, d) view."""
    d_head = a2d.shape[1] // num_heads
    return a2d.reshape(n, t_steps, num_heads, d_head).transpose(0, 2, 1, 3)


def _transposed_copy(a: np.ndarray) -> np.ndarray:
    """(N, h, T, d) -> contiguous (N, h, d, T)."""
    return np.ascontiguousarray(a.transpose(0, 1, 3, 2))


def forward(x: np.ndarray, Wq: np.ndarray, Wk: np.ndarray, Wv: np.ndarray, Wo: np.ndarray,
            bq: np.ndarray, bk: np.ndarray, bv: np.ndarray, bo: np.ndarray, *,
            num_heads: int, causal: bool = False, mask: np.ndarray | None = None
            ) -> tuple[np.ndarray, Cache]:
    """:func:`handgrad.layers.attention.forward`, tuned: ``(out, cache)``, out (N, T, D)."""
    op = "attention.forward"
    check.float_array(op, "x", x, ndim=3)
    n, t_steps, d_model = x.shape
    if t_steps == 0:
        raise ValueError(f"{op}: x must have at least one position, got shape {x.shape}")
    check.projections(op, x, {"Wq": Wq, "Wk": Wk, "Wv": Wv, "Wo": Wo},
                      {"bq": bq, "bk": bk, "bv": bv, "bo": bo})
    check.divisor(op, "num_heads", num_heads, d_model, "D, the features of x")
    allowed = allowed_positions(op, n, t_steps, causal, mask)
    dtype = x.dtype
    scale = 1.0 / math.sqrt(d_model // num_heads)
    x2d = x.reshape(n * t_steps, d_model)
    w_qkv = np.concatenate([Wq * scale, Wk, Wv], axis=1)
    qkv = x2d @ w_qkv
    qkv += np.concatenate([bq * scale, np.zeros_like(bk), bv])   # bk cancels in the softmax
    q_t = _transposed_copy(_heads(qkv[:, :d_model], n, t_steps, num_heads))   # (N, h, d, T)
    k = _heads(qkv[:, d_model:2 * d_model], n, t_steps, num_heads)
    v = _heads(qkv[:, 2 * d_model:], n, t_steps, num_heads)
    p_t = np.empty((n, num_heads, t_steps, t_steps), dtype=dtype)
    Y = np.empty((n * t_steps, d_model), dtype=dtype)
    # blocked_t[..., j, i]: query i may not see key j; (T, T) for all sequences or (N, 1, T, T)
    blocked_t = None if allowed is None else ~np.swapaxes(allowed, -1, -2)
    shared_block = blocked_t if blocked_t is not None and blocked_t.ndim == 2 else None

    def scores_to_outputs(s_t, q_t, k, v, y, *per_sequence_block):
        np.matmul(k, q_t, out=s_t)                      # s_t[..., j, i] = k_j . q_i
        blocked = per_sequence_block[0] if per_sequence_block else shared_block
        if blocked is not None:
            np.copyto(s_t, -np.inf, where=blocked)
        top = s_t.max(axis=-2, keepdims=True)           # (.., 1, T): per query
        if blocked is not None:
            top[np.isneginf(top)] = 0.0                 # fully masked queries: weights 0
        s_t -= top
        np.exp(s_t, out=s_t)
        total = s_t.sum(axis=-2, keepdims=True)
        if blocked is not None:
            total[total == 0] = 1.0
        np.reciprocal(total, out=total)
        s_t *= total                                    # now p transposed
        np.matmul(s_t.transpose(0, 1, 3, 2), v, out=y)  # y = p @ v, into the merged layout

    arrays = [p_t, q_t, k, v, _heads(Y, n, t_steps, num_heads)]
    if blocked_t is not None and shared_block is None:
        arrays.append(blocked_t)
    blockwise(scores_to_outputs, *arrays)
    out = Y @ Wo
    out += bo
    return out.reshape(x.shape), Cache(x2d, w_qkv, Wo, qkv, p_t, Y, num_heads, scale)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, ...]:
    """:func:`handgrad.layers.attention.backward`, tuned:
    ``(dx, dWq, dWk, dWv, dWo, dbq, dbk, dbv, dbo)``."""
    op = "attention.backward"
    x2d, w_qkv, Wo, qkv, p_t, Y, num_heads, scale = cache
    n, _, t_steps, _ = p_t.shape
    d_model = Wo.shape[0]
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, (n, t_steps, d_model), "to match the forward output")
    check.same_dtype(op, x=x2d, dout=dout)
    dtype = dout.dtype
    ones = np.ones(n * t_steps, dtype=dtype)
    dout2d = dout.reshape(n * t_steps, d_model)
    dbo = ones @ dout2d
    dWo = Y.T @ dout2d
    dY = dout2d @ Wo.T

    def heads(a2d):
        return _heads(a2d, n, t_steps, num_heads)

    dy = heads(dY)
    dy_t = _transposed_copy(dy)                         # (N, h, d, T)
    dqkv = np.empty_like(qkv)

    def weights_to_inputs(p_t, dy, dy_t, q, k, v, dq, dk, dv, ds_t):
        np.matmul(p_t, dy, out=dv)                      # dv = p^T @ dy
        np.matmul(v, dy_t, out=ds_t)                    # dp transposed: v_j . dy_i
        ds_t -= np.einsum("nhji,nhji->nhi", p_t, ds_t)[:, :, None, :]
        ds_t *= p_t                                     # ds = p * (dp - sum_j p * dp)
        np.matmul(ds_t.transpose(0, 1, 3, 2), k, out=dq)   # of the scaled queries
        np.matmul(ds_t, q, out=dk)

    blockwise(weights_to_inputs, p_t, dy, dy_t, heads(qkv[:, :d_model]),
              heads(qkv[:, d_model:2 * d_model]), heads(qkv[:, 2 * d_model:]),
              heads(dqkv[:, :d_model]), heads(dqkv[:, d_model:2 * d_model]),
              heads(dqkv[:, 2 * d_model:]), scratch=1)
    dx = (dqkv @ w_qkv.T).reshape(n, t_steps, d_model)
    dw_qkv = x2d.T @ dqkv
    db_qkv = ones @ dqkv
    dWq = dw_qkv[:, :d_model] * scale                   # the queries were x @ (Wq * scale)
    dWk = np.ascontiguousarray(dw_qkv[:, d_model:2 * d_model])
    dWv = np.ascontiguousarray(dw_qkv[:, 2 * d_model:])
    dbq = db_qkv[:d_model] * scale
    dbk = np.zeros(d_model, dtype=dtype)                # exactly 0, see the readable module
    dbv = db_qkv[2 * d_model:]
    return dx, dWq, dWk, dWv, dWo, dbq, dbk, dbv, dbo
