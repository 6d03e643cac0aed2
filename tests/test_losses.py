"""softmax_cross_entropy, huber and mse: values, gradients, stability, dtypes and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from handgrad.losses import huber, mse
from handgrad.losses import softmax_cross_entropy as sce


def numerical_grad(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred differences of the scalar f(x) with respect to every entry of x (float64)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = float(f(x))
        x[idx] = old - h
        minus = float(f(x))
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max|a - b| relative to the largest entry: tiny entries carry the differences' rounding."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def textbook_cross_entropy(scores: np.ndarray, y: np.ndarray) -> float:
    total = 0.0
    for row, label in zip(scores.tolist(), y.tolist(), strict=True):
        m = max(row)
        total += m + math.log(sum(math.exp(v - m) for v in row)) - row[label]
    return total / len(y)


def textbook_huber(pred: np.ndarray, target: np.ndarray, delta: float) -> float:
    total = 0.0
    for p, t in zip(pred.ravel().tolist(), target.ravel().tolist(), strict=True):
        r = abs(p - t)
        total += 0.5 * r * r if r <= delta else delta * (r - 0.5 * delta)
    return total / pred.size


# --- softmax cross-entropy -------------------------------------------------------------------


def test_ce_uniform_logits_give_log_c():
    for c in (2, 10, 1000):
        loss, _ = sce.forward(np.full((4, c), 3.7), np.arange(4) % c)
        assert loss == pytest.approx(math.log(c), rel=1e-14)


def test_ce_hand_computed_2x3():
    scores = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, math.log(2.0)]])
    y = np.array([2, 2])
    loss, cache = sce.forward(scores, y)
    # row 0: p = e^(1,2,3) / (e + e^2 + e^3); row 1: p = (1, 1, 2) / 4, -log p[2] = log 2
    z0 = math.e + math.e ** 2 + math.e ** 3
    p0 = np.array([math.e, math.e ** 2, math.e ** 3]) / z0
    expected = (-math.log(p0[2]) + math.log(2.0)) / 2
    assert loss == pytest.approx(expected, rel=1e-14)
    dscores = sce.backward(1.0, cache)
    expected_d = np.array([p0 - [0, 0, 1], [0.25, 0.25, 0.5 - 1]]) / 2
    np.testing.assert_allclose(dscores, expected_d, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("n,c,seed", [(1, 2, 0), (3, 5, 1), (7, 4, 2), (4, 11, 3)])
def test_ce_gradient_matches_numerical(n, c, seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(0.0, 2.0, (n, c))
    y = rng.integers(0, c, n)
    dout = 1.7
    _, cache = sce.forward(scores, y)
    dscores = sce.backward(dout, cache)
    num = numerical_grad(lambda s: dout * sce.forward(s, y)[0], scores.copy())
    assert rel_error(dscores, num) < 1e-8
    assert sce.forward(scores, y)[0] == pytest.approx(textbook_cross_entropy(scores, y),
                                                      rel=1e-13)


def test_ce_rows_sum_to_zero_and_correct_class_is_negative():
    rng = np.random.default_rng(4)
    scores = rng.normal(0.0, 3.0, (6, 8))
    y = rng.integers(0, 8, 6)
    dscores = sce.backward(1.0, sce.forward(scores, y)[1])
    np.testing.assert_allclose(dscores.sum(axis=1), 0.0, atol=1e-16)
    rows = np.arange(6)
    assert np.all(dscores[rows, y] < 0)
    others = np.ones_like(dscores, dtype=bool)
    others[rows, y] = False
    assert np.all(dscores[others] > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ce_extreme_logits_are_finite_and_silent(dtype):
    scores = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([1, 0, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, cache = sce.forward(scores, y)
        dscores = sce.backward(1.0, cache)
    # -log p: 2e4; log 3; 2e4 + log 2
    expected = (2e4 + math.log(3.0) + 2e4 + math.log(2.0)) / 3
    assert np.isfinite(loss) and loss == pytest.approx(expected, rel=1e-6)
    assert np.all(np.isfinite(dscores))
    np.testing.assert_allclose(dscores, np.array([[1, -1, 0], [1 / 3 - 1, 1 / 3, 1 / 3],
                                                  [0.5, 0.5, -1]]) / 3, atol=1e-7)


def test_ce_large_batch_matches_textbook():
    # Large enough to run block by block on several threads.
    rng = np.random.default_rng(5)
    scores = rng.normal(0.0, 2.0, (300, 1000))
    y = rng.integers(0, 1000, 300)
    loss, cache = sce.forward(scores, y)
    shifted = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(300), y]))
    assert loss == pytest.approx(expected, rel=1e-13)
    onehot = np.zeros_like(p)
    onehot[np.arange(300), y] = 1
    np.testing.assert_allclose(sce.backward(0.5, cache), 0.5 * (p - onehot) / 300,
                               rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ce_dtype_is_kept(dtype):
    scores = np.random.default_rng(6).normal(size=(4, 5)).astype(dtype)
    loss, cache = sce.forward(scores, np.array([0, 1, 2, 4], dtype=np.uint8))
    assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert sce.backward(1.0, cache).dtype == dtype
    assert sce.backward(dtype(1.0), cache).dtype == dtype
    assert sce.backward(np.array(1.0, dtype=dtype), cache).dtype == dtype


def test_ce_dout_scales_and_inputs_are_not_mutated():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(3, 4))
    y = np.array([3, 0, 1])
    s0, y0 = scores.copy(), y.copy()
    _, cache = sce.forward(scores, y)
    d1 = sce.backward(1.0, cache)
    d3 = sce.backward(np.float64(-3.0), cache)
    np.testing.assert_allclose(d3, -3 * d1, rtol=1e-15)
    np.testing.assert_array_equal(sce.backward(0.0, cache), 0.0)
    np.testing.assert_array_equal(sce.backward(1.0, cache), d1)  # cache untouched
    np.testing.assert_array_equal(scores, s0)
    np.testing.assert_array_equal(y, y0)


def test_ce_bad_arguments():
    scores = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy\.forward: y must hold class "
                                         r"indices in \[0, 4\), found 4"):
        sce.forward(scores, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy\.forward: y .*found -1"):
        sce.forward(scores, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match=r"softmax_cross_entropy\.forward: y must be an integer"):
        sce.forward(scores, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy\.forward: y must have shape "
                                         r"\(3,\)"):
        sce.forward(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy\.forward: scores must be 2-D"):
        sce.forward(np.zeros(4), np.array([0]))
    with pytest.raises(TypeError, match=r"softmax_cross_entropy\.forward: scores .*int64"):
        sce.forward(np.zeros((3, 4), dtype=np.int64), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy\.forward: scores must have at "
                                         r"least one example"):
        sce.forward(np.zeros((0, 4)), np.zeros(0, dtype=int))
    _, cache = sce.forward(scores, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"softmax_cross_entropy\.backward: dout must be a "
                                         r"scalar"):
        sce.backward(np.ones(1), cache)
    with pytest.raises(TypeError, match=r"softmax_cross_entropy\.backward: dout has dtype "
                                        r"float32"):
        sce.backward(np.float32(1.0), cache)
    with pytest.raises(TypeError, match=r"softmax_cross_entropy\.backward: dout must be a real"):
        sce.backward("1.0", cache)


def test_ce_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    scores = rng.normal(0.0, 5.0, (9, 13))
    scores[0, :3] = [1e4, -1e4, 0.0]
    y = rng.integers(0, 13, 9)
    loss, cache = sce.forward(scores, y)
    dscores = sce.backward(0.7, cache)
    st = torch.tensor(scores, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(st, torch.tensor(y))
    lt.backward(torch.tensor(0.7, dtype=torch.float64))
    assert loss == pytest.approx(lt.item(), rel=1e-9)
    np.testing.assert_allclose(dscores, st.grad.numpy(), rtol=1e-9, atol=1e-15)


# --- Huber -----------------------------------------------------------------------------------


def test_huber_hand_computed():
    pred = np.array([0.5, 3.0, -2.0, 1.0])
    target = np.array([0.0, 0.0, 0.0, 1.0])
    # r = (0.5, 3, -2, 0): 0.125 (inside), 3 - 0.5 = 2.5 and 2 - 0.5 = 1.5 (outside), 0
    loss, cache = huber.forward(pred, target)
    assert loss == pytest.approx((0.125 + 2.5 + 1.5 + 0.0) / 4, rel=1e-15)
    # delta = 2: |r| = 2 is still quadratic (0.5 * 4 = 2); 3 gives 2 * (3 - 1) = 4
    loss2, _ = huber.forward(pred, target, delta=2.0)
    assert loss2 == pytest.approx((0.125 + 4.0 + 2.0 + 0.0) / 4, rel=1e-15)
    dpred, dtarget = huber.backward(1.0, cache)
    np.testing.assert_allclose(dpred, [0.5 / 4, 1 / 4, -1 / 4, 0.0], rtol=1e-15)
    np.testing.assert_allclose(dtarget, [-0.5 / 4, -1 / 4, 1 / 4, 0.0], rtol=1e-15)


def test_huber_gradient_for_large_errors_is_delta_over_n_not_zero():
    pred = np.array([[10.0, -50.0, 7.5], [0.1, 1e6, -3.0]])
    target = np.zeros_like(pred)
    delta = 1.5
    _, cache = huber.forward(pred, target, delta=delta)
    dpred, dtarget = huber.backward(1.0, cache)
    n = pred.size
    expected = np.array([[delta, -delta, delta], [0.1, delta, -delta]]) / n
    np.testing.assert_allclose(dpred, expected, rtol=1e-15)
    np.testing.assert_allclose(dtarget, -expected, rtol=1e-15)
    # Clipping the error itself and then differentiating 0.5 * clip(r)^2 would give 0 there.
    assert np.all(dpred[np.abs(pred) > delta] != 0)


@pytest.mark.parametrize("shape,delta,seed", [((7,), 1.0, 0), ((3, 5), 0.7, 1),
                                              ((2, 3, 4), 2.0, 2), ((2, 2, 2, 3), 1.0, 3)])
def test_huber_gradient_matches_numerical(shape, delta, seed):
    rng = np.random.default_rng(seed)
    pred = rng.normal(0.0, 2.0, shape)
    target = rng.normal(0.0, 1.0, shape)
    r = pred - target  # keep |r| away from the kinks at +-delta
    pred = np.where(np.abs(np.abs(r) - delta) < 0.05, target + 0.5 * delta, pred)
    dout = -0.8
    loss, cache = huber.forward(pred, target, delta=delta)
    assert loss == pytest.approx(textbook_huber(pred, target, delta), rel=1e-14)
    dpred, dtarget = huber.backward(dout, cache)
    num_p = numerical_grad(lambda p: dout * huber.forward(p, target, delta=delta)[0],
                           pred.copy())
    num_t = numerical_grad(lambda t: dout * huber.forward(pred, t, delta=delta)[0],
                           target.copy())
    assert rel_error(dpred, num_p) < 1e-8
    assert rel_error(dtarget, num_t) < 1e-8


def test_huber_large_input_matches_textbook():
    rng = np.random.default_rng(4)
    pred = rng.normal(0.0, 2.0, (300, 1000))
    target = rng.normal(0.0, 1.0, (300, 1000))
    loss, cache = huber.forward(pred, target, delta=0.8)
    r = pred - target
    expected = np.where(np.abs(r) <= 0.8, 0.5 * r * r, 0.8 * (np.abs(r) - 0.4)).mean()
    assert loss == pytest.approx(expected, rel=1e-13)
    dpred, dtarget = huber.backward(2.0, cache)
    np.testing.assert_allclose(dpred, 2.0 * np.clip(r, -0.8, 0.8) / r.size, rtol=1e-15)
    np.testing.assert_array_equal(dtarget, -dpred)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huber_dtype_is_kept(dtype):
    rng = np.random.default_rng(5)
    pred, target = rng.normal(size=(4, 5)).astype(dtype), rng.normal(size=(4, 5)).astype(dtype)
    loss, cache = huber.forward(pred, target)
    assert isinstance(loss, np.generic) and loss.dtype == dtype
    assert loss == pytest.approx(textbook_huber(pred.astype(np.float64),
                                                target.astype(np.float64), 1.0), rel=1e-6)
    dpred, dtarget = huber.backward(1.0, cache)
    assert dpred.dtype == dtype and dtarget.dtype == dtype
    loss, cache = huber.forward(pred, target, delta=np.float64(0.5))  # no upcast through delta
    assert loss.dtype == dtype and huber.backward(1.0, cache)[0].dtype == dtype


def test_huber_inputs_are_not_mutated_and_dout_zero_gives_zero():
    rng = np.random.default_rng(6)
    pred, target = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    p0, t0 = pred.copy(), target.copy()
    _, cache = huber.forward(pred, target, delta=0.5)
    dp0, dt0 = huber.backward(0.0, cache)
    np.testing.assert_array_equal(pred, p0)
    np.testing.assert_array_equal(target, t0)
    np.testing.assert_array_equal(dp0, 0.0)
    np.testing.assert_array_equal(dt0, 0.0)


def test_huber_bad_arguments():
    a, b = np.zeros((3, 4)), np.ones((3, 4))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=r"huber\.forward: delta must be > 0"):
            huber.forward(a, b, delta=bad)
    with pytest.raises(TypeError, match=r"huber\.forward: delta must be a positive real"):
        huber.forward(a, b, delta="1")
    with pytest.raises(ValueError, match=r"huber\.forward: target must have shape \(3, 4\) "
                                         r"to match pred, got \(3, 1\)"):
        huber.forward(a, np.ones((3, 1)))   # would broadcast: must be refused
    with pytest.raises(ValueError, match=r"huber\.forward: target must have shape"):
        huber.forward(a, np.ones(4))
    with pytest.raises(TypeError, match=r"huber\.forward: target has dtype float32 but pred "
                                        r"has dtype float64"):
        huber.forward(a, b.astype(np.float32))
    with pytest.raises(TypeError, match=r"huber\.forward: pred must be a numpy array"):
        huber.forward([0.0, 1.0], np.ones(2))
    _, cache = huber.forward(a, b)
    with pytest.raises(TypeError, match=r"huber\.backward: dout has dtype float32"):
        huber.backward(np.float32(1.0), cache)
    with pytest.raises(ValueError, match=r"huber\.backward: dout must be a scalar"):
        huber.backward(np.ones((3, 4)), cache)


def test_huber_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    pred, target = rng.normal(0.0, 2.0, (5, 7)), rng.normal(size=(5, 7))
    for delta in (1.0, 0.3, 2.5):
        loss, cache = huber.forward(pred, target, delta=delta)
        dpred, dtarget = huber.backward(1.3, cache)
        pt = torch.tensor(pred, requires_grad=True)
        tt = torch.tensor(target, requires_grad=True)
        lt = torch.nn.HuberLoss(delta=delta)(pt, tt)
        lt.backward(torch.tensor(1.3, dtype=torch.float64))
        assert loss == pytest.approx(lt.item(), rel=1e-9)
        np.testing.assert_allclose(dpred, pt.grad.numpy(), rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(dtarget, tt.grad.numpy(), rtol=1e-9, atol=1e-15)


# --- MSE -------------------------------------------------------------------------------------


def test_mse_hand_computed():
    pred, target = np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 5.0])
    # r = (1, 0, -2): mean r^2 = 5 / 3 (no factor 1/2); dpred = 2 r / 3
    loss, cache = mse.forward(pred, target)
    assert loss == pytest.approx(5 / 3, rel=1e-15)
    dpred, dtarget = mse.backward(1.0, cache)
    np.testing.assert_allclose(dpred, [2 / 3, 0.0, -4 / 3], rtol=1e-15)
    np.testing.assert_allclose(dtarget, [-2 / 3, 0.0, 4 / 3], rtol=1e-15)


@pytest.mark.parametrize("shape,seed", [((7,), 0), ((3, 5), 1), ((2, 3, 4), 2)])
def test_mse_gradient_matches_numerical(shape, seed):
    rng = np.random.default_rng(seed)
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    dout = 2.5
    _, cache = mse.forward(pred, target)
    dpred, dtarget = mse.backward(dout, cache)
    num_p = numerical_grad(lambda p: dout * mse.forward(p, target)[0], pred.copy())
    num_t = numerical_grad(lambda t: dout * mse.forward(pred, t)[0], target.copy())
    assert rel_error(dpred, num_p) < 1e-8
    assert rel_error(dtarget, num_t) < 1e-8


def test_mse_large_input_dtype_and_no_mutation():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        pred = rng.normal(size=(300, 1000)).astype(dtype)
        target = rng.normal(size=(300, 1000)).astype(dtype)
        p0, t0 = pred.copy(), target.copy()
        loss, cache = mse.forward(pred, target)
        r = pred.astype(np.float64) - target.astype(np.float64)
        assert isinstance(loss, np.generic) and loss.dtype == dtype
        tol = 1e-6 if dtype == np.float32 else 1e-13
        assert loss == pytest.approx(np.mean(r * r), rel=tol)
        dpred, dtarget = mse.backward(1.0, cache)
        assert dpred.dtype == dtype and dtarget.dtype == dtype
        np.testing.assert_allclose(dpred, 2 * r / r.size, rtol=tol, atol=1e-12)
        np.testing.assert_array_equal(dtarget, -dpred)
        np.testing.assert_array_equal(pred, p0)
        np.testing.assert_array_equal(target, t0)


@pytest.mark.parametrize("mod", [huber, mse])
def test_regression_losses_accept_any_shape(mod):
    for shape in [(), (1,), (2, 1, 3, 1)]:
        pred, target = np.full(shape, 2.5), np.full(shape, 0.5)
        loss, cache = mod.forward(pred, target)
        assert loss == pytest.approx(1.5 if mod is huber else 4.0, rel=1e-15)
        grads = mod.backward(1.0, cache)
        for g in grads:
            assert isinstance(g, np.ndarray) and g.shape == shape and g.dtype == np.float64


def test_mse_bad_arguments():
    a = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"mse\.forward: target must have shape \(2, 3\)"):
        mse.forward(a, np.zeros((1, 3)))
    with pytest.raises(TypeError, match=r"mse\.forward: target has dtype float32"):
        mse.forward(a, a.astype(np.float32))
    with pytest.raises(TypeError, match=r"mse\.forward: target must have dtype float32 or "
                                        r"float64, got int64"):
        mse.forward(a, np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"mse\.forward: pred must have at least one element"):
        mse.forward(np.zeros(0), np.zeros(0))
    _, cache = mse.forward(a, a)
    with pytest.raises(TypeError, match=r"mse\.backward: dout must be a real number"):
        mse.backward(None, cache)


def test_mse_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    pred, target = rng.normal(size=(4, 6, 2)), rng.normal(size=(4, 6, 2))
    loss, cache = mse.forward(pred, target)
    dpred, dtarget = mse.backward(0.5, cache)
    pt = torch.tensor(pred, requires_grad=True)
    tt = torch.tensor(target, requires_grad=True)
    lt = torch.nn.functional.mse_loss(pt, tt)
    lt.backward(torch.tensor(0.5, dtype=torch.float64))
    assert loss == pytest.approx(lt.item(), rel=1e-9)
    np.testing.assert_allclose(dpred, pt.grad.numpy(), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(dtarget, tt.grad.numpy(), rtol=1e-9, atol=1e-15)
