"""Spatial batch normalization for images: one mean and variance per channel, over the batch
and every pixel (CS231n's spatial batchnorm, PyTorch's ``BatchNorm2d``)::

    mu[c]  = mean of x[:, c, :, :]                       # over N, H and W
    var[c] = mean of (x[:, c, :, :] - mu[c]) ** 2        # biased (divide by N*H*W)
    out[:, c] = gamma[c] * (x[:, c] - mu[c]) / sqrt(var[c] + eps) + beta[c]

Shapes: x (N, C, H, W); gamma, beta (C,); out and dx have x's shape and dtype, dgamma and dbeta
(C,). ``bn_param`` is batchnorm's: ``"mode"`` (``"train"`` or ``"test"``), ``"eps"``,
``"momentum"`` and the running statistics ``"running_mean"`` / ``"running_var"`` of shape (C,),
updated in place in train mode exactly as :mod:`handgrad.layers.batchnorm` says.

Every pixel of every image is one more sample of its channel's features, so this is plain
batch normalization of a (N*H*W, C) matrix with one row per pixel::

    rows = x.transpose(0, 2, 3, 1).reshape(N*H*W, C)     # channels last, then flatten
    out  = batchnorm(rows).reshape(N, H, W, C).transpose(0, 3, 1, 2)

and that is how it is computed: with :func:`handgrad.layers.batchnorm.forward` and ``backward``.
Local gradients:

    BEGIN DERIVATION
    the batchnorm gradients of the (N*H*W, C) rows, with dout reshaped the same way:
    drows, dgamma, dbeta = batchnorm.backward(dout_rows, cache)
    dx = drows reshaped back to (N, H, W, C) and transposed to (N, C, H, W)
    END DERIVATION

``out`` and ``dx`` are C-contiguous NCHW arrays.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np

from handgrad import _validation as check
from handgrad.layers import batchnorm

# (batchnorm's cache of the pixel rows, x's shape, x's dtype)
Cache = tuple[Any, tuple[int, int, int, int], np.dtype]


def check_inputs(op: str, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                 bn_param: MutableMapping[str, Any]) -> tuple[str, float, float, np.ndarray,
                                                              np.ndarray]:
    """Check forward's arguments (x (N, C, H, W), gamma and beta (C,) in x's dtype, bn_param as
    batchnorm's, creating absent running statistics); return ``(mode, eps, momentum,
    running_mean, running_var)``. Raises the op contract's errors, naming ``op``."""
    check.float_array(op, "x", x, ndim=4)
    check.float_array(op, "gamma", gamma, ndim=1)
    check.float_array(op, "beta", beta, ndim=1)
    check.same_dtype(op, x=x, gamma=gamma, beta=beta)
    n, c, h, w = x.shape
    check.shape_is(op, "gamma", gamma, (c,), "to match x's channels")
    check.shape_is(op, "beta", beta, (c,), "to match x's channels")
    params = check.bn_param(op, bn_param, c, x.dtype, "x's channels")
    if params[0] == "train" and n * h * w < 2:
        raise ValueError(f"{op}: train mode needs at least 2 values per channel (N*H*W >= 2) "
                         f"to estimate the variance, got x of shape {x.shape}")
    return params


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
            bn_param: MutableMapping[str, Any]) -> tuple[np.ndarray, Cache]:
    """Normalize each channel of ``x`` (N, C, H, W) over the batch and the pixels, then scale
    by ``gamma`` and shift by ``beta`` (C,). Returns ``(out, cache)``, out (N, C, H, W)."""
    check_inputs("spatial_batchnorm.forward", x, gamma, beta, bn_param)
    n, c, h, w = x.shape
    # BEGIN SOLUTION hint: x as a (N*H*W, C) matrix, a row per pixel; batchnorm; undo the reshape
    rows = x.transpose(0, 2, 3, 1).reshape(n * h * w, c)
    out_rows, bn_cache = batchnorm.forward(rows, gamma, beta, bn_param)
    out = np.ascontiguousarray(out_rows.reshape(n, h, w, c).transpose(0, 3, 1, 2))
    # END SOLUTION
    return out, (bn_cache, x.shape, x.dtype)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dgamma, dbeta)`` for an upstream gradient ``dout`` of shape (N, C, H, W)."""
    op = "spatial_batchnorm.backward"
    bn_cache, x_shape, dtype = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, x_shape, "to match the forward output")
    check.dtype_is(op, "dout", dout, dtype, "x")
    n, c, h, w = x_shape
    # BEGIN SOLUTION hint: reshape dout as forward reshaped x, reuse batchnorm's backward, undo it
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(n * h * w, c)
    drows, dgamma, dbeta = batchnorm.backward(dout_rows, bn_cache)
    dx = np.ascontiguousarray(drows.reshape(n, h, w, c).transpose(0, 3, 1, 2))
    # END SOLUTION
    return dx, dgamma, dbeta
