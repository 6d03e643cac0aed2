"""Tuned twin of :mod:`handgrad.layers.batchnorm`: the same functions, arguments, running
statistics, results and errors. Read that module for the math and the keys of ``bn_param``.

What differs is how the passes are written: the column sums are matrix-vector products with a
vector of ones (one BLAS call), the sums of squares and of ``dout * (x - mu)`` are ``einsum``
reductions without a temporary, and both directions build their (N, D) result in place in one
array: forward turns ``x - mu`` into the output, backward turns it into dx in four passes,
``dx = gamma * inv_std * (dout - (dbeta + xhat * dgamma) / N)``. The cache has the readable
module's layout, but pass a cache only to the ``backward`` of the module that made it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np

from handgrad import _validation as check
from handgrad.layers.batchnorm import check_inputs

# (mode, x, mu, inv_std, gamma), as in handgrad.layers.batchnorm
Cache = tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
            bn_param: MutableMapping[str, Any]) -> tuple[np.ndarray, Cache]:
    """:func:`handgrad.layers.batchnorm.forward`, tuned: ``(out, cache)``, out (N, D)."""
    mode, eps, momentum, running_mean, running_var = check_inputs(
        "batchnorm.forward", x, gamma, beta, bn_param)
    n = x.shape[0]
    if mode == "train":
        ones = np.ones(n, dtype=x.dtype)
        mu = ones @ x                               # column sums as one BLAS call
        mu *= 1.0 / n
        out = np.subtract(x, mu)                    # x - mu, scaled and shifted in place below
        var = np.einsum("ij,ij->j", out, out)       # sum of squares without a temporary
        var *= 1.0 / n
        running_mean *= momentum
        running_mean += (1.0 - momentum) * mu
        running_var *= momentum
        running_var += (1.0 - momentum) * var
        var += eps
        inv_std = np.sqrt(var, out=var)
        np.reciprocal(inv_std, out=inv_std)
    else:
        mu = running_mean.copy()                    # later train calls update the dict's array
        inv_std = running_var + eps
        np.sqrt(inv_std, out=inv_std)
        np.reciprocal(inv_std, out=inv_std)
        out = np.subtract(x, mu)
    out *= gamma * inv_std
    out += beta
    return out, (mode, x, mu, inv_std, gamma)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`handgrad.layers.batchnorm.backward`, tuned: ``(dx, dgamma, dbeta)``."""
    op = "batchnorm.backward"
    mode, x, mu, inv_std, gamma = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, x.shape, "to match the forward output")
    check.same_dtype(op, x=x, dout=dout)
    n = x.shape[0]
    ones = np.ones(n, dtype=dout.dtype)
    dbeta = ones @ dout                             # column sums as one BLAS call
    dx = np.subtract(x, mu)                         # x - mu = xhat / inv_std, reused as dx
    dgamma = np.einsum("ij,ij->j", dout, dx)
    dgamma *= inv_std
    scale = gamma * inv_std                         # d out / d x at fixed statistics
    if mode == "train":
        dx *= inv_std * dgamma * (1.0 / n)
        dx += dbeta * (1.0 / n)
        np.subtract(dout, dx, out=dx)
        dx *= scale
    else:
        np.multiply(dout, scale, out=dx)
    return dx, dgamma, dbeta
