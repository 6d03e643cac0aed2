"""layernorm, spatial_batchnorm and groupnorm: values against hand-worked numbers and loops
written from the definitions here, the relations between them (layernorm is batchnorm of the
transpose, spatial batchnorm is batchnorm of the pixel rows, group norm with G = 1 is layernorm
of the whole image), gradients against numerical ones, dtypes, stability and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from handgrad.gradcheck import check_op
from handgrad.layers import batchnorm, groupnorm, layernorm, spatial_batchnorm

EPS = 1e-5


def normalized(values, eps=EPS):
    """(v - mean) / sqrt(biased var + eps) of a list of floats, in plain Python."""
    mu = sum(values) / len(values)
    var = sum((v - mu) ** 2 for v in values) / len(values)
    return [(v - mu) / math.sqrt(var + eps) for v in values]


def channel_data(rng, shape, dtype=np.float64):
    """x (N, C, ...) with an offset and spread per channel; gamma of both signs; beta."""
    c = shape[1]
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    x = (rng.normal(0, 2, c).reshape(per_channel)
         + rng.uniform(0.5, 3, c).reshape(per_channel) * rng.standard_normal(shape))
    gamma = rng.uniform(0.5, 2, c) * np.where(np.arange(c) % 2, -1, 1)
    return x.astype(dtype), gamma.astype(dtype), rng.standard_normal(c).astype(dtype)


def row_data(rng, shape, dtype=np.float64):
    d = shape[-1]
    x = (rng.normal(0, 2, shape[:-1] + (1,))
         + rng.uniform(0.5, 3, shape[:-1] + (1,)) * rng.standard_normal(shape))
    gamma = rng.uniform(0.5, 2, d) * np.where(np.arange(d) % 2, -1, 1)
    return x.astype(dtype), gamma.astype(dtype), rng.standard_normal(d).astype(dtype)


def no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return fn(*args, **kwargs)


# ================================================================================ layernorm
def layernorm_loop(x, gamma, beta, eps=EPS):
    rows = x.reshape(-1, x.shape[-1])
    out = np.array([[g * v + b for v, g, b in zip(normalized(list(r), eps), gamma, beta,
                                                   strict=True)] for r in rows])
    return out.reshape(x.shape)


def test_layernorm_hand_worked():
    # row [1, 2, 3]: mean 2, var 2/3; row [4, 4, 10]: mean 6, var 8
    x = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 10.0]])
    gamma, beta = np.array([2.0, 1.0, -1.0]), np.array([0.5, 0.0, 1.0])
    out, _ = layernorm.forward(x, gamma, beta, eps=1e-12)
    s, r8 = math.sqrt(1.5), math.sqrt(8.0)
    expected = [[-2 * s + 0.5, 0.0, -s + 1.0],
                [2 * (-2 / r8) + 0.5, -2 / r8, -(4 / r8) + 1.0]]
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 5), (1, 7), (6, 2), (3, 4, 5), (2, 3, 2, 6)])
def test_layernorm_matches_the_definition(shape):
    x, gamma, beta = row_data(np.random.default_rng(shape), shape)
    out, _ = layernorm.forward(x, gamma, beta)
    np.testing.assert_allclose(out, layernorm_loop(x, gamma, beta), rtol=1e-11, atol=1e-12)


def test_layernorm_is_batchnorm_of_the_transpose():
    """Normalizing rows is normalizing the columns of x.T: forward and every gradient agree
    with batchnorm's (gamma and beta applied outside, per feature)."""
    rng = np.random.default_rng(1)
    x, gamma, beta = row_data(rng, (6, 9))
    dout = rng.standard_normal(x.shape)
    out, cache = layernorm.forward(x, gamma, beta)
    ones, zeros = np.ones(6), np.zeros(6)
    xhat_t, bn_cache = batchnorm.forward(x.T, ones, zeros, {"mode": "train"})
    np.testing.assert_allclose(out, xhat_t.T * gamma + beta, rtol=1e-12, atol=1e-12)
    dx, dgamma, dbeta = layernorm.backward(dout, cache)
    dxhat_t = (dout * gamma).T
    np.testing.assert_allclose(dx, batchnorm.backward(dxhat_t, bn_cache)[0].T,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgamma, (dout * xhat_t.T).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(dbeta, dout.sum(axis=0), rtol=1e-12)


def test_layernorm_rows_have_zero_mean_unit_variance_and_a_sequence_is_its_rows():
    rng = np.random.default_rng(2)
    x, gamma, beta = row_data(rng, (3, 4, 16))
    xhat, _ = layernorm.forward(x, np.ones(16), np.zeros(16))
    np.testing.assert_allclose(xhat.mean(axis=-1), 0, atol=1e-12)
    var = x.var(axis=-1)
    np.testing.assert_allclose(xhat.var(axis=-1), var / (var + EPS), rtol=1e-12)
    out, cache = layernorm.forward(x, gamma, beta)
    flat, flat_cache = layernorm.forward(x.reshape(12, 16), gamma, beta)
    np.testing.assert_allclose(out.reshape(12, 16), flat, rtol=1e-15)
    dout = rng.standard_normal(x.shape)
    for g, g_flat in zip(layernorm.backward(dout, cache),
                         layernorm.backward(dout.reshape(12, 16), flat_cache), strict=True):
        np.testing.assert_allclose(g.reshape(g_flat.shape), g_flat, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape, eps", [((4, 5), EPS), ((3, 4, 5), 1e-3), ((5, 2), 0.5),
                                        ((2, 11), EPS)])
def test_layernorm_gradients_match_numerical(shape, eps):
    x, gamma, beta = row_data(np.random.default_rng(shape), shape)
    check_op(layernorm, x, gamma, beta, eps=eps).raise_if_failed()


def test_layernorm_dx_rows_sum_to_zero_and_a_constant_dout_gives_zero():
    x, gamma, beta = row_data(np.random.default_rng(3), (5, 6))
    _, cache = layernorm.forward(x, gamma, beta)
    dout = np.random.default_rng(4).standard_normal(x.shape)
    np.testing.assert_allclose(layernorm.backward(dout, cache)[0].sum(axis=1), 0, atol=1e-12)
    # dout proportional to 1/gamma makes dxhat constant per row: the mean absorbs it
    dx, _, _ = layernorm.backward(np.outer([1.0, -2, 3, 0.5, 4], 1 / gamma), cache)
    np.testing.assert_allclose(dx, 0, atol=1e-12)


def test_layernorm_constant_rows_and_one_feature_give_beta_and_zero_gradient():
    x = np.array([[3.0, 3.0, 3.0], [-1.0, 2.0, 5.0]])
    gamma, beta = np.array([2.0, -1.0, 0.5]), np.array([0.25, 0.5, 0.75])
    out, cache = no_warnings(layernorm.forward, x, gamma, beta)
    np.testing.assert_array_equal(out[0], beta)
    dx, _, _ = no_warnings(layernorm.backward, np.ones_like(x), cache)
    assert np.all(np.isfinite(dx))
    one, cache1 = no_warnings(layernorm.forward, np.array([[4.0], [-7.0]]), np.array([3.0]),
                              np.array([0.5]))
    np.testing.assert_array_equal(one, [[0.5], [0.5]])
    np.testing.assert_array_equal(layernorm.backward(np.array([[1.0], [2.0]]), cache1)[0], 0)


def test_layernorm_large_offset_small_spread_stays_accurate():
    rng = np.random.default_rng(5)
    x = 1e4 + rng.standard_normal((4, 32)) * 1e-2
    gamma, beta = np.ones(32), np.zeros(32)
    np.testing.assert_allclose(layernorm.forward(x, gamma, beta, eps=1e-12)[0],
                               layernorm_loop(x, gamma, beta, eps=1e-12), rtol=1e-7, atol=1e-7)


def test_layernorm_float32_stays_float32_and_close_to_float64():
    x, gamma, beta = row_data(np.random.default_rng(6), (8, 33))
    out64, cache64 = layernorm.forward(x, gamma, beta)
    out32, cache32 = layernorm.forward(*(a.astype(np.float32) for a in (x, gamma, beta)),
                                       eps=np.float64(EPS))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    dout = np.random.default_rng(7).standard_normal(x.shape)
    for g32, g64 in zip(layernorm.backward(dout.astype(np.float32), cache32),
                        layernorm.backward(dout, cache64), strict=True):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4)


def test_layernorm_bad_arguments_raise_clear_errors():
    x, gamma, beta = row_data(np.random.default_rng(0), (4, 3))
    fwd = layernorm.forward
    with pytest.raises(ValueError, match=r"layernorm\.forward: x must have at least 2 dim"):
        fwd(x[0], gamma, beta)
    with pytest.raises(ValueError, match=r"layernorm\.forward: gamma must have shape \(3,\) to "
                                         r"match x's last axis \(its features\), got \(4,\)"):
        fwd(x, np.ones(4), beta)
    with pytest.raises(ValueError, match=r"layernorm\.forward: beta must have shape \(3,\)"):
        fwd(x, gamma, np.ones(2))
    with pytest.raises(TypeError, match=r"layernorm\.forward: beta has dtype float32 but x has "
                                        r"dtype float64"):
        fwd(x, gamma, beta.astype(np.float32))
    with pytest.raises(ValueError, match=r"layernorm\.forward: eps must be > 0, got 0"):
        fwd(x, gamma, beta, eps=0)
    with pytest.raises(TypeError, match=r"layernorm\.forward: eps must be a positive real "
                                        r"number, got dict"):
        fwd(x, gamma, beta, {"eps": 1e-5})           # CS231n's ln_param: here a keyword
    with pytest.raises(ValueError, match=r"layernorm\.forward: x must have at least one "
                                         r"example and one feature, got shape \(0, 3\)"):
        fwd(np.ones((0, 3)), gamma, beta)
    _, cache = fwd(x, gamma, beta)
    with pytest.raises(ValueError, match=r"layernorm\.backward: dout must have shape \(4, 3\)"):
        layernorm.backward(np.ones((3, 4)), cache)
    with pytest.raises(TypeError, match=r"layernorm\.backward: dout has dtype float32"):
        layernorm.backward(np.ones((4, 3), np.float32), cache)


# ======================================================================== spatial batchnorm
def spatial_loop(x, gamma, beta, eps=EPS):
    """Each channel normalized over its N*H*W values, from the definition."""
    out = np.empty(x.shape)
    for c in range(x.shape[1]):
        values = [float(v) for v in x[:, c].ravel()]
        out[:, c] = (np.array(normalized(values, eps)).reshape(x[:, c].shape) * gamma[c]
                     + beta[c])
    return out


def test_spatial_batchnorm_hand_worked():
    # channel 0 holds 1, 3, 1, 3 (mean 2, var 1); channel 1 holds 0, 4, 8, 4 (mean 4, var 8)
    x = np.array([[[[1.0, 3.0]], [[0.0, 4.0]]], [[[1.0, 3.0]], [[8.0, 4.0]]]])  # (2, 2, 1, 2)
    out, _ = spatial_batchnorm.forward(x, np.array([2.0, 1.0]), np.array([0.0, 1.0]),
                                       {"mode": "train", "eps": 1e-12})
    r8 = math.sqrt(8.0)
    expected = [[[[-2.0, 2.0]], [[1 - 4 / r8, 1.0]]], [[[-2.0, 2.0]], [[1 + 4 / r8, 1.0]]]]
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 4, 2, 5), (1, 3, 4, 4), (5, 1, 3, 2), (2, 6, 1, 1)])
def test_spatial_batchnorm_matches_the_definition_and_keeps_running_statistics(shape):
    x, gamma, beta = channel_data(np.random.default_rng(shape), shape)
    bn_param = {"mode": "train", "momentum": 0.75}
    out, _ = spatial_batchnorm.forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(out, spatial_loop(x, gamma, beta), rtol=1e-11, atol=1e-12)
    assert out.flags.c_contiguous
    per_channel = x.transpose(1, 0, 2, 3).reshape(shape[1], -1)
    np.testing.assert_allclose(bn_param["running_mean"], 0.25 * per_channel.mean(axis=1))
    np.testing.assert_allclose(bn_param["running_var"], 0.25 * per_channel.var(axis=1))


def test_spatial_batchnorm_test_mode_uses_the_running_statistics():
    rng = np.random.default_rng(8)
    x, gamma, beta = channel_data(rng, (2, 3, 4, 5))
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    bn_param = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy()}
    out, cache = spatial_batchnorm.forward(x, gamma, beta, bn_param)
    c = (1, 3, 1, 1)
    scale = (gamma / np.sqrt(rv + EPS)).reshape(c)
    np.testing.assert_allclose(out, (x - rm.reshape(c)) * scale + beta.reshape(c), rtol=1e-12)
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(spatial_batchnorm.backward(dout, cache)[0], dout * scale,
                               rtol=1e-12)
    np.testing.assert_array_equal(bn_param["running_mean"], rm)


@pytest.mark.parametrize("shape, mode", [((3, 4, 2, 5), "train"), ((1, 2, 3, 4), "train"),
                                         ((4, 3, 1, 2), "train"), ((2, 3, 3, 2), "test")])
def test_spatial_batchnorm_gradients_match_numerical(shape, mode):
    rng = np.random.default_rng(shape)
    x, gamma, beta = channel_data(rng, shape)
    bn_param = {"mode": mode, "running_mean": rng.standard_normal(shape[1]),
                "running_var": rng.uniform(0.5, 2, shape[1])}
    check_op(spatial_batchnorm, x, gamma, beta, bn_param).raise_if_failed()


def test_spatial_batchnorm_float32_stays_float32():
    x, gamma, beta = channel_data(np.random.default_rng(9), (2, 3, 4, 5), np.float32)
    bn_param = {"mode": "train"}
    out, cache = spatial_batchnorm.forward(x, gamma, beta, bn_param)
    assert out.dtype == np.float32 and bn_param["running_mean"].dtype == np.float32
    np.testing.assert_allclose(out, spatial_loop(x, gamma, beta), rtol=1e-4, atol=1e-5)
    for g, ref in zip(spatial_batchnorm.backward(np.ones_like(out) + out, cache),
                      (x, gamma, beta), strict=True):
        assert g.dtype == np.float32 and g.shape == ref.shape


def test_spatial_batchnorm_bad_arguments_name_spatial_batchnorm():
    x, gamma, beta = channel_data(np.random.default_rng(0), (2, 3, 4, 5))
    fwd = spatial_batchnorm.forward
    with pytest.raises(ValueError, match=r"spatial_batchnorm\.forward: x must be 4-D, got "
                                         r"shape \(2, 3, 20\)"):
        fwd(x.reshape(2, 3, 20), gamma, beta, {"mode": "train"})
    with pytest.raises(ValueError, match=r"spatial_batchnorm\.forward: gamma must have shape "
                                         r"\(3,\) to match x's channels, got \(4,\)"):
        fwd(x, np.ones(4), beta, {"mode": "train"})
    with pytest.raises(ValueError, match=r"spatial_batchnorm\.forward: unknown bn_param "
                                         r"key\(s\) 'mod'"):
        fwd(x, gamma, beta, {"mode": "train", "mod": 1})
    with pytest.raises(ValueError, match=r"spatial_batchnorm\.forward: bn_param must have a "
                                         r"'mode' key"):
        fwd(x, gamma, beta, {})
    with pytest.raises(ValueError, match=r"spatial_batchnorm\.forward: bn_param\['mode'\] must "
                                         r"be one of 'train', 'test', got 'eval'"):
        fwd(x, gamma, beta, {"mode": "eval"})
    with pytest.raises(ValueError, match=r"spatial_batchnorm\.forward: bn_param\['running_mean'"
                                         r"\] must have shape \(3,\)"):
        fwd(x, gamma, beta, {"mode": "train", "running_mean": np.zeros(4)})
    with pytest.raises(ValueError, match=r"spatial_batchnorm\.forward: train mode needs at least "
                                         r"2 values per channel"):
        fwd(x[:1, :, :1, :1], gamma, beta, {"mode": "train"})
    with pytest.raises(TypeError, match=r"spatial_batchnorm\.forward: bn_param must be a dict"):
        fwd(x, gamma, beta, "train")
    _, cache = fwd(x, gamma, beta, {"mode": "train"})
    with pytest.raises(ValueError, match=r"spatial_batchnorm\.backward: dout must have shape "
                                         r"\(2, 3, 4, 5\)"):
        spatial_batchnorm.backward(np.ones((2, 3, 5, 4)), cache)
    with pytest.raises(TypeError, match=r"spatial_batchnorm\.backward: dout has dtype float32 "
                                        r"but x has dtype float64"):
        spatial_batchnorm.backward(np.ones(x.shape, np.float32), cache)


# ================================================================================ groupnorm
def groupnorm_loop(x, gamma, beta, G, eps=EPS):
    """Every (example, group) normalized over its channels and pixels, from the definition."""
    n, c = x.shape[:2]
    per_group = c // G
    out = np.empty(x.shape)
    for i in range(n):
        for g in range(G):
            block = x[i, g * per_group:(g + 1) * per_group]
            values = normalized([float(v) for v in block.ravel()], eps)
            out[i, g * per_group:(g + 1) * per_group] = np.array(values).reshape(block.shape)
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    return out * gamma.reshape(per_channel) + beta.reshape(per_channel)


def test_groupnorm_hand_worked():
    x = np.array([[[[1.0, 3.0]], [[5.0, 7.0]]]])          # (1, 2, 1, 2): 1, 3 | 5, 7
    gamma, beta = np.array([1.0, 2.0]), np.array([0.0, -1.0])
    one, _ = groupnorm.forward(x, gamma, beta, G=1, eps=1e-12)   # mean 4, var 5
    r5 = math.sqrt(5.0)
    np.testing.assert_allclose(one, [[[[-3 / r5, -1 / r5]], [[2 / r5 - 1, 6 / r5 - 1]]]],
                               rtol=1e-10)
    two, _ = groupnorm.forward(x, gamma, beta, G=2, eps=1e-12)   # each: mean +-1, var 1
    np.testing.assert_allclose(two, [[[[-1.0, 1.0]], [[-3.0, 1.0]]]], rtol=1e-10)


@pytest.mark.parametrize("shape, G", [((3, 8, 5, 6), 2), ((2, 6, 3, 4), 3), ((2, 6, 3, 4), 1),
                                      ((2, 6, 3, 4), 6), ((4, 6), 2), ((3, 4, 7), 4)])
def test_groupnorm_matches_the_definition(shape, G):
    x, gamma, beta = channel_data(np.random.default_rng(shape), shape)
    out, _ = groupnorm.forward(x, gamma, beta, G=G)
    np.testing.assert_allclose(out, groupnorm_loop(x, gamma, beta, G), rtol=1e-11, atol=1e-12)


def test_groupnorm_with_one_group_is_layernorm_of_the_whole_image():
    rng = np.random.default_rng(10)
    x, gamma, beta = channel_data(rng, (3, 4, 2, 5))
    ones = np.ones(40)
    out, cache = groupnorm.forward(x, np.ones(4), np.zeros(4), G=1)
    ln, ln_cache = layernorm.forward(x.reshape(3, 40), ones, np.zeros(40))
    np.testing.assert_allclose(out.reshape(3, 40), ln, rtol=1e-13, atol=1e-14)
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(groupnorm.backward(dout, cache)[0].reshape(3, 40),
                               layernorm.backward(dout.reshape(3, 40), ln_cache)[0],
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shape, G, eps", [((3, 8, 5, 6), 2, EPS), ((2, 6, 3, 4), 3, 1e-3),
                                           ((3, 4, 2, 5), 4, EPS), ((4, 6), 3, EPS),
                                           ((2, 4, 7), 2, 0.5), ((1, 3, 2, 3), 1, EPS)])
def test_groupnorm_gradients_match_numerical(shape, G, eps):
    x, gamma, beta = channel_data(np.random.default_rng(shape), shape)
    check_op(groupnorm, x, gamma, beta, G=G, eps=eps).raise_if_failed()


def test_groupnorm_float32_stays_float32_and_close_to_float64():
    x, gamma, beta = channel_data(np.random.default_rng(11), (2, 6, 4, 5))
    out64, cache64 = groupnorm.forward(x, gamma, beta, G=3)
    out32, cache32 = groupnorm.forward(*(a.astype(np.float32) for a in (x, gamma, beta)),
                                       G=np.int64(3), eps=np.float64(EPS))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-5)
    dout = np.random.default_rng(12).standard_normal(x.shape)
    for g32, g64 in zip(groupnorm.backward(dout.astype(np.float32), cache32),
                        groupnorm.backward(dout, cache64), strict=True):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4)


def test_groupnorm_constant_group_stays_finite():
    x = np.ones((2, 4, 3, 3))
    x[1] = np.arange(36.0).reshape(4, 3, 3)
    out, cache = no_warnings(groupnorm.forward, x, np.full(4, 2.0), np.full(4, 0.5), G=2)
    np.testing.assert_array_equal(out[0], 0.5)
    assert np.all(np.isfinite(no_warnings(groupnorm.backward, np.ones_like(x), cache)[0]))


def test_groupnorm_bad_arguments_raise_clear_errors():
    x, gamma, beta = channel_data(np.random.default_rng(0), (2, 6, 3, 4))
    fwd = groupnorm.forward
    with pytest.raises(ValueError, match=r"groupnorm\.forward: G=4 groups do not divide the 6 "
                                         r"channels of x \(shape \(2, 6, 3, 4\)\); G must be one "
                                         r"of 1, 2, 3, 6"):
        fwd(x, gamma, beta, G=4)
    with pytest.raises(ValueError, match=r"groupnorm\.forward: G must be a positive integer, "
                                         r"got 0"):
        fwd(x, gamma, beta, G=0)
    with pytest.raises(TypeError, match=r"groupnorm\.forward: G must be a positive integer, "
                                        r"got float"):
        fwd(x, gamma, beta, G=2.0)
    with pytest.raises(TypeError, match=r"groupnorm\.forward: G must be a positive integer, "
                                        r"got bool"):
        fwd(x, gamma, beta, G=True)
    with pytest.raises(TypeError, match=r"missing 1 required keyword-only argument: 'G'"):
        fwd(x, gamma, beta)
    with pytest.raises(ValueError, match=r"groupnorm\.forward: gamma must be 1-D of shape "
                                         r"\(6,\), got shape \(1, 6, 1, 1\); CS231n's "
                                         r"\(1, C, 1, 1\) layout"):
        fwd(x, gamma.reshape(1, 6, 1, 1), beta, G=2)
    with pytest.raises(ValueError, match=r"groupnorm\.forward: beta must have shape \(6,\) to "
                                         r"match x's channels \(axis 1\), got \(4,\)"):
        fwd(x, gamma, np.ones(4), G=2)
    with pytest.raises(ValueError, match=r"groupnorm\.forward: eps must be > 0"):
        fwd(x, gamma, beta, G=2, eps=-1e-5)
    with pytest.raises(ValueError, match=r"groupnorm\.forward: x must have at least 2 dim"):
        fwd(x[0, 0, 0], gamma, beta, G=2)
    _, cache = fwd(x, gamma, beta, G=2)
    with pytest.raises(ValueError, match=r"groupnorm\.backward: dout must have shape "
                                         r"\(2, 6, 3, 4\)"):
        groupnorm.backward(np.ones((2, 6, 4, 3)), cache)
