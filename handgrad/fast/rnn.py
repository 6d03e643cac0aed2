"""Tuned twin of :mod:`handgrad.layers.rnn`: the same functions, arguments, results and errors.
Read that module for the math.

What differs is how the passes are written:

- float64 tanh is :func:`handgrad.fast._tanh_kernel.tanh64` (built from ``np.exp``, which is
  several times faster than ``np.tanh`` in float64 on CPUs without AVX-512; within a few units
  in the last place of it); float32 uses ``np.tanh``;
- forward writes the input projection of all steps into the output array and turns a_t into
  h_t in place, step by step, with the recurrent product going into a reused scratch array;
- backward computes the slopes f'(a_t) of all steps in one pass into the array that then
  receives dL/da_t, and forms ``dWh`` from the flat (N*T, H) hidden states and gate gradients
  shifted by one row, corrected at the sequence boundaries, instead of concatenating h0 with
  the shifted states; ``db`` is a matrix-vector product.

The caches have the readable module's layout, but pass a cache only to the ``backward`` of the
module that made it.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check
from handgrad.fast._tanh_kernel import tanh64
from handgrad.layers.rnn import check_params

# step: (x, prev_h, Wx, Wh, next_h, activation)
StepCache = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]
# sequence: (x2d of shape (N*T, D), h0, Wx, Wh, h of shape (N, T, H), activation)
Cache = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]


def _tanh_inplace(a: np.ndarray, work: np.ndarray | None = None,
                  one_plus_e: np.ndarray | None = None) -> None:
    """``a = tanh(a)`` in place; ``work``, ``one_plus_e``: C-contiguous scratch shaped like a.

    float32 uses ``np.tanh``. For float64, ``np.tanh`` is several times slower than ``np.exp`` on
    CPUs without AVX-512, and the time steps of the forward pass are dominated by it, so it is
    computed from ``exp`` by :func:`handgrad.fast._tanh_kernel.tanh64`.
    """
    if a.dtype != np.float64:
        np.tanh(a, out=a)
        return
    if work is None or one_plus_e is None:
        work, one_plus_e = np.empty((2, *a.shape))
    tanh64(a, a, one_plus_e, work)


def step_forward(x: np.ndarray, prev_h: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                 b: np.ndarray, *, activation: str = "tanh") -> tuple[np.ndarray, StepCache]:
    """One time step: ``next_h = f(x @ Wx + prev_h @ Wh + b)``; returns ``(next_h, cache)``.

    x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,); next_h (N, H).
    ``activation`` is ``"tanh"`` (default) or ``"relu"``.
    """
    op = "rnn.step_forward"
    check.float_array(op, "x", x, ndim=2)
    check.float_array(op, "prev_h", prev_h, ndim=2)
    if prev_h.shape[0] != x.shape[0]:
        raise ValueError(f"{op}: prev_h must have shape (N, H) with N = {x.shape[0]} to match "
                         f"x, got {prev_h.shape}")
    check_params(op, x.shape[1], "prev_h", prev_h, x, Wx, Wh, b, activation)
    next_h = x @ Wx
    next_h += prev_h @ Wh
    next_h += b
    if activation == "tanh":
        with np.errstate(under="ignore", over="ignore"):   # tanh64: exp(-2|a|) = 0, tanh +-1
            _tanh_inplace(next_h)
    else:
        np.maximum(next_h, 0, out=next_h)
    return next_h, (x, prev_h, Wx, Wh, next_h, activation)


def step_backward(dnext_h: np.ndarray, cache: StepCache
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dprev_h, dWx, dWh, db)`` for an upstream gradient ``dnext_h`` (N, H)."""
    op = "rnn.step_backward"
    x, prev_h, Wx, Wh, next_h, activation = cache
    check.float_array(op, "dnext_h", dnext_h)
    check.shape_is(op, "dnext_h", dnext_h, next_h.shape, "to match the forward output")
    check.same_dtype(op, x=x, dnext_h=dnext_h)
    if activation == "tanh":
        da = np.multiply(next_h, next_h)
        np.subtract(1, da, out=da)
        da *= dnext_h
    else:
        da = np.multiply(dnext_h, next_h > 0)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def forward(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, *,
            activation: str = "tanh") -> tuple[np.ndarray, Cache]:
    """Run the RNN over a batch of sequences; returns ``(h, cache)``.

    x (N, T, D) batch-first, h0 (N, H) the state before the first step, Wx (D, H), Wh (H, H),
    b (H,); h (N, T, H) with h[:, t] the state after step t. ``activation`` is ``"tanh"``
    (default) or ``"relu"``. The cache holds ``h`` itself: do not modify it in place before
    calling ``backward``.
    """
    op = "rnn.forward"
    check.float_array(op, "x", x, ndim=3)
    check.float_array(op, "h0", h0, ndim=2)
    n, t_steps, d = x.shape
    if t_steps == 0:
        raise ValueError(f"{op}: x must have at least one time step, got shape {x.shape}")
    if h0.shape[0] != n:
        raise ValueError(f"{op}: h0 must have shape (N, H) with N = {n} to match x, "
                         f"got {h0.shape}")
    check_params(op, d, "h0", h0, x, Wx, Wh, b, activation)
    x2d = x.reshape(n * t_steps, d)
    h = x2d @ Wx                                # input projection of every step in one GEMM
    h += b
    h = h.reshape(n, t_steps, -1)               # holds a_t until step t overwrites it with h_t
    rec, work, work2 = np.empty((3, n, h.shape[2]), dtype=h.dtype)  # scratch, one step each
    prev_h = h0
    with np.errstate(under="ignore", over="ignore"):   # tanh64: exp(-2|a|) = 0, tanh +-1
        for t in range(t_steps):
            np.matmul(prev_h, Wh, out=rec)      # rec = h_{t-1} @ Wh
            h_t = h[:, t]
            h_t += rec
            if activation == "tanh":
                _tanh_inplace(h_t, work, work2)
            else:
                np.maximum(h_t, 0, out=h_t)
            prev_h = h_t
    return h, (x2d, h0, Wx, Wh, h, activation)


def backward(dh: np.ndarray, cache: Cache, *, return_hidden_grads: bool = False
             ) -> tuple[np.ndarray, ...]:
    """Backpropagation through time; returns ``(dx, dh0, dWx, dWh, db)``.

    ``dh`` (N, T, H) is the upstream gradient of every hidden state. With
    ``return_hidden_grads=True`` a sixth element is returned: an (N, T, H) array whose [:, t]
    is the total gradient dL/dh_t reaching h_t (``dh[:, t]`` plus what flows back from step
    t + 1); its per-step norms show exploding or vanishing gradients.
    """
    op = "rnn.backward"
    x2d, h0, Wx, Wh, h, activation = cache
    check.float_array(op, "dh", dh)
    check.shape_is(op, "dh", dh, h.shape, "to match the forward output h")
    check.same_dtype(op, h=h, dh=dh)
    n, t_steps, n_h = h.shape
    # When requested, hidden_grads[:, t] must receive dL/dh_t (see the docstring).
    hidden_grads = np.zeros_like(h) if return_hidden_grads else None
    # da[:, t] = dL/da_t. It first holds f'(a_t), computed for all steps in one pass.
    da = np.empty_like(h)
    if activation == "tanh":
        np.multiply(h, h, out=da)
        np.subtract(1, da, out=da)
    else:
        np.greater(h, 0, out=da)
    grad = np.empty((n, n_h), dtype=h.dtype)    # dL/dh_t, the total gradient reaching h_t
    for t in range(t_steps - 1, -1, -1):
        if t == t_steps - 1:
            np.copyto(grad, dh[:, t])
        else:
            np.matmul(da[:, t + 1], Wh.T, out=grad)
            grad += dh[:, t]
        if hidden_grads is not None:
            hidden_grads[:, t] = grad
        da[:, t] *= grad
    dh0 = da[:, 0] @ Wh.T
    da2d = da.reshape(n * t_steps, n_h)
    dx = (da2d @ Wx.T).reshape(n, t_steps, -1)
    dWx = x2d.T @ da2d
    db = np.ones(n * t_steps, dtype=da.dtype) @ da2d
    # dWh = sum_t h_{t-1}.T @ da_t. In the flat (N*T, H) layout, row r of h2d is followed by
    # row r + 1 of da2d, the next step of the same sequence, except where a sequence ends and
    # the next begins: h2d[:-1].T @ da2d[1:] pairs h_{T-1} of sequence i with da_0 of sequence
    # i + 1 there. The second product removes those pairs and adds the h0 terms instead.
    h2d = h.reshape(n * t_steps, n_h)
    dWh = h2d[:-1].T @ da2d[1:]
    first_prev = h0.copy()                      # h_{-1} for step 0, minus the wrong pairs
    first_prev[1:] -= h[:-1, -1]
    dWh += first_prev.T @ da[:, 0]
    if hidden_grads is not None:
        return dx, dh0, dWx, dWh, db, hidden_grads
    return dx, dh0, dWx, dWh, db
