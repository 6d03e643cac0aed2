"""batchnorm: train/test values against textbook formulas and hand-worked numbers, running
statistics, gradients against centred differences, dtypes, mutation and errors."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad.layers import batchnorm

EPS = 1e-5


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


def textbook_train(x, gamma, beta, eps=EPS):
    """The forward pass written out column by column."""
    n, d = x.shape
    out = np.empty((n, d))
    for j in range(d):
        col = [float(v) for v in x[:, j]]
        mu = sum(col) / n
        var = sum((v - mu) ** 2 for v in col) / n
        for i in range(n):
            out[i, j] = gamma[j] * (col[i] - mu) / (var + eps) ** 0.5 + beta[j]
    return out


def inputs(rng, n, d, dtype=np.float64):
    x = (rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + rng.uniform(-2, 2, d))
    gamma = rng.uniform(0.5, 1.5, d)
    beta = rng.standard_normal(d)
    return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)


def train(x, gamma, beta, **params):
    return batchnorm.forward(x, gamma, beta, {"mode": "train", **params})[0]


# --------------------------------------------------------------------------------- forward
def test_train_forward_hand_worked():
    # column 0: 1, 3 -> mean 2, var 1; column 1: 2, 6 -> mean 4, var 4
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    out, _ = batchnorm.forward(x, np.array([2.0, 0.5]), np.array([1.0, -1.0]),
                               {"mode": "train", "eps": 1e-12})
    np.testing.assert_allclose(out, [[-1.0, -1.5], [3.0, -0.5]], rtol=1e-10)


@pytest.mark.parametrize("n, d", [(4, 5), (2, 3), (7, 1), (16, 11)])
def test_train_forward_matches_textbook(n, d):
    x, gamma, beta = inputs(np.random.default_rng([n, d]), n, d)
    np.testing.assert_allclose(train(x, gamma, beta), textbook_train(x, gamma, beta),
                               rtol=1e-11, atol=1e-12)


def test_train_output_has_zero_mean_unit_variance_then_scale_and_shift():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 6)) * [0.1, 1, 10, 100, 3, 0.5] + [5, -3, 1000, 0, 2, -7]
    ones, zeros = np.ones(6), np.zeros(6)
    xhat = train(x, ones, zeros)
    np.testing.assert_allclose(xhat.mean(axis=0), 0, atol=1e-12)
    var = x.var(axis=0)
    np.testing.assert_allclose(xhat.var(axis=0), var / (var + EPS), rtol=1e-12)
    gamma, beta = rng.uniform(0.5, 2, 6), rng.standard_normal(6)
    out = train(x, gamma, beta)
    np.testing.assert_allclose(out, gamma * xhat + beta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), gamma * np.sqrt(var / (var + EPS)), rtol=1e-12)


def test_running_statistics_start_at_zero_and_follow_the_update():
    gamma, beta = np.ones(2), np.zeros(2)
    bn_param = {"mode": "train"}
    x1 = np.array([[1.0, 2.0], [3.0, 6.0]])       # mean [2, 4], biased var [1, 4]
    batchnorm.forward(x1, gamma, beta, bn_param)
    rm, rv = bn_param["running_mean"], bn_param["running_var"]
    assert rm.dtype == np.float64 and rm.shape == (2,)
    np.testing.assert_allclose(rm, [0.2, 0.4])    # 0.9 * 0 + 0.1 * [2, 4]
    np.testing.assert_allclose(rv, [0.1, 0.4])    # 0.9 * 0 + 0.1 * [1, 4]
    x2 = np.array([[0.0, 0.0], [2.0, -4.0]])      # mean [1, -2], biased var [1, 4]
    batchnorm.forward(x2, gamma, beta, bn_param)
    assert bn_param["running_mean"] is rm and bn_param["running_var"] is rv   # in place
    np.testing.assert_allclose(rm, [0.28, 0.16])  # 0.9 * [0.2, 0.4] + 0.1 * [1, -2]
    np.testing.assert_allclose(rv, [0.19, 0.76])  # 0.9 * [0.1, 0.4] + 0.1 * [1, 4]
    bn_param["momentum"] = 0.5
    x3 = np.array([[4.0, 1.0], [4.0, 3.0], [4.0, 5.0]])   # mean [4, 3], var [0, 8/3]
    batchnorm.forward(x3, gamma, beta, bn_param)
    np.testing.assert_allclose(rm, [2.14, 1.58])  # 0.5 * [0.28, 0.16] + 0.5 * [4, 3]
    np.testing.assert_allclose(rv, [0.095, 0.38 + 4 / 3])


def test_running_statistics_given_by_the_caller_are_updated_in_place():
    rm, rv = np.array([1.0, -1.0, 0.5]), np.array([2.0, 1.0, 3.0])
    bn_param = {"mode": "train", "running_mean": rm, "running_var": rv, "momentum": 0.75}
    x = np.random.default_rng(1).standard_normal((5, 3))
    batchnorm.forward(x, np.ones(3), np.zeros(3), bn_param)
    assert bn_param["running_mean"] is rm
    np.testing.assert_allclose(rm, 0.75 * np.array([1.0, -1.0, 0.5]) + 0.25 * x.mean(axis=0))
    np.testing.assert_allclose(rv, 0.75 * np.array([2.0, 1.0, 3.0]) + 0.25 * x.var(axis=0))


def test_test_mode_uses_the_running_statistics_and_keeps_them():
    rng = np.random.default_rng(2)
    x, gamma, beta = inputs(rng, 5, 4)
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    bn_param = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy()}
    out, _ = batchnorm.forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out, gamma * (x - rm) / np.sqrt(rv + EPS) + beta, rtol=1e-12)
    np.testing.assert_array_equal(bn_param["running_mean"], rm)
    np.testing.assert_array_equal(bn_param["running_var"], rv)
    # each example is normalized on its own: a batch of one gives the same row
    one, _ = batchnorm.forward(x[2:3], gamma, beta, bn_param)
    np.testing.assert_allclose(one[0], out[2], rtol=1e-14)


def test_test_mode_without_running_statistics_uses_zeros():
    x = np.array([[0.5, -2.0]])
    bn_param = {"mode": "test", "eps": 0.25}
    out, _ = batchnorm.forward(x, np.array([1.0, 2.0]), np.array([0.0, 1.0]), bn_param)
    np.testing.assert_allclose(out, [[1.0, -7.0]])    # (x - 0) / sqrt(0 + 0.25) * gamma + beta
    np.testing.assert_array_equal(bn_param["running_mean"], [0.0, 0.0])


def test_train_then_test_after_training_on_one_distribution():
    rng = np.random.default_rng(8)
    bn_param = {"mode": "train", "momentum": 0.8}
    gamma, beta = np.ones(3), np.zeros(3)
    for _ in range(60):
        batchnorm.forward(rng.standard_normal((200, 3)) * [1, 2, 3] + [5, 0, -5],
                          gamma, beta, bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], [5, 0, -5], atol=0.3)
    np.testing.assert_allclose(bn_param["running_var"], [1, 4, 9], rtol=0.15)
    bn_param["mode"] = "test"
    x = rng.standard_normal((2000, 3)) * [1, 2, 3] + [5, 0, -5]
    out, _ = batchnorm.forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=0.15)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=0.15)


# ------------------------------------------------------------------------------- gradients
# With N = 2 each normalized column is +-sqrt(var / (var + eps)) whatever x is, so dx is of
# the order of eps: a large eps there keeps it well above the numerical noise.
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n, d, eps", [(4, 5, EPS), (2, 3, 0.5), (7, 1, EPS), (3, 11, 1e-2)])
def test_train_gradients_match_numerical(n, d, eps, seed):
    x, gamma, beta = inputs(np.random.default_rng([seed, n, d]), n, d)
    out, cache = batchnorm.forward(x, gamma, beta, {"mode": "train", "eps": eps})
    dout = np.random.default_rng(seed + 50).standard_normal(out.shape)
    dx, dgamma, dbeta = batchnorm.backward(dout, cache)

    def f(x_, g_, b_):
        return train(x_, g_, b_, eps=eps)

    assert rel_error(dx, num_grad(lambda v: f(v, gamma, beta), x.copy(), dout)) < 1e-7
    assert rel_error(dgamma, num_grad(lambda v: f(x, v, beta), gamma.copy(), dout)) < 1e-7
    assert rel_error(dbeta, num_grad(lambda v: f(x, gamma, v), beta.copy(), dout)) < 1e-7


def test_train_dx_closed_form_and_batch_coupling():
    """dx sums to zero over the batch, and a constant dout gives dx = 0 (the mean absorbs it)."""
    x, gamma, beta = inputs(np.random.default_rng(9), 6, 4)
    _, cache = batchnorm.forward(x, gamma, beta, {"mode": "train"})
    dout = np.random.default_rng(10).standard_normal((6, 4))
    dx, _, _ = batchnorm.backward(dout, cache)
    np.testing.assert_allclose(dx.sum(axis=0), 0, atol=1e-12)
    dx_const, dgamma, dbeta = batchnorm.backward(np.full((6, 4), 0.7), cache)
    np.testing.assert_allclose(dx_const, 0, atol=1e-12)
    np.testing.assert_allclose(dbeta, 6 * 0.7)
    np.testing.assert_allclose(dgamma, 0, atol=1e-12)


@pytest.mark.parametrize("n, d", [(4, 5), (1, 3), (6, 2)])
def test_test_mode_gradients_match_numerical(n, d):
    rng = np.random.default_rng([3, n, d])
    x, gamma, beta = inputs(rng, n, d)
    bn_param = {"mode": "test", "running_mean": rng.standard_normal(d),
                "running_var": rng.uniform(0.5, 2, d), "eps": 1e-3}

    def f(x_, g_, b_):
        return batchnorm.forward(x_, g_, b_, bn_param)[0]

    out, cache = batchnorm.forward(x, gamma, beta, bn_param)
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = batchnorm.backward(dout, cache)
    np.testing.assert_allclose(dx, dout * gamma / np.sqrt(bn_param["running_var"] + 1e-3),
                               rtol=1e-12)
    assert rel_error(dx, num_grad(lambda v: f(v, gamma, beta), x.copy(), dout)) < 1e-7
    assert rel_error(dgamma, num_grad(lambda v: f(x, v, beta), gamma.copy(), dout)) < 1e-7
    assert rel_error(dbeta, num_grad(lambda v: f(x, gamma, v), beta.copy(), dout)) < 1e-7


def test_non_contiguous_inputs():
    rng = np.random.default_rng(12)
    big = rng.standard_normal((10, 9)) * 2 + 1
    x = big[::2, 1::2]                                  # (5, 4) strided view
    gamma = rng.uniform(0.5, 1.5, 8)[::2]
    beta = np.asfortranarray(rng.standard_normal(4))
    out, cache = batchnorm.forward(x, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out, textbook_train(x, gamma, beta), rtol=1e-11, atol=1e-12)
    dout = np.asfortranarray(rng.standard_normal((5, 4)))
    dx, dgamma, dbeta = batchnorm.backward(dout, cache)
    xc = np.ascontiguousarray(x)
    assert rel_error(dx, num_grad(lambda v: train(v, gamma, beta), xc.copy(), dout)) < 1e-7
    assert rel_error(dgamma, num_grad(lambda v: train(xc, v, beta), gamma.copy(), dout)) < 1e-7
    xf = np.asfortranarray(xc)
    out_f, cache_f = batchnorm.forward(xf, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(out_f, out, rtol=1e-14)
    np.testing.assert_allclose(batchnorm.backward(dout, cache_f)[0], dx, rtol=1e-12)


def test_large_mean_small_spread_stays_accurate():
    rng = np.random.default_rng(13)
    x = 1e4 + rng.standard_normal((32, 3)) * 1e-2
    gamma, beta = np.ones(3), np.zeros(3)
    np.testing.assert_allclose(train(x, gamma, beta, eps=1e-12),
                               textbook_train(x, gamma, beta, eps=1e-12), rtol=1e-8, atol=1e-8)


# ------------------------------------------------------------------------ contract details
@pytest.mark.parametrize("mode", ["train", "test"])
def test_float32_stays_float32(mode):
    x, gamma, beta = inputs(np.random.default_rng(5), 6, 3, np.float32)
    bn_param = {"mode": mode}
    if mode == "test":
        bn_param["running_var"] = np.ones(3, np.float32)
    out, cache = batchnorm.forward(x, gamma, beta, bn_param)
    assert out.dtype == np.float32
    assert bn_param["running_mean"].dtype == np.float32
    assert bn_param["running_var"].dtype == np.float32
    grads = batchnorm.backward(np.ones_like(out) * 0.5 + out, cache)
    for g, ref in zip(grads, (x, gamma, beta), strict=True):
        assert g.dtype == np.float32 and g.shape == ref.shape
    if mode == "train":
        ref = textbook_train(x.astype(np.float64), gamma.astype(np.float64),
                             beta.astype(np.float64))
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_nothing_but_the_running_statistics_is_mutated():
    x, gamma, beta = inputs(np.random.default_rng(6), 5, 3)
    copies = [a.copy() for a in (x, gamma, beta)]
    out, cache = batchnorm.forward(x, gamma, beta, {"mode": "train"})
    for a, c in zip((x, gamma, beta), copies, strict=True):
        np.testing.assert_array_equal(a, c)
    dout = np.random.default_rng(7).standard_normal(out.shape)
    dout_copy = dout.copy()
    cache_copy = [c.copy() if isinstance(c, np.ndarray) else c for c in cache]
    first = batchnorm.backward(dout, cache)
    second = batchnorm.backward(dout, cache)
    np.testing.assert_array_equal(dout, dout_copy)
    for c, cc in zip(cache, cache_copy, strict=True):
        np.testing.assert_array_equal(c, cc)
    for g1, g2 in zip(first, second, strict=True):
        np.testing.assert_array_equal(g1, g2)


def test_a_later_train_call_does_not_change_an_earlier_test_mode_cache():
    rng = np.random.default_rng(14)
    x, gamma, beta = inputs(rng, 4, 3)
    bn_param = {"mode": "test", "running_mean": rng.standard_normal(3),
                "running_var": rng.uniform(1, 2, 3)}
    out, cache = batchnorm.forward(x, gamma, beta, bn_param)
    dout = rng.standard_normal(out.shape)
    before = batchnorm.backward(dout, cache)
    bn_param["mode"] = "train"
    batchnorm.forward(x * 5 + 3, gamma, beta, bn_param)
    for g1, g2 in zip(before, batchnorm.backward(dout, cache), strict=True):
        np.testing.assert_array_equal(g1, g2)


def test_bad_arguments_raise_clear_errors():
    x, gamma, beta = inputs(np.random.default_rng(0), 4, 3)
    fwd = batchnorm.forward
    with pytest.raises(ValueError, match=r"batchnorm\.forward: unknown bn_param key\(s\) 'mod'"):
        fwd(x, gamma, beta, {"mode": "train", "mod": "test"})
    with pytest.raises(ValueError, match=r"batchnorm\.forward: bn_param\['mode'\] must be one of "
                                         r"'train', 'test', got 'eval'"):
        fwd(x, gamma, beta, {"mode": "eval"})
    with pytest.raises(ValueError, match=r"batchnorm\.forward: bn_param must have a 'mode' key"):
        fwd(x, gamma, beta, {})
    with pytest.raises(TypeError, match=r"batchnorm\.forward: bn_param must be a dict"):
        fwd(x, gamma, beta, "train")
    with pytest.raises(ValueError, match=r"batchnorm\.forward: train mode needs a batch of at "
                                         r"least 2"):
        fwd(x[:1], gamma, beta, {"mode": "train"})
    with pytest.raises(ValueError, match=r"batchnorm\.forward: gamma must have shape \(3,\)"):
        fwd(x, gamma[:2], beta, {"mode": "train"})
    with pytest.raises(ValueError, match=r"batchnorm\.forward: beta must have shape \(3,\)"):
        fwd(x, gamma, np.zeros(4), {"mode": "train"})
    with pytest.raises(TypeError, match=r"batchnorm\.forward: gamma has dtype float32"):
        fwd(x, gamma.astype(np.float32), beta, {"mode": "train"})
    with pytest.raises(ValueError, match=r"batchnorm\.forward: x must be 2-D"):
        fwd(x[None], gamma, beta, {"mode": "train"})
    with pytest.raises(ValueError, match=r"batchnorm\.forward: bn_param\['running_mean'\] must "
                                         r"have shape \(3,\)"):
        fwd(x, gamma, beta, {"mode": "train", "running_mean": np.zeros(2)})
    with pytest.raises(TypeError, match=r"batchnorm\.forward: bn_param\['running_var'\] has "
                                        r"dtype float32 but x has dtype float64"):
        fwd(x, gamma, beta, {"mode": "train", "running_var": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match=r"batchnorm\.forward: bn_param\['eps'\] must be in"):
        fwd(x, gamma, beta, {"mode": "train", "eps": 0.0})
    with pytest.raises(ValueError, match=r"batchnorm\.forward: bn_param\['momentum'\] must be"):
        fwd(x, gamma, beta, {"mode": "train", "momentum": 1.5})
    with pytest.raises(TypeError, match=r"batchnorm\.forward: bn_param\['momentum'\] must be a "
                                        r"real number"):
        fwd(x, gamma, beta, {"mode": "train", "momentum": "0.9"})
    with pytest.raises(ValueError, match=r"batchnorm\.forward: bn_param\['running_var'\] has "
                                         r"negative entries"):
        fwd(x, gamma, beta, {"mode": "test", "running_var": np.array([1.0, -0.5, 1.0])})
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match=r"bn_param\['running_mean'\] is read-only"):
        fwd(x, gamma, beta, {"mode": "train", "running_mean": frozen})
    out, cache = fwd(x, gamma, beta, {"mode": "train"})
    with pytest.raises(ValueError, match=r"batchnorm\.backward: dout must have shape \(4, 3\)"):
        batchnorm.backward(out.T, cache)
    with pytest.raises(TypeError, match=r"batchnorm\.backward: dout has dtype float32"):
        batchnorm.backward(out.astype(np.float32), cache)


def test_a_failed_call_leaves_the_running_statistics_alone():
    rm = np.array([1.0, 2.0, 3.0])
    bn_param = {"mode": "train", "running_mean": rm}
    x, gamma, beta = inputs(np.random.default_rng(0), 4, 3)
    with pytest.raises(ValueError):
        batchnorm.forward(x, gamma, beta, {**bn_param, "momentum": -1.0})
    with pytest.raises(ValueError):
        batchnorm.forward(x[:1], gamma, beta, bn_param)
    np.testing.assert_array_equal(rm, [1.0, 2.0, 3.0])


# ------------------------------------------------------------------------- torch (optional)
@pytest.mark.parametrize("n, d", [(9, 7), (2, 3)])
def test_matches_torch_train_and_eval(n, d):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng([20, n, d])
    bn_param = {"mode": "train", "momentum": 0.8}
    rm, rv = torch.zeros(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)

    def close(got, ref):
        ref = ref.detach().numpy()
        assert np.max(np.abs(got - ref)) <= 1e-9 * np.max(np.abs(ref))

    for mode in ("train", "train", "test"):
        bn_param["mode"] = mode
        x, gamma, beta = inputs(rng, n, d)
        dout = rng.standard_normal((n, d))
        out, cache = batchnorm.forward(x, gamma, beta, bn_param)
        dx, dgamma, dbeta = batchnorm.backward(dout, cache)
        tx, tg, tb = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
        if mode == "train":
            ref = F.batch_norm(tx, rm, rv, tg, tb, training=True, momentum=0.2, eps=EPS)
        else:   # handgrad keeps the biased running variance; hand it to torch as such
            ref = F.batch_norm(tx, torch.from_numpy(bn_param["running_mean"]),
                               torch.from_numpy(bn_param["running_var"]), tg, tb,
                               training=False, eps=EPS)
        ref.backward(torch.from_numpy(dout))
        for got, r in ((out, ref), (dx, tx.grad), (dgamma, tg.grad), (dbeta, tb.grad)):
            close(got, r)
        if mode == "train":
            close(bn_param["running_mean"], rm)
            close(bn_param["running_var"], rv * (n - 1) / n)   # torch keeps the unbiased one
