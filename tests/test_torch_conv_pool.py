"""Cross-check convolution and pooling against PyTorch: F.conv2d, F.max_pool2d, F.avg_pool2d.

The forward value and every gradient must agree, in float64 to 1e-9 and in float32 to 1e-4
relative error, at square and non-square images and kernels, strides and paddings given as
ints and as pairs. "Relative error" means, per array, |got - ref| <= rtol * (|ref| + max|ref|)
element by element, as in test_torch_crosscheck.py. Max pooling is checked on inputs without
ties (continuous random values), where the maximum is unique and both agree on it. Skipped
cleanly when PyTorch is not installed.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = {np.float64: 1e-9, np.float32: 1e-4}
CONV_MODULES = ("handgrad.layers.conv", "handgrad.layers.conv_naive", "handgrad.fast.conv")


def assert_close(label, got, ref, dtype):
    got = np.asarray(got)
    ref = ref.detach().numpy()
    assert got.shape == ref.shape, f"{label}: shape {got.shape}, torch {ref.shape}"
    assert got.dtype == dtype, f"{label}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    err = np.abs(got.astype(np.float64) - ref)
    bound = RTOL[dtype] * (np.abs(ref) + np.max(np.abs(ref)))
    if not np.all(err <= bound):
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        pytest.fail(f"{label}: at {i} got {got[i]!r}, torch {ref[i]!r} (max abs diff "
                    f"{err.max():.3e})")


def run(module, args, dout, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out, cache = module.forward(*args, **kwargs)
        grads = module.backward(dout, cache)
    return out, (grads,) if isinstance(grads, np.ndarray) else tuple(grads)


def leaf(a):
    return torch.tensor(a, requires_grad=True)


CONV_CASES = [
    # (N, C, H, W, F, HH, WW, stride, pad)
    (4, 3, 8, 8, 5, 3, 3, 1, 1),
    (3, 2, 9, 12, 4, 3, 2, 2, 1),
    (2, 3, 10, 7, 6, 2, 3, (2, 1), (1, 0)),
    (2, 4, 6, 9, 3, 1, 1, 1, (2, 1)),
    (1, 2, 5, 5, 2, 5, 5, 1, 0),
    (2, 5, 16, 16, 7, 5, 5, 3, 2),
]


@pytest.mark.parametrize("module_name", CONV_MODULES)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv_matches_conv2d(module_name, case, dtype):
    n, c, h, w, f, hh, ww, stride, pad = case
    rng = np.random.default_rng([n, c, h, w, f, hh, ww])
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((f, c, hh, ww)) / np.sqrt(c * hh * ww)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    xt, wtt, bt = leaf(x), leaf(wt), leaf(b)
    ref = F.conv2d(xt, wtt, bt, stride=stride, padding=pad)
    dout = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    ref.backward(torch.from_numpy(dout))
    out, (dx, dw, db) = run(importlib.import_module(module_name), (x, wt, b), dout,
                            stride=stride, pad=pad)
    assert_close("out", out, ref, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dw", dw, wtt.grad, dtype)
    assert_close("db", db, bt.grad, dtype)


POOL_CASES = [
    # (N, C, H, W, size, stride)
    (3, 4, 8, 10, 2, 2),
    (2, 3, 9, 11, 3, 2),
    (2, 2, 6, 10, (3, 2), (1, 2)),
    (2, 3, 8, 8, 2, 3),
    (2, 2, 12, 12, 4, 4),
]


@pytest.mark.parametrize("name, reference", [("maxpool", "max_pool2d"),
                                             ("avgpool", "avg_pool2d")])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pooling_matches_torch(name, reference, case, dtype):
    n, c, h, w, size, stride = case
    rng = np.random.default_rng([n, c, h, w])
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    xt = leaf(x)
    ref = getattr(F, reference)(xt, size, stride)
    dout = rng.standard_normal(tuple(ref.shape)).astype(dtype)
    ref.backward(torch.from_numpy(dout))
    module = importlib.import_module(f"handgrad.layers.{name}")
    out, (dx,) = run(module, (x,), dout, size=size, stride=stride)
    assert_close("out", out, ref, dtype)
    assert_close("dx", dx, xt.grad, dtype)
