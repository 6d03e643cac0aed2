"""relu, sigmoid and tanh: values, gradients, stability, dtypes and argument errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from handgrad.layers import relu, sigmoid, tanh

OPS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh}
SHAPES = [(7,), (3, 5), (2, 3, 4), (2, 3, 2, 2)]


def numerical_grad(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred differences of sum(f(x) * dout) with respect to every entry of x (float64)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = np.sum(f(x) * dout)
        x[idx] = old - h
        minus = np.sum(f(x) * dout)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def textbook_sigmoid(x: float) -> float:
    # The two branches keep exp from overflowing.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# --- forward values --------------------------------------------------------------------------


def test_relu_values():
    x = np.array([[-2.0, -0.0, 0.0, 0.5], [3.0, -1e-300, 1e300, -7.25]])
    out, _ = relu.forward(x)
    np.testing.assert_array_equal(out, [[0, 0, 0, 0.5], [3, 0, 1e300, 0]])


def test_sigmoid_hand_values():
    out, _ = sigmoid.forward(np.array([0.0, math.log(3.0), -math.log(3.0)]))
    # sigmoid(0) = 1/2; sigmoid(log 3) = 1 / (1 + 1/3) = 3/4; sigmoid(-log 3) = 1/4
    np.testing.assert_allclose(out, [0.5, 0.75, 0.25], rtol=1e-15)


def test_sigmoid_matches_textbook_over_the_whole_range():
    x = np.concatenate([np.linspace(-700, 700, 2001), [-1e-300, 1e-8, -3e-5, 36.0, 37.5]])
    out, _ = sigmoid.forward(x)
    expected = np.array([textbook_sigmoid(v) for v in x])
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=0)


def test_tanh_hand_values():
    out, _ = tanh.forward(np.array([0.0, 0.5, 1.0, -2.0]))
    np.testing.assert_allclose(out, [0.0, 0.46211715726000974, 0.7615941559557649,
                                     -0.9640275800758169], rtol=1e-15)


@pytest.mark.parametrize("scale", [1e-300, 1e-12, 1e-6, 1e-3, 0.0199, 0.0201, 0.3, 1.0, 5.0,
                                   19.0, 400.0])
def test_tanh_float64_is_accurate_at_every_magnitude(scale):
    x = np.random.default_rng(0).uniform(-1.0, 1.0, 500) * scale
    out, _ = tanh.forward(x)
    expected = np.array([math.tanh(v) for v in x])
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=0)
    assert np.array_equal(np.signbit(out), np.signbit(x))


def test_tanh_float32_is_accurate():
    x = np.random.default_rng(1).normal(0.0, 3.0, 1000).astype(np.float32)
    out, _ = tanh.forward(x)
    expected = np.array([math.tanh(float(v)) for v in x])
    np.testing.assert_allclose(out, expected, rtol=3e-7, atol=1e-30)


def test_worked_tanh_neuron_example():
    # z = w x + b = 0.5 * 2 - 0.5 = 0.5; h = tanh(z); dL/dh = 0.4 gives dL/dz = 0.4 (1 - h^2)
    h, cache = tanh.forward(np.array([0.5]))
    dz = tanh.backward(np.array([0.4]), cache)
    assert h[0] == pytest.approx(0.4621, abs=5e-5)
    assert dz[0] == pytest.approx(0.3146, abs=5e-5)


# --- gradients -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_matches_numerical(name, shape, seed):
    op = OPS[name]
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 2.0, shape)
    if name == "relu":  # keep away from the kink at 0
        x = np.where(np.abs(x) < 0.05, 0.5, x)
    dout = rng.normal(0.0, 1.0, shape)
    _, cache = op.forward(x)
    dx = op.backward(dout, cache)
    num = numerical_grad(lambda v: op.forward(v)[0], x.copy(), dout)
    assert dx.shape == x.shape
    assert rel_error(dx, num) < 1e-6


def test_local_gradients_by_hand():
    x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    ones = np.ones_like(x)
    np.testing.assert_array_equal(relu.backward(ones, relu.forward(x)[1]), [0, 0, 0, 1, 1])
    s = np.array([textbook_sigmoid(v) for v in x])
    np.testing.assert_allclose(sigmoid.backward(ones, sigmoid.forward(x)[1]), s * (1 - s),
                               rtol=1e-14)
    t = np.array([math.tanh(v) for v in x])
    # 1 - t*t cancels where |t| is near 1: one unit in the last place of t moves it by ~2e-14
    np.testing.assert_allclose(tanh.backward(ones, tanh.forward(x)[1]), 1 - t * t, rtol=1e-13)


def test_sigmoid_local_gradient_peaks_at_quarter_at_zero():
    x = np.linspace(-6.0, 6.0, 1201)  # contains 0 exactly
    local = sigmoid.backward(np.ones_like(x), sigmoid.forward(x)[1])
    assert local.max() == 0.25
    assert x[np.argmax(local)] == 0.0
    assert np.all(local <= 0.25)


def test_relu_gradient_is_zero_at_the_kink():
    dx = relu.backward(np.array([5.0, 5.0]), relu.forward(np.array([0.0, -0.0]))[1])
    np.testing.assert_array_equal(dx, [0.0, 0.0])


# --- stability -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_are_finite_and_silent(dtype):
    x = np.array([-1000.0, -200.0, -90.0, 90.0, 200.0, 1000.0, -np.inf, np.inf], dtype=dtype)
    dout = np.ones_like(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            s, cs = sigmoid.forward(x)
            ds = sigmoid.backward(dout, cs)
            t, ct = tanh.forward(x)
            dt = tanh.backward(dout, ct)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ds))
    assert s[0] == 0.0 and s[-3] == 1.0 and s[-2] == 0.0 and s[-1] == 1.0
    np.testing.assert_array_equal(t, np.sign(x))
    np.testing.assert_array_equal(ds[[0, 5, 6, 7]], 0.0)
    np.testing.assert_array_equal(dt, 0.0)


@pytest.mark.filterwarnings("error")
def test_sigmoid_underflows_to_the_right_tiny_values():
    x = np.array([-745.0, -740.0, -720.0, -100.0])
    out, _ = sigmoid.forward(x)
    expected = np.array([textbook_sigmoid(v) for v in x])
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=1e-320)
    out32, _ = sigmoid.forward(np.array([-100.0, -90.0, -80.0], dtype=np.float32))
    assert np.all(out32 > 0)
    np.testing.assert_allclose(out32, [math.exp(-100), math.exp(-90), math.exp(-80)],
                               rtol=1e-2, atol=3e-45)


# --- large inputs (run block by block, on several threads) -----------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_inputs_match_textbook(dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 3.0, (300, 1001)).astype(dtype)
    dout = rng.normal(0.0, 1.0, x.shape).astype(dtype)
    x64 = x.astype(np.float64)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    s = 1 / (1 + np.exp(-x64))
    t = np.tanh(x64)
    expected = {"relu": (np.maximum(x64, 0), dout * (x64 > 0)),
                "sigmoid": (s, dout * s * (1 - s)),
                "tanh": (t, dout * (1 - t * t))}
    for name, op in OPS.items():
        out, cache = op.forward(x)
        dx = op.backward(dout, cache)
        want_out, want_dx = expected[name]
        np.testing.assert_allclose(out, want_out, rtol=tol, atol=tol, err_msg=name)
        np.testing.assert_allclose(dx, want_dx, rtol=tol * 10, atol=tol, err_msg=name)


@pytest.mark.parametrize("name", sorted(OPS))
def test_non_contiguous_inputs(name):
    op = OPS[name]
    base = np.random.default_rng(4).normal(0.0, 2.0, (40, 60))
    x = base.T[::2]                 # (30, 40): a transposed and strided view
    dout = np.random.default_rng(5).normal(size=(30, 80))[:, ::-2]
    out, cache = op.forward(x)
    dx = op.backward(dout, cache)
    out_c, cache_c = op.forward(np.ascontiguousarray(x))
    np.testing.assert_array_equal(out, out_c)
    np.testing.assert_array_equal(dx, op.backward(np.ascontiguousarray(dout), cache_c))


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("shape", [(), (0,), (4, 0, 3)])
def test_zero_d_and_empty(name, shape):
    op = OPS[name]
    x = np.full(shape, 0.25)
    out, cache = op.forward(x)
    dx = op.backward(np.ones(shape), cache)
    assert isinstance(out, np.ndarray) and isinstance(dx, np.ndarray)
    assert out.shape == shape and dx.shape == shape


# --- dtypes and mutation ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(name, dtype):
    op = OPS[name]
    x = np.random.default_rng(6).normal(size=(3, 4)).astype(dtype)
    out, cache = op.forward(x)
    dx = op.backward(np.ones_like(x), cache)
    assert out.dtype == dtype and dx.dtype == dtype


@pytest.mark.parametrize("name", sorted(OPS))
def test_inputs_and_dout_are_not_mutated(name):
    op = OPS[name]
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 6))
    dout = rng.normal(size=(5, 6))
    x0, dout0 = x.copy(), dout.copy()
    out, cache = op.forward(x)
    out0 = out.copy()
    op.backward(dout, cache)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)
    np.testing.assert_array_equal(out, out0)


# --- argument errors -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPS))
def test_bad_arguments_name_function_and_argument(name):
    op = OPS[name]
    with pytest.raises(TypeError, match=rf"{name}\.forward: x .*got list"):
        op.forward([1.0, 2.0])
    with pytest.raises(TypeError, match=rf"{name}\.forward: x .*float32 or float64, got int64"):
        op.forward(np.arange(3, dtype=np.int64))
    _, cache = op.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"{name}\.backward: dout must have shape \(2, 3\).*"
                                         r"got \(3, 2\)"):
        op.backward(np.ones((3, 2)), cache)
    with pytest.raises(ValueError, match=rf"{name}\.backward: dout"):
        op.backward(np.ones((1, 3)), cache)  # would broadcast: must be refused
    with pytest.raises(TypeError, match=rf"{name}\.backward: dout has dtype float32"):
        op.backward(np.ones((2, 3), dtype=np.float32), cache)
    with pytest.raises(TypeError, match=rf"{name}\.backward: dout"):
        op.backward(1.0, cache)


# --- optional cross-check with PyTorch -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPS))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.normal(0.0, 3.0, (2, 3, 50))
    x[0, 0, :4] = [-1000.0, 1000.0, 1e-9, -3e-4]
    dout = rng.normal(size=x.shape)
    out, cache = OPS[name].forward(x)
    dx = OPS[name].backward(dout, cache)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch, name)(xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-9, atol=1e-300)
    # Where the output saturates, out * (1 - out) and 1 - out**2 cancel: compare at |dout|'s scale.
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-14)
