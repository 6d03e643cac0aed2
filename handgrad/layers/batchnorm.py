"""Batch normalization over the batch axis, for x of shape (N, D).

Train mode normalizes each feature with the statistics of the batch::

    mu   = mean(x, axis=0)                      # (D,)
    var  = mean((x - mu) ** 2, axis=0)          # (D,), biased (divide by N)
    xhat = (x - mu) / sqrt(var + eps)           # (N, D)
    out  = gamma * xhat + beta                  # (N, D); gamma, beta of shape (D,)

and updates the running statistics in place (they start at zeros)::

    running_mean = momentum * running_mean + (1 - momentum) * mu
    running_var  = momentum * running_var  + (1 - momentum) * var

Test mode uses them instead of the batch statistics:
``out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta``.

``bn_param`` is a dict with the keys ``"mode"`` (``"train"`` or ``"test"``, required), ``"eps"``
(default 1e-5), ``"momentum"`` (default 0.9), ``"running_mean"`` and ``"running_var"`` (arrays of
shape (D,) in x's dtype; created as zeros and stored in ``bn_param`` when absent). Any other key
is an error. The running arrays are the only thing ``forward`` ever modifies.

BEGIN DERIVATION
Local gradients, with ``inv_std = 1 / sqrt(var + eps)`` and upstream ``dout`` (N, D)::

    dbeta  = sum(dout, axis=0)
    dgamma = sum(dout * xhat, axis=0)
    dx     = gamma * inv_std / N * (N * dout - dbeta - xhat * dgamma)     # train mode
    dx     = gamma * inv_std * dout                                       # test mode

In train mode every x[i, j] moves mu and var, hence the two batch sums in dx; in test mode the
statistics are constants and the layer is a per-feature affine map.
END DERIVATION

The cache keeps x, gamma, mu and inv_std (x and gamma are not copied: do not modify them in
place before ``backward``).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np

from handgrad import _validation as check

DEFAULT_EPS = 1e-5
DEFAULT_MOMENTUM = 0.9

# (mode, x, mu, inv_std, gamma): the input (not copied), the statistics used, mu and
# inv_std = 1 / sqrt(var + eps) of shape (D,), and gamma; xhat = (x - mu) * inv_std.
Cache = tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def check_inputs(op: str, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                 bn_param: MutableMapping[str, Any]) -> tuple[str, float, float, np.ndarray,
                                                              np.ndarray]:
    """Check forward's arguments (x (N, D), gamma and beta (D,) in x's dtype, bn_param as the
    module docstring says, creating absent running statistics; N >= 2 in train mode); return
    ``(mode, eps, momentum, running_mean, running_var)``. Raises the op contract's errors,
    naming ``op``."""
    check.float_array(op, "x", x, ndim=2)
    check.float_array(op, "gamma", gamma, ndim=1)
    check.float_array(op, "beta", beta, ndim=1)
    dtype = check.same_dtype(op, x=x, gamma=gamma, beta=beta)
    n, d = x.shape
    check.shape_is(op, "gamma", gamma, (d,), "to match x's features")
    check.shape_is(op, "beta", beta, (d,), "to match x's features")
    mode, eps, momentum, running_mean, running_var = check.bn_param(
        op, bn_param, d, dtype, default_eps=DEFAULT_EPS, default_momentum=DEFAULT_MOMENTUM)
    if mode == "train" and n < 2:
        raise ValueError(f"{op}: train mode needs a batch of at least 2 examples to "
                         f"estimate the variance, got x of shape {x.shape}")
    return mode, eps, momentum, running_mean, running_var


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
            bn_param: MutableMapping[str, Any]) -> tuple[np.ndarray, Cache]:
    """Normalize ``x`` (N, D) per feature, then scale by ``gamma`` and shift by ``beta`` (D,).

    Returns ``(out, cache)`` with out of shape (N, D). In train mode (N >= 2) the batch
    statistics are used and ``bn_param["running_mean"]`` / ``["running_var"]`` are updated in
    place; in test mode the running statistics are used. See the module docstring for the keys.
    """
    mode, eps, momentum, running_mean, running_var = check_inputs(
        "batchnorm.forward", x, gamma, beta, bn_param)
    if mode == "train":
        # BEGIN SOLUTION hint: mu, biased var, inv_std, out; update the running stats in place
        mu = x.mean(axis=0)                             # (D,)
        var = np.mean((x - mu) ** 2, axis=0)            # (D,), biased
        # in place: the caller's bn_param holds these arrays
        running_mean *= momentum
        running_mean += (1 - momentum) * mu
        running_var *= momentum
        running_var += (1 - momentum) * var
        inv_std = 1 / np.sqrt(var + eps)
        out = gamma * (x - mu) * inv_std + beta
        # END SOLUTION
    else:
        mu = running_mean.copy()                    # later train calls update the dict's array
        inv_std = 1 / np.sqrt(running_var + eps)
        out = gamma * (x - mu) * inv_std + beta
    return out, (mode, x, mu, inv_std, gamma)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dgamma, dbeta)`` for an upstream gradient ``dout`` of shape (N, D)."""
    op = "batchnorm.backward"
    mode, x, mu, inv_std, gamma = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, x.shape, "to match the forward output")
    check.same_dtype(op, x=x, dout=dout)
    n = x.shape[0]
    # BEGIN SOLUTION hint: rebuild xhat from the cache; in train mode each x moves mu and var too
    xhat = inv_std * (x - mu)
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    if mode == "train":
        dx = gamma * inv_std / n * (n * dout - dbeta - xhat * dgamma)
    else:
        dx = gamma * inv_std * dout
    # END SOLUTION
    return dx, dgamma, dbeta
