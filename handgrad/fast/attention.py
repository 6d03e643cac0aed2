"""Tuned twin of :mod:`handgrad.layers.attention`: the same function, results and errors,
faster.

Read :mod:`handgrad.layers.attention` for the math and the shapes. This module computes the
same thing with fewer, larger matrix products and fewer passes over the (N, h, T, T) arrays:

- one (N*T, D) @ (D, 3D) product makes the queries, keys and values at once, and one product
  each gives dx and the three weight gradients in ``backward``; the 1 / sqrt(d) scale is
  folded into the query weights, so it touches (N, T, D) numbers instead of (N, h, T, T);
- the keys (forward) and values (backward) are laid out as contiguous (N, h, d, T) arrays
  before they are multiplied transposed: NumPy's stacked matmul is several times slower on a
  transposed view;
- the scores are computed, masked, exponentiated and normalized in place, a block of
  sequences at a time so that each block's (h, T, T) scores stay in the CPU cache between
  those passes; the weighted sums are written straight into the merged (N, T, D) layout;
- the softmax backward takes the row sums of ``p * dp`` with one ``einsum`` pass (no
  temporary) and then forms ``ds = p * (dp - row sum)`` in place, block by block like the
  forward.

Caches are this module's own: pass a cache only to the ``backward`` of the module that made it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from handgrad import _validation as check
from handgrad.layers.attention import allowed_positions

__all__ = ["Cache", "backward", "forward"]

# Bytes of scores per block of sequences: a few such arrays stay in a 1-2 MB L2 cache.
BLOCK_BYTES = 512 * 1024


class Cache(NamedTuple):
    x2d: np.ndarray        # (N*T, D)
    w_qkv: np.ndarray      # (D, 3D): [Wq * scale, Wk, Wv]
    Wo: np.ndarray         # (D, D)
    qkv: np.ndarray        # (N*T, 3D): [q * scale, k, v] side by side
    p: np.ndarray          # (N, h, T, T), the attention weights
    Y: np.ndarray          # (N*T, D), the merged heads
    num_heads: int
    scale: float


def _heads(a2d: np.ndarray, n: int, t_steps: int, num_heads: int) -> np.ndarray:
    """(N*T, h*d) -> (N, h, T, d) view."""
    d_head = a2d.shape[1] // num_heads
    return a2d.reshape(n, t_steps, num_heads, d_head).transpose(0, 2, 1, 3)


def _block_size(p: np.ndarray) -> int:
    """How many sequences of scores p (N, h, T, T) make a block of about BLOCK_BYTES."""
    return max(1, BLOCK_BYTES // max(p[0].nbytes, 1))


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
    q = _heads(qkv[:, :d_model], n, t_steps, num_heads)
    k_t = np.ascontiguousarray(_heads(qkv[:, d_model:2 * d_model], n, t_steps,
                                      num_heads).transpose(0, 1, 3, 2))   # (N, h, d, T)
    v = _heads(qkv[:, 2 * d_model:], n, t_steps, num_heads)
    blocked = None if allowed is None else ~allowed
    p = np.empty((n, num_heads, t_steps, t_steps), dtype=dtype)
    Y = np.empty((n * t_steps, d_model), dtype=dtype)
    y = _heads(Y, n, t_steps, num_heads)
    per_block = _block_size(p)
    for lo in range(0, n, per_block):
        hi = min(lo + per_block, n)
        s = p[lo:hi]
        np.matmul(q[lo:hi], k_t[lo:hi], out=s)
        if blocked is not None:
            np.copyto(s, -np.inf, where=blocked if blocked.ndim == 2 else blocked[lo:hi])
        row_max = s.max(axis=-1, keepdims=True)
        if blocked is not None:
            row_max[np.isneginf(row_max)] = 0.0         # fully masked rows: weights 0
        s -= row_max
        np.exp(s, out=s)
        row_sum = s.sum(axis=-1, keepdims=True)
        if blocked is not None:
            row_sum[row_sum == 0] = 1.0
        np.reciprocal(row_sum, out=row_sum)
        s *= row_sum
        np.matmul(s, v[lo:hi], out=y[lo:hi])
    out = Y @ Wo
    out += bo
    return out.reshape(x.shape), Cache(x2d, w_qkv, Wo, qkv, p, Y, num_heads, scale)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, ...]:
    """:func:`handgrad.layers.attention.backward`, tuned:
    ``(dx, dWq, dWk, dWv, dWo, dbq, dbk, dbv, dbo)``."""
    op = "attention.backward"
    x2d, w_qkv, Wo, qkv, p, Y, num_heads, scale = cache
    n, _, t_steps, _ = p.shape
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
    dy = _heads(dY, n, t_steps, num_heads)
    q = _heads(qkv[:, :d_model], n, t_steps, num_heads)
    k = _heads(qkv[:, d_model:2 * d_model], n, t_steps, num_heads)
    v_t = np.ascontiguousarray(_heads(qkv[:, 2 * d_model:], n, t_steps,
                                      num_heads).transpose(0, 1, 3, 2))   # (N, h, d, T)
    dqkv = np.empty_like(qkv)
    dq = _heads(dqkv[:, :d_model], n, t_steps, num_heads)
    dk = _heads(dqkv[:, d_model:2 * d_model], n, t_steps, num_heads)
    dv = _heads(dqkv[:, 2 * d_model:], n, t_steps, num_heads)
    per_block = _block_size(p)
    ds_buffer = np.empty((min(per_block, n),) + p.shape[1:], dtype=dtype)
    for lo in range(0, n, per_block):
        hi = min(lo + per_block, n)
        p_b = p[lo:hi]
        ds = ds_buffer[: hi - lo]
        np.matmul(p_b.transpose(0, 1, 3, 2), dy[lo:hi], out=dv[lo:hi])
        np.matmul(dy[lo:hi], v_t[lo:hi], out=ds)        # dp
        ds -= np.einsum("nhij,nhij->nhi", p_b, ds)[..., None]
        ds *= p_b                                       # ds = p * (dp - sum_j p * dp)
        np.matmul(ds, k[lo:hi], out=dq[lo:hi])          # gradient of the scaled queries
        np.matmul(ds.transpose(0, 1, 3, 2), q[lo:hi], out=dk[lo:hi])
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
