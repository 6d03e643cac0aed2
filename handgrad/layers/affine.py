"""Affine (fully connected) layer: ``out = x.reshape(N, D) @ w + b``.

Shapes: x (N, d1, ..., dk) with D = d1 * ... * dk, w (D, M), b (M,), out (N, M).

BEGIN DERIVATION
Local gradients, for an upstream gradient ``dout`` of shape (N, M)::

    dx = (dout @ w.T).reshape(x.shape)     # (N, d1, ..., dk)
    dw = x.reshape(N, D).T @ dout          # (D, M)
    db = dout.sum(axis=0)                  # (M,)
END DERIVATION
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = tuple[np.ndarray, np.ndarray, tuple[int, ...]]


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Compute ``x.reshape(N, D) @ w + b``; returns ``(out, cache)`` with out of shape (N, M)."""
    op = "affine.forward"
    check.float_array(op, "x", x, min_ndim=2)
    check.float_array(op, "w", w, ndim=2)
    check.float_array(op, "b", b, ndim=1)
    check.same_dtype(op, x=x, w=w, b=b)
    n = x.shape[0]
    x2d = x.reshape(n, -1)
    if w.shape[0] != x2d.shape[1]:
        raise ValueError(f"{op}: w has shape {w.shape} but x has {x2d.shape[1]} features "
                         f"per example (x shape {x.shape}); w must be ({x2d.shape[1]}, M)")
    if b.shape != (w.shape[1],):
        raise ValueError(f"{op}: b must have shape ({w.shape[1]},) to match w {w.shape}, "
                         f"got {b.shape}")
    out = x2d @ w
    out += b
    return out, (x2d, w, x.shape)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dw, db)`` for an upstream gradient ``dout`` of shape (N, M)."""
    x2d, w, x_shape = cache
    check.float_array("affine.backward", "dout", dout)
    check.shape_is("affine.backward", "dout", dout, (x2d.shape[0], w.shape[1]),
                   "to match the forward output")
    check.same_dtype("affine.backward", x=x2d, dout=dout)
    # BEGIN SOLUTION hint: write out one entry of out; dx in x's shape, dw (D, M) and db (M,)
    dx = (dout @ w.T).reshape(x_shape)
    dw = x2d.T @ dout
    db = dout.sum(axis=0)
    # END SOLUTION
    return dx, dw, db
