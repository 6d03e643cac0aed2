"""Tuned twin of :mod:`handgrad.layers.attention`: the same function, results and errors,
faster.

Read :mod:`handgrad.layers.attention` for the math and the shapes. This module computes the
same thing with fewer, larger matrix products, fewer passes over the (N, h, T, T) arrays, and
every core on every part of the work:

- the sequences are cut into one slice per thread (:mod:`handgrad.fast._parts`), and each
  thread runs the whole forward (or backward) pass of its slice, projections included, while
  BLAS is limited to one thread: the per-head products are too small for BLAS to spread over
  the cores, and BLAS's own threads, spinning after each large product, would otherwise keep a
  core from our NumPy work;
- one (rows, D) @ (D, 3D) product makes the queries, keys and values at once, and one product
  each gives dx and the three weight gradients in ``backward``; the 1 / sqrt(d) scale is
  folded into the query weights, so it touches (N, T, D) numbers instead of (N, h, T, T);
- the scores are kept transposed, ``s_t[n, a, j, i] = s[n, a, i, j]`` (keys along the rows):
  the softmax then reduces over the second-to-last axis, which NumPy vectorizes about three
  times better than a reduction along the last one, and every product is one that BLAS runs
  at full speed (the queries, and in ``backward`` the output gradients, are copied once into
  contiguous (N, h, d, T) arrays: a stacked matmul is several times slower on a transposed
  view as its second operand);
- within a slice the scores are computed, masked, exponentiated and normalized in place a
  block of sequences at a time, while the block sits in the CPU cache, and the weighted sums
  are written straight into the merged (N, T, D) layout;
- the softmax backward takes the sums of ``p * dp`` over the keys with one ``einsum`` pass
  (no temporary) and forms ``ds = p * (dp - that sum)`` in place, block by block.

The weight gradients are sums of per-slice products, added in slice order: the same call gives
the same bits. Caches are this module's own: pass a cache only to the ``backward`` of the
module that made it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from handgrad import _validation as check
from handgrad.fast._parts import batch_slices, map_slices
from handgrad.layers.attention import allowed_positions

__all__ = ["Cache", "backward", "forward"]

BLOCK_BYTES = 512 * 1024   # scores per block: a block's passes stay in the CPU's L2 cache
MIN_SLICE = 4              # sequences per thread at least


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


def _block_size(p_t: np.ndarray) -> int:
    """Sequences whose scores fill about BLOCK_BYTES."""
    return max(1, BLOCK_BYTES // max(p_t[0].nbytes, 1))


def _blocks_of(seqs: slice, p_t: np.ndarray) -> list[slice]:
    """``seqs`` cut into consecutive blocks of :func:`_block_size` sequences."""
    step = _block_size(p_t)
    return [slice(lo, min(lo + step, seqs.stop)) for lo in range(seqs.start, seqs.stop, step)]


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
    b_qkv = np.concatenate([bq * scale, np.zeros_like(bk), bv])    # bk cancels in the softmax
    qkv = np.empty((n * t_steps, 3 * d_model), dtype=dtype)
    p_t = np.empty((n, num_heads, t_steps, t_steps), dtype=dtype)
    Y = np.empty((n * t_steps, d_model), dtype=dtype)
    out = np.empty((n * t_steps, d_model), dtype=dtype)
    # blocked_t[..., j, i]: query i may not see key j; (T, T) for all sequences or (N, 1, T, T)
    blocked_t = None if allowed is None else ~np.swapaxes(allowed, -1, -2)

    def heads(a2d: np.ndarray) -> np.ndarray:
        return _heads(a2d, n, t_steps, num_heads)

    q, k, v, y = heads(qkv[:, :d_model]), heads(qkv[:, d_model:2 * d_model]), \
        heads(qkv[:, 2 * d_model:]), heads(Y)

    def run(seqs: slice) -> None:
        rows = slice(seqs.start * t_steps, seqs.stop * t_steps)
        np.matmul(x2d[rows], w_qkv, out=qkv[rows])
        qkv[rows] += b_qkv
        q_t = _transposed_copy(q[seqs])                 # (n, h, d, T) of this slice
        for block in _blocks_of(seqs, p_t):
            s_t = p_t[block]
            np.matmul(k[block], q_t[block.start - seqs.start:block.stop - seqs.start],
                      out=s_t)                          # s_t[..., j, i] = k_j . q_i
            blocked = None if blocked_t is None else \
                (blocked_t if blocked_t.ndim == 2 else blocked_t[block])
            if blocked is not None:
                np.copyto(s_t, -np.inf, where=blocked)
            top = s_t.max(axis=-2, keepdims=True)       # (.., 1, T): per query
            if blocked is not None:
                top[np.isneginf(top)] = 0.0             # fully masked queries: weights 0
            s_t -= top
            np.exp(s_t, out=s_t)
            total = s_t.sum(axis=-2, keepdims=True)
            if blocked is not None:
                total[total == 0] = 1.0
            np.reciprocal(total, out=total)
            s_t *= total                                # now p transposed
            np.matmul(s_t.transpose(0, 1, 3, 2), v[block], out=y[block])   # into Y
        np.matmul(Y[rows], Wo, out=out[rows])
        out[rows] += bo

    map_slices(run, batch_slices(n, MIN_SLICE))
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
    dout2d = dout.reshape(n * t_steps, d_model)
    dY = np.empty((n * t_steps, d_model), dtype=dtype)
    dqkv = np.empty_like(qkv)
    dx = np.empty((n * t_steps, d_model), dtype=dtype)

    def heads(a2d: np.ndarray) -> np.ndarray:
        return _heads(a2d, n, t_steps, num_heads)

    q, k, v = heads(qkv[:, :d_model]), heads(qkv[:, d_model:2 * d_model]), \
        heads(qkv[:, 2 * d_model:])
    dy = heads(dY)
    dq, dk, dv = heads(dqkv[:, :d_model]), heads(dqkv[:, d_model:2 * d_model]), \
        heads(dqkv[:, 2 * d_model:])

    def run(seqs: slice) -> tuple[np.ndarray, ...]:
        rows = slice(seqs.start * t_steps, seqs.stop * t_steps)
        ones = np.ones(rows.stop - rows.start, dtype=dtype)
        dbo = ones @ dout2d[rows]
        dWo = Y[rows].T @ dout2d[rows]
        np.matmul(dout2d[rows], Wo.T, out=dY[rows])
        dy_t = _transposed_copy(dy[seqs])               # (n, h, d, T) of this slice
        ds_t = np.empty((min(_block_size(p_t), seqs.stop - seqs.start),) + p_t.shape[1:],
                        dtype=dtype)                    # one block's score gradients
        for block in _blocks_of(seqs, p_t):
            p_b, ds = p_t[block], ds_t[:block.stop - block.start]
            np.matmul(p_b, dy[block], out=dv[block])    # dv = p^T @ dy
            np.matmul(v[block], dy_t[block.start - seqs.start:block.stop - seqs.start],
                      out=ds)                           # dp transposed: v_j . dy_i
            ds -= np.einsum("nhji,nhji->nhi", p_b, ds)[:, :, None, :]
            ds *= p_b                                   # ds = p * (dp - sum_j p * dp)
            np.matmul(ds.transpose(0, 1, 3, 2), k[block], out=dq[block])   # scaled queries
            np.matmul(ds, q[block], out=dk[block])
        np.matmul(dqkv[rows], w_qkv.T, out=dx[rows])
        return dWo, dbo, x2d[rows].T @ dqkv[rows], ones @ dqkv[rows]

    per_slice = map_slices(run, batch_slices(n, MIN_SLICE))
    dWo, dbo, dw_qkv, db_qkv = per_slice[0]
    for more in per_slice[1:]:                          # sums over the batch, in slice order
        dWo, dbo, dw_qkv, db_qkv = (dWo + more[0], dbo + more[1], dw_qkv + more[2],
                                    db_qkv + more[3])
    dWq = dw_qkv[:, :d_model] * scale                   # the queries were x @ (Wq * scale)
    dWk = np.ascontiguousarray(dw_qkv[:, d_model:2 * d_model])
    dWv = np.ascontiguousarray(dw_qkv[:, 2 * d_model:])
    dbq = db_qkv[:d_model] * scale
    dbk = np.zeros(d_model, dtype=dtype)                # exactly 0, see the readable module
    dbv = db_qkv[2 * d_model:]
    return dx.reshape(n, t_steps, d_model), dWq, dWk, dWv, dWo, dbq, dbk, dbv, dbo
