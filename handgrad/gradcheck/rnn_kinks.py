"""Distance from a ReLU RNN's inputs to its kinks, for drawing inputs the checker can trust.

A ReLU recurrence ``h_t = max(0, x_t @ Wx + h_{t-1} @ Wh + b)`` is not differentiable where a
pre-activation is 0. The registry redraws the inputs of its ReLU RNN entries until every
coordinate of every argument is at least ``KINK_MARGIN`` from such a point, and the checker
reports mismatches near one as kinks; both need, per argument, each element's distance to the
nearest kink along its own coordinate. :func:`relu_kinks` returns it, exactly
(:func:`tangent_kinks`) for small inputs and as a cheap lower bound (:func:`bound_kinks`)
for large ones. Arguments are float64 arrays ``x (N, T, D), h0 (N, H), Wx (D, H), Wh (H, H),
b (H,)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def tangent_kinks(x: np.ndarray, h0: np.ndarray, wx: np.ndarray, wh: np.ndarray,
                  b: np.ndarray) -> list[np.ndarray]:
    """Distances to the nearest ReLU kink of a relu RNN over x (N, T, D), per argument.

    Along one coordinate theta, every pre-activation a moves at the rate da/dtheta (found by
    propagating a one-hot tangent through the recurrence), so it reaches 0 after
    |a| / |da/dtheta|; the distance is the smallest such step over all pre-activations.
    """
    n, t_len, d = x.shape
    hdim = wx.shape[1]
    pre = np.empty((t_len, n, hdim))
    prev = np.empty((t_len, n, hdim))
    h = h0
    for t in range(t_len):
        prev[t] = h
        pre[t] = x[:, t] @ wx + h @ wh + b
        h = np.maximum(pre[t], 0.0)
    active = pre > 0
    abs_pre = np.abs(pre)

    def distance(seed_rate: Callable[[int, np.ndarray], np.ndarray],
                 seed_h: np.ndarray | None, p: int) -> np.ndarray:
        best = np.full(p, np.inf)
        dh = seed_h if seed_h is not None else np.zeros((p, n, hdim))
        for t in range(t_len):
            da = dh @ wh + seed_rate(t, dh)
            with np.errstate(divide="ignore", invalid="ignore"):
                steps = np.where(da != 0, abs_pre[t] / np.abs(da), np.inf)
            best = np.minimum(best, steps.reshape(p, -1).min(axis=1))
            dh = da * active[t]
        return best

    eye = np.eye
    zero = np.zeros((1, n, hdim))
    out = []
    p = x.size  # x[m, s, e]: a direct push of wx[e] into example m at step s
    seeds = eye(p).reshape(p, n, t_len, d)
    out.append(distance(lambda t, _: seeds[:, :, t] @ wx, None, p).reshape(x.shape))
    p = h0.size
    out.append(distance(lambda t, _: zero, eye(p).reshape(p, n, hdim), p).reshape(h0.shape))
    p = wx.size
    seeds_wx = eye(p).reshape(p, d, hdim)
    out.append(distance(lambda t, _: x[:, t] @ seeds_wx, None, p).reshape(wx.shape))
    p = wh.size
    seeds_wh = eye(p).reshape(p, hdim, hdim)
    out.append(distance(lambda t, _: prev[t] @ seeds_wh, None, p).reshape(wh.shape))
    p = b.size
    seeds_b = eye(p).reshape(p, 1, hdim)
    out.append(distance(lambda t, _: seeds_b, None, p).reshape(b.shape))
    return out


def bound_kinks(x: np.ndarray, h0: np.ndarray, wx: np.ndarray, wh: np.ndarray,
                b: np.ndarray) -> list[np.ndarray]:
    """A cheap lower bound of the kink distances, for inputs too large for the tangents.

    A unit change of a coordinate moves the pre-activations of its first step by at most c
    (its largest direct coefficient) and every later step by at most rho times the previous
    one (rho = largest column sum of |Wh|), so by at most c * G, G = 1 + rho + ... + rho**(T-1).
    """
    n, t_len, _ = x.shape
    pre, prev, h = [], [], h0
    for t in range(t_len):
        prev.append(h)
        pre.append(x[:, t] @ wx + h @ wh + b)
        h = np.maximum(pre[-1], 0.0)
    abs_pre = np.abs(np.stack(pre, axis=1))                           # (N, T, H)
    prev_h = np.abs(np.stack(prev, axis=1))                           # (N, T, H)
    rho = float(np.abs(wh).sum(axis=0).max())
    gain = float(sum(rho ** r for r in range(t_len)))
    from_step = np.minimum.accumulate(abs_pre.min(axis=2)[:, ::-1], axis=1)[:, ::-1]  # (N, T)
    overall = float(abs_pre.min())
    with np.errstate(divide="ignore"):
        dx = from_step[:, :, None] / (np.abs(wx).max(axis=1) * gain)[None, None, :]
        dh0 = from_step[:, :1] / (np.abs(wh).max(axis=1) * gain)[None, :]
        dwx = overall / (np.abs(x).max(axis=(0, 1)) * gain)[:, None] * np.ones(wx.shape)
        dwh = overall / (prev_h.max(axis=(0, 1)) * gain)[:, None] * np.ones(wh.shape)
        db = np.full(b.shape, overall / gain)
    return [dx, dh0, dwx, dwh, db]


def relu_kinks(x: np.ndarray, h0: np.ndarray, wx: np.ndarray, wh: np.ndarray,
               b: np.ndarray) -> list[np.ndarray]:
    """Per-argument kink distances: exact for small inputs, the cheap lower bound otherwise."""
    n, t_len, _ = x.shape
    hdim = wx.shape[1]
    coords = x.size + h0.size + wx.size + wh.size + b.size
    if coords * t_len * n * hdim <= 2e7 and x.size <= 2000:
        return tangent_kinks(x, h0, wx, wh, b)
    return bound_kinks(x, h0, wx, wh, b)
