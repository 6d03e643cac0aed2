"""Gradient clipping: global-norm rescaling and elementwise clipping, in place."""

from __future__ import annotations

import math

import numpy as np
import pytest

from handgrad.optim import NonFiniteGradientError, clip_grad_norm, clip_grad_value, global_norm


def test_clip_grad_norm_by_hand():
    # |g| = sqrt(3^2 + 4^2 + 12^2) = sqrt(169) = 13; scale = 6.5 / (13 + 1e-6)
    grads = {"W": np.array([[3.0, 4.0]]), "b": np.array([12.0])}
    norm = clip_grad_norm(grads, 6.5)
    assert norm == 13.0
    scale = 6.5 / (13.0 + 1e-6)
    assert np.array_equal(grads["W"], np.array([[3.0, 4.0]]) * scale)
    assert grads["b"][0] == 12.0 * scale
    assert math.sqrt(sum(float((g ** 2).sum()) for g in grads.values())) == pytest.approx(6.5)


def test_clip_grad_norm_in_place_and_no_change_below_the_limit():
    W = np.array([3.0, 4.0])
    grads = {"W": W}
    assert clip_grad_norm(grads, 5.0 + 1e-3) == 5.0  # scale = 5.001 / 5.000001 > 1: untouched
    assert grads["W"] is W and np.array_equal(W, [3.0, 4.0])
    clip_grad_norm(grads, 1.0)
    assert grads["W"] is W and np.allclose(W, [0.6, 0.8], atol=1e-6)


def test_clip_grad_norm_against_the_definition_random():
    rng = np.random.default_rng(0)
    grads = {f"p{i}": rng.normal(size=shape) * 10 for i, shape in
             enumerate([(5, 3), (3,), (2, 2, 2)])}
    orig = {k: v.copy() for k, v in grads.items()}
    total = math.sqrt(sum(float(x) ** 2 for g in orig.values() for x in g.ravel()))
    norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(total, rel=1e-12)
    for k in grads:  # same direction, common factor
        assert np.allclose(grads[k], orig[k] * (1.0 / (total + 1e-6)), rtol=1e-12)


def test_clip_grad_norm_float32_stays_float32():
    grads = {"W": np.full((10,), 100.0, dtype=np.float32)}
    norm = clip_grad_norm(grads, 1.0)
    assert isinstance(norm, float) and norm == pytest.approx(math.sqrt(10) * 100, rel=1e-6)
    assert grads["W"].dtype == np.float32
    assert float(np.linalg.norm(grads["W"].astype(np.float64))) == pytest.approx(1.0, rel=1e-5)


def test_huge_but_finite_float32_gradients_are_not_an_error():
    grads = {"W": np.full(4, 1e30, dtype=np.float32)}  # squares overflow float32
    norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(2e30, rel=1e-6)
    assert np.allclose(grads["W"], 0.5, rtol=1e-5)


def test_non_finite_norm_names_the_parameter():
    grads = {"W1": np.ones(3), "b2": np.array([1.0, np.nan]), "W3": np.array([np.inf])}
    before = {k: v.copy() for k, v in grads.items()}
    with pytest.raises(NonFiniteGradientError, match="'b2' contains NaN") as info:
        clip_grad_norm(grads, 1.0)
    assert info.value.param == "b2"
    assert isinstance(info.value, ValueError)
    assert np.array_equal(grads["W1"], before["W1"])  # nothing rescaled
    with pytest.raises(ValueError, match="'W3' contains inf"):
        global_norm({"W3": np.array([1.0, -np.inf])})


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), None, "1"])
def test_bad_max_norm(bad):
    with pytest.raises(ValueError, match="max_norm must be a positive finite number"):
        clip_grad_norm({"W": np.ones(2)}, bad)


def test_clip_grad_value_by_hand():
    W = np.array([[-3.0, 0.5], [2.0, -0.25]])
    grads = {"W": W, "b": np.array([1.5, np.nan])}
    assert clip_grad_value(grads, 1.0) is None
    assert grads["W"] is W
    assert np.array_equal(W, [[-1.0, 0.5], [1.0, -0.25]])
    assert grads["b"][0] == 1.0 and np.isnan(grads["b"][1])
    with pytest.raises(ValueError, match="clip_value must be a positive"):
        clip_grad_value(grads, 0.0)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=s) * 3 for s in [(4, 3), (3,), (2, 5)]]
    for max_norm in (0.5, 100.0):
        params = [torch.nn.Parameter(torch.zeros(a.shape, dtype=torch.float64)) for a in arrays]
        for p, a in zip(params, arrays, strict=True):
            p.grad = torch.tensor(a)
        expected_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        grads = {str(i): a.copy() for i, a in enumerate(arrays)}
        assert clip_grad_norm(grads, max_norm) == pytest.approx(expected_norm, rel=1e-12)
        for i, p in enumerate(params):
            assert np.allclose(grads[str(i)], p.grad.numpy(), rtol=1e-12, atol=0)
    params = [torch.nn.Parameter(torch.zeros(a.shape, dtype=torch.float64)) for a in arrays]
    for p, a in zip(params, arrays, strict=True):
        p.grad = torch.tensor(a)
    torch.nn.utils.clip_grad_value_(params, 0.7)
    grads = {str(i): a.copy() for i, a in enumerate(arrays)}
    clip_grad_value(grads, 0.7)
    for i, p in enumerate(params):
        assert np.array_equal(grads[str(i)], p.grad.numpy())
