"""The squared loss of a clipped error (handgrad.losses.clipped_error_mse): values worked out by
hand, numerical gradients, exactly-zero gradients beyond the clip, agreement with Huber inside
it, stability and argument checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from handgrad.losses import clipped_error_mse as cem
from handgrad.losses import huber


def test_hand_computed_2x2():
    pred = np.array([[0.5, 3.0], [-2.0, 0.2]])
    target = np.zeros((2, 2))
    loss, cache = cem.forward(pred, target, clip=1.0)
    # clipped errors 0.5, 1, -1, 0.2 -> squares 0.25, 1, 1, 0.04 -> 2.29 / (2 * 4)
    assert loss == pytest.approx(2.29 / 8, rel=1e-15)
    dpred, dtarget = cem.backward(1.0, cache)
    np.testing.assert_allclose(dpred, [[0.5 / 4, 0.0], [0.0, 0.2 / 4]], rtol=1e-15)
    np.testing.assert_array_equal(dtarget, -dpred)
    assert dpred[0, 1] == 0.0 and dpred[1, 0] == 0.0   # exactly zero, not small


def _numerical(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = f(x)
        x[idx] = old - h
        minus = f(x)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("clip", [0.5, 1.0, 2.5])
def test_gradient_matches_numerical_away_from_the_kink(seed, clip):
    rng = np.random.default_rng(seed)
    target = rng.standard_normal((5, 3))
    pred = target + rng.uniform(-3 * clip, 3 * clip, (5, 3))
    r = pred - target
    pred[np.abs(np.abs(r) - clip) < 1e-3] += 0.01  # keep off the kink
    dout = 1.7
    _, cache = cem.forward(pred, target, clip=clip)
    dpred, dtarget = cem.backward(dout, cache)
    num_p = _numerical(lambda p: dout * float(cem.forward(p, target, clip=clip)[0]), pred.copy())
    num_t = _numerical(lambda t: dout * float(cem.forward(pred, t, clip=clip)[0]),
                       target.copy())
    np.testing.assert_allclose(dpred, num_p, atol=1e-9)
    np.testing.assert_allclose(dtarget, num_t, atol=1e-9)


def test_zero_gradient_exactly_where_the_error_exceeds_the_clip_huber_none():
    rng = np.random.default_rng(3)
    target = rng.normal(0.0, 4.0, (200, 1))
    pred = np.zeros((200, 1))
    over = np.abs(pred - target) > 1.0
    assert 0 < over.sum() < 200
    dpred, _ = cem.backward(1.0, cem.forward(pred, target, clip=1.0)[1])
    np.testing.assert_array_equal(dpred == 0, over)
    dhuber, _ = huber.backward(1.0, huber.forward(pred, target, delta=1.0)[1])
    assert not np.any(dhuber == 0)
    # Huber clips the gradient to +-delta / n where the clipped error gives 0.
    np.testing.assert_allclose(np.abs(dhuber[over]), 1.0 / 200)


def test_equals_huber_inside_the_clip():
    rng = np.random.default_rng(4)
    target = rng.standard_normal((6, 4))
    pred = target + rng.uniform(-1.2, 1.2, (6, 4))
    a, ca = cem.forward(pred, target, clip=1.3)
    b, cb = huber.forward(pred, target, delta=1.3)
    assert a == pytest.approx(float(b), rel=1e-14)
    np.testing.assert_allclose(cem.backward(0.3, ca)[0], huber.backward(0.3, cb)[0],
                               rtol=1e-14)


def test_boundary_passes_the_gradient_like_clip_by_value():
    pred, target = np.array([1.0, -1.0, 0.5]), np.zeros(3)
    dpred, _ = cem.backward(1.0, cem.forward(pred, target, clip=1.0)[1])
    np.testing.assert_array_equal(dpred, [1 / 3, -1 / 3, 0.5 / 3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept_extremes_finite_and_silent(dtype):
    pred = np.array([[1e4, -1e4, 0.25], [3e38 if dtype == np.float32 else 1e300, 0.0, -0.5]],
                    dtype=dtype)
    target = np.array([[-1e4, 1e4, 0.0], [-pred[1, 0], 0.5, 0.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, cache = cem.forward(pred, target, clip=2.0)
        dpred, dtarget = cem.backward(dtype(1.0), cache)
    assert isinstance(loss, np.floating) and loss.dtype == dtype
    assert dpred.dtype == dtype and dtarget.dtype == dtype
    # errors beyond the clip (even an overflowing one) count clip**2 / 2 and get no gradient
    expected = (4 + 4 + 0.0625 + 4 + 0.25 + 0.25) / (2 * 6)
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(dpred, np.array([[0, 0, 0.25], [0, -0.5, -0.5]]) / 6,
                               rtol=1e-6)


def test_nan_propagates_and_inputs_are_not_mutated():
    pred = np.array([np.nan, 0.5])
    target = np.zeros(2)
    before = pred.copy()
    loss, cache = cem.forward(pred, target)
    assert np.isnan(loss)
    assert np.isnan(cem.backward(1.0, cache)[0][0])
    np.testing.assert_array_equal(pred, before)


def test_bad_arguments():
    x = np.zeros((2, 2))
    with pytest.raises(ValueError, match="clip must be > 0"):
        cem.forward(x, x, clip=0.0)
    with pytest.raises(TypeError, match="clip must be a positive real"):
        cem.forward(x, x, clip=True)
    with pytest.raises(ValueError, match="target must have shape"):
        cem.forward(x, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="dtype"):
        cem.forward(x, x.astype(np.float32))
    _, cache = cem.forward(x, x)
    with pytest.raises(ValueError, match="scalar"):
        cem.backward(np.ones(2), cache)


def test_registered_for_the_gradient_checker():
    from handgrad.gradcheck import REGISTRY, check_op

    spec = REGISTRY["clipped_error_mse"]
    args, kwargs = spec.inputs(seed=0)
    r = args[0] - args[1]
    assert np.any(np.abs(r) > kwargs["clip"]) and np.any(np.abs(r) < kwargs["clip"])
    check_op("clipped_error_mse").raise_if_failed()


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    pred, target = rng.normal(0, 2, (7, 3)), rng.normal(0, 2, (7, 3))
    p = torch.tensor(pred, requires_grad=True)
    t = torch.tensor(target, requires_grad=True)
    ref = torch.clamp(p - t, -1.5, 1.5).pow(2).mean() / 2
    ref.backward()
    loss, cache = cem.forward(pred, target, clip=1.5)
    dpred, dtarget = cem.backward(1.0, cache)
    assert float(loss) == pytest.approx(ref.item(), rel=1e-13)
    np.testing.assert_allclose(dpred, p.grad.numpy(), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(dtarget, t.grad.numpy(), rtol=1e-13, atol=1e-16)
