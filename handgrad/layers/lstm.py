"""Long short-term memory (LSTM) layer, batch-first, with a cell state and four gates.

One step, from the input x_t, the previous hidden state h_{t-1} and the previous cell state
c_{t-1}::

    a   = x_t @ Wx + h_{t-1} @ Wh + b          # (N, 4H): four pre-activations side by side
    i   = sigmoid(a[:, 0H:1H])                 # input gate:  how much of g to write
    f   = sigmoid(a[:, 1H:2H])                 # forget gate: how much of c_{t-1} to keep
    o   = sigmoid(a[:, 2H:3H])                 # output gate: how much of the memory to show
    g   = tanh(a[:, 3H:4H])                    # candidate values to write
    c_t = f * c_{t-1} + i * g                  # (N, H) the new cell state (the memory)
    h_t = o * tanh(c_t)                        # (N, H) the new hidden state (the output)

The gates are stacked in the order **i, f, o, g** along the columns of Wx, Wh and b (the order
of CS231n; PyTorch's ``nn.LSTM`` stacks the rows of its weights as i, f, g, o). Keeping the three
sigmoid gates next to each other lets one sigmoid call cover columns 0 to 3H.

Shapes: x_t (N, D), h_{t-1} and c_{t-1} (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,). Over a
sequence, x is (N, T, D), h0 is (N, H) and the output h is (N, T, H), h[:, t] = h_t. The
sequence starts from the hidden state h0 and from an empty memory, ``c_{-1} = 0`` (as in
CS231n, and as ``nn.LSTM`` with its default zero state): the gradient count of ``backward``
then never depends on an option. To carry the memory across calls (truncated backpropagation
through time), drive ``step_forward`` yourself: it takes and returns the cell state.

Local gradients of one step, from the upstream gradients dh_t and dc_t (what reaches the new
states from the loss and from step t + 1)::

    BEGIN DERIVATION
    dc   = dc_t + dh_t * o * (1 - tanh(c_t) ** 2)      (all the gradient reaching c_t)
    di   = dc * g          df = dc * c_{t-1}          do = dh_t * tanh(c_t)       dg = dc * i
    da   = [di * i * (1 - i),  df * f * (1 - f),  do * o * (1 - o),  dg * (1 - g ** 2)]
    dx_t = da @ Wx.T       dh_{t-1} = da @ Wh.T       dc_{t-1} = dc * f
    dWx  = x_t.T @ da      dWh = h_{t-1}.T @ da       db = da.sum(axis=0)

    The memory path c_{t-1} -> c_t is multiplied only by the forget gate, with no weight matrix
    and no squashing in between: while f stays near 1 the gradient travels back through many
    steps without vanishing, which is what the LSTM was designed for.
    END DERIVATION

Over a sequence, backpropagation through time runs the steps backwards; the weight gradients
sum over the steps. Only the recursion needs a loop: the input projection ``x @ Wx + b`` of all
steps is one (N*T, D) @ (D, 4H) product in ``forward``, and ``dx``, ``dWx``, ``dWh`` and ``db``
are single large products over all steps in ``backward``.

Stability: the sigmoid is evaluated as ``e / (1 + e)`` with ``e = exp(min(a, cap))`` (never
overflows), the tanh with ``np.tanh``; pre-activations of +-1e3 give finite values and
gradients, with no warning.

The caches hold the arrays they were given and the returned h (not copies): do not modify
them in place before calling ``backward``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from handgrad import _validation as check

# exp(cap) is finite and cap is far enough that e / (1 + e) already rounds to 1.
SIGMOID_CAP = {np.dtype(np.float32): 80.0, np.dtype(np.float64): 700.0}


class StepCache(NamedTuple):
    x: np.ndarray          # (N, D)
    prev_h: np.ndarray     # (N, H)
    prev_c: np.ndarray     # (N, H)
    Wx: np.ndarray         # (D, 4H)
    Wh: np.ndarray         # (H, 4H)
    gates: np.ndarray      # (N, 4H): i, f, o after the sigmoid, g after the tanh
    tanh_c: np.ndarray     # (N, H): tanh(next_c)


class Cache(NamedTuple):
    x2d: np.ndarray        # (N*T, D), x with the time steps as rows
    h0: np.ndarray         # (N, H)
    Wx: np.ndarray         # (D, 4H)
    Wh: np.ndarray         # (H, 4H)
    gates: np.ndarray      # (N, T, 4H): i, f, o, g of every step
    c: np.ndarray          # (N, T, H): the cell state after every step
    tanh_c: np.ndarray     # (N, T, H): tanh(c)
    h: np.ndarray          # (N, T, H): the returned hidden states


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-a))`` computed as ``e / (1 + e)``, ``e = exp(min(a, cap))``: no overflow
    for any a (very negative a gives e = 0, hence 0; very positive a gives 1)."""
    with np.errstate(under="ignore"):           # exp(-1000) = 0 is the right answer
        e = np.exp(np.minimum(a, SIGMOID_CAP[a.dtype]))
    return e / (1.0 + e)


def step_forward(x: np.ndarray, prev_h: np.ndarray, prev_c: np.ndarray, Wx: np.ndarray,
                 Wh: np.ndarray, b: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, StepCache]:
    """One LSTM step; returns ``(next_h, next_c, cache)``.

    x (N, D), prev_h (N, H), prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,) with the gates
    in the order i, f, o, g; next_h and next_c (N, H).
    """
    op = "lstm.step_forward"
    check.float_array(op, "x", x, ndim=2)
    check.float_array(op, "prev_h", prev_h, ndim=2)
    check.float_array(op, "prev_c", prev_c, ndim=2)
    check.shape_is(op, "prev_h", prev_h, (x.shape[0], prev_h.shape[1]),
                   f"= (N, H) with N = {x.shape[0]} to match x")
    check.shape_is(op, "prev_c", prev_c, prev_h.shape, "= (N, H) to match prev_h")
    check.same_dtype(op, prev_h=prev_h, prev_c=prev_c)
    check.gate_weights(op, x, "prev_h", prev_h, Wx, Wh, b, gates=4)
    n_h = prev_h.shape[1]
    # BEGIN SOLUTION hint: one pre-activation for all four gates, then slice it into i, f, o, g
    a = x @ Wx + prev_h @ Wh + b                        # (N, 4H)
    gates = np.empty_like(a)
    gates[:, :3 * n_h] = _sigmoid(a[:, :3 * n_h])       # i, f, o
    gates[:, 3 * n_h:] = np.tanh(a[:, 3 * n_h:])        # g
    i, f, o, g = np.split(gates, 4, axis=1)
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    # END SOLUTION
    return next_h, next_c, StepCache(x, prev_h, prev_c, Wx, Wh, gates, tanh_c)


def step_backward(dnext_h: np.ndarray, dnext_c: np.ndarray, cache: StepCache
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                             np.ndarray]:
    """Return ``(dx, dprev_h, dprev_c, dWx, dWh, db)`` for the upstream gradients ``dnext_h``
    and ``dnext_c`` (N, H) of the two states ``step_forward`` returned."""
    op = "lstm.step_backward"
    x, prev_h, prev_c, Wx, Wh, gates, tanh_c = cache
    for name, grad in (("dnext_h", dnext_h), ("dnext_c", dnext_c)):
        check.float_array(op, name, grad)
        check.shape_is(op, name, grad, tanh_c.shape, "to match the forward output")
    check.same_dtype(op, x=x, dnext_h=dnext_h, dnext_c=dnext_c)
    # BEGIN SOLUTION hint: first all the gradient reaching next_c, then each gate's pre-activation
    i, f, o, g = np.split(gates, 4, axis=1)
    dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)
    di = dc * g
    df = dc * prev_c
    do = dnext_h * tanh_c
    dg = dc * i
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o),
                         dg * (1 - g ** 2)], axis=1)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dprev_c = dc * f
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    # END SOLUTION
    return dx, dprev_h, dprev_c, dWx, dWh, db


def forward(x: np.ndarray, h0: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
            ) -> tuple[np.ndarray, Cache]:
    """Run the LSTM over a batch of sequences; returns ``(h, cache)``.

    x (N, T, D) batch-first, h0 (N, H) the hidden state before the first step (the cell state
    starts at 0), Wx (D, 4H), Wh (H, 4H), b (4H,) with the gates in the order i, f, o, g;
    h (N, T, H) with h[:, t] the hidden state after step t.
    """
    op = "lstm.forward"
    n, t_steps, d, n_h = check.sequence_start(op, x, "h0", h0)
    check.gate_weights(op, x, "h0", h0, Wx, Wh, b, gates=4)
    x2d = x.reshape(n * t_steps, d)
    # BEGIN SOLUTION hint: project the inputs of all steps at once, then run the steps in order
    x_proj = (x2d @ Wx + b).reshape(n, t_steps, 4 * n_h)   # the input part of every step's a
    gates = np.empty((n, t_steps, 4 * n_h), dtype=x.dtype)
    c = np.empty((n, t_steps, n_h), dtype=x.dtype)
    tanh_c = np.empty_like(c)
    h = np.empty_like(c)
    prev_h, prev_c = h0, np.zeros_like(h0)
    for t in range(t_steps):
        a = x_proj[:, t] + prev_h @ Wh                  # (N, 4H)
        gates[:, t, :3 * n_h] = _sigmoid(a[:, :3 * n_h])
        gates[:, t, 3 * n_h:] = np.tanh(a[:, 3 * n_h:])
        i, f, o, g = np.split(gates[:, t], 4, axis=1)
        c[:, t] = f * prev_c + i * g
        tanh_c[:, t] = np.tanh(c[:, t])
        h[:, t] = o * tanh_c[:, t]
        prev_h, prev_c = h[:, t], c[:, t]
    # END SOLUTION
    return h, Cache(x2d, h0, Wx, Wh, gates, c, tanh_c, h)


def backward(dh: np.ndarray, cache: Cache, *, return_hidden_grads: bool = False
             ) -> tuple[np.ndarray, ...]:
    """Backpropagation through time; returns ``(dx, dh0, dWx, dWh, db)``.

    ``dh`` (N, T, H) is the upstream gradient of every hidden state the forward returned.
    With ``return_hidden_grads=True`` a sixth element is returned, as for the RNN: an
    (N, T, H) array whose [:, t] is the total gradient dL/dh_t reaching h_t (``dh[:, t]``
    plus what flows back from step t + 1); its per-step norms show how far gradients travel.
    """
    op = "lstm.backward"
    x2d, h0, Wx, Wh, gates, c, tanh_c, h = cache
    check.float_array(op, "dh", dh)
    check.shape_is(op, "dh", dh, h.shape, "to match the forward output h")
    check.same_dtype(op, h=h, dh=dh)
    n, t_steps, n_h = h.shape
    # When requested, hidden_grads[:, t] must receive dL/dh_t (see the docstring).
    hidden_grads = np.zeros_like(h) if return_hidden_grads else None
    # BEGIN SOLUTION hint: loop t from T-1 down carrying dh and dc; the weights after the loop
    da = np.empty_like(gates)                           # (N, T, 4H): dL/da_t of every step
    dnext_h = np.zeros_like(h0)                         # gradient from step t + 1 into h_t
    dnext_c = np.zeros_like(h0)                         # ... and into c_t
    for t in range(t_steps - 1, -1, -1):
        i, f, o, g = np.split(gates[:, t], 4, axis=1)
        prev_c = c[:, t - 1] if t > 0 else np.zeros_like(h0)
        dh_t = dh[:, t] + dnext_h
        if hidden_grads is not None:
            hidden_grads[:, t] = dh_t
        dc = dnext_c + dh_t * o * (1 - tanh_c[:, t] ** 2)
        da[:, t, 0 * n_h:1 * n_h] = dc * g * i * (1 - i)
        da[:, t, 1 * n_h:2 * n_h] = dc * prev_c * f * (1 - f)
        da[:, t, 2 * n_h:3 * n_h] = dh_t * tanh_c[:, t] * o * (1 - o)
        da[:, t, 3 * n_h:4 * n_h] = dc * i * (1 - g ** 2)
        dnext_h = da[:, t] @ Wh.T
        dnext_c = dc * f
    dh0 = dnext_h
    da2d = da.reshape(n * t_steps, 4 * n_h)
    dx = (da2d @ Wx.T).reshape(n, t_steps, -1)
    dWx = x2d.T @ da2d
    db = da2d.sum(axis=0)
    # h_{t-1} of every step: h0, then h shifted by one step, as one (N*T, H) matrix
    prev_h = np.concatenate([h0[:, None], h[:, :-1]], axis=1).reshape(n * t_steps, n_h)
    dWh = prev_h.T @ da2d
    # END SOLUTION
    if hidden_grads is not None:
        return dx, dh0, dWx, dWh, db, hidden_grads
    return dx, dh0, dWx, dWh, db
