"""Tuned twin of :mod:`handgrad.layers.lstm`: the same functions, results and errors, faster.

Read :mod:`handgrad.layers.lstm` for the math. A sequence spends its time in the two small
matrix products of every step (``h_{t-1} @ Wh`` forward, ``da_t @ Wh.T`` backward), the
large products before and after the time loop, and about twenty elementwise passes over
(N, H)-sized arrays per step; this module keeps the products and makes the passes cheap:

- a batch of at least 2 * MIN_SLICE = 64 rows is cut into one slice per thread
  (:mod:`handgrad.fast._parts`), and each thread runs the whole recurrence of its rows,
  products included, with BLAS on one thread: the elementwise passes, which BLAS cannot
  share, then run on every core, and no BLAS thread spins between the steps;
- the arrays of all steps are time-major, (T, N, .), so that every step works on contiguous
  blocks, and every elementwise result is written in place into a preallocated buffer;
- all four gate nonlinearities come from one ``np.exp`` call over whole rows, through
  ``sigmoid(a) = 1 / (1 + exp(-a))`` and ``tanh(a) = 2 sigmoid(2a) - 1``: the columns of
  Wx, Wh and b are multiplied by -1 (i, f, o) and -2 (g) once per call (exact in binary
  floating point), then exp, + 1 and 1 / (.) cover all 4H columns, and two passes over the
  last H turn g's sigmoid into tanh. NumPy's exp is about twice as fast as its tanh (float32;
  more in float64), and three cheap passes follow instead of two. exp(-a) overflows to inf
  for a very negative a, where 1 / inf = 0 is the sigmoid's correct limit (the overflow
  warning is silenced there); g = 2 sigmoid(2a) - 1 is exact to an absolute 1e-16 (float64)
  near 0 instead of a relative one, which no gradient can tell apart;
- backward takes the slopes of all four nonlinearities from the gate outputs in two passes
  each (``y (1 - y)`` over the 3H sigmoid columns, ``1 - y^2`` over g's H), multiplies the
  gradients of the four gate outputs by them in one, and multiplies by a contiguous copy of
  ``Wh.T``, which BLAS runs faster than the transposed view;
- ``dWh`` is one product of the hidden states with the gate gradients shifted by one step
  (time-major, the previous step's states are exactly N rows earlier), plus the h0 term;
  ``db`` is a matrix-vector product.

``step_forward`` and ``step_backward`` are the readable ones: one step has nothing to reuse.
Caches are this module's own: pass a cache only to the ``backward`` of the module that made it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from handgrad import _validation as check
from handgrad.fast._parts import batch_slices, map_slices
from handgrad.layers.lstm import step_backward, step_forward

__all__ = ["Cache", "backward", "forward", "step_backward", "step_forward"]


class Part(NamedTuple):
    """The cache of one slice of the batch (N is the slice's batch size)."""

    x2d: np.ndarray        # (T*N, D): x time-major, step t in rows t*N .. t*N + N
    h0: np.ndarray         # (N, H)
    Wx: np.ndarray         # (D, 4H)
    Wh: np.ndarray         # (H, 4H)
    gates: np.ndarray      # (T, N, 4H): i, f, o, g of every step
    c: np.ndarray          # (T, N, H)
    tanh_c: np.ndarray     # (T, N, H)
    h: np.ndarray          # (T, N, H)


class Cache(NamedTuple):
    slices: list[slice]    # the slices of the batch computed on separate threads
    parts: list[Part]      # the cache of each slice


# Batch rows per thread at least. A slice's (rows, H) @ (H, 4H) products of every step run on
# one thread; with 32 rows they keep about 95% (float64) and 75% (float32) of the speed BLAS
# gets from two threads on twice the rows (OpenBLAS, measured), while the elementwise work of
# each step, which BLAS cannot share, runs on both cores: a clear gain in float64, about even
# in float32. Fewer rows lose more than they gain.
MIN_SLICE = 32


def forward(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
            ) -> tuple[np.ndarray, Cache]:
    """:func:`handgrad.layers.lstm.forward`, tuned: ``(h, cache)`` with h (N, T, H)."""
    op = "lstm.forward"
    n, t_steps, d, n_h = check.sequence_start(op, x, "h0", h0)
    check.gate_weights(op, x, "h0", h0, Wx, Wh, b, gates=4)
    h = np.empty((n, t_steps, n_h), dtype=x.dtype)
    slices = batch_slices(n, MIN_SLICE)
    parts = map_slices(lambda rows: _forward_part(x[rows], h0[rows], Wx, Wh, b, h[rows]),
                       slices)
    return h, Cache(slices, parts)


def _forward_part(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray,
                  b: np.ndarray, h_out: np.ndarray) -> Part:
    """The forward pass of one slice of the batch; writes its hidden states into h_out."""
    n, t_steps, d = x.shape
    n_h = h0.shape[1]
    dtype = x.dtype
    s = 3 * n_h                                         # columns 0 .. 3H are the sigmoid gates
    scale = np.full(4 * n_h, -1.0, dtype=dtype)
    scale[s:] = -2.0                                    # -a for i, f, o; -2a for g
    x2d = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(t_steps * n, d)
    gates = x2d @ (Wx * scale)
    gates += b * scale
    gates = gates.reshape(t_steps, n, 4 * n_h)
    wh_scaled = Wh * scale
    c = np.empty((t_steps, n, n_h), dtype=dtype)
    tanh_c = np.empty_like(c)
    h = np.empty_like(c)
    rec = np.empty((n, 4 * n_h), dtype=dtype)
    fc = np.empty((n, n_h), dtype=dtype)
    prev_h = h0
    with np.errstate(over="ignore"):                    # exp(-a) = inf is sigmoid(a) = 0
        for t in range(t_steps):
            a = gates[t]
            np.matmul(prev_h, wh_scaled, out=rec)
            a += rec
            np.exp(a, out=a)                            # sigmoid(a) = 1 / (1 + exp(-a)) and
            a += 1.0                                    # tanh(a) = 2 sigmoid(2a) - 1,
            np.divide(1.0, a, out=a)                    # whole rows at once
            i, f, o, g = a[:, :n_h], a[:, n_h:2 * n_h], a[:, 2 * n_h:s], a[:, s:]
            g *= 2.0
            g -= 1.0
            np.multiply(i, g, out=c[t])
            if t > 0:                                   # c_{-1} = 0
                np.multiply(f, c[t - 1], out=fc)
                c[t] += fc
            np.tanh(c[t], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=h[t])
            prev_h = h[t]
    h_out[...] = h.transpose(1, 0, 2)
    return Part(x2d, h0, Wx, Wh, gates, c, tanh_c, h)


def backward(dh: np.ndarray, cache: Cache, *, return_hidden_grads: bool = False
             ) -> tuple[np.ndarray, ...]:
    """:func:`handgrad.layers.lstm.backward`, tuned: ``(dx, dh0, dWx, dWh, db)``, and the
    (N, T, H) gradients reaching every hidden state with ``return_hidden_grads=True``."""
    op = "lstm.backward"
    slices, parts = cache
    n = slices[-1].stop
    t_steps, _, n_h = parts[0].h.shape
    d = parts[0].Wx.shape[0]
    dtype = parts[0].h.dtype
    check.float_array(op, "dh", dh)
    check.shape_is(op, "dh", dh, (n, t_steps, n_h), "to match the forward output h")
    check.same_dtype(op, h=parts[0].h, dh=dh)
    dx = np.empty((n, t_steps, d), dtype=dtype)
    dh0 = np.empty((n, n_h), dtype=dtype)
    hidden_grads = np.empty((n, t_steps, n_h), dtype=dtype) if return_hidden_grads else None

    def run(rows: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _backward_part(dh[rows], parts[slices.index(rows)], dx[rows], dh0[rows],
                              None if hidden_grads is None else hidden_grads[rows])

    per_slice = map_slices(run, slices)
    dWx, dWh, db = per_slice[0]
    for more in per_slice[1:]:                          # sums over the batch, in slice order
        dWx, dWh, db = dWx + more[0], dWh + more[1], db + more[2]
    if hidden_grads is not None:
        return dx, dh0, dWx, dWh, db, hidden_grads
    return dx, dh0, dWx, dWh, db


def _backward_part(dh: np.ndarray, cache: Part, dx_out: np.ndarray, dh0_out: np.ndarray,
                   hidden_out: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backpropagation through time for one slice: writes dx, dh0 (and the hidden-state
    gradients) into the given views, returns the slice's (dWx, dWh, db)."""
    x2d, h0, Wx, Wh, gates, c, tanh_c, h = cache
    t_steps, n, n_h = h.shape
    s = 3 * n_h
    dtype = h.dtype
    da = np.empty_like(gates)
    dnext_h = np.zeros((n, n_h), dtype=dtype)
    dnext_c = np.zeros((n, n_h), dtype=dtype)
    hidden_grads = np.empty_like(h) if hidden_out is not None else None     # (T, N, H)
    dh_t_buffer = np.empty((n, n_h), dtype=dtype)       # dL/dh_t when it is not kept
    dc = np.empty((n, n_h), dtype=dtype)
    slope = np.empty((n, 4 * n_h), dtype=dtype)
    wh_t = np.ascontiguousarray(Wh.T)                   # BLAS is faster on it than on a view
    dh_tm = np.ascontiguousarray(dh.transpose(1, 0, 2))  # (T, N, H): one block per step
    for t in range(t_steps - 1, -1, -1):
        gates_t, tc, da_t = gates[t], tanh_c[t], da[t]
        i, f, o, g = gates_t[:, :n_h], gates_t[:, n_h:2 * n_h], gates_t[:, 2 * n_h:s], \
            gates_t[:, s:]
        da_i, da_f, da_o, da_g = da_t[:, :n_h], da_t[:, n_h:2 * n_h], da_t[:, 2 * n_h:s], \
            da_t[:, s:]
        dh_t = hidden_grads[t] if hidden_grads is not None else dh_t_buffer
        np.add(dh_tm[t], dnext_h, out=dh_t)
        np.multiply(tc, tc, out=dc)                     # dc = dnext_c + dh_t o (1 - tanh_c^2)
        np.subtract(1.0, dc, out=dc)
        dc *= o
        dc *= dh_t
        dc += dnext_c
        np.subtract(1.0, gates_t[:, :s], out=slope[:, :s])     # y (1 - y) for i, f, o
        slope[:, :s] *= gates_t[:, :s]
        np.multiply(g, g, out=slope[:, s:])             # 1 - y^2 for g
        np.subtract(1.0, slope[:, s:], out=slope[:, s:])
        np.multiply(dc, g, out=da_i)                    # the gradients of the gate outputs,
        if t > 0:
            np.multiply(dc, c[t - 1], out=da_f)
        else:
            da_f.fill(0.0)                              # c_{-1} = 0
        np.multiply(dh_t, tc, out=da_o)
        np.multiply(dc, i, out=da_g)
        da_t *= slope                                   # then through the nonlinearities
        np.multiply(dc, f, out=dnext_c)
        np.matmul(da_t, wh_t, out=dnext_h)
    da2d = da.reshape(t_steps * n, 4 * n_h)
    dx_out[...] = (da2d @ Wx.T).reshape(t_steps, n, -1).transpose(1, 0, 2)
    dh0_out[...] = dnext_h
    if hidden_out is not None and hidden_grads is not None:
        hidden_out[...] = hidden_grads.transpose(1, 0, 2)
    dWx = x2d.T @ da2d
    db = np.ones(t_steps * n, dtype=dtype) @ da2d
    # dWh = sum_t h_{t-1}.T @ da_t: time-major, the rows of h_{t-1} are N rows before those of
    # da_t, so one product covers steps 1 .. T-1 and h0 comes in for step 0.
    h2d = h.reshape(t_steps * n, n_h)
    dWh = h2d[:-n].T @ da2d[n:]
    dWh += h0.T @ da[0]
    return dWx, dWh, db
