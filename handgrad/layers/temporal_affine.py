"""Temporal affine layer: the same affine map applied at every time step.

``out[n, t] = x[n, t] @ w + b``. Shapes: x (N, T, D), w (D, M), b (M,), out (N, T, M).

All N*T positions are stacked into one (N*T, D) matrix, so forward is a single GEMM rather
than a loop over time.

BEGIN DERIVATION
Local gradients, for ``dout`` of shape (N, T, M), again one GEMM each::

    dx = dout @ w.T                                   # (N, T, D)
    dw = x.reshape(N*T, D).T @ dout.reshape(N*T, M)   # (D, M)
    db = dout.sum(axis=(0, 1))                        # (M,)
END DERIVATION
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = tuple[np.ndarray, np.ndarray]


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Compute ``x @ w + b`` at every time step; returns ``(out, cache)``, out (N, T, M)."""
    op = "temporal_affine.forward"
    check.float_array(op, "x", x, ndim=3)
    check.float_array(op, "w", w, ndim=2)
    check.float_array(op, "b", b, ndim=1)
    check.same_dtype(op, x=x, w=w, b=b)
    n, t, d = x.shape
    if w.shape[0] != d:
        raise ValueError(f"{op}: w has shape {w.shape} but x has {d} features per time step "
                         f"(x shape {x.shape}); w must be ({d}, M)")
    if b.shape != (w.shape[1],):
        raise ValueError(f"{op}: b must have shape ({w.shape[1]},) to match w {w.shape}, "
                         f"got {b.shape}")
    out = x.reshape(n * t, d) @ w
    out += b
    return out.reshape(n, t, w.shape[1]), (x, w)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dw, db)`` for an upstream gradient ``dout`` of shape (N, T, M)."""
    x, w = cache
    op = "temporal_affine.backward"
    check.float_array(op, "dout", dout)
    n, t, d = x.shape
    m = w.shape[1]
    check.shape_is(op, "dout", dout, (n, t, m), "to match the forward output")
    check.same_dtype(op, dout=dout, x=x)
    # BEGIN SOLUTION hint: stack the N*T positions as rows, as forward did; then it is affine
    dout2 = dout.reshape(n * t, m)
    dx = (dout2 @ w.T).reshape(n, t, d)
    dw = x.reshape(n * t, d).T @ dout2
    db = dout2.sum(axis=0)
    # END SOLUTION
    return dx, dw, db
