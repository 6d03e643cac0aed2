"""Multi-head scaled dot-product self-attention, batch-first, with an optional mask.

Every position of a sequence looks at every position it is allowed to see and takes a
weighted average of what it finds there; the weights come from how well its *query* matches
their *keys*. With N sequences of T positions of D features and h heads of d = D / h
features each, the forward pass is::

    x (N, T, D)
     |
     +-- Q = x @ Wq + bq --> (N, T, D) --split--> q (N, h, T, d)     what each position looks for
     +-- K = x @ Wk + bk --> (N, T, D) --split--> k (N, h, T, d)     what each position offers
     +-- V = x @ Wv + bv --> (N, T, D) --split--> v (N, h, T, d)     what each position passes on
                                                   |
     s = q @ k^T / sqrt(d)              (N, h, T, T)   s[n, a, i, j]: query i against key j
     s[n, a, i, j] = -inf where position i may not see position j
     p = softmax(s) over the last axis  (N, h, T, T)   each row: weights over the keys, sum 1
     y = p @ v                          (N, h, T, d)   each query's weighted sum of values
     Y = merge(y)                       (N, T, D)      the h heads side by side again
     out = Y @ Wo + bo                  (N, T, D)

The key bias bk does not change the output: it adds the same ``q_i . bk`` to every score of
row i, and a softmax does not change when all its inputs move together. ``forward`` accepts it
(PyTorch's ``nn.MultiheadAttention`` has one, so its weights map one to one) but leaves it out
of K, so that the output does not depend on it even through rounding.

"split" cuts the D features into h consecutive blocks of d, one per head
(``Q.reshape(N, T, h, d).transpose(0, 2, 1, 3)``); "merge" undoes it. Each head attends on
its own; the output projection Wo mixes what the heads found. The scale 1 / sqrt(d) keeps
the scores of random d-dimensional vectors at unit spread, so that the softmax does not start
out saturated.

Shapes: x (N, T, D); Wq, Wk, Wv, Wo (D, D) used as ``x @ W`` (PyTorch stores ``W.T``);
bq, bk, bv, bo (D,); out (N, T, D). ``num_heads`` must divide D.

Masks: ``mask`` is a boolean array of the *allowed* positions, (T, T) for every sequence or
(N, T, T) per sequence: ``mask[i, j]`` is True when position i may attend to position j
(the convention of ``torch.nn.functional.scaled_dot_product_attention``'s boolean
``attn_mask``). ``causal=True`` allows j <= i only (each position sees the past and itself)
and is combined with ``mask`` by "and". A row with no allowed position at all has no weights
to normalize: its weights are defined as all zero, so that position's output is just bo
(as ``scaled_dot_product_attention`` gives in PyTorch 2.13). Never NaN, never a warning.

Stability: the softmax subtracts each row's largest allowed score before exponentiating, so
the largest term is exp(0) = 1 and nothing overflows, whatever the scale of the scores.

Local gradients, with the upstream gradient dout (N, T, D), in the reverse order of the
forward pass::

    BEGIN DERIVATION
    dbo = dout summed over N and T        dWo = Y^T @ dout (summed over N)     dY = dout @ Wo^T
    dy  = split(dY)
    dv  = p^T @ dy                        dp  = dy @ v^T
    ds  = p * (dp - sum_j p * dp)         (the softmax's Jacobian times dp, row by row;
                                           0 wherever p is 0, so masked scores get nothing)
    dq  = ds @ k / sqrt(d)                dk  = ds^T @ q / sqrt(d)
    dQ, dK, dV = merge(dq), merge(dk), merge(dv)
    dWq = x^T @ dQ, dbq = dQ summed over N and T (the same for V, and dWk = x^T @ dK)
    dbk = 0 exactly (bk never reaches the output)
    dx  = dQ @ Wq^T + dK @ Wk^T + dV @ Wv^T   (x feeds all three projections)
    END DERIVATION

The cache holds the arrays ``forward`` was given (not copies): do not modify them in place
before calling ``backward``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from handgrad import _validation as check


class Cache(NamedTuple):
    x2d: np.ndarray        # (N*T, D)
    Wq: np.ndarray         # (D, D)
    Wk: np.ndarray
    Wv: np.ndarray
    Wo: np.ndarray
    q: np.ndarray          # (N, h, T, d)
    k: np.ndarray          # (N, h, T, d)
    v: np.ndarray          # (N, h, T, d)
    p: np.ndarray          # (N, h, T, T), the attention weights
    Y: np.ndarray          # (N*T, D), the merged heads fed to the output projection
    scale: float           # 1 / sqrt(d)


def split_heads(X: np.ndarray, num_heads: int) -> np.ndarray:
    """(N, T, D) -> (N, h, T, d): head a gets features a*d .. a*d + d - 1 (a view, no copy)."""
    n, t_steps, d_model = X.shape
    return X.reshape(n, t_steps, num_heads, d_model // num_heads).transpose(0, 2, 1, 3)


def merge_heads(X: np.ndarray) -> np.ndarray:
    """(N, h, T, d) -> (N, T, D), the inverse of :func:`split_heads`."""
    n, num_heads, t_steps, d_head = X.shape
    return X.transpose(0, 2, 1, 3).reshape(n, t_steps, num_heads * d_head)


def allowed_positions(op: str, n: int, t_steps: int, causal: bool,
                      mask: np.ndarray | None) -> np.ndarray | None:
    """The allowed (query, key) pairs as a boolean (T, T) or (N, 1, T, T) array, which
    broadcasts against the (N, h, T, T) scores; None when every pair is allowed."""
    if not isinstance(causal, (bool, np.bool_)):
        raise TypeError(f"{op}: causal must be True or False, got {type(causal).__name__}")
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            got = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
            raise TypeError(f"{op}: mask must be a boolean numpy array of allowed positions "
                            f"(True = may attend), got {got}")
        if mask.shape not in ((t_steps, t_steps), (n, t_steps, t_steps)):
            raise ValueError(f"{op}: mask must have shape (T, T) = ({t_steps}, {t_steps}) or "
                             f"(N, T, T) = ({n}, {t_steps}, {t_steps}) to match x, "
                             f"got {mask.shape}")
        if mask.ndim == 3:
            mask = mask[:, None]                        # the same mask for every head
    if causal:
        lower = np.tril(np.ones((t_steps, t_steps), dtype=bool))
        return lower if mask is None else mask & lower
    return mask


def forward(x: np.ndarray, Wq: np.ndarray, Wk: np.ndarray, Wv: np.ndarray, Wo: np.ndarray,
            bq: np.ndarray, bk: np.ndarray, bv: np.ndarray, bo: np.ndarray, *,
            num_heads: int, causal: bool = False, mask: np.ndarray | None = None
            ) -> tuple[np.ndarray, Cache]:
    """Self-attention of ``x`` (N, T, D) with ``num_heads`` heads; returns ``(out, cache)``.

    Wq, Wk, Wv, Wo (D, D) and bq, bk, bv, bo (D,) are the query, key, value and output
    projections. ``causal=True`` lets position i attend to positions j <= i only; ``mask``,
    a boolean (T, T) or (N, T, T) array, lists the allowed positions (True = may attend).
    out (N, T, D). See the module docstring for the math and the fully masked rows.
    """
    op = "attention.forward"
    check.float_array(op, "x", x, ndim=3)
    n, t_steps, d_model = x.shape
    if t_steps == 0:
        raise ValueError(f"{op}: x must have at least one position, got shape {x.shape}")
    check.projections(op, x, {"Wq": Wq, "Wk": Wk, "Wv": Wv, "Wo": Wo},
                      {"bq": bq, "bk": bk, "bv": bv, "bo": bo})
    check.divisor(op, "num_heads", num_heads, d_model, "D, the features of x")
    allowed = allowed_positions(op, n, t_steps, causal, mask)
    scale = 1.0 / math.sqrt(d_model // num_heads)     # a Python float keeps float32 float32
    x2d = x.reshape(n * t_steps, d_model)
    # BEGIN SOLUTION hint: three projections, split into heads, scores, masked softmax, weighted sum
    q = split_heads((x2d @ Wq + bq).reshape(x.shape), num_heads)       # (N, h, T, d)
    k = split_heads((x2d @ Wk).reshape(x.shape), num_heads)            # bk: see the docstring
    v = split_heads((x2d @ Wv + bv).reshape(x.shape), num_heads)       # (N, h, T, d)
    s = (q @ k.transpose(0, 1, 3, 2)) * scale                          # (N, h, T, T)
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    s_max = s.max(axis=-1, keepdims=True)                              # (N, h, T, 1)
    s_max[np.isneginf(s_max)] = 0.0          # a fully masked row: exp(-inf - 0) = 0 everywhere
    e = np.exp(s - s_max)                    # masked scores give exp(-inf) = 0
    e_sum = e.sum(axis=-1, keepdims=True)                              # (N, h, T, 1)
    p = e / np.where(e_sum > 0, e_sum, 1.0)                            # (N, h, T, T)
    y = p @ v                                                          # (N, h, T, d)
    Y = merge_heads(y).reshape(n * t_steps, d_model)                   # (N*T, D)
    out = (Y @ Wo + bo).reshape(x.shape)                               # (N, T, D)
    # END SOLUTION
    return out, Cache(x2d, Wq, Wk, Wv, Wo, q, k, v, p, Y, scale)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, ...]:
    """Return ``(dx, dWq, dWk, dWv, dWo, dbq, dbk, dbv, dbo)`` for ``dout`` (N, T, D)."""
    op = "attention.backward"
    x2d, Wq, Wk, Wv, Wo, q, k, v, p, Y, scale = cache
    n, num_heads, t_steps, d_head = q.shape
    d_model = num_heads * d_head
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, (n, t_steps, d_model), "to match the forward output")
    check.same_dtype(op, x=x2d, dout=dout)
    # BEGIN SOLUTION hint: undo the forward line by line, last line first; x feeds three products
    dout2d = dout.reshape(n * t_steps, d_model)
    # out = Y @ Wo + bo
    dbo = dout2d.sum(axis=0)                                           # (D,)
    dWo = Y.T @ dout2d                                                 # (D, D)
    dY = dout2d @ Wo.T                                                 # (N*T, D)
    # Y = merge(y)
    dy = split_heads(dY.reshape(n, t_steps, d_model), num_heads)       # (N, h, T, d)
    # y = p @ v
    dp = dy @ v.transpose(0, 1, 3, 2)                                  # (N, h, T, T)
    dv = p.transpose(0, 1, 3, 2) @ dy                                  # (N, h, T, d)
    # p = softmax(s), row by row
    ds = p * (dp - (p * dp).sum(axis=-1, keepdims=True))               # (N, h, T, T)
    # s = q @ k^T * scale
    dq = (ds @ k) * scale                                              # (N, h, T, d)
    dk = (ds.transpose(0, 1, 3, 2) @ q) * scale                        # (N, h, T, d)
    # q, k, v = split(x @ Wq + bq), split(x @ Wk), split(x @ Wv + bv)
    dQ = merge_heads(dq).reshape(n * t_steps, d_model)                 # (N*T, D)
    dK = merge_heads(dk).reshape(n * t_steps, d_model)
    dV = merge_heads(dv).reshape(n * t_steps, d_model)
    dWq = x2d.T @ dQ                                                   # (D, D)
    dWk = x2d.T @ dK
    dWv = x2d.T @ dV
    dbq = dQ.sum(axis=0)                                               # (D,)
    dbk = np.zeros(d_model, dtype=dout.dtype)        # bk never reaches the output
    dbv = dV.sum(axis=0)
    dx = (dQ @ Wq.T + dK @ Wk.T + dV @ Wv.T).reshape(n, t_steps, d_model)   # (N, T, D)
    # END SOLUTION
    return dx, dWq, dWk, dWv, dWo, dbq, dbk, dbv, dbo
