"""Spatial batch normalization, tuned: the contract, arguments, running statistics and error
messages of :mod:`handgrad.layers.spatial_batchnorm`, computed on x's own NCHW memory.

The readable version transposes x to one row per pixel and back, twice per call. Here x is
seen as (N, C*H*W), one row per example, and every per-channel vector is repeated over its
channel's pixels once, so each step is a long row-against-row pass in cache-sized blocks of
examples. With ``mu``, ``inv = 1 / sqrt(var + eps)`` and ``A = gamma * inv`` per channel and
``m = N*H*W``,

    out    = (x - mu) * A + beta
    dx     = A * dout - (x - mu) * (A * inv * dgamma / m) - A * dbeta / m
    dgamma = inv * sum of dout * (x - mu)          dbeta = sum of dout

the readable version's batchnorm gradient, per channel. The per-channel sums come from a
matrix-vector product (``rows @ ones``) or an ``einsum`` over rows of H*W pixels; the variance
and dgamma are sums of centred values, so a large mean does not cancel away the spread. The
cache keeps x itself (not copied): do not modify x before ``backward``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, NamedTuple

import numpy as np

from handgrad import _validation as check
from handgrad.fast._rows import block_rows, row_blocks
from handgrad.layers.spatial_batchnorm import check_inputs


class Cache(NamedTuple):
    x: np.ndarray          # x as (N, C*H*W), C-contiguous (not copied when x already is)
    mu: np.ndarray         # (C,) the mean used (batch or running)
    inv: np.ndarray        # (C,) 1 / sqrt(var + eps)
    gamma: np.ndarray      # (C,)
    mode: str
    shape: tuple[int, int, int, int]


def _pixel_sums(a: np.ndarray, c: int, pixels: int, other: np.ndarray | None = None
                ) -> np.ndarray:
    """Per channel, the sum over the batch and the pixels of ``a`` (or of ``a * other``), for
    arrays of (examples, C*H*W)."""
    rows = a.reshape(-1, pixels)
    if other is None:
        sums = rows @ np.ones(pixels, a.dtype)
    else:
        sums = np.einsum("ij,ij->i", rows, other.reshape(-1, pixels))
    return sums.reshape(-1, c).sum(axis=0)


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
            bn_param: MutableMapping[str, Any]) -> tuple[np.ndarray, Cache]:
    """Normalize each channel of ``x`` (N, C, H, W) over the batch and the pixels, then scale
    by ``gamma`` and shift by ``beta`` (C,). Returns ``(out, cache)``, out (N, C, H, W)."""
    mode, eps, momentum, running_mean, running_var = check_inputs(
        "spatial_batchnorm.forward", x, gamma, beta, bn_param)
    n, c, h, w = x.shape
    pixels, m = h * w, n * h * w
    # Every per-channel vector is repeated over its channel's pixels once (C*H*W entries), so
    # each step is an (N, C*H*W) array against a row: long, contiguous inner loops.
    flat = np.ascontiguousarray(x).reshape(n, c * pixels)
    out = np.empty_like(flat)
    blocks = list(row_blocks(n, c * pixels * flat.itemsize))
    if mode == "train":
        mu = _pixel_sums(flat, c, pixels) * (1.0 / m)
        mu_rep = np.repeat(mu, pixels)
        squares = np.zeros(c, x.dtype)
        for s in blocks:    # out = x - mu, and the sum of its squares per channel
            np.subtract(flat[s], mu_rep, out=out[s])
            squares += _pixel_sums(out[s], c, pixels, out[s])
        var = squares * (1.0 / m)
        running_mean *= momentum
        running_mean += (1.0 - momentum) * mu
        running_var *= momentum
        running_var += (1.0 - momentum) * var
        inv = 1.0 / np.sqrt(var + eps)
    else:
        mu = running_mean.copy()            # later train calls update the dict's array
        inv = 1.0 / np.sqrt(running_var + eps)
        mu_rep = np.repeat(mu, pixels)
        for s in blocks:
            np.subtract(flat[s], mu_rep, out=out[s])
    scale_rep, beta_rep = np.repeat(gamma * inv, pixels), np.repeat(beta, pixels)
    for s in blocks:
        out[s] *= scale_rep
        out[s] += beta_rep
    return out.reshape(x.shape), Cache(flat, mu, inv, gamma, mode, x.shape)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dgamma, dbeta)`` for an upstream gradient ``dout`` of shape (N, C, H, W)."""
    op = "spatial_batchnorm.backward"
    flat, mu, inv, gamma, mode, shape = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, shape, "to match the forward output")
    check.dtype_is(op, "dout", dout, flat.dtype, "x")
    n, c, h, w = shape
    pixels, m = h * w, n * h * w
    dflat = np.ascontiguousarray(dout).reshape(n, c * pixels)
    dx = np.empty_like(dflat)
    blocks = list(row_blocks(n, c * pixels * flat.itemsize))
    scratch = np.empty((block_rows(n, c * pixels * flat.itemsize), c * pixels), flat.dtype)
    mu_rep = np.repeat(mu, pixels)
    dbeta = _pixel_sums(dflat, c, pixels)
    centred = np.zeros(c, flat.dtype)      # sum of dout * (x - mu) per channel
    for s in blocks:                       # dx holds x - mu until the second loop
        np.subtract(flat[s], mu_rep, out=dx[s])
        centred += _pixel_sums(dflat[s], c, pixels, dx[s])
    dgamma = centred * inv
    scale = gamma * inv                    # A: d out / d x at fixed statistics
    scale_rep = np.repeat(scale, pixels)
    if mode == "test":
        for s in blocks:
            np.multiply(dflat[s], scale_rep, out=dx[s])
        return dx.reshape(shape), dgamma, dbeta
    # dx = A * dout - (x - mu) * A * inv * dgamma / m - A * dbeta / m
    minus_k1 = np.repeat(-scale * inv * dgamma * (1.0 / m), pixels)
    k0 = np.repeat(scale * dbeta * (1.0 / m), pixels)
    for s in blocks:
        dx[s] *= minus_k1
        term = np.multiply(dflat[s], scale_rep, out=scratch[: s.stop - s.start])
        dx[s] += term
        dx[s] -= k0
    return dx.reshape(shape), dgamma, dbeta
