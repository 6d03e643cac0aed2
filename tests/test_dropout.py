"""dropout: the mask drawn exactly as documented, inverted scaling, test mode, where the mask
comes from (seed, generator, fresh entropy), gradients with a fixed mask, dtypes and errors."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from handgrad.gradcheck import check_op
from handgrad.layers import dropout


def train_param(keep_prob=0.6, **extra):
    return {"mode": "train", "keep_prob": keep_prob, **extra}


def documented_mask(seed, shape, keep_prob):
    """The draw the module docstring promises, written out here."""
    return np.random.default_rng(seed).random(shape) < keep_prob


# --------------------------------------------------------------------------------- forward
def test_kept_units_are_scaled_and_dropped_units_are_zero():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    out, cache = dropout.forward(x, train_param(0.5, seed=3))
    mask = documented_mask(3, x.shape, 0.5)
    assert 0 < mask.sum() < mask.size           # the seed keeps some units and drops others
    for idx in np.ndindex(x.shape):
        assert out[idx] == (2.0 * x[idx] if mask[idx] else 0.0)
    np.testing.assert_array_equal(cache.mask, np.where(mask, 2.0, 0.0))   # scaled: 1 / 0.5
    assert cache.mask.dtype == x.dtype and cache.keep_prob == 0.5 and cache.mode == "train"


@pytest.mark.parametrize("shape", [(7, 5), (2, 3, 4, 5), (1, 9)])
@pytest.mark.parametrize("keep_prob", [0.2, 0.75])
def test_a_seed_gives_the_documented_mask_every_call_and_in_both_dtypes(shape, keep_prob):
    x = np.random.default_rng(1).standard_normal(shape)
    mask = documented_mask(11, shape, keep_prob)
    for dtype in (np.float64, np.float32, np.float64):
        out, cache = dropout.forward(x.astype(dtype), train_param(keep_prob, seed=11))
        np.testing.assert_array_equal(cache.mask != 0, mask)
        assert cache.mask.dtype == dtype
        np.testing.assert_allclose(cache.mask[mask], 1 / keep_prob, rtol=1e-7)
        expected = np.where(mask, x.astype(dtype) / dtype(keep_prob), 0)
        np.testing.assert_allclose(out, expected, rtol=2e-7 if dtype == np.float32 else 1e-15)


def test_the_expected_output_is_the_input():
    """Inverted dropout keeps E[out] = x: over 2e6 units kept with probability 0.3, the share
    kept and the mean output land within 5 standard errors of 0.3 and of x = 2.5."""
    x = np.full((1000, 2000), 2.5)
    out, cache = dropout.forward(x, train_param(0.3, seed=0))
    size, p = x.size, 0.3
    share_se = np.sqrt(p * (1 - p) / size)
    assert abs((cache.mask != 0).mean() - p) < 5 * share_se
    assert abs(out.mean() - 2.5) < 5 * share_se * 2.5 / p
    assert set(np.unique(out)) == {0.0, 2.5 / 0.3}


def test_keep_prob_one_keeps_everything():
    x = np.random.default_rng(2).standard_normal((4, 6))
    out, cache = dropout.forward(x, train_param(1.0, seed=5))
    np.testing.assert_array_equal(out, x)
    dout = np.random.default_rng(3).standard_normal(x.shape)
    np.testing.assert_array_equal(dropout.backward(dout, cache), dout)


def test_test_mode_is_the_identity_and_draws_nothing():
    x = np.random.default_rng(4).standard_normal((3, 5))
    rng = np.random.default_rng(9)
    state = copy.deepcopy(rng.bit_generator.state)
    out, cache = dropout.forward(x, {"mode": "test", "keep_prob": 0.25, "rng": rng})
    np.testing.assert_array_equal(out, x)
    assert out is not x and not np.shares_memory(out, x)
    assert rng.bit_generator.state == state
    assert cache.mask is None
    dout = np.random.default_rng(5).standard_normal(x.shape)
    dx = dropout.backward(dout, cache)
    np.testing.assert_array_equal(dx, dout)
    assert dx is not dout


def test_a_generator_gives_a_new_mask_every_call_reproducible_from_its_seed():
    x = np.ones((20, 30))
    rng = np.random.default_rng(42)
    first = dropout.forward(x, train_param(0.5, rng=rng))[1].mask != 0
    second = dropout.forward(x, train_param(0.5, rng=rng))[1].mask != 0
    assert not np.array_equal(first, second)
    again = np.random.default_rng(42)
    np.testing.assert_array_equal(first, again.random(x.shape) < 0.5)
    np.testing.assert_array_equal(second, again.random(x.shape) < 0.5)


def test_without_seed_or_generator_every_call_draws_a_fresh_mask():
    x = np.ones((40, 50))
    masks = [dropout.forward(x, train_param(0.5))[1].mask for _ in range(3)]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    # a seed of None means "no seed", as if the key were absent
    assert dropout.forward(x, train_param(0.5, seed=None))[1].mask.shape == x.shape


# ------------------------------------------------------------------------------- gradients
def test_backward_uses_the_cached_mask_and_draws_nothing():
    x = np.random.default_rng(6).standard_normal((5, 8))
    rng = np.random.default_rng(7)
    out, cache = dropout.forward(x, train_param(0.4, rng=rng))
    state = copy.deepcopy(rng.bit_generator.state)
    dout = np.random.default_rng(8).standard_normal(x.shape)
    dx = dropout.backward(dout, cache)
    assert rng.bit_generator.state == state
    for idx in np.ndindex(x.shape):
        assert dx[idx] == pytest.approx(dout[idx] / 0.4 if cache.mask[idx] else 0.0, rel=1e-15)
    np.testing.assert_array_equal(dropout.backward(dout, cache), dx)


@pytest.mark.parametrize("shape, keep_prob", [((4, 5), 0.7), ((3, 2, 4), 0.3),
                                              ((2, 3, 4, 5), 0.55), ((3, 6), 1.0)])
def test_gradients_match_numerical_with_a_fixed_mask(shape, keep_prob):
    x = np.random.default_rng(shape).standard_normal(shape) * 1.5
    report = check_op(dropout, x, train_param(keep_prob, seed=13))
    report.raise_if_failed()
    test_mode = check_op(dropout, x, {"mode": "test", "keep_prob": keep_prob})
    test_mode.raise_if_failed()


# ------------------------------------------------------------------------ contract details
@pytest.mark.parametrize("mode", ["train", "test"])
def test_float32_stays_float32(mode):
    x = np.random.default_rng(10).standard_normal((6, 7)).astype(np.float32)
    out, cache = dropout.forward(x, {"mode": mode, "keep_prob": 0.6, "seed": 1})
    assert out.dtype == np.float32
    dx = dropout.backward(np.ones_like(out), cache)
    assert dx.dtype == np.float32 and dx.shape == x.shape


def test_nothing_is_mutated_and_the_param_dict_keeps_its_keys():
    x = np.random.default_rng(11).standard_normal((4, 4))
    x_copy = x.copy()
    param = train_param(0.5, seed=2)
    param_copy = dict(param)
    out, cache = dropout.forward(x, param)
    np.testing.assert_array_equal(x, x_copy)
    assert param == param_copy
    dout = np.random.default_rng(12).standard_normal(x.shape)
    dout_copy, mask_copy = dout.copy(), cache.mask.copy()
    dropout.backward(dout, cache)
    np.testing.assert_array_equal(dout, dout_copy)
    np.testing.assert_array_equal(cache.mask, mask_copy)


def test_non_contiguous_input_gets_the_mask_of_its_logical_positions():
    big = np.random.default_rng(13).standard_normal((8, 10))
    x = big[::2, 1::3]                                  # (4, 3) strided view
    out, cache = dropout.forward(x, train_param(0.5, seed=4))
    np.testing.assert_array_equal(cache.mask != 0, documented_mask(4, (4, 3), 0.5))
    out_c, _ = dropout.forward(np.ascontiguousarray(x), train_param(0.5, seed=4))
    np.testing.assert_array_equal(out, out_c)


def test_extreme_inputs_stay_finite_without_warnings():
    x = np.array([[1e300, -1e300, 1e-300, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out, cache = dropout.forward(x, train_param(0.999, seed=0))
        dx = dropout.backward(np.ones_like(x), cache)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))


@pytest.mark.parametrize("param, error, match", [
    ({"keep_prob": 0.5}, ValueError, r"dropout\.forward: dropout_param must have a 'mode' key"),
    ({"mode": "train"}, ValueError, r"dropout_param must have a 'keep_prob' key, the "
                                    r"probability of keeping a unit, in \(0, 1\]"),
    ({"mode": "eval", "keep_prob": 0.5}, ValueError,
     r"dropout_param\['mode'\] must be one of 'train', 'test', got 'eval'"),
    ({"mode": "train", "p": 0.5}, ValueError, r"dropout_param has a key 'p', which is "
                                              r"ambiguous .* use 'keep_prob'"),
    (train_param(0.5, sede=1), ValueError, r"unknown dropout_param key\(s\) 'sede'; allowed"),
    (train_param(0.0), ValueError, r"dropout_param\['keep_prob'\] must be in \(0, 1\], got 0\.0"),
    (train_param(1.5), ValueError, r"keep_prob'\] must be in \(0, 1\], got 1\.5"),
    (train_param(float("nan")), ValueError, r"keep_prob'\] must be in \(0, 1\], got nan"),
    (train_param(True), TypeError, r"keep_prob'\] must be a real number, got bool"),
    (train_param("0.5"), TypeError, r"keep_prob'\] must be a real number, got str"),
    (train_param(0.5, seed=-1), ValueError, r"dropout_param\['seed'\] must be an integer >= 0, "
                                            r"got -1"),
    (train_param(0.5, seed=1.5), TypeError, r"dropout_param\['seed'\] must be an integer"),
    (train_param(0.5, seed=True), TypeError, r"dropout_param\['seed'\] must be an integer"),
    (train_param(0.5, rng=np.random.RandomState(0)), TypeError,
     r"dropout_param\['rng'\] must be a numpy\.random\.Generator .* got RandomState"),
    (train_param(0.5, seed=1, rng=np.random.default_rng(1)), ValueError,
     r"dropout_param has both 'seed' and 'rng'"),
])
def test_bad_params_raise_clear_errors(param, error, match):
    x = np.ones((2, 3)) * 0.5
    with pytest.raises(error, match=match):
        dropout.forward(x, param)


def test_bad_arrays_raise_clear_errors():
    with pytest.raises(TypeError, match=r"dropout\.forward: x must have dtype float32 or "
                                        r"float64, got int64"):
        dropout.forward(np.arange(6).reshape(2, 3), train_param(seed=0))
    with pytest.raises(TypeError, match=r"dropout\.forward: x must be a numpy array"):
        dropout.forward([[1.0, 2.0]], train_param(seed=0))
    with pytest.raises(TypeError, match=r"dropout\.forward: dropout_param must be a dict, "
                                        r"got float"):
        dropout.forward(np.ones((2, 3)), 0.5)
    _, cache = dropout.forward(np.ones((2, 3)), train_param(seed=0))
    with pytest.raises(ValueError, match=r"dropout\.backward: dout must have shape \(2, 3\) "
                                         r"to match the forward output, got \(3, 2\)"):
        dropout.backward(np.ones((3, 2)), cache)
    with pytest.raises(TypeError, match=r"dropout\.backward: dout has dtype float32 but x has "
                                        r"dtype float64"):
        dropout.backward(np.ones((2, 3), np.float32), cache)
