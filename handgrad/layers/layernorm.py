"""Layer normalization: each example is normalized over its own features, then scaled and
shifted per feature (Ba, Kiros and Hinton, 2016)::

    mu   = mean(x, axis=-1)                     # one mean per row
    var  = mean((x - mu) ** 2, axis=-1)         # one biased variance per row (divide by D)
    xhat = (x - mu) / sqrt(var + eps)
    out  = gamma * xhat + beta                  # gamma, beta of shape (D,)

Shapes: x (N, D), or (N, ..., D) such as (N, T, D) for a sequence, where every row
``x[n, ..., :]`` is normalized over its D features; gamma and beta (D,); out and dx have x's
shape and dtype, dgamma and dbeta (D,). ``eps > 0`` (default 1e-5) is a keyword.

Unlike batch normalization, the statistics belong to one example: examples do not interact,
there are no running statistics and train and test mode are the same computation, so the layer
takes no param dict (CS231n's ``ln_param = {"eps": ...}`` becomes the keyword ``eps``). It is
``torch.nn.functional.layer_norm(x, (D,), gamma, beta, eps)``.

Local gradients, for an upstream ``dout`` of x's shape, with ``inv_std = 1 / sqrt(var + eps)``
per row:

    BEGIN DERIVATION
    dxhat  = dout * gamma
    dbeta  = sum of dout over every axis but the last
    dgamma = sum of dout * xhat over every axis but the last
    dx     = inv_std * (dxhat - mean(dxhat, axis=-1) - xhat * mean(dxhat * xhat, axis=-1))

    A row's mean and variance depend on all of that row's entries, hence the two row means
    in dx; each row of dx sums to zero.
    END DERIVATION

The cache keeps xhat, gamma (not copied: do not modify it in place before ``backward``) and
inv_std.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

DEFAULT_EPS = 1e-5

# (xhat, gamma, inv_std): xhat of shape (M, D) with M = N * ... the number of rows, gamma (D,),
# inv_std (M, 1); and x's shape.
Cache = tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, ...]]


def check_inputs(op: str, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                 eps: float) -> float:
    """Check forward's arguments (x of at least 2 dimensions, gamma and beta of shape (D,) in
    x's dtype, eps > 0); return eps as a float. Raises the op contract's errors, naming ``op``."""
    check.float_array(op, "x", x, min_ndim=2)
    check.float_array(op, "gamma", gamma, ndim=1)
    check.float_array(op, "beta", beta, ndim=1)
    check.same_dtype(op, x=x, gamma=gamma, beta=beta)
    d = x.shape[-1]
    check.shape_is(op, "gamma", gamma, (d,), "to match x's last axis (its features)")
    check.shape_is(op, "beta", beta, (d,), "to match x's last axis (its features)")
    eps = float(check.positive_real(op, "eps", eps))  # a NumPy float64 upcasts
    if d == 0 or x.size == 0:
        raise ValueError(f"{op}: x must have at least one example and one feature, "
                         f"got shape {x.shape}")
    return eps


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
            eps: float = DEFAULT_EPS) -> tuple[np.ndarray, Cache]:
    """Normalize every row of ``x`` over its last axis (D features), then scale by ``gamma``
    and shift by ``beta`` (D,). Returns ``(out, cache)`` with out of x's shape."""
    eps = check_inputs("layernorm.forward", x, gamma, beta, eps)
    d = x.shape[-1]
    rows = x.reshape(-1, d)                             # (M, D): one row per example
    # BEGIN SOLUTION hint: per-row mean and biased variance over the features; then xhat and out
    mu = rows.mean(axis=1, keepdims=True)               # (M, 1)
    xc = rows - mu
    var = np.mean(xc * xc, axis=1, keepdims=True)       # (M, 1)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv_std                                 # (M, D)
    out = xhat * gamma + beta
    # END SOLUTION
    return out.reshape(x.shape), (xhat, gamma, inv_std, x.shape)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dgamma, dbeta)`` for an upstream gradient ``dout`` of x's shape."""
    op = "layernorm.backward"
    xhat, gamma, inv_std, x_shape = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, x_shape, "to match the forward output")
    check.same_dtype(op, x=xhat, dout=dout)
    dout_rows = dout.reshape(xhat.shape)                # (M, D), like the cached xhat
    # BEGIN SOLUTION hint: gamma, beta act per feature; a row's mu and var depend on all of it
    dbeta = dout_rows.sum(axis=0)
    dgamma = np.sum(dout_rows * xhat, axis=0)
    dxhat = dout_rows * gamma
    dx = inv_std * (dxhat - dxhat.mean(axis=1, keepdims=True)
                    - xhat * np.mean(dxhat * xhat, axis=1, keepdims=True))
    # END SOLUTION
    return dx.reshape(x_shape), dgamma, dbeta
