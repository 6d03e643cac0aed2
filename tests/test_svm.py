"""svm (multiclass hinge loss): CS231n's worked example by hand, a loop from the definition,
gradients by hand and against numerical ones away from the kinks, the registry's kink
distances, the margin option, stability, dtypes and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from handgrad.gradcheck import check_op
from handgrad.gradcheck import registry as reg
from handgrad.losses import svm


def svm_loop(scores, y, margin=1.0):
    """The loss and its gradient written out one example and one class at a time."""
    n, c = scores.shape
    loss, grad = 0.0, np.zeros((n, c))
    for i in range(n):
        for j in range(c):
            if j == y[i]:
                continue
            m = float(scores[i, j]) - float(scores[i, y[i]]) + margin
            if m > 0:
                loss += m
                grad[i, j] += 1.0
                grad[i, y[i]] -= 1.0
    return loss / n, grad / n


def test_the_cs231n_worked_example():
    """Scores of a cat, a car and a frog image: per-example losses 2.9, 0 and 12.9."""
    scores = np.array([[3.2, 5.1, -1.7],    # cat image, label cat (0)
                       [1.3, 4.9, 2.0],     # car image, label car (1)
                       [2.2, 2.5, -3.1]])   # frog image, label frog (2)
    y = np.array([0, 1, 2])
    loss, cache = svm.forward(scores, y)
    assert float(loss) == pytest.approx((2.9 + 0.0 + 12.9) / 3, rel=1e-12)
    dscores = svm.backward(1.0, cache)
    # cat: only the car margin (5.1 - 3.2 + 1 = 2.9) is active; car: none; frog: both
    np.testing.assert_allclose(dscores, np.array([[-1, 1, 0], [0, 0, 0], [1, 1, -2]]) / 3,
                               rtol=1e-15)
    np.testing.assert_allclose(svm.backward(2.5, cache), 2.5 * dscores, rtol=1e-15)


@pytest.mark.parametrize("n, c, margin", [(7, 5, 1.0), (1, 4, 1.0), (12, 2, 0.5), (5, 11, 3.0)])
def test_matches_the_definition(n, c, margin):
    rng = np.random.default_rng([n, c])
    scores, y = rng.standard_normal((n, c)) * 2, rng.integers(0, c, n)
    loss, cache = svm.forward(scores, y, margin=margin)
    ref_loss, ref_grad = svm_loop(scores, y, margin)
    assert np.ndim(loss) == 0 and float(loss) == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(svm.backward(1.0, cache), ref_grad, rtol=1e-15)


@pytest.mark.parametrize("n, c, margin, seed", [(4, 5, 1.0, 0), (6, 3, 0.5, 1), (3, 8, 2.0, 2),
                                                (5, 2, 1.0, 3)])
def test_gradients_match_numerical_away_from_the_kinks(n, c, margin, seed):
    spec = reg.get("svm")
    for attempt in range(50):
        rng = np.random.default_rng([seed, attempt])
        scores, y = rng.standard_normal((n, c)) * 1.5, rng.integers(0, c, n)
        distance = spec.kink_distance((scores, y), {"margin": margin})[0]
        if distance.min() > 1e-3:
            break
    report = check_op(svm, scores, y, margin=margin)
    report.raise_if_failed()
    assert report.verdict == "ok"


def test_kink_distances_follow_the_definition():
    scores = np.array([[0.5, 1.0, -2.0], [3.0, 0.0, 2.75]])
    y = np.array([1, 0])
    found = reg.get("svm").kink_distance((scores, y), {"margin": 1.0})[0]
    # row 0, correct score 1.0: terms 0.5 - 1 + 1 = 0.5 and -2 - 1 + 1 = -2
    # row 1, correct score 3.0: terms 0 - 3 + 1 = -2 and 2.75 - 3 + 1 = 0.75
    np.testing.assert_allclose(found, [[0.5, 0.5, 2.0], [0.75, 2.0, 0.75]])


def test_well_classified_examples_contribute_nothing():
    scores = np.array([[5.0, 1.0, 3.9], [0.0, 0.2, 0.1]])
    y = np.array([0, 1])
    loss, cache = svm.forward(scores, y)
    # row 0: every wrong class is more than 1 below: 0; row 1: 0.8 + 0.9
    assert float(loss) == pytest.approx(1.7 / 2, rel=1e-12)
    dscores = svm.backward(1.0, cache)
    np.testing.assert_array_equal(dscores[0], 0)
    np.testing.assert_allclose(dscores[1], [0.5, -1.0, 0.5])
    np.testing.assert_allclose(dscores.sum(axis=1), 0, atol=1e-15)


def test_a_larger_margin_raises_the_loss_by_the_active_terms():
    scores = np.array([[1.0, 0.5, -0.25]])
    y = np.array([0])
    assert float(svm.forward(scores, y)[0]) == pytest.approx(0.5 + 0.0)      # 0.5, -0.25 -> 0
    assert float(svm.forward(scores, y, margin=2.0)[0]) == pytest.approx(1.5 + 0.75)


def test_one_class_costs_nothing():
    loss, cache = svm.forward(np.array([[2.0], [-1.0]]), np.array([0, 0]))
    assert float(loss) == 0.0
    np.testing.assert_array_equal(svm.backward(1.0, cache), [[0.0], [0.0]])


def test_extreme_scores_stay_finite_without_warnings():
    scores = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [1e300, -1e300, 1.0]])
    y = np.array([0, 0, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        loss, cache = svm.forward(scores, y)
        dscores = svm.backward(1.0, cache)
    # row 0: both wrong classes far below; row 1: two terms of 2e4 + 1; row 2: one of 1e300
    assert float(loss) == pytest.approx((2e4 + 1 + 2e4 + 1 + 1e300) / 3)
    np.testing.assert_allclose(dscores, np.array([[0, 0, 0], [-2, 1, 1], [1, 0, -1]]) / 3)


def test_float32_stays_float32():
    rng = np.random.default_rng(4)
    scores, y = (rng.standard_normal((6, 5)) * 2).astype(np.float32), rng.integers(0, 5, 6)
    loss, cache = svm.forward(scores, y, margin=np.float64(1.0))
    assert isinstance(loss, np.float32)
    assert float(loss) == pytest.approx(svm_loop(scores.astype(np.float64), y)[0], rel=1e-6)
    dscores = svm.backward(np.float32(1.0), cache)
    assert dscores.dtype == np.float32 and dscores.shape == scores.shape


def test_nothing_is_mutated():
    rng = np.random.default_rng(5)
    scores, y = rng.standard_normal((4, 3)), np.array([2, 0, 1, 1])
    s_copy, y_copy = scores.copy(), y.copy()
    _, cache = svm.forward(scores, y)
    svm.backward(1.0, cache)
    np.testing.assert_array_equal(scores, s_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_bad_arguments_raise_clear_errors():
    scores, y = np.ones((3, 4)) * 0.5, np.array([0, 3, 1])
    with pytest.raises(ValueError, match=r"svm\.forward: y must hold class indices in \[0, 4\), "
                                         r"found 4"):
        svm.forward(scores, np.array([0, 4, 1]))
    with pytest.raises(TypeError, match=r"svm\.forward: y must be an integer numpy array"):
        svm.forward(scores, y.astype(float))
    with pytest.raises(ValueError, match=r"svm\.forward: y must have shape \(3,\)"):
        svm.forward(scores, y[:2])
    with pytest.raises(ValueError, match=r"svm\.forward: scores must be 2-D"):
        svm.forward(scores[0], y[:1])
    with pytest.raises(ValueError, match=r"svm\.forward: scores must have at least one example"):
        svm.forward(np.ones((0, 4)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"svm\.forward: margin must be > 0, got 0"):
        svm.forward(scores, y, margin=0)
    _, cache = svm.forward(scores, y)
    with pytest.raises(ValueError, match=r"svm\.backward: dout must be a scalar"):
        svm.backward(np.ones(3), cache)
    with pytest.raises(TypeError, match=r"svm\.backward: dout has dtype float32 but the loss "
                                        r"has dtype float64"):
        svm.backward(np.float32(1.0), cache)
