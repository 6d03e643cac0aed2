"""Vanilla recurrent layer (Elman RNN), batch-first, with a tanh (default) or ReLU activation.

One step::

    a_t = x_t @ Wx + h_{t-1} @ Wh + b          # (N, H)
    h_t = f(a_t)                               # f = tanh (default) or relu

Shapes: x_t (N, D), h_{t-1} (N, H), Wx (D, H), Wh (H, H), b (H,). Over a sequence, x is
(N, T, D), h0 is (N, H) and the output h is (N, T, H), h[:, t] = h_t (h_{-1} = h0).

BEGIN DERIVATION
Local gradients of one step, with ``da = dh_t * f'(a_t)`` where ``f'(a) = 1 - h_t ** 2`` for tanh
and ``1[h_t > 0]`` for relu::

    dx_t = da @ Wx.T        dh_{t-1} = da @ Wh.T        db = da.sum(axis=0)
    dWx  = x_t.T @ da       dWh      = h_{t-1}.T @ da

Backpropagation through time runs the steps backwards; the gradient reaching h_t is the upstream
``dh[:, t]`` plus what flows back from step t + 1 (``da_{t+1} @ Wh.T``), and the weight gradients
sum over steps. Only that recursion needs a loop: the input projection ``x @ Wx + b`` of all
steps is one (N*T, D) @ (D, H) product in ``forward``, and ``dWx``, ``dx``, ``db`` and ``dWh`` are
single large products over all steps in ``backward``.
END DERIVATION

:mod:`handgrad.fast.rnn` is a tuned twin with the same contract.

The cache of ``forward`` holds the returned ``h`` (not a copy): do not modify ``h`` in place before
calling ``backward``.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

ACTIVATIONS = ("tanh", "relu")

# step: (x, prev_h, Wx, Wh, next_h, activation)
StepCache = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]
# sequence: (x2d of shape (N*T, D), h0, Wx, Wh, h of shape (N, T, H), activation)
Cache = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]


def check_params(op: str, d: int, h_name: str, h: np.ndarray, x: np.ndarray,
                  Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, activation: str) -> None:
    """Check that Wx (D, H), Wh (H, H), b (H,) match x's D and the hidden state's H."""
    check.float_array(op, "Wx", Wx, ndim=2)
    check.float_array(op, "Wh", Wh, ndim=2)
    check.float_array(op, "b", b, ndim=1)
    check.same_dtype(op, x=x, **{h_name: h}, Wx=Wx, Wh=Wh, b=b)
    check.choice(op, "activation", activation, ACTIVATIONS)
    n_h = h.shape[1]
    if Wx.shape != (d, n_h):
        raise ValueError(f"{op}: Wx must have shape (D, H) = ({d}, {n_h}) to match x and "
                         f"{h_name}, got {Wx.shape}")
    if Wh.shape != (n_h, n_h):
        raise ValueError(f"{op}: Wh must have shape (H, H) = ({n_h}, {n_h}) to match {h_name}, "
                         f"got {Wh.shape}")
    if b.shape != (n_h,):
        raise ValueError(f"{op}: b must have shape (H,) = ({n_h},) to match {h_name}, "
                         f"got {b.shape}")


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
    # BEGIN SOLUTION hint: the one-step formula above, with the activation named by `activation`
    a = x @ Wx + prev_h @ Wh + b
    next_h = np.tanh(a) if activation == "tanh" else np.maximum(a, 0)
    # END SOLUTION
    return next_h, (x, prev_h, Wx, Wh, next_h, activation)


def step_backward(dnext_h: np.ndarray, cache: StepCache
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dprev_h, dWx, dWh, db)`` for an upstream gradient ``dnext_h`` (N, H)."""
    op = "rnn.step_backward"
    x, prev_h, Wx, Wh, next_h, activation = cache
    check.float_array(op, "dnext_h", dnext_h)
    check.shape_is(op, "dnext_h", dnext_h, next_h.shape, "to match the forward output")
    check.same_dtype(op, x=x, dnext_h=dnext_h)
    # BEGIN SOLUTION hint: first the gradient at the pre-activation, from the cached next_h
    if activation == "tanh":
        da = dnext_h * (1 - next_h ** 2)
    else:
        da = dnext_h * (next_h > 0)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    # END SOLUTION
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
    # BEGIN SOLUTION hint: project the inputs of all steps in one product, then loop over time
    x_proj = (x2d @ Wx + b).reshape(n, t_steps, -1)    # the input part of every step's a_t
    h = np.empty_like(x_proj)                           # (N, T, H)
    prev_h = h0
    for t in range(t_steps):
        a = x_proj[:, t] + prev_h @ Wh                  # (N, H)
        h[:, t] = np.tanh(a) if activation == "tanh" else np.maximum(a, 0)
        prev_h = h[:, t]
    # END SOLUTION
    return h, (x2d, h0, Wx, Wh, h, activation)


def backward(dh: np.ndarray, cache: Cache, *, return_hidden_grads: bool = False
             ) -> tuple[np.ndarray, ...]:
    """Backpropagation through time; returns ``(dx, dh0, dWx, dWh, db)``.

    ``dh`` (N, T, H) is the upstream gradient of every hidden state. With
    ``return_hidden_grads=True`` a sixth element is returned: an (N, T, H) array whose [:, t]
    is the total gradient dL/dh_t reaching h_t, from the loss at step t and from all later
    steps; its per-step norms show exploding or vanishing gradients.
    """
    op = "rnn.backward"
    x2d, h0, Wx, Wh, h, activation = cache
    check.float_array(op, "dh", dh)
    check.shape_is(op, "dh", dh, h.shape, "to match the forward output h")
    check.same_dtype(op, h=h, dh=dh)
    n, t_steps, n_h = h.shape
    # When requested, hidden_grads[:, t] must receive dL/dh_t (see the docstring).
    hidden_grads = np.zeros_like(h) if return_hidden_grads else None
    # BEGIN SOLUTION hint: loop from the last step to the first; what else reaches h_t but dh?
    da = np.empty_like(h)                               # (N, T, H): dL/da_t of every step
    dnext_h = np.zeros_like(h0)                         # gradient from step t + 1 into h_t
    for t in range(t_steps - 1, -1, -1):
        dh_t = dh[:, t] + dnext_h                       # all the gradient reaching h_t
        if hidden_grads is not None:
            hidden_grads[:, t] = dh_t
        if activation == "tanh":
            da[:, t] = dh_t * (1 - h[:, t] ** 2)
        else:
            da[:, t] = dh_t * (h[:, t] > 0)
        dnext_h = da[:, t] @ Wh.T
    dh0 = dnext_h
    da2d = da.reshape(n * t_steps, n_h)
    dx = (da2d @ Wx.T).reshape(n, t_steps, -1)
    dWx = x2d.T @ da2d
    db = da2d.sum(axis=0)
    # h_{t-1} of every step: h0, then h shifted by one step, as one (N*T, H) matrix
    prev_h = np.concatenate([h0[:, None], h[:, :-1]], axis=1).reshape(n * t_steps, n_h)
    dWh = prev_h.T @ da2d
    # END SOLUTION
    if hidden_grads is not None:  # return_hidden_grads
        return dx, dh0, dWx, dWh, db, hidden_grads
    return dx, dh0, dWx, dWh, db
