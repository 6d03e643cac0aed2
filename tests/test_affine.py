"""affine: forward values worked out independently, gradients against centred differences."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad.layers import affine


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


def loop_affine(x, w, b):
    """out[n, m] = sum_d x[n, d] w[d, m] + b[m], one multiply-add at a time."""
    x2 = x.reshape(x.shape[0], -1)
    out = np.zeros((x2.shape[0], w.shape[1]))
    for n in range(x2.shape[0]):
        for m in range(w.shape[1]):
            out[n, m] = b[m] + sum(x2[n, d] * w[d, m] for d in range(x2.shape[1]))
    return out


def make(rng, x_shape, m, dtype=np.float64):
    d = int(np.prod(x_shape[1:]))
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((d, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    return x, w, b


def test_forward_hand_worked():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    b = np.array([0.5, -1.0, 2.0])
    out, _ = affine.forward(x, w, b)
    np.testing.assert_array_equal(out, [[5.5, 1.0, 1.0], [11.5, 3.0, -1.0]])


@pytest.mark.parametrize("x_shape, m", [((3, 5), 4), ((1, 7), 2), ((2, 3, 4, 5), 3),
                                        ((5, 1), 1), ((4, 2, 3), 6)])
def test_forward_matches_loop(x_shape, m):
    x, w, b = make(np.random.default_rng(len(x_shape) + m), x_shape, m)
    out, _ = affine.forward(x, w, b)
    assert out.shape == (x_shape[0], m)
    np.testing.assert_allclose(out, loop_affine(x, w, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("x_shape, m", [((3, 5), 4), ((1, 7), 2), ((2, 3, 4, 5), 3),
                                        ((5, 1), 1), ((4, 2, 3), 6)])
def test_gradients_match_numerical(x_shape, m, seed):
    x, w, b = make(np.random.default_rng([seed, *x_shape, m]), x_shape, m)
    out, cache = affine.forward(x, w, b)
    dout = np.random.default_rng(seed + 100).standard_normal(out.shape)
    dx, dw, db = affine.backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    assert rel_error(dx, num_grad(lambda v: affine.forward(v, w, b)[0], x.copy(), dout)) < 1e-8
    assert rel_error(dw, num_grad(lambda v: affine.forward(x, v, b)[0], w.copy(), dout)) < 1e-8
    assert rel_error(db, num_grad(lambda v: affine.forward(x, w, v)[0], b.copy(), dout)) < 1e-8


def test_gradients_closed_form_on_a_4d_input():
    """dx is dout @ w.T folded back to x's shape; checked entry by entry with loops."""
    rng = np.random.default_rng(7)
    x, w, b = make(rng, (2, 2, 3), 4)
    out, cache = affine.forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = affine.backward(dout, cache)
    for n, i, j in np.ndindex(x.shape):
        d = i * 3 + j
        assert dx[n, i, j] == pytest.approx(sum(dout[n, m] * w[d, m] for m in range(4)))
        for m in range(4):
            assert dw[d, m] == pytest.approx(sum(x[k].reshape(-1)[d] * dout[k, m]
                                                 for k in range(2)))
    np.testing.assert_allclose(db, dout[0] + dout[1])


def test_non_contiguous_inputs():
    rng = np.random.default_rng(3)
    base_x = rng.standard_normal((4, 6, 5))
    x = base_x[:, ::2, 1:]                      # (4, 3, 4) strided view
    w = np.asfortranarray(rng.standard_normal((12, 3)))
    b = rng.standard_normal(6)[::2]             # strided 1-D view
    out, cache = affine.forward(x, w, b)
    np.testing.assert_allclose(out, loop_affine(np.ascontiguousarray(x), w, b), rtol=1e-12)
    dout = np.asfortranarray(rng.standard_normal(out.shape))
    dx, dw, db = affine.backward(dout, cache)
    xc = np.ascontiguousarray(x)
    assert rel_error(dx, num_grad(lambda v: affine.forward(v, w, b)[0], xc.copy(), dout)) < 1e-8
    assert rel_error(dw, num_grad(lambda v: affine.forward(xc, v, b)[0], w.copy(), dout)) < 1e-8
    assert rel_error(db, num_grad(lambda v: affine.forward(xc, w, v)[0], b.copy(), dout)) < 1e-8
    # A Fortran-ordered 4-D input gives the same numbers as its C-ordered copy.
    x4 = np.asfortranarray(rng.standard_normal((3, 2, 2, 3)))
    w4 = rng.standard_normal((12, 2))
    out_f, cache_f = affine.forward(x4, w4, b[:2].copy())
    out_c, cache_c = affine.forward(np.ascontiguousarray(x4), w4, b[:2].copy())
    np.testing.assert_allclose(out_f, out_c, rtol=1e-14)
    d4 = rng.standard_normal(out_f.shape)
    for gf, gc in zip(affine.backward(d4, cache_f), affine.backward(d4, cache_c), strict=True):
        np.testing.assert_allclose(gf, gc, rtol=1e-14)


def test_float32_stays_float32():
    x, w, b = make(np.random.default_rng(1), (3, 2, 2), 5, np.float32)
    out, cache = affine.forward(x, w, b)
    grads = affine.backward(np.ones_like(out), cache)
    assert out.dtype == np.float32
    for g, ref in zip(grads, (x, w, b), strict=True):
        assert g.dtype == np.float32 and g.shape == ref.shape
    np.testing.assert_allclose(out, loop_affine(x.astype(np.float64), w.astype(np.float64),
                                                b.astype(np.float64)), rtol=1e-5, atol=1e-5)


def test_nothing_is_mutated():
    x, w, b = make(np.random.default_rng(2), (3, 4), 2)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = affine.forward(x, w, b)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    dout_copy = dout.copy()
    cache_copy = [c.copy() if isinstance(c, np.ndarray) else c for c in cache]
    first = affine.backward(dout, cache)
    second = affine.backward(dout, cache)
    for a, c in zip((x, w, b), copies, strict=True):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(dout, dout_copy)
    for c, cc in zip(cache, cache_copy, strict=True):
        np.testing.assert_array_equal(c, cc)
    for g1, g2 in zip(first, second, strict=True):
        np.testing.assert_array_equal(g1, g2)


def test_bad_arguments_raise_clear_errors():
    x, w, b = make(np.random.default_rng(0), (3, 2, 2), 5)
    with pytest.raises(ValueError, match=r"affine\.forward: w has shape \(3, 5\) but x has 4 "):
        affine.forward(x, w[:3], b)
    with pytest.raises(ValueError, match=r"affine\.forward: b must have shape \(5,\)"):
        affine.forward(x, w, b[:4])
    with pytest.raises(TypeError, match=r"affine\.forward: w has dtype float32"):
        affine.forward(x, w.astype(np.float32), b)
    with pytest.raises(TypeError, match=r"affine\.forward: x must have dtype float32 or float64"):
        affine.forward(x.astype(np.int64), w, b)
    with pytest.raises(TypeError, match=r"affine\.forward: x must be a numpy array"):
        affine.forward(x.tolist(), w, b)
    with pytest.raises(ValueError, match=r"affine\.forward: x must have at least 2 dim"):
        affine.forward(x[0, 0], w[:2], b)
    with pytest.raises(ValueError, match=r"affine\.forward: b must be 1-D"):
        affine.forward(x, w, b[None])
    out, cache = affine.forward(x, w, b)
    with pytest.raises(ValueError, match=r"affine\.backward: dout must have shape \(3, 5\)"):
        affine.backward(out[:2], cache)
    with pytest.raises(TypeError, match=r"affine\.backward: dout has dtype float32"):
        affine.backward(out.astype(np.float32), cache)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x, w, b = make(rng, (3, 2, 5), 4)
    out, cache = affine.forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = affine.backward(dout, cache)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tout = tx.reshape(3, -1) @ tw + tb
    tout.backward(torch.from_numpy(dout))
    for got, ref in ((out, tout), (dx, tx.grad), (dw, tw.grad), (db, tb.grad)):
        ref = ref.detach().numpy()
        assert np.max(np.abs(got - ref)) <= 1e-9 * np.max(np.abs(ref))
