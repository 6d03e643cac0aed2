"""Layer normalization, tuned: the contract, arguments and error messages of
:mod:`handgrad.layers.layernorm`, computed block by block of rows without a full-size
temporary.

Every sum over a row's D features is a matrix-vector product or an ``einsum`` of a block, and
the gradient folds into per-row coefficients. With ``xc = x - mu``, ``inv = 1 / sqrt(var +
eps)`` per row, ``a = (dout @ gamma) / D`` and ``b = inv * ((dout * xc) @ gamma) / D``,

    dx     = inv * gamma * dout - inv**2 * b * x + (inv**2 * b * mu - inv * a)
    dgamma = inv @ (dout * xc)          dbeta = ones @ dout

which is the readable version's ``inv * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``
expanded. The variance and the dgamma sums use centred values, so a large mean does not cancel
away the spread. The cache keeps x itself (not copied): do not modify x before ``backward``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from handgrad import _validation as check
from handgrad.fast._rows import block_rows, row_blocks
from handgrad.layers.layernorm import DEFAULT_EPS, check_inputs


class Cache(NamedTuple):
    rows: np.ndarray       # x as (M, D), C-contiguous
    mu: np.ndarray         # (M,) row means
    inv: np.ndarray        # (M,) 1 / sqrt(var + eps)
    gamma: np.ndarray      # (D,)
    shape: tuple[int, ...]


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
            eps: float = DEFAULT_EPS) -> tuple[np.ndarray, Cache]:
    """Normalize every row of ``x`` over its last axis (D features), then scale by ``gamma``
    and shift by ``beta`` (D,). Returns ``(out, cache)`` with out of x's shape."""
    eps = check_inputs("layernorm.forward", x, gamma, beta, eps)
    dtype, d = x.dtype, x.shape[-1]
    rows = np.ascontiguousarray(x).reshape(-1, d)
    m = rows.shape[0]
    out = np.empty_like(rows)
    mu = rows @ np.full(d, 1.0 / d, dtype)          # every row's mean in one BLAS call
    inv = np.empty(m, dtype)
    for s in row_blocks(m, d * rows.itemsize):
        xb, ob = rows[s], out[s]
        np.subtract(xb, mu[s, None], out=ob)
        var = np.einsum("ij,ij->i", ob, ob)
        var *= 1.0 / d
        var += eps
        np.sqrt(var, out=var)
        np.reciprocal(var, out=inv[s])
        ob *= inv[s, None]
        ob *= gamma
        ob += beta
    return out.reshape(x.shape), Cache(rows, mu, inv, gamma, x.shape)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dgamma, dbeta)`` for an upstream gradient ``dout`` of x's shape."""
    op = "layernorm.backward"
    rows, mu, inv, gamma, shape = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, shape, "to match the forward output")
    check.dtype_is(op, "dout", dout, rows.dtype, "x")
    m, d = rows.shape
    drows = np.ascontiguousarray(dout).reshape(m, d)
    dx = np.empty_like(drows)
    scratch = np.empty((block_rows(m, d * rows.itemsize), d), rows.dtype)
    dbeta = np.ones(m, rows.dtype) @ drows
    mean_dxhat = drows @ gamma                     # a, times D, for every row at once
    mean_dxhat *= 1.0 / d
    dgamma = np.zeros(d, rows.dtype)
    for s in row_blocks(m, d * rows.itemsize):
        xb, db, dxb = rows[s], drows[s], dx[s]
        work = scratch[: s.stop - s.start]
        ib = inv[s]
        np.subtract(xb, mu[s, None], out=work)
        work *= db                                  # dout * (x - mu)
        dgamma += ib @ work
        a = mean_dxhat[s]
        b = work @ gamma
        b *= ib * (1.0 / d)
        k1 = ib * ib * b
        shift = mu[s] * k1 - ib * a
        np.multiply(db, gamma, out=dxb)
        dxb *= ib[:, None]
        np.multiply(xb, k1[:, None], out=work)
        dxb -= work
        dxb += shift[:, None]
    return dx.reshape(shape), dgamma, dbeta
