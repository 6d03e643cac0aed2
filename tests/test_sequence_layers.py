"""embedding, temporal_affine and temporal_softmax_cross_entropy: values worked out
independently, gradients against centred differences, contract details."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from handgrad.layers import embedding, temporal_affine
from handgrad.losses import temporal_softmax_cross_entropy as tsce


def num_grad(f, x, dout=None, h=1e-6):
    """Centred differences of sum(f(x) * dout) (or of scalar f) with respect to x."""
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = np.asarray(f(x), dtype=np.float64)
        x[idx] = old - h
        minus = np.asarray(f(x), dtype=np.float64)
        x[idx] = old
        diff = plus - minus if dout is None else (plus - minus) * dout
        grad[idx] = diff.sum() / (2 * h)
    return grad


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


# ------------------------------------------------------------------------------- embedding
def test_embedding_forward_is_row_lookup():
    W = np.arange(12, dtype=np.float64).reshape(4, 3)
    idx = np.array([[0, 3], [2, 2]])
    out, _ = embedding.forward(idx, W)
    expected = np.array([[[0, 1, 2], [9, 10, 11]], [[6, 7, 8], [6, 7, 8]]], dtype=np.float64)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float64


def test_embedding_backward_accumulates_repeated_indices():
    W = np.zeros((5, 2))
    idx = np.array([[1, 1, 4], [1, 0, 4]])
    dout = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                     [[10.0, 20.0], [0.5, 0.25], [-5.0, 1.0]]])
    _, cache = embedding.forward(idx, W)
    dW = embedding.backward(dout, cache)
    expected = np.zeros((5, 2))
    expected[1] = [1 + 3 + 10, 2 + 4 + 20]
    expected[0] = [0.5, 0.25]
    expected[4] = [5 - 5, 6 + 1]
    np.testing.assert_array_equal(dW, expected)


def test_embedding_gradient_matches_numerical():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((7, 4))
    idx = rng.integers(0, 7, size=(3, 5))
    out, cache = embedding.forward(idx, W)
    dout = rng.standard_normal(out.shape)
    dW = embedding.backward(dout, cache)
    numeric = num_grad(lambda w: embedding.forward(idx, w)[0], W, dout)
    assert rel_error(dW, numeric) < 1e-8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_keeps_dtype_and_matches_add_at(dtype):
    rng = np.random.default_rng(1)
    W = rng.standard_normal((30, 8)).astype(dtype)
    idx = rng.integers(0, 30, size=(16, 20))
    out, cache = embedding.forward(idx, W)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dW = embedding.backward(dout, cache)
    reference = np.zeros((30, 8))
    np.add.at(reference, idx.ravel(), dout.reshape(-1, 8).astype(np.float64))
    assert out.dtype == dtype and dW.dtype == dtype and dW.shape == W.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dW, reference, rtol=tol, atol=tol)


def test_embedding_validation():
    W = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"embedding.forward: idx .*\[0, 4\).* found 4"):
        embedding.forward(np.array([[0, 4]]), W)
    with pytest.raises(ValueError, match="found -1"):
        embedding.forward(np.array([[-1, 0]]), W)
    with pytest.raises(TypeError, match="idx must be an integer"):
        embedding.forward(np.array([[0.0, 1.0]]), W)
    with pytest.raises(TypeError, match="W must have dtype"):
        embedding.forward(np.array([[0]]), np.zeros((4, 3), dtype=np.int64))
    _, cache = embedding.forward(np.array([[0, 1]]), W)
    with pytest.raises(ValueError, match=r"dout must have shape \(1, 2, 3\)"):
        embedding.backward(np.zeros((1, 2, 4)), cache)
    with pytest.raises(TypeError, match="dtype"):
        embedding.backward(np.zeros((1, 2, 3), dtype=np.float32), cache)


def test_embedding_does_not_mutate_inputs():
    W = np.random.default_rng(2).standard_normal((5, 3))
    idx = np.array([[1, 2, 1]])
    W0, idx0 = W.copy(), idx.copy()
    out, cache = embedding.forward(idx, W)
    out[...] = 99.0  # the output must not be a view of W
    dout = np.ones((1, 3, 3))
    embedding.backward(dout, cache)
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(idx, idx0)
    np.testing.assert_array_equal(dout, np.ones((1, 3, 3)))


# ------------------------------------------------------------------------- temporal affine
def test_temporal_affine_equals_affine_at_every_step():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 3))
    w = rng.standard_normal((3, 5))
    b = rng.standard_normal(5)
    out, _ = temporal_affine.forward(x, w, b)
    assert out.shape == (2, 4, 5)
    for n in range(2):
        for t in range(4):
            manual = [sum(x[n, t, d] * w[d, m] for d in range(3)) + b[m] for m in range(5)]
            np.testing.assert_allclose(out[n, t], manual, rtol=1e-12)


def test_temporal_affine_gradients_match_numerical():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5))
    w = rng.standard_normal((5, 2))
    b = rng.standard_normal(2)
    out, cache = temporal_affine.forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = temporal_affine.backward(dout, cache)
    assert rel_error(dx, num_grad(lambda v: temporal_affine.forward(v, w, b)[0], x, dout)) < 1e-8
    assert rel_error(dw, num_grad(lambda v: temporal_affine.forward(x, v, b)[0], w, dout)) < 1e-8
    assert rel_error(db, num_grad(lambda v: temporal_affine.forward(x, w, v)[0], b, dout)) < 1e-8


def test_temporal_affine_float32_and_validation():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    w = rng.standard_normal((4, 6)).astype(np.float32)
    b = np.zeros(6, dtype=np.float32)
    out, cache = temporal_affine.forward(x, w, b)
    grads = temporal_affine.backward(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert [g.dtype for g in grads] == [np.float32] * 3
    assert [g.shape for g in grads] == [x.shape, w.shape, b.shape]
    with pytest.raises(ValueError, match=r"temporal_affine.forward: w has shape \(5, 6\)"):
        temporal_affine.forward(x, np.zeros((5, 6), dtype=np.float32), b)
    with pytest.raises(TypeError, match="dtype"):
        temporal_affine.forward(x, w.astype(np.float64), b)
    with pytest.raises(ValueError, match="3-D"):
        temporal_affine.forward(x[0], w, b)
    with pytest.raises(ValueError, match="b must have shape"):
        temporal_affine.forward(x, w, np.zeros(5, dtype=np.float32))


# ------------------------------------------------------------- temporal softmax cross-entropy
def manual_temporal_loss(scores, y, mask):
    n, t, _ = scores.shape
    total = 0.0
    for i in range(n):
        for j in range(t):
            if mask[i, j]:
                row = [float(s) for s in scores[i, j]]
                m = max(row)
                log_sum = m + np.log(sum(np.exp(s - m) for s in row))
                total += log_sum - row[y[i, j]]
    return total / n


def test_temporal_ce_equals_loop_over_masked_positions():
    rng = np.random.default_rng(6)
    scores = rng.standard_normal((3, 4, 5))
    y = rng.integers(0, 5, size=(3, 4))
    mask = rng.random((3, 4)) > 0.3
    loss, _ = tsce.forward(scores, y, mask)
    assert isinstance(loss, np.float64)
    assert loss == pytest.approx(manual_temporal_loss(scores, y, mask), rel=1e-12)


def test_temporal_ce_hand_computed_value():
    # uniform scores over V = 4: each counted step costs log 4; 3 counted steps, N = 2
    scores = np.zeros((2, 2, 4))
    y = np.array([[0, 1], [2, -1]])
    mask = np.array([[True, True], [True, False]])
    loss, cache = tsce.forward(scores, y, mask)
    assert loss == pytest.approx(3 * np.log(4) / 2, rel=1e-14)
    dscores = tsce.backward(1.0, cache)
    expected = np.full((2, 2, 4), 0.25 / 2)
    expected[0, 0, 0] -= 0.5
    expected[0, 1, 1] -= 0.5
    expected[1, 0, 2] -= 0.5
    expected[1, 1] = 0.0
    np.testing.assert_allclose(dscores, expected, rtol=1e-14, atol=1e-15)


def test_temporal_ce_gradient_matches_numerical():
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((3, 5, 6))
    y = rng.integers(0, 6, size=(3, 5))
    mask = rng.random((3, 5)) > 0.4
    loss, cache = tsce.forward(scores, y, mask)
    dscores = tsce.backward(1.0, cache)
    numeric = num_grad(lambda s: tsce.forward(s, y, mask)[0], scores)
    assert rel_error(dscores, numeric) < 1e-7
    assert np.all(dscores[~mask] == 0)
    half = tsce.backward(np.float64(0.5), cache)
    np.testing.assert_allclose(half, 0.5 * dscores, rtol=1e-14)


def test_temporal_ce_mask_none_means_all_positions():
    rng = np.random.default_rng(8)
    scores = rng.standard_normal((2, 3, 4))
    y = rng.integers(0, 4, size=(2, 3))
    full, _ = tsce.forward(scores, y)
    assert full == pytest.approx(manual_temporal_loss(scores, y, np.ones((2, 3), bool)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_temporal_ce_stable_for_huge_logits(dtype):
    scores = np.zeros((2, 2, 3), dtype=dtype)
    scores[0, 0] = [1e4, -1e4, 0]
    scores[1, 1] = [-1e4, 1e4, 1e4]
    y = np.array([[1, 0], [2, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, cache = tsce.forward(scores, y, np.ones((2, 2), bool))
        dscores = tsce.backward(1.0, cache)
    assert np.isfinite(loss) and np.all(np.isfinite(dscores))
    assert loss.dtype == dtype and dscores.dtype == dtype
    # (0, 0) costs 1e4 - (-1e4) = 2e4; (0, 1) and (1, 0) cost log 3;
    # (1, 1) costs log(2 e^1e4) - (-1e4) = 2e4 + log 2
    expected = (2e4 + 2 * np.log(3) + 2e4 + np.log(2)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_temporal_ce_validation():
    scores = np.zeros((2, 3, 4))
    y = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"y must have shape \(2, 3\)"):
        tsce.forward(scores, np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="y must be an integer"):
        tsce.forward(scores, y.astype(float))
    with pytest.raises(TypeError, match="mask must be a bool"):
        tsce.forward(scores, y, np.ones((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[0, 4\).*found 4"):
        tsce.forward(scores, np.full((2, 3), 4), np.ones((2, 3), bool))
    # an out-of-range target at a masked-out position is padding, not an error
    y_pad = y.copy()
    y_pad[1, 2] = -1
    mask = np.ones((2, 3), bool)
    mask[1, 2] = False
    tsce.forward(scores, y_pad, mask)
    _, cache = tsce.forward(scores, y)
    with pytest.raises(TypeError, match="dout must be a real number"):
        tsce.backward("1", cache)
    with pytest.raises(ValueError, match="dout must be a scalar"):
        tsce.backward(np.ones(2), cache)
    with pytest.raises(TypeError, match="dtype float32"):
        tsce.backward(np.float32(1.0), cache)
