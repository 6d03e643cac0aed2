"""The Winograd F(2x2, 3x3) layout of handgrad.fast.conv: when the twin takes it, and that it
agrees with the definition, the readable conv and numerical gradients at odd sizes, every
padding, both dtypes, blocks of examples that do not divide the batch, and one or two
threads."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from handgrad.fast import _blocks, _winograd
from handgrad.fast import conv as fast_conv
from handgrad.gradcheck import check_op
from handgrad.layers import conv


def inputs(seed, n, c, h, w, f, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c, h, w)).astype(dtype),
            rng.standard_normal((f, c, 3, 3)).astype(dtype),
            rng.standard_normal(f).astype(dtype),
            rng)


def both(x, w, b, rng, **options):
    """(out, dx, dw, db) of the twin and of the readable layer for one random dout, and the
    twin's layout."""
    out, cache = fast_conv.forward(x, w, b, **options)
    dout = rng.standard_normal(out.shape).astype(x.dtype)
    ref_out, ref_cache = conv.forward(x, w, b, **options)
    return ((out, *fast_conv.backward(dout, cache)), (ref_out, *conv.backward(dout, ref_cache)),
            cache[0])


def assert_close(got, want, tol):
    for label, a, r in zip(("out", "dx", "dw", "db"), got, want, strict=True):
        assert a.shape == r.shape and a.dtype == r.dtype, label
        assert np.max(np.abs(a - r)) <= tol * np.max(np.abs(r)), label


@pytest.mark.parametrize("n, c, f, stride, kernel, layout", [
    (2, 16, 16, 1, 3, "winograd"),
    (2, 16, 16, 2, 3, "channel-major"),      # stride 2: im2col
    (2, 16, 16, (1, 2), 3, "channel-major"),
    (2, 15, 16, 1, 3, "channel-major"),      # too few channels for Winograd's products
    (2, 16, 15, 1, 3, "channel-major"),      # too few filters
    (2, 16, 16, 1, 2, "channel-major"),      # not 3x3
    (2, 3, 32, 1, 3, "per-example"),
])
def test_winograd_only_for_3x3_stride_1_with_enough_channels(n, c, f, stride, kernel, layout):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, 7, 7))
    w = rng.standard_normal((f, c, kernel, kernel))
    out, cache = fast_conv.forward(x, w, np.zeros(f), stride=stride, pad=1)
    assert cache[0] == layout
    dout = rng.standard_normal(out.shape)
    ref_out, ref_cache = conv.forward(x, w, np.zeros(f), stride=stride, pad=1)
    assert_close((out, *fast_conv.backward(dout, cache)),
                 (ref_out, *conv.backward(dout, ref_cache)), 1e-12)


def pairs(pad):
    return (pad, pad) if isinstance(pad, int) else pad


SIZES = [(h, w, pad) for (h, w), pad in itertools.product(
    [(5, 7), (6, 9), (3, 3), (8, 8), (1, 4)], [0, 1, 2, (1, 2), (2, 0)])
    if h + 2 * pairs(pad)[0] >= 3 and w + 2 * pairs(pad)[1] >= 3]   # where the filter fits


@pytest.mark.parametrize("h, w, pad", SIZES, ids=str)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_agrees_with_the_readable_layer_at_odd_sizes_and_every_padding(h, w, pad, dtype, tol):
    ph, pw = pairs(pad)
    x, wt, b, rng = inputs([h, w, ph, pw], 3, 16, h, w, 17, dtype)
    got, want, layout = both(x, wt, b, rng, pad=pad)
    assert layout == "winograd"
    assert_close(got, want, tol)


def test_matches_the_definition_written_as_loops():
    """out[n, f, i, j] = b[f] + sum_{c, a, e} xp[n, c, i + a, j + e] w[f, c, a, e], and each
    term's gradient, one scalar at a time (independent of both im2col and Winograd)."""
    x, w, b, rng = inputs(4, 2, 16, 5, 4, 16)
    out, cache = fast_conv.forward(x, w, b, pad=1)
    assert cache[0] == "winograd"
    dout = rng.standard_normal(out.shape)
    dx, dw, db = fast_conv.backward(dout, cache)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.empty(out.shape)
    dxp, ref_dw = np.zeros_like(xp), np.zeros_like(w)
    for n, f, i, j in itertools.product(range(2), range(16), range(5), range(4)):
        window = xp[n, :, i:i + 3, j:j + 3]
        ref[n, f, i, j] = b[f] + np.sum(window * w[f])
        dxp[n, :, i:i + 3, j:j + 3] += dout[n, f, i, j] * w[f]
        ref_dw[f] += dout[n, f, i, j] * window
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dxp[:, :, 1:-1, 1:-1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_hand_worked_single_tile():
    """One 2x2 output of a 4x4 input: 16 channels of ones, only channel 0 of the filter is
    nonzero, with the centre tap 1 and the top-left tap 2: out[i, j] = x[i+1, j+1] + 2 x[i, j]."""
    x = np.zeros((1, 16, 4, 4))
    x[0, 0] = np.arange(16.0).reshape(4, 4)
    w = np.zeros((16, 16, 3, 3))
    w[:, 0, 1, 1], w[:, 0, 0, 0] = 1.0, 2.0
    out, cache = fast_conv.forward(x, w, np.full(16, 0.5))
    assert cache[0] == "winograd"
    # x[1:3, 1:3] = [[5, 6], [9, 10]], x[0:2, 0:2] = [[0, 1], [4, 5]]
    np.testing.assert_array_equal(out[0, 3], [[5.5, 8.5], [17.5, 20.5]])
    dout = np.zeros((1, 16, 2, 2))
    dout[0, 0, 0, 0] = 1.0                    # the gradient of out[0, 0, 0, 0] alone
    dx, dw, db = fast_conv.backward(dout, cache)
    expected_dx = np.zeros((4, 4))
    expected_dx[1, 1], expected_dx[0, 0] = 1.0, 2.0
    np.testing.assert_allclose(dx[0, 0], expected_dx, atol=1e-15)
    assert not dx[0, 1:].any()
    np.testing.assert_allclose(dw[0, 0], x[0, 0, 0:3, 0:3], atol=1e-15)
    np.testing.assert_array_equal(db, np.eye(16)[0])


@pytest.mark.parametrize("pad", [0, 1])
def test_numerical_gradients(pad):
    x, w, b, _ = inputs(7, 2, 16, 5, 4, 16)
    assert fast_conv.forward(x, w, b, pad=pad)[1][0] == "winograd"
    check_op(fast_conv, x, w, b, pad=pad, mode="sparse", num_checks=20).raise_if_failed()


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of two examples, so that a batch of 5 ends with a block of one."""
    t = _winograd.Tiles(16, 6, 7, 16, 1, 1, 6, 7)
    monkeypatch.setattr(_winograd, "BLOCK_BYTES", 2 * 16 * 16 * t.run * 8)
    assert t.block(8) == 2


@pytest.mark.parametrize("threads", [1, 2])
def test_blocks_and_slices_that_do_not_divide_the_batch(small_blocks, threads):
    before = _blocks.get_num_threads()
    _blocks.set_num_threads(threads)
    try:
        for n in (5, 9):                          # 9: two slices of 4 and 5 examples
            x, w, b, rng = inputs(n, n, 16, 6, 7, 16)
            got, want, layout = both(x, w, b, rng, pad=1)
            assert layout == "winograd"
            assert_close(got, want, 1e-12)
    finally:
        _blocks.set_num_threads(before)


def test_float32_stays_within_float32_rounding_at_the_benchmark_size():
    x, w, b, rng = inputs(3, 8, 32, 16, 16, 64, np.float32)
    got, _, layout = both(x, w, b, rng, pad=1)
    assert layout == "winograd"
    x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
    out, cache = conv.forward(x64, w64, b64, pad=1)
    # the dout of the float32 run: both() draws it from rng right after the inputs
    _, _, _, rng = inputs(3, 8, 32, 16, 16, 64, np.float32)
    dout = rng.standard_normal(out.shape).astype(np.float32).astype(np.float64)
    want = (out, *conv.backward(dout, cache))
    for a, r in zip(got, want, strict=True):
        assert a.dtype == np.float32
        assert np.max(np.abs(a - r)) <= 1e-5 * np.max(np.abs(r))


def test_backward_checks_the_dtype_of_dout():
    x, w, b, _ = inputs(1, 2, 16, 4, 4, 16)
    out, cache = fast_conv.forward(x, w, b, pad=1)
    with pytest.raises(TypeError, match=r"^conv\.backward: dout has dtype float32 but x has "
                                        r"dtype float64"):
        fast_conv.backward(out.astype(np.float32), cache)
