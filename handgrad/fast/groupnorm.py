"""Group normalization, tuned: the contract, arguments and error messages of
:mod:`handgrad.layers.groupnorm`, computed on x's own memory in cache-sized blocks of examples.

Seen as (N*G, K) with K = C/G*H*W, every group is one contiguous row: its mean and variance
are a matrix-vector product and an ``einsum`` of the block, and its scale a per-row factor;
gamma and beta, repeated over their channel's pixels, are one row of C*H*W shared by every
example, so no step broadcasts over short rows. With ``xc = x - mu``, ``inv = 1 / sqrt(var +
eps)`` per group, and per group ``a = sum_c gamma[c] * S1[c] / K`` and ``b = inv * sum_c
gamma[c] * S2[c] / K``, where ``S1`` and ``S2`` sum ``dout`` and ``dout * xc`` over a channel's
pixels,

    out    = xc * inv * gamma + beta
    dx     = inv * (gamma * dout - a - xc * inv * b)
    dgamma = sum over examples of inv * S2          dbeta = sum over examples of S1

which is the readable version's ``inv * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``
with the means taken from per-channel sums. The variance and S2 are sums of centred values, so
a large mean does not cancel away the spread. The cache keeps x itself (not copied): do not
modify x before ``backward``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from handgrad import _validation as check
from handgrad.fast._rows import block_rows, row_blocks
from handgrad.layers.groupnorm import DEFAULT_EPS, check_inputs


class Cache(NamedTuple):
    x: np.ndarray          # x as (N, C*H*W), C-contiguous (not copied when x already is)
    mu: np.ndarray         # (N*G,) group means
    inv: np.ndarray        # (N*G,) 1 / sqrt(var + eps)
    gamma: np.ndarray      # (C,)
    G: int
    shape: tuple[int, ...]


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, G: int,
            eps: float = DEFAULT_EPS) -> tuple[np.ndarray, Cache]:
    """Normalize each of the ``G`` channel groups of every example of ``x`` (N, C, H, W), then
    scale by ``gamma`` and shift by ``beta`` (C,). Returns ``(out, cache)``, out of x's shape."""
    G, eps = check_inputs("groupnorm.forward", x, gamma, beta, G, eps)
    dtype = x.dtype
    n, c = x.shape[:2]
    flat = np.ascontiguousarray(x).reshape(n, -1)           # (N, C*H*W)
    pixels = flat.shape[1] // c
    k = flat.shape[1] // G                                  # values per group
    out = np.empty_like(flat)
    mu = flat.reshape(n * G, k) @ np.full(k, 1.0 / k, dtype)    # every group's mean at once
    inv = np.empty(n * G, dtype)
    # gamma and beta repeated over their channel's pixels: one row of C*H*W for every example
    gamma_rep, beta_rep = np.repeat(gamma, pixels), np.repeat(beta, pixels)
    for s in row_blocks(n, flat.shape[1] * flat.itemsize):
        g = slice(s.start * G, s.stop * G)                  # the blocks' groups, (rows, K)
        xg, og = flat[s].reshape(-1, k), out[s].reshape(-1, k)
        np.subtract(xg, mu[g, None], out=og)
        var = np.einsum("ij,ij->i", og, og)
        var *= 1.0 / k
        var += eps
        np.sqrt(var, out=var)
        np.reciprocal(var, out=inv[g])
        og *= inv[g, None]
        out[s] *= gamma_rep
        out[s] += beta_rep
    return out.reshape(x.shape), Cache(flat, mu, inv, gamma, G, x.shape)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dgamma, dbeta)`` for an upstream gradient ``dout`` of x's shape."""
    op = "groupnorm.backward"
    flat, mu, inv, gamma, G, shape = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, shape, "to match the forward output")
    check.dtype_is(op, "dout", dout, flat.dtype, "x")
    dtype = flat.dtype
    n, c = shape[:2]
    per_group = c // G
    pixels = flat.shape[1] // c
    k = flat.shape[1] // G
    dflat = np.ascontiguousarray(dout).reshape(n, -1)
    dx = np.empty_like(dflat)
    rows = block_rows(n, flat.shape[1] * flat.itemsize)
    centred = np.empty((rows, flat.shape[1]), dtype)
    gamma_rep = np.repeat(gamma, pixels)
    gammas = gamma.reshape(G, per_group)
    # per (example, channel): the sum of dout over the pixels, for every example at once
    dout_sums = (dflat.reshape(-1, pixels) @ np.ones(pixels, dtype)).reshape(n, G, per_group)
    dbeta = dout_sums.sum(axis=0).reshape(c)
    dgamma = np.zeros(c, dtype)
    for s in row_blocks(n, flat.shape[1] * flat.itemsize):
        g = slice(s.start * G, s.stop * G)
        count = s.stop - s.start
        xc = centred[:count]
        np.subtract(flat[s].reshape(-1, k), mu[g, None], out=xc.reshape(-1, k))
        s1 = dout_sums[s]
        # per (example, channel): the sum of dout * (x - mu) over the pixels
        s2 = np.einsum("ij,ij->i", dflat[s].reshape(-1, pixels),
                       xc.reshape(-1, pixels)).reshape(count, G, per_group)
        dgamma += (s2 * inv[g].reshape(count, G, 1)).sum(axis=0).reshape(c)
        a = (s1 * gammas).sum(axis=2).reshape(-1) * (1.0 / k)            # mean of dxhat
        b = (s2 * gammas).sum(axis=2).reshape(-1) * inv[g] * (1.0 / k)   # mean of dxhat*xhat
        # dx = inv * (gamma * dout - a - xhat * b), with xhat = (x - mu) * inv
        np.multiply(dflat[s], gamma_rep, out=dx[s])
        dxg = dx[s].reshape(-1, k)
        dxg -= a[:, None]
        xcg = xc.reshape(-1, k)
        xcg *= (inv[g] * b)[:, None]
        dxg -= xcg
        dxg *= inv[g, None]
    return dx.reshape(shape), dgamma, dbeta
