"""rnn: step and sequence forward against plain loops and hand-worked numbers, BPTT gradients
against centred differences, the hidden-state gradients, dtypes, mutation and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from handgrad.layers import rnn


def num_grad(f, x, dout, h=1e-6):
    """Centred-difference gradient of sum(f(x) * dout) with respect to x (float64, in place)."""
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = np.sum(f(x) * dout)
        x[idx] = old - h
        minus = np.sum(f(x) * dout)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)) + np.max(np.abs(b)), 1e-300)


def act(a, activation):
    return np.tanh(a) if activation == "tanh" else np.where(a > 0, a, 0.0)


def loop_rnn(x, h0, Wx, Wh, b, activation="tanh", bump=None):
    """Textbook forward, one example and one step at a time; returns (h, pre-activations).

    ``bump`` (N, T, H), if given, is added to each hidden state right after it is computed (so
    that d loss / d bump[:, t] is the total gradient reaching h_t).
    """
    n, t_steps, _ = x.shape
    hidden = Wh.shape[0]
    h = np.zeros((n, t_steps, hidden))
    a = np.zeros((n, t_steps, hidden))
    for i in range(n):
        prev = h0[i]
        for t in range(t_steps):
            a[i, t] = x[i, t] @ Wx + prev @ Wh + b
            h[i, t] = act(a[i, t], activation)
            if bump is not None:
                h[i, t] += bump[i, t]
            prev = h[i, t]
    return h, a


def params(rng, n, t_steps, d, hidden, dtype=np.float64, scale=1.0):
    x = rng.standard_normal((n, t_steps, d)) * scale
    h0 = rng.standard_normal((n, hidden)) * 0.5
    Wx = rng.standard_normal((d, hidden)) / np.sqrt(d)
    Wh = rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)
    b = rng.standard_normal(hidden) * 0.3
    return tuple(a.astype(dtype) for a in (x, h0, Wx, Wh, b))


def far_from_kinks(x, h0, Wx, Wh, b):
    """ReLU is not differentiable at 0: numerical checks need every |a| well above h."""
    _, a = loop_rnn(x, h0, Wx, Wh, b, "relu")
    return np.min(np.abs(a)) > 1e-4


SHAPES = [(2, 3, 4, 5), (1, 1, 3, 2), (3, 4, 1, 1), (4, 2, 3, 6), (1, 5, 2, 3)]


# ------------------------------------------------------------------------------------ step
def test_step_forward_hand_worked():
    # a = 2 * 0.5 + 0.5 * (-1) + 0.25 = 0.75; tanh(0.75) = 0.635148952387...
    args = (np.array([[2.0]]), np.array([[0.5]]), np.array([[0.5]]), np.array([[-1.0]]),
            np.array([0.25]))
    h, _ = rnn.step_forward(*args)
    np.testing.assert_allclose(h, [[0.6351489523872873]], rtol=1e-14)
    h_relu, _ = rnn.step_forward(*args, activation="relu")
    np.testing.assert_allclose(h_relu, [[0.75]], rtol=1e-15)
    neg = (args[0], args[1], args[2], args[3], np.array([-1.0]))   # a = -0.25
    np.testing.assert_array_equal(rnn.step_forward(*neg, activation="relu")[0], [[0.0]])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_step_forward_matches_formula(activation):
    rng = np.random.default_rng(1)
    x, h0, Wx, Wh, b = params(rng, 3, 1, 4, 5)
    h, _ = rnn.step_forward(x[:, 0], h0, Wx, Wh, b, activation=activation)
    for i in range(3):
        a = [b[k] + sum(x[i, 0, j] * Wx[j, k] for j in range(4))
             + sum(h0[i, j] * Wh[j, k] for j in range(5)) for k in range(5)]
        np.testing.assert_allclose(h[i], act(np.array(a), activation), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("n, d, hidden, seed", [(3, 4, 5, 0), (1, 2, 3, 1), (4, 1, 1, 2),
                                                (2, 6, 3, 3)])
def test_step_backward_matches_numerical(n, d, hidden, seed, activation):
    x, h0, Wx, Wh, b = params(np.random.default_rng([seed, n, d, hidden]), n, 1, d, hidden)
    x = x[:, 0]
    if activation == "relu":
        assert far_from_kinks(x[:, None], h0, Wx, Wh, b)

    def f(*args):
        return rnn.step_forward(*args, activation=activation)[0]

    out, cache = rnn.step_forward(x, h0, Wx, Wh, b, activation=activation)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    grads = rnn.step_backward(dout, cache)
    args = [x, h0, Wx, Wh, b]
    for k, g in enumerate(grads):
        def f_k(v, k=k):
            return f(*(args[:k] + [v] + args[k + 1:]))
        assert g.shape == args[k].shape
        assert rel_error(g, num_grad(f_k, args[k].copy(), dout)) < 1e-7, f"gradient {k}"


# -------------------------------------------------------------------------------- sequence
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("n, t_steps, d, hidden", SHAPES)
def test_forward_matches_loop_and_repeated_steps(n, t_steps, d, hidden, activation):
    x, h0, Wx, Wh, b = params(np.random.default_rng([n, t_steps, d, hidden]), n, t_steps, d,
                              hidden)
    h, _ = rnn.forward(x, h0, Wx, Wh, b, activation=activation)
    assert h.shape == (n, t_steps, hidden)
    np.testing.assert_allclose(h, loop_rnn(x, h0, Wx, Wh, b, activation)[0],
                               rtol=1e-12, atol=1e-14)
    prev = h0
    for t in range(t_steps):
        prev, _ = rnn.step_forward(x[:, t], prev, Wx, Wh, b, activation=activation)
        np.testing.assert_allclose(h[:, t], prev, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n, t_steps, d, hidden", SHAPES)
def test_backward_matches_numerical(n, t_steps, d, hidden, seed, activation):
    rng = np.random.default_rng([seed, n, t_steps, d, hidden])
    x, h0, Wx, Wh, b = params(rng, n, t_steps, d, hidden)
    if activation == "relu":
        assert far_from_kinks(x, h0, Wx, Wh, b)

    def f(*args):
        return rnn.forward(*args, activation=activation)[0]

    h, cache = rnn.forward(x, h0, Wx, Wh, b, activation=activation)
    dh = rng.standard_normal(h.shape)
    grads = rnn.backward(dh, cache)
    args = [x, h0, Wx, Wh, b]
    assert len(grads) == 5
    for k, g in enumerate(grads):
        def f_k(v, k=k):
            return f(*(args[:k] + [v] + args[k + 1:]))
        assert g.shape == args[k].shape
        assert rel_error(g, num_grad(f_k, args[k].copy(), dh)) < 1e-7, f"gradient {k}"


def test_backward_of_one_step_equals_step_backward():
    x, h0, Wx, Wh, b = params(np.random.default_rng(5), 3, 1, 4, 2)
    _, cache = rnn.forward(x, h0, Wx, Wh, b)
    _, step_cache = rnn.step_forward(x[:, 0], h0, Wx, Wh, b)
    dh = np.random.default_rng(6).standard_normal((3, 1, 2))
    seq = rnn.backward(dh, cache)
    step = rnn.step_backward(dh[:, 0], step_cache)
    np.testing.assert_allclose(seq[0][:, 0], step[0], rtol=1e-13)
    for g_seq, g_step in zip(seq[1:], step[1:], strict=True):
        np.testing.assert_allclose(g_seq, g_step, rtol=1e-13, atol=1e-15)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(7)
    x_big = rng.standard_normal((3, 8, 6))
    x = x_big[:, ::2, 1:4]                                      # (3, 4, 3) strided view
    h0 = np.asfortranarray(rng.standard_normal((3, 4)) * 0.5)
    Wx = np.asfortranarray(rng.standard_normal((3, 4)) * 0.5)
    Wh = (rng.standard_normal((4, 8)) * 0.5)[:, ::2]            # (4, 4) strided view
    b = (rng.standard_normal(8) * 0.3)[1::2]
    h, cache = rnn.forward(x, h0, Wx, Wh, b)
    np.testing.assert_allclose(h, loop_rnn(x, h0, Wx, Wh, b)[0], rtol=1e-12, atol=1e-14)
    dh = np.asfortranarray(rng.standard_normal(h.shape))
    grads = rnn.backward(dh, cache)
    args = [np.ascontiguousarray(a) for a in (x, h0, Wx, Wh, b)]
    for k, g in enumerate(grads):
        def f_k(v, k=k):
            return rnn.forward(*(args[:k] + [v] + args[k + 1:]))[0]
        assert rel_error(g, num_grad(f_k, args[k].copy(), dh)) < 1e-7, f"gradient {k}"


# ----------------------------------------------------------------- hidden-state gradients
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_hidden_grads_are_the_total_gradient_reaching_each_state(activation):
    rng = np.random.default_rng(8)
    x, h0, Wx, Wh, b = params(rng, 2, 4, 3, 3)
    if activation == "relu":
        assert far_from_kinks(x, h0, Wx, Wh, b)
    h, cache = rnn.forward(x, h0, Wx, Wh, b, activation=activation)
    dh = rng.standard_normal(h.shape)
    *grads, hidden = rnn.backward(dh, cache, return_hidden_grads=True)
    plain = rnn.backward(dh, cache)
    for g, p in zip(grads, plain, strict=True):
        np.testing.assert_array_equal(g, p)
    assert hidden.shape == h.shape and hidden.dtype == h.dtype
    np.testing.assert_array_equal(hidden[:, -1], dh[:, -1])
    # dL/dh_t, with L = sum(h * dh), is the gradient with respect to a bump added to h_t.
    bump = np.zeros(h.shape)
    numeric = num_grad(lambda v: loop_rnn(x, h0, Wx, Wh, b, activation, bump=v)[0], bump, dh)
    assert rel_error(hidden, numeric) < 1e-7


def test_hidden_grads_with_diagonal_wh_follow_the_recursion():
    """Diagonal Wh = diag(w): dL/dh_t = dh_t + dL/dh_{t+1} * w * (1 - h_{t+1}^2), elementwise.

    With small inputs tanh is nearly linear, so with dh only at the last step the gradient
    shrinks by about w per step back in time (vanishing for |w| < 1).
    """
    rng = np.random.default_rng(9)
    n, t_steps, d = 2, 12, 3
    w = np.array([0.5, 0.9, -0.8])
    x = rng.standard_normal((n, t_steps, d)) * 1e-3
    h0 = rng.standard_normal((n, 3)) * 1e-3
    Wx, b = rng.standard_normal((d, 3)), np.zeros(3)
    h, cache = rnn.forward(x, h0, Wx, np.diag(w), b)
    dh = np.zeros(h.shape)
    dh[:, -1] = rng.standard_normal((n, 3))
    hidden = rnn.backward(dh, cache, return_hidden_grads=True)[5]
    h_ref = loop_rnn(x, h0, Wx, np.diag(w), b)[0]
    expected = np.zeros(h.shape)
    expected[:, -1] = dh[:, -1]
    for t in range(t_steps - 2, -1, -1):
        expected[:, t] = dh[:, t] + expected[:, t + 1] * w * (1 - h_ref[:, t + 1] ** 2)
    np.testing.assert_allclose(hidden, expected, rtol=1e-12, atol=1e-300)
    steps_back = np.arange(t_steps - 1, -1, -1)[None, :, None]
    np.testing.assert_allclose(hidden, dh[:, -1:] * w ** steps_back, rtol=1e-3)
    norms = np.linalg.norm(hidden, axis=(0, 2))
    assert np.all(np.diff(norms) > 0)            # vanishing towards the start of the sequence


def test_relu_rnn_with_diagonal_wh_explodes_by_the_known_factor():
    """Positive inputs and weights keep every ReLU open, so each step back multiplies
    dL/dh_t by exactly w: with w = 1.5 the first step sees 1.5 ** (T - 1) times the last."""
    rng = np.random.default_rng(10)
    n, t_steps, d, hidden_size = 3, 10, 2, 4
    w = np.array([1.5, 1.2, 0.7, 1.0])
    x = rng.uniform(0.1, 1.0, (n, t_steps, d))
    h0 = rng.uniform(0.1, 1.0, (n, hidden_size))
    Wx = rng.uniform(0.1, 1.0, (d, hidden_size))
    b = rng.uniform(0.1, 0.5, hidden_size)
    h, cache = rnn.forward(x, h0, Wx, np.diag(w), b, activation="relu")
    assert np.all(h > 0)
    dh = np.zeros(h.shape)
    dh[:, -1] = rng.uniform(0.5, 1.5, (n, hidden_size))
    dx, dh0, dWx, dWh, db, hidden = rnn.backward(dh, cache, return_hidden_grads=True)
    for t in range(t_steps):
        np.testing.assert_allclose(hidden[:, t], dh[:, -1] * w ** (t_steps - 1 - t),
                                   rtol=1e-13)
    np.testing.assert_allclose(dh0, dh[:, -1] * w ** t_steps, rtol=1e-13)
    np.testing.assert_allclose(hidden[:, 0, 0] / hidden[:, -1, 0], 1.5 ** 9, rtol=1e-13)


def test_relu_activation_values_and_dead_units():
    """A unit whose pre-activation is negative at every step outputs 0 and gets no gradient."""
    rng = np.random.default_rng(11)
    x = rng.uniform(0.1, 1, (2, 3, 2))
    h0 = rng.uniform(0.1, 1, (2, 2))
    Wx = np.array([[1.0, -1.0], [1.0, -1.0]])
    Wh = np.array([[0.5, 0.0], [0.0, 0.5]])
    b = np.array([0.0, -0.1])
    h, cache = rnn.forward(x, h0, Wx, Wh, b, activation="relu")
    assert np.all(h[:, :, 1] == 0) and np.all(h[:, :, 0] > 0)
    dx, dh0, dWx, dWh, db = rnn.backward(np.ones(h.shape), cache)
    assert db[1] == 0 and np.all(dWx[:, 1] == 0) and np.all(dWh[:, 1] == 0)
    # unit 0 is linear: h_t = x_t . [1, 1] + 0.5 h_{t-1}; d sum(h) / d b0 = sum over t of
    # (1 + 0.5 + ... + 0.5^(T-1-t)), per example
    np.testing.assert_allclose(db[0], 2 * (1 + 1.5 + 1.75))


# ------------------------------------------------------------------------ contract details
def test_saturated_tanh_is_finite_and_quiet():
    rng = np.random.default_rng(12)
    x, h0, Wx, Wh, b = params(rng, 2, 3, 2, 3)
    x = x * 1e3
    x[0, 0, 0] = 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            h, cache = rnn.forward(x, h0, Wx, Wh, b)
            grads = rnn.backward(rng.standard_normal(h.shape), cache)
    np.testing.assert_allclose(h, loop_rnn(x, h0, Wx, Wh, b)[0], rtol=1e-13, atol=1e-300)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_float64_tanh_is_accurate_near_zero_and_for_large_inputs():
    a = np.concatenate([np.linspace(-0.05, 0.05, 1001), [-1e3, -20.0, 1e-300, 0.0, 19.0, 1e3]])
    a = a.reshape(1, -1)
    h, _ = rnn.step_forward(a.T, np.zeros((a.size, 1)), np.ones((1, 1)), np.zeros((1, 1)),
                            np.zeros(1))
    np.testing.assert_allclose(h[:, 0], np.tanh(a[0]), rtol=4e-15, atol=0)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_float32_stays_float32(activation):
    x, h0, Wx, Wh, b = params(np.random.default_rng(13), 3, 4, 2, 5, np.float32)
    h, cache = rnn.forward(x, h0, Wx, Wh, b, activation=activation)
    assert h.dtype == np.float32
    grads = rnn.backward(np.ones_like(h), cache, return_hidden_grads=True)
    for g, ref in zip(grads, (x, h0, Wx, Wh, b, h), strict=True):
        assert g.dtype == np.float32 and g.shape == ref.shape
    h64 = loop_rnn(*(a.astype(np.float64) for a in (x, h0, Wx, Wh, b)), activation)[0]
    np.testing.assert_allclose(h, h64, rtol=1e-5, atol=1e-6)
    next_h, step_cache = rnn.step_forward(x[:, 0], h0, Wx, Wh, b, activation=activation)
    assert next_h.dtype == np.float32
    assert all(g.dtype == np.float32 for g in rnn.step_backward(np.ones_like(next_h), step_cache))


def test_nothing_is_mutated():
    rng = np.random.default_rng(14)
    args = params(rng, 2, 3, 4, 3)
    copies = [a.copy() for a in args]
    h, cache = rnn.forward(*args)
    next_h, step_cache = rnn.step_forward(args[0][:, 0], *args[1:])
    for a, c in zip(args, copies, strict=True):
        np.testing.assert_array_equal(a, c)
    for dout, c, backward in ((rng.standard_normal(h.shape), cache, rnn.backward),
                              (rng.standard_normal(next_h.shape), step_cache, rnn.step_backward)):
        dout_copy = dout.copy()
        cache_copy = [v.copy() if isinstance(v, np.ndarray) else v for v in c]
        first = backward(dout, c)
        second = backward(dout, c)
        np.testing.assert_array_equal(dout, dout_copy)
        for v, vc in zip(c, cache_copy, strict=True):
            np.testing.assert_array_equal(v, vc)
        for g1, g2 in zip(first, second, strict=True):
            np.testing.assert_array_equal(g1, g2)


def test_bad_arguments_raise_clear_errors():
    x, h0, Wx, Wh, b = params(np.random.default_rng(0), 2, 3, 4, 5)
    fwd = rnn.forward
    with pytest.raises(ValueError, match=r"rnn\.forward: Wh must have shape \(H, H\) = \(5, 5\) "
                                         r"to match h0, got \(5, 4\)"):
        fwd(x, h0, Wx, Wh[:, :4], b)
    with pytest.raises(ValueError, match=r"rnn\.forward: Wx must have shape \(D, H\) = \(4, 5\)"):
        fwd(x, h0, Wx[:3], Wh, b)
    with pytest.raises(ValueError, match=r"rnn\.forward: b must have shape \(H,\) = \(5,\)"):
        fwd(x, h0, Wx, Wh, b[:4])
    with pytest.raises(ValueError, match=r"rnn\.forward: h0 must have shape \(N, H\) with N = 2"):
        fwd(x, h0[:1], Wx, Wh, b)
    with pytest.raises(ValueError, match=r"rnn\.forward: x must be 3-D"):
        fwd(x[:, 0], h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"rnn\.forward: x must have at least one time step"):
        fwd(x[:, :0], h0, Wx, Wh, b)
    with pytest.raises(TypeError, match=r"rnn\.forward: Wh has dtype float32 but x has dtype "
                                        r"float64"):
        fwd(x, h0, Wx, Wh.astype(np.float32), b)
    with pytest.raises(ValueError, match=r"rnn\.forward: activation must be one of 'tanh', "
                                         r"'relu', got 'sigmoid'"):
        fwd(x, h0, Wx, Wh, b, activation="sigmoid")
    with pytest.raises(ValueError, match=r"rnn\.step_forward: Wh must have shape \(H, H\) = "
                                         r"\(5, 5\) to match prev_h"):
        rnn.step_forward(x[:, 0], h0, Wx, Wh[:4], b)
    with pytest.raises(ValueError, match=r"rnn\.step_forward: prev_h must have shape \(N, H\)"):
        rnn.step_forward(x[:, 0], h0[:1], Wx, Wh, b)
    with pytest.raises(TypeError, match=r"rnn\.step_forward: b must be a numpy array"):
        rnn.step_forward(x[:, 0], h0, Wx, Wh, list(b))
    h, cache = fwd(x, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"rnn\.backward: dh must have shape \(2, 3, 5\)"):
        rnn.backward(h[:, :2], cache)
    with pytest.raises(TypeError, match=r"rnn\.backward: dh has dtype float32"):
        rnn.backward(h.astype(np.float32), cache)
    next_h, step_cache = rnn.step_forward(x[:, 0], h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"rnn\.step_backward: dnext_h must have shape \(2, 5\)"):
        rnn.step_backward(next_h.T, step_cache)


# ------------------------------------------------------------------------- torch (optional)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_matches_torch_rnn(activation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    n, t_steps, d, hidden = 3, 6, 4, 5
    x, h0, Wx, Wh, b = params(rng, n, t_steps, d, hidden)
    h, cache = rnn.forward(x, h0, Wx, Wh, b, activation=activation)
    dh = rng.standard_normal(h.shape)
    dx, dh0, dWx, dWh, db = rnn.backward(dh, cache)
    m = torch.nn.RNN(d, hidden, batch_first=True, nonlinearity=activation).double()
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.from_numpy(Wx.T))
        m.weight_hh_l0.copy_(torch.from_numpy(Wh.T))
        m.bias_ih_l0.copy_(torch.from_numpy(b))
        m.bias_hh_l0.zero_()
    tx = torch.tensor(x, requires_grad=True)
    th0 = torch.tensor(h0[None], requires_grad=True)
    out, _ = m(tx, th0)
    out.backward(torch.from_numpy(dh))
    refs = [(h, out), (dx, tx.grad), (dh0, th0.grad[0]), (dWx, m.weight_ih_l0.grad.T),
            (dWh, m.weight_hh_l0.grad.T), (db, m.bias_ih_l0.grad)]
    for got, ref in refs:
        ref = ref.detach().numpy()
        assert got.shape == ref.shape
        assert np.max(np.abs(got - ref)) <= 1e-9 * np.max(np.abs(ref))
