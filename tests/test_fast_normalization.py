"""The tuned twins in handgrad.fast (layernorm, spatial_batchnorm, groupnorm) against their
readable versions: the same values, gradients, running statistics, dtypes and error messages,
at shapes that cross block boundaries, for non-contiguous inputs and for a large mean with a
small spread (where a careless sum of squares would cancel)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import handgrad.fast._rows as rows_module
from handgrad.fast import groupnorm as fast_gn
from handgrad.fast import layernorm as fast_ln
from handgrad.fast import spatial_batchnorm as fast_sbn
from handgrad.gradcheck import check_op
from handgrad.layers import groupnorm, layernorm, spatial_batchnorm

PAIRS = {"layernorm": (layernorm, fast_ln), "spatial_batchnorm": (spatial_batchnorm, fast_sbn),
         "groupnorm": (groupnorm, fast_gn)}
TOL = {np.float64: dict(rtol=1e-11, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-5)}


def channel_data(rng, shape, dtype, offset=1.0, spread=2.0):
    c = shape[1]
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    x = (offset * rng.normal(0, 1, c).reshape(per_channel)
         + spread * rng.uniform(0.5, 1.5, c).reshape(per_channel) * rng.standard_normal(shape))
    return (x.astype(dtype), rng.uniform(-2, 2, c).astype(dtype),
            rng.standard_normal(c).astype(dtype))


def both(name, args, kwargs, dout):
    """Forward and backward of the readable and the tuned version on deep copies."""
    results = []
    for module in PAIRS[name]:
        a = copy.deepcopy(args)
        out, cache = module.forward(*a, **kwargs)
        results.append((out, module.backward(dout, cache), a))
    return results


def assert_same(got, ref, dtype, label):
    assert got.dtype == ref.dtype == dtype, label
    assert got.shape == ref.shape, label
    # atol relative to the largest entry: sums over 10^4 float32 terms (dgamma, dbeta) in
    # another order differ by more than rtol in their smaller entries
    tol = TOL[dtype]
    scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    np.testing.assert_allclose(got, ref, rtol=tol["rtol"], atol=tol["atol"] * scale,
                               err_msg=label)


CASES = [
    ("layernorm", (256, 1024), {}), ("layernorm", (3, 7, 5), {"eps": 1e-3}),
    ("layernorm", (70, 300), {}), ("layernorm", (1, 4), {}),
    ("spatial_batchnorm", (64, 8, 16, 16), {"mode": "train", "momentum": 0.7}),
    ("spatial_batchnorm", (3, 5, 7, 2), {"mode": "train"}),
    ("spatial_batchnorm", (9, 3, 1, 1), {"mode": "train", "eps": 1e-3}),
    ("spatial_batchnorm", (4, 6, 5, 3), {"mode": "test"}),
    ("groupnorm", (64, 32, 16, 16), {"G": 8}), ("groupnorm", (5, 6, 3, 7), {"G": 3}),
    ("groupnorm", (4, 6, 2, 2), {"G": 1}), ("groupnorm", (4, 6, 2, 2), {"G": 6}),
    ("groupnorm", (7, 4), {"G": 2}), ("groupnorm", (3, 8, 11), {"G": 4, "eps": 0.1}),
]


def _inputs(name, shape, options, dtype, rng, **data):
    if name == "layernorm":
        x = (rng.normal(0, 2, shape[:-1] + (1,))
             + rng.uniform(0.5, 3, shape[:-1] + (1,)) * rng.standard_normal(shape))
        d = shape[-1]
        args = (x.astype(dtype), rng.uniform(-2, 2, d).astype(dtype),
                rng.standard_normal(d).astype(dtype))
        return args, dict(options)
    args = channel_data(rng, shape, dtype, **data)
    if name == "spatial_batchnorm":
        c = shape[1]
        bn_param = {**options, "running_mean": rng.standard_normal(c).astype(dtype),
                    "running_var": rng.uniform(0.5, 2, c).astype(dtype)}
        return args + (bn_param,), {}
    return args, dict(options)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, shape, options", CASES)
def test_the_twin_gives_the_readable_values_and_gradients(name, shape, options, dtype):
    rng = np.random.default_rng([len(name), *shape])
    args, kwargs = _inputs(name, shape, options, dtype, rng)
    dout = rng.standard_normal(shape).astype(dtype)
    (out, grads, a_ref), (out_f, grads_f, a_fast) = both(name, args, kwargs, dout)
    assert_same(out_f, out, dtype, "out")
    for label, g_f, g in zip(("dx", "dgamma", "dbeta"), grads_f, grads, strict=True):
        assert_same(g_f, g, dtype, label)
    if name == "spatial_batchnorm":
        for key in ("running_mean", "running_var"):
            assert_same(a_fast[3][key], a_ref[3][key], dtype, key)


@pytest.mark.parametrize("block_bytes", [64, 4096, 1 << 30])
@pytest.mark.parametrize("name, shape, options", [CASES[2], CASES[5], CASES[9]])
def test_block_boundaries_do_not_matter(name, shape, options, block_bytes, monkeypatch):
    """Blocks of one row each, of a few rows, and one block for everything give one answer."""
    rng = np.random.default_rng(3)
    args, kwargs = _inputs(name, shape, options, np.float64, rng)
    dout = rng.standard_normal(shape)
    (out, grads, _), _ = both(name, args, kwargs, dout)
    monkeypatch.setattr(rows_module, "BLOCK_BYTES", block_bytes)
    _, (out_f, grads_f, _) = both(name, args, kwargs, dout)
    np.testing.assert_allclose(out_f, out, rtol=1e-11, atol=1e-12)
    for g_f, g in zip(grads_f, grads, strict=True):
        np.testing.assert_allclose(g_f, g, rtol=1e-11, atol=1e-12)


def test_row_blocks_cover_every_row_once_in_multiples():
    for n, row_bytes, multiple in [(10, 8, 1), (1000, 1000, 3), (7, 10**9, 1), (0, 8, 1)]:
        blocks = list(rows_module.row_blocks(n, row_bytes, multiple))
        assert [i for s in blocks for i in range(s.start, s.stop)] == list(range(n))
        assert all((s.stop - s.start) % multiple == 0 for s in blocks[:-1])


@pytest.mark.parametrize("name, shape, options", [CASES[1], CASES[5], CASES[9]])
def test_non_contiguous_inputs(name, shape, options):
    rng = np.random.default_rng(4)
    args, kwargs = _inputs(name, shape, options, np.float64, rng)
    odd = (np.asfortranarray(args[0]),) + args[1:]
    dout = np.asfortranarray(rng.standard_normal(shape))
    (out, grads, _), (out_f, grads_f, _) = both(name, odd, kwargs, dout)
    np.testing.assert_allclose(out_f, out, rtol=1e-11, atol=1e-12)
    for g_f, g in zip(grads_f, grads, strict=True):
        np.testing.assert_allclose(g_f, g, rtol=1e-11, atol=1e-12)


def _offset_inputs(name, shape, options, dtype, rng, offset, spread):
    """Inputs whose values sit at ``offset`` with a spread of ``spread``."""
    args, kwargs = _inputs(name, shape, options, np.float64, rng)
    x = offset + spread * rng.standard_normal(shape)
    args = (x.astype(dtype),) + tuple(a.astype(dtype) for a in args[1:3]) + args[3:]
    if name == "spatial_batchnorm":
        args[3].update({k: v.astype(dtype) for k, v in args[3].items()
                        if isinstance(v, np.ndarray)})
    return args, kwargs


@pytest.mark.parametrize("name, shape, options", [CASES[0], CASES[4], CASES[8]])
@pytest.mark.parametrize("dtype, offset, tol", [(np.float64, 1e4, 1e-6), (np.float32, 1e2, 1e-2)])
def test_a_large_mean_with_a_small_spread_keeps_its_accuracy(name, shape, options, dtype, offset,
                                                             tol):
    """x = offset + noise of 1e-2: the variance and dgamma are sums of centred values, so the
    twin stays close to the exact result (float64 arithmetic on the same inputs), as the
    readable version does; a sum of squares minus the squared mean would lose every digit."""
    rng = np.random.default_rng(5)
    args, kwargs = _offset_inputs(name, shape, options, dtype, rng, offset, 1e-2)
    exact_args = tuple(copy.deepcopy(a) if isinstance(a, dict) else a.astype(np.float64)
                       for a in args)
    if name == "spatial_batchnorm":
        exact_args[3].update({k: v.astype(np.float64) for k, v in exact_args[3].items()
                              if isinstance(v, np.ndarray)})
    dout = rng.standard_normal(shape)
    exact, exact_cache = PAIRS[name][0].forward(*exact_args, **kwargs)
    exact_grads = PAIRS[name][0].backward(dout, exact_cache)
    for module in PAIRS[name]:
        out, cache = module.forward(*copy.deepcopy(args), **kwargs)
        grads = module.backward(dout.astype(dtype), cache)
        np.testing.assert_allclose(out, exact, rtol=tol, atol=tol * np.abs(exact).max(),
                                   err_msg=module.__name__)
        for g, e in zip(grads, exact_grads, strict=True):
            np.testing.assert_allclose(g, e, rtol=tol, atol=tol * np.abs(e).max(),
                                       err_msg=module.__name__)


@pytest.mark.parametrize("name, shape, options", [CASES[1], CASES[5], CASES[7], CASES[9],
                                                  CASES[12]])
def test_the_twin_passes_the_gradient_check(name, shape, options):
    args, kwargs = _inputs(name, shape, options, np.float64, np.random.default_rng(6))
    check_op(PAIRS[name][1], *args, **kwargs).raise_if_failed()


BAD = [
    ("layernorm", lambda x, g, b: ((x[0], g, b), {})),
    ("layernorm", lambda x, g, b: ((x, g[:-1], b), {})),
    ("layernorm", lambda x, g, b: ((x, g, b.astype(np.float32)), {})),
    ("layernorm", lambda x, g, b: ((x, g, b), {"eps": -1.0})),
    ("spatial_batchnorm", lambda x, g, b: ((x[0], g, b, {"mode": "train"}), {})),
    ("spatial_batchnorm", lambda x, g, b: ((x, g[:-1], b, {"mode": "train"}), {})),
    ("spatial_batchnorm", lambda x, g, b: ((x, g, b, {"mode": "eval"}), {})),
    ("spatial_batchnorm", lambda x, g, b: ((x, g, b, {"mode": "train", "epz": 1}), {})),
    ("spatial_batchnorm", lambda x, g, b: ((x, g, b, {"mode": "train", "eps": 0}), {})),
    ("spatial_batchnorm", lambda x, g, b: ((x, g, b, {"mode": "test", "momentum": 2}), {})),
    ("spatial_batchnorm", lambda x, g, b: ((x, g, b, {"mode": "train",
                                                      "running_var": np.ones(2)}), {})),
    ("spatial_batchnorm", lambda x, g, b: ((x[:1, :, :1, :1], g, b, {"mode": "train"}), {})),
    ("groupnorm", lambda x, g, b: ((x, g, b), {"G": 4})),
    ("groupnorm", lambda x, g, b: ((x, g, b), {"G": 0})),
    ("groupnorm", lambda x, g, b: ((x, g.reshape(1, -1, 1, 1), b), {"G": 2})),
    ("groupnorm", lambda x, g, b: ((x, g, b), {"G": 2, "eps": "small"})),
]


@pytest.mark.parametrize("name, make", BAD)
def test_the_twin_raises_the_readable_errors(name, make):
    rng = np.random.default_rng(7)
    x, g, b = channel_data(rng, (2, 6, 3, 4), np.float64)
    if name == "layernorm":
        x, g, b = x.reshape(12, 12), np.ones(12), np.zeros(12)
    args, kwargs = make(x, g, b)
    errors = []
    for module in PAIRS[name]:
        with pytest.raises((TypeError, ValueError)) as info:
            module.forward(*copy.deepcopy(args), **kwargs)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_backward_errors_match(name):
    rng = np.random.default_rng(8)
    args, kwargs = _inputs(name, (2, 6, 3, 4) if name != "layernorm" else (4, 6),
                           {"mode": "train"} if name == "spatial_batchnorm"
                           else {"G": 3} if name == "groupnorm" else {}, np.float64, rng)
    for bad in (np.ones((2, 2)), np.ones(args[0].shape, np.float32), [[1.0]]):
        errors = []
        for module in PAIRS[name]:
            _, cache = module.forward(*copy.deepcopy(args), **kwargs)
            with pytest.raises((TypeError, ValueError)) as info:
                module.backward(bad, cache)
            errors.append((type(info.value), str(info.value)))
        assert errors[0] == errors[1]
