"""Group normalization (Wu and He, 2018): the C channels of each example are split into G
groups of C/G consecutive channels, and each group is normalized over its channels and pixels;
then every channel is scaled and shifted::

    groups = x.reshape(N, G, C/G * H * W)                # group g holds channels g*C/G ...
    mu     = mean(groups, axis=2)                        # (N, G)
    var    = mean((groups - mu) ** 2, axis=2)            # (N, G), biased
    xhat   = ((groups - mu) / sqrt(var + eps)).reshape(N, C, H, W)
    out    = gamma[c] * xhat[:, c] + beta[c]             # per channel

Shapes: x (N, C, H, W) (any number of trailing spatial axes works, including none: (N, C));
gamma and beta (C,), as in ``torch.nn.GroupNorm``, where CS231n uses (1, C, 1, 1); out and dx
have x's shape and dtype, dgamma and dbeta (C,). Options are keywords: ``G``, the number of
groups (required, must divide C), and ``eps > 0`` (default 1e-5).

The statistics belong to one example, so examples do not interact, nothing runs across the
batch and train and test mode are the same computation. G = 1 normalizes each example over all
its channels and pixels (layer normalization of an image); G = C normalizes every channel of
every example on its own (instance normalization). It is
``torch.nn.functional.group_norm(x, G, gamma, beta, eps)``.

Local gradients, for an upstream ``dout`` of x's shape:

    BEGIN DERIVATION
    with ``inv_std = 1 / sqrt(var + eps)`` per (example, group) and ``dxhat = dout * gamma[c]``
    per channel, seen as (N, G, C/G*H*W):

    dbeta[c]  = sum of dout[:, c] over N, H and W
    dgamma[c] = sum of (dout * xhat)[:, c] over N, H and W
    dx        = inv_std * (dxhat - mean(dxhat, axis=2) - xhat * mean(dxhat * xhat, axis=2))

    which is layer normalization's gradient within each group.
    END DERIVATION

The cache keeps xhat, gamma (not copied: do not modify it in place before ``backward``),
inv_std and G.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

DEFAULT_EPS = 1e-5

# (xhat (N, C, ...), gamma (C,), inv_std (N, G, 1), G)
Cache = tuple[np.ndarray, np.ndarray, np.ndarray, int]


def _divisors(c: int) -> str:
    return ", ".join(str(g) for g in range(1, c + 1) if c % g == 0)


def check_inputs(op: str, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, G: int,
                 eps: float) -> tuple[int, float]:
    """Check forward's arguments (x (N, C, ...), gamma and beta (C,) in x's dtype, G a positive
    divisor of C, eps > 0); return ``(G, eps)`` as int and float. Raises the op contract's
    errors, naming ``op``."""
    check.float_array(op, "x", x, min_ndim=2)
    c = x.shape[1]
    for name, arr in (("gamma", gamma), ("beta", beta)):
        check.float_array(op, name, arr)
        if arr.ndim != 1:
            layout = (f"; CS231n's (1, C, 1, 1) layout is {name}.reshape(-1) here"
                      if arr.size == c else "")
            raise ValueError(f"{op}: {name} must be 1-D of shape ({c},), got shape "
                             f"{arr.shape}{layout}")
    check.same_dtype(op, x=x, gamma=gamma, beta=beta)
    check.shape_is(op, "gamma", gamma, (c,), "to match x's channels (axis 1)")
    check.shape_is(op, "beta", beta, (c,), "to match x's channels (axis 1)")
    G = check.positive_int(op, "G", G)
    eps = float(check.positive_real(op, "eps", eps))  # a NumPy float64 upcasts
    if x.size == 0:
        raise ValueError(f"{op}: x must not be empty, got shape {x.shape}")
    if c % G:
        raise ValueError(f"{op}: G={G} groups do not divide the {c} channels of x (shape "
                         f"{x.shape}); G must be one of {_divisors(c)}")
    return G, eps


def forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, G: int,
            eps: float = DEFAULT_EPS) -> tuple[np.ndarray, Cache]:
    """Normalize each of the ``G`` channel groups of every example of ``x`` (N, C, H, W), then
    scale by ``gamma`` and shift by ``beta`` (C,). Returns ``(out, cache)``, out of x's shape."""
    G, eps = check_inputs("groupnorm.forward", x, gamma, beta, G, eps)
    n, c = x.shape[:2]
    # One channel's scale and shift, broadcast over its pixels: shape (1, C, 1, 1) for images.
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    # BEGIN SOLUTION hint: view x as (N, G, rest); mean, biased variance per group; xhat, out
    groups = x.reshape(n, G, -1)                            # (N, G, C/G * H * W)
    mu = groups.mean(axis=2, keepdims=True)                 # (N, G, 1)
    xc = groups - mu
    var = np.mean(xc * xc, axis=2, keepdims=True)           # (N, G, 1)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (xc * inv_std).reshape(x.shape)                  # (N, C, H, W)
    out = xhat * gamma.reshape(per_channel) + beta.reshape(per_channel)
    # END SOLUTION
    return out, (xhat, gamma, inv_std, G)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dgamma, dbeta)`` for an upstream gradient ``dout`` of x's shape."""
    op = "groupnorm.backward"
    xhat, gamma, inv_std, G = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, xhat.shape, "to match the forward output")
    check.same_dtype(op, x=xhat, dout=dout)
    n, c = xhat.shape[:2]
    per_channel = (1, c) + (1,) * (xhat.ndim - 2)
    not_channels = (0,) + tuple(range(2, xhat.ndim))       # sum over N and the pixels
    # BEGIN SOLUTION hint: gamma and beta act per channel; mu and var of a group depend on all of it
    dbeta = dout.sum(axis=not_channels)
    dgamma = np.sum(dout * xhat, axis=not_channels)
    dxhat = (dout * gamma.reshape(per_channel)).reshape(n, G, -1)
    xhat_groups = xhat.reshape(n, G, -1)
    dx = inv_std * (dxhat - dxhat.mean(axis=2, keepdims=True)
                    - xhat_groups * np.mean(dxhat * xhat_groups, axis=2, keepdims=True))
    # END SOLUTION
    return dx.reshape(xhat.shape), dgamma, dbeta
