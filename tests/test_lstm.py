"""lstm (readable) and its tuned twin: hand-worked values, the gate order, a loop written out
here, centred differences for every gradient, the memory path, dtypes, mutation, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from handgrad.fast import lstm as fast_lstm
from handgrad.layers import lstm

MODULES = [pytest.param(lstm, id="readable"), pytest.param(fast_lstm, id="fast")]


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


def sigmoid(z):
    if z < 0:                                   # math.exp(-z) would overflow for z < -709
        return math.exp(z) / (1.0 + math.exp(z))
    return 1.0 / (1.0 + math.exp(-z))


def loop_lstm(x, h0, Wx, Wh, b, c0=None):
    """The definition, one example, one step and one unit at a time, with math.exp/math.tanh.

    Returns (h, c), both (N, T, H). Gates in the order i, f, o, g along the 4H columns.
    """
    n, t_steps, d = x.shape
    hidden = h0.shape[1]
    h = np.zeros((n, t_steps, hidden))
    c = np.zeros((n, t_steps, hidden))
    for e in range(n):
        prev_h = list(h0[e])
        prev_c = [0.0] * hidden if c0 is None else list(c0[e])
        for t in range(t_steps):
            for u in range(hidden):
                a = [b[k * hidden + u]
                     + sum(x[e, t, j] * Wx[j, k * hidden + u] for j in range(d))
                     + sum(prev_h[m] * Wh[m, k * hidden + u] for m in range(hidden))
                     for k in range(4)]
                i, f, o, g = sigmoid(a[0]), sigmoid(a[1]), sigmoid(a[2]), math.tanh(a[3])
                c[e, t, u] = f * prev_c[u] + i * g
                h[e, t, u] = o * math.tanh(c[e, t, u])
            prev_h, prev_c = list(h[e, t]), list(c[e, t])
    return h, c


def arrays_in(obj):
    """Every array inside a cache (nested tuples and lists), in order."""
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [a for item in obj for a in arrays_in(item)]
    return []


def params(rng, n, t_steps, d, hidden, dtype=np.float64, scale=1.0):
    x = rng.standard_normal((n, t_steps, d))
    h0 = np.tanh(rng.standard_normal((n, hidden)))
    Wx = rng.standard_normal((d, 4 * hidden)) * scale / np.sqrt(d)
    Wh = rng.standard_normal((hidden, 4 * hidden)) * scale / np.sqrt(hidden)
    b = rng.standard_normal(4 * hidden) * 0.5
    return tuple(a.astype(dtype) for a in (x, h0, Wx, Wh, b))


SHAPES = [(2, 3, 4, 5), (1, 1, 3, 2), (3, 4, 1, 1), (4, 2, 3, 6), (1, 6, 2, 3)]


# -------------------------------------------------------------------------------- one step
def test_step_forward_hand_worked_and_gate_order():
    """Pre-activations (0, ln 3, -ln 3, atanh 1/2) in the columns i, f, o, g give
    i = 1/2, f = 3/4, o = 1/4, g = 1/2; with prev_c = 2: c = 3/4 * 2 + 1/2 * 1/2 = 7/4 and
    h = tanh(7/4) / 4. Any other gate order gives other numbers."""
    pre = np.array([0.0, math.log(3), -math.log(3), math.atanh(0.5)])
    x, prev_h, prev_c = np.array([[1.0]]), np.array([[0.5]]), np.array([[2.0]])
    Wx, Wh, b = pre[None, :], np.zeros((1, 4)), np.zeros(4)
    next_h, next_c, _ = lstm.step_forward(x, prev_h, prev_c, Wx, Wh, b)
    np.testing.assert_allclose(next_c, [[1.75]], rtol=1e-15)
    np.testing.assert_allclose(next_h, [[math.tanh(1.75) / 4]], rtol=1e-15)
    # the same through the recurrent weights and the bias instead of the input weights
    next_h2, next_c2, _ = lstm.step_forward(np.zeros((1, 1)), np.array([[2.0]]), prev_c,
                                            np.ones((1, 4)), pre[None, :] / 4, pre / 2)
    np.testing.assert_allclose(next_c2, [[1.75]], rtol=1e-15)
    np.testing.assert_allclose(next_h2, next_h, rtol=1e-15)


def test_step_backward_hand_worked():
    """The same numbers: with dnext_h = 1, dnext_c = 0 and tanh(c) = t,
    dc = o (1 - t^2) = (1 - t^2) / 4, so db = [dc g i (1-i), dc prev_c f (1-f), t o (1-o),
    dc i (1 - g^2)] and dprev_c = dc f."""
    pre = np.array([0.0, math.log(3), -math.log(3), math.atanh(0.5)])
    x, prev_h, prev_c = np.array([[1.0]]), np.array([[0.5]]), np.array([[2.0]])
    _, _, cache = lstm.step_forward(x, prev_h, prev_c, pre[None, :], np.zeros((1, 4)),
                                    np.zeros(4))
    dx, dprev_h, dprev_c, dWx, dWh, db = lstm.step_backward(np.ones((1, 1)), np.zeros((1, 1)),
                                                            cache)
    t = math.tanh(1.75)
    dc = (1 - t * t) / 4
    expected_db = [dc * 0.5 * 0.25, dc * 2 * 0.75 * 0.25, t * 0.25 * 0.75, dc * 0.5 * 0.75]
    np.testing.assert_allclose(db, expected_db, rtol=1e-14)
    np.testing.assert_allclose(dWx, [expected_db], rtol=1e-14)          # x = 1
    np.testing.assert_allclose(dWh, [np.array(expected_db) * 0.5], rtol=1e-14)
    np.testing.assert_allclose(dprev_c, [[dc * 0.75]], rtol=1e-14)
    np.testing.assert_allclose(dx, [[np.dot(expected_db, pre)]], rtol=1e-14)
    np.testing.assert_array_equal(dprev_h, [[0.0]])                      # Wh = 0


@pytest.mark.parametrize("n, d, hidden, seed", [(3, 4, 5, 0), (1, 2, 3, 1), (4, 1, 1, 2),
                                                (2, 6, 3, 3)])
def test_step_matches_loop_and_numerical_gradients(n, d, hidden, seed):
    rng = np.random.default_rng([seed, n, d, hidden])
    x, h0, Wx, Wh, b = params(rng, n, 1, d, hidden)
    x = x[:, 0]
    prev_c = rng.standard_normal((n, hidden)) * 1.5
    next_h, next_c, cache = lstm.step_forward(x, h0, prev_c, Wx, Wh, b)
    h_ref, c_ref = loop_lstm(x[:, None], h0, Wx, Wh, b, c0=prev_c)
    np.testing.assert_allclose(next_h, h_ref[:, 0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(next_c, c_ref[:, 0], rtol=1e-13, atol=1e-15)

    dnext_h, dnext_c = rng.standard_normal((2, n, hidden))
    grads = lstm.step_backward(dnext_h, dnext_c, cache)
    args = [x, h0, prev_c, Wx, Wh, b]
    assert len(grads) == 6

    def loss_of(k):
        def f(v):
            out_h, out_c, _ = lstm.step_forward(*(args[:k] + [v] + args[k + 1:]))
            return np.concatenate([out_h, out_c], axis=1)
        return f

    both = np.concatenate([dnext_h, dnext_c], axis=1)
    for k, g in enumerate(grads):
        assert g.shape == args[k].shape and g.dtype == np.float64
        assert rel_error(g, num_grad(loss_of(k), args[k].copy(), both)) < 1e-7, f"gradient {k}"


# --------------------------------------------------------------------------------- sequence
@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("n, t_steps, d, hidden", SHAPES)
def test_forward_matches_loop_and_repeated_steps(module, n, t_steps, d, hidden):
    x, h0, Wx, Wh, b = params(np.random.default_rng([n, t_steps, d, hidden]), n, t_steps, d,
                              hidden)
    h, _ = module.forward(x, h0, Wx, Wh, b)
    assert h.shape == (n, t_steps, hidden) and h.dtype == np.float64
    np.testing.assert_allclose(h, loop_lstm(x, h0, Wx, Wh, b)[0], rtol=1e-12, atol=1e-14)
    prev_h, prev_c = h0, np.zeros_like(h0)                # the sequence starts with c = 0
    for t in range(t_steps):
        prev_h, prev_c, _ = lstm.step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        np.testing.assert_allclose(h[:, t], prev_h, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n, t_steps, d, hidden", SHAPES)
def test_backward_matches_numerical(module, n, t_steps, d, hidden, seed):
    rng = np.random.default_rng([seed, n, t_steps, d, hidden])
    x, h0, Wx, Wh, b = params(rng, n, t_steps, d, hidden)
    h, cache = module.forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal(h.shape)
    grads = module.backward(dh, cache)
    args = [x, h0, Wx, Wh, b]
    assert len(grads) == 5
    for k, g in enumerate(grads):
        def f_k(v, k=k):
            return module.forward(*(args[:k] + [v] + args[k + 1:]))[0]
        assert g.shape == args[k].shape and g.dtype == np.float64
        assert rel_error(g, num_grad(f_k, args[k].copy(), dh)) < 1e-7, f"gradient {k}"


@pytest.mark.parametrize("module", MODULES)
def test_backward_of_one_step_equals_step_backward(module):
    x, h0, Wx, Wh, b = params(np.random.default_rng(5), 3, 1, 4, 2)
    _, cache = module.forward(x, h0, Wx, Wh, b)
    _, _, step_cache = lstm.step_forward(x[:, 0], h0, np.zeros_like(h0), Wx, Wh, b)
    dh = np.random.default_rng(6).standard_normal((3, 1, 2))
    dx, dh0, dWx, dWh, db = module.backward(dh, cache)
    sdx, sdh, _sdc, sdWx, sdWh, sdb = lstm.step_backward(dh[:, 0], np.zeros((3, 2)), step_cache)
    np.testing.assert_allclose(dx[:, 0], sdx, rtol=1e-13)
    for g_seq, g_step in ((dh0, sdh), (dWx, sdWx), (dWh, sdWh), (db, sdb)):
        np.testing.assert_allclose(g_seq, g_step, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("module", MODULES)
def test_hidden_grads_are_the_total_gradient_reaching_each_state(module):
    rng = np.random.default_rng(8)
    x, h0, Wx, Wh, b = params(rng, 2, 4, 3, 3)
    h, cache = module.forward(x, h0, Wx, Wh, b)
    dh = rng.standard_normal(h.shape)
    *grads, hidden = module.backward(dh, cache, return_hidden_grads=True)
    for g, p in zip(grads, module.backward(dh, cache), strict=True):
        np.testing.assert_array_equal(g, p)
    assert hidden.shape == h.shape and hidden.dtype == h.dtype
    np.testing.assert_array_equal(hidden[:, -1], dh[:, -1])
    # dL/dh_t is the gradient with respect to a bump added to h_t (before step t + 1 reads it)
    def with_bump(bump):
        out, prev_h, prev_c = [], h0, np.zeros_like(h0)
        for t in range(x.shape[1]):
            prev_h, prev_c, _ = lstm.step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
            prev_h = prev_h + bump[:, t]
            out.append(prev_h)
        return np.stack(out, axis=1)
    numeric = num_grad(with_bump, np.zeros(h.shape), dh)
    assert rel_error(hidden, numeric) < 1e-7


@pytest.mark.parametrize("module", MODULES)
def test_an_open_forget_gate_carries_the_gradient_back(module):
    """With the forget gates wide open (bias +8, f ~ 1) and the input gates nearly shut, the
    memory carries what the first input wrote to the last step: the gradient from the last
    output reaches the first input. With the forget gates shut (bias -8) it does not."""
    rng = np.random.default_rng(9)
    n, t_steps, d, hidden = 2, 30, 3, 4
    x, h0, Wx, Wh, b = params(rng, n, t_steps, d, hidden)
    dh = np.zeros((n, t_steps, hidden))
    dh[:, -1] = rng.standard_normal((n, hidden))
    reach = {}
    for forget_bias in (8.0, -8.0):
        b2 = b.copy()
        b2[hidden:2 * hidden] = forget_bias
        h, cache = module.forward(x, h0, Wx, Wh, b2)
        dx = module.backward(dh, cache)[0]
        reach[forget_bias] = np.linalg.norm(dx[:, 0]) / np.linalg.norm(dx[:, -1])
    assert reach[8.0] > 1e-2
    assert reach[-8.0] < 1e-20


# ------------------------------------------------------------------------ contract details
@pytest.mark.parametrize("module", MODULES)
def test_saturated_gates_are_finite_and_quiet(module):
    rng = np.random.default_rng(12)
    x, h0, Wx, Wh, b = params(rng, 2, 3, 2, 3)
    x = x * 1e3                                 # pre-activations of about +-1e3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h, cache = module.forward(x, h0, Wx, Wh, b)
        grads = module.backward(rng.standard_normal(h.shape), cache)
        next_h, next_c, step_cache = module.step_forward(x[:, 0], h0, h0 * 1e3, Wx, Wh, b)
        step_grads = module.step_backward(next_h, next_c, step_cache)
    assert np.all(np.isfinite(h)) and np.all(np.abs(h) <= 1)
    assert all(np.all(np.isfinite(g)) for g in (*grads, *step_grads))
    np.testing.assert_allclose(h, loop_lstm(x, h0, Wx, Wh, b)[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("module", MODULES)
def test_float32_stays_float32(module):
    x, h0, Wx, Wh, b = params(np.random.default_rng(13), 3, 4, 2, 5, np.float32)
    h, cache = module.forward(x, h0, Wx, Wh, b)
    assert h.dtype == np.float32
    grads = module.backward(np.ones_like(h), cache, return_hidden_grads=True)
    for g, ref in zip(grads, (x, h0, Wx, Wh, b, h), strict=True):
        assert g.dtype == np.float32 and g.shape == ref.shape
    h64 = loop_lstm(*(a.astype(np.float64) for a in (x, h0, Wx, Wh, b)))[0]
    np.testing.assert_allclose(h, h64, rtol=1e-5, atol=1e-6)
    next_h, next_c, step_cache = module.step_forward(x[:, 0], h0, h0, Wx, Wh, b)
    assert next_h.dtype == next_c.dtype == np.float32
    step_grads = module.step_backward(np.ones_like(next_h), np.ones_like(next_c), step_cache)
    assert all(g.dtype == np.float32 for g in step_grads)


@pytest.mark.parametrize("module", MODULES)
def test_nothing_is_mutated(module):
    rng = np.random.default_rng(14)
    args = params(rng, 2, 3, 4, 3)
    copies = [a.copy() for a in args]
    h, cache = module.forward(*args)
    for a, c in zip(args, copies, strict=True):
        np.testing.assert_array_equal(a, c)
    dh = rng.standard_normal(h.shape)
    dh_copy, cache_copy, h_copy = dh.copy(), [v.copy() for v in arrays_in(cache)], h.copy()
    first = module.backward(dh, cache)
    second = module.backward(dh, cache)
    np.testing.assert_array_equal(dh, dh_copy)
    np.testing.assert_array_equal(h, h_copy)
    for v, vc in zip(arrays_in(cache), cache_copy, strict=True):
        np.testing.assert_array_equal(v, vc)
    for g1, g2 in zip(first, second, strict=True):
        np.testing.assert_array_equal(g1, g2)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 8, 6))[:, ::2, 1:4]                 # (3, 4, 3) strided view
    h0 = np.asfortranarray(rng.standard_normal((3, 2)) * 0.5)
    Wx = np.asfortranarray(rng.standard_normal((3, 8)) * 0.5)
    Wh = (rng.standard_normal((2, 16)) * 0.5)[:, ::2]              # (2, 8) strided view
    b = (rng.standard_normal(16) * 0.3)[1::2]
    dh = np.asfortranarray(rng.standard_normal((3, 4, 2)))
    contiguous = [np.ascontiguousarray(a) for a in (x, h0, Wx, Wh, b)]
    for module in (lstm, fast_lstm):
        h, cache = module.forward(x, h0, Wx, Wh, b)
        h_c, cache_c = module.forward(*contiguous)
        np.testing.assert_allclose(h, h_c, rtol=1e-14, atol=1e-15)
        for g, g_c in zip(module.backward(dh, cache),
                          module.backward(np.ascontiguousarray(dh), cache_c), strict=True):
            np.testing.assert_allclose(g, g_c, rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------------ the tuned twin
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("n, t_steps, d, hidden", SHAPES + [(5, 9, 7, 8)])
def test_fast_twin_matches_the_readable_version(n, t_steps, d, hidden, dtype, rtol):
    rng = np.random.default_rng([n, t_steps, d, hidden, 3])
    args = params(rng, n, t_steps, d, hidden, dtype, scale=2.0)
    h, cache = lstm.forward(*args)
    h_fast, cache_fast = fast_lstm.forward(*args)
    assert h_fast.dtype == dtype and h_fast.flags.c_contiguous
    np.testing.assert_allclose(h_fast, h, rtol=rtol, atol=rtol)
    dh = rng.standard_normal(h.shape).astype(dtype)
    grads = lstm.backward(dh, cache, return_hidden_grads=True)
    grads_fast = fast_lstm.backward(dh, cache_fast, return_hidden_grads=True)
    for name, g, g_fast in zip(("dx", "dh0", "dWx", "dWh", "db", "hidden"), grads, grads_fast,
                               strict=True):
        assert g_fast.dtype == dtype and g_fast.shape == g.shape, name
        scale = np.max(np.abs(g))
        np.testing.assert_allclose(g_fast, g, rtol=rtol, atol=rtol * scale, err_msg=name)


def test_fast_twin_steps_are_the_readable_ones():
    assert fast_lstm.step_forward is lstm.step_forward
    assert fast_lstm.step_backward is lstm.step_backward


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("module", MODULES)
def test_bad_arguments_raise_clear_errors(module):
    x, h0, Wx, Wh, b = params(np.random.default_rng(0), 2, 3, 4, 5)
    fwd = module.forward
    with pytest.raises(ValueError, match=r"lstm\.forward: Wh must have shape \(5, 20\) = "
                                         r"\(H, 4H\) \(4 gates of H = 5 units, H from h0\), "
                                         r"got \(5, 16\)"):
        fwd(x, h0, Wx, Wh[:, :16], b)
    with pytest.raises(ValueError, match=r"lstm\.forward: Wx must have shape \(4, 20\) = "
                                         r"\(D, 4H\)"):
        fwd(x, h0, Wx[:3], Wh, b)
    with pytest.raises(ValueError, match=r"lstm\.forward: Wx must have shape \(4, 20\)"):
        fwd(x, h0, Wx[:, :5], Wh, b)          # a vanilla RNN's (D, H) weights
    with pytest.raises(ValueError, match=r"lstm\.forward: b must have shape \(20,\) = \(4H,\)"):
        fwd(x, h0, Wx, Wh, b[:5])
    with pytest.raises(ValueError, match=r"lstm\.forward: h0 must have shape \(2, 5\) = "
                                         r"\(N, H\) with N = 2 to match x, got \(1, 5\)"):
        fwd(x, h0[:1], Wx, Wh, b)
    with pytest.raises(ValueError, match=r"lstm\.forward: x must be 3-D"):
        fwd(x[:, 0], h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"lstm\.forward: x must have at least one time step"):
        fwd(x[:, :0], h0, Wx, Wh, b)
    with pytest.raises(TypeError, match=r"lstm\.forward: Wh has dtype float32 but x has dtype "
                                        r"float64"):
        fwd(x, h0, Wx, Wh.astype(np.float32), b)
    with pytest.raises(TypeError, match=r"lstm\.forward: b must be a numpy array"):
        fwd(x, h0, Wx, Wh, list(b))
    h, cache = fwd(x, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"lstm\.backward: dh must have shape \(2, 3, 5\)"):
        module.backward(h[:, :2], cache)
    with pytest.raises(TypeError, match=r"lstm\.backward: dh has dtype float32"):
        module.backward(h.astype(np.float32), cache)


def test_bad_step_arguments_raise_clear_errors():
    x, h0, Wx, Wh, b = params(np.random.default_rng(0), 2, 1, 4, 5)
    x = x[:, 0]
    with pytest.raises(ValueError, match=r"lstm\.step_forward: prev_c must have shape \(2, 5\) "
                                         r"= \(N, H\) to match prev_h, got \(2, 4\)"):
        lstm.step_forward(x, h0, h0[:, :4], Wx, Wh, b)
    with pytest.raises(ValueError, match=r"lstm\.step_forward: prev_h must have shape \(2, 5\)"):
        lstm.step_forward(x, h0[:1], h0[:1], Wx, Wh, b)
    with pytest.raises(TypeError, match=r"lstm\.step_forward: prev_c has dtype float32 but "
                                        r"prev_h has dtype float64"):
        lstm.step_forward(x, h0, h0.astype(np.float32), Wx, Wh, b)
    with pytest.raises(ValueError, match=r"lstm\.step_forward: Wh must have shape \(5, 20\)"):
        lstm.step_forward(x, h0, h0, Wx, Wh[:4], b)
    next_h, next_c, cache = lstm.step_forward(x, h0, h0, Wx, Wh, b)
    with pytest.raises(ValueError, match=r"lstm\.step_backward: dnext_c must have shape "
                                         r"\(2, 5\) to match the forward output"):
        lstm.step_backward(next_h, next_c.T, cache)
    with pytest.raises(TypeError, match=r"lstm\.step_backward: dnext_h must be a numpy array"):
        lstm.step_backward(1.0, next_c, cache)
