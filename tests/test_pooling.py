"""Max and average pooling against hand-worked numbers and against the definition written out
here window by window, the tie rule, both backward paths (windows that tile the input, and
windows that overlap or leave gaps), numerical gradients, dtypes, views, NaN, the kink
distances of max pooling, and the errors of bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from handgrad.fast import conv as fast_conv
from handgrad.gradcheck import check_op, pool_kinks
from handgrad.layers import avgpool, maxpool

MODULES = {"maxpool": maxpool, "avgpool": avgpool}


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def windows(shape, size, stride):
    """(i, j, rows, cols) of every window, in output order."""
    (hh, ww), (sh, sw) = pair(size), pair(stride)
    out_h, out_w = (shape[2] - hh) // sh + 1, (shape[3] - ww) // sw + 1
    for i, j in itertools.product(range(out_h), range(out_w)):
        yield i, j, slice(i * sh, i * sh + hh), slice(j * sw, j * sw + ww)


def definition(name, x, dout, size, stride):
    """out and dx window by window: max sends dout to the first maximum in row-major order
    (np.argmax of the flattened window); the mean shares it equally."""
    (hh, ww) = pair(size)
    out = np.zeros(dout.shape)
    dx = np.zeros(x.shape)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for i, j, rows, cols in windows(x.shape, size, stride):
            window = x[n, c, rows, cols]
            if name == "maxpool":
                a, e = divmod(int(np.argmax(window)), ww)
                out[n, c, i, j] = window[a, e]
                dx[n, c, rows.start + a, cols.start + e] += dout[n, c, i, j]
            else:
                out[n, c, i, j] = window.sum() / (hh * ww)
                dx[n, c, rows, cols] += dout[n, c, i, j] / (hh * ww)
    return out, dx


def run(module, x, dout=None, **options):
    out, cache = module.forward(x, **options)
    if dout is None:
        dout = np.random.default_rng(42).standard_normal(out.shape).astype(x.dtype)
    return out, module.backward(dout, cache), dout


# ------------------------------------------------------------------------- worked by hand
X4 = np.array([[[[1.0, 5.0, 2.0, 0.5],
                 [3.0, -1.0, 4.0, 8.0],
                 [0.0, 2.5, -3.0, -2.0],
                 [6.0, 1.0, -4.0, -5.0]]]])
DOUT2 = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])


def test_maxpool_hand_worked():
    out, dx, _ = run(maxpool, X4, DOUT2)
    np.testing.assert_array_equal(out, [[[[5, 8], [6, -2]]]])
    np.testing.assert_array_equal(dx, [[[[0, 10, 0, 0], [0, 0, 0, 20],
                                         [0, 0, 0, 40], [30, 0, 0, 0]]]])


def test_avgpool_hand_worked():
    out, dx, _ = run(avgpool, X4, DOUT2)
    np.testing.assert_array_equal(out, [[[[2, 3.625], [2.375, -3.5]]]])
    np.testing.assert_array_equal(dx, [[[[2.5, 2.5, 5, 5], [2.5, 2.5, 5, 5],
                                         [7.5, 7.5, 10, 10], [7.5, 7.5, 10, 10]]]])


def test_maxpool_overlapping_windows_add_up_by_hand():
    x = np.array([[[[1.0, 2.0, 0.0], [0.0, 9.0, 0.0], [3.0, 0.0, 4.0]]]])
    out, dx, _ = run(maxpool, x, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), size=2, stride=1)
    np.testing.assert_array_equal(out, [[[[9, 9], [9, 9]]]])
    np.testing.assert_array_equal(dx, [[[[0, 0, 0], [0, 10, 0], [0, 0, 0]]]])  # 1 + 2 + 3 + 4


def test_ties_send_the_gradient_to_the_first_maximum_in_row_major_order():
    x = np.array([[[[7.0, 7.0, 1.0, 2.0],
                    [7.0, 7.0, 2.0, 2.0]]]])
    out, dx, _ = run(maxpool, x, np.array([[[[1.0, 3.0]]]]))
    np.testing.assert_array_equal(out, [[[[7, 2]]]])
    # window 1: four equal values, the first gets it; window 2: the first of three 2s
    np.testing.assert_array_equal(dx, [[[[1, 0, 0, 3], [0, 0, 0, 0]]]])
    # overlapping windows with ties: each window picks its own first maximum
    x = np.full((1, 1, 3, 3), 5.0)
    _, dx, _ = run(maxpool, x, np.ones((1, 1, 2, 2)), size=2, stride=1)
    np.testing.assert_array_equal(dx, [[[[1, 1, 0], [1, 1, 0], [0, 0, 0]]]])


# ----------------------------------------------------------------------- the definition
GEOMETRIES = [
    # (N, C, H, W, size, stride)
    (2, 3, 8, 6, 2, 2),                  # windows tile the input
    (2, 2, 9, 9, 3, 3),
    (2, 2, 8, 12, (2, 3), (2, 3)),       # rectangular windows that tile
    (2, 3, 9, 11, 3, 2),                 # overlapping windows
    (1, 2, 5, 6, 2, 1),
    (2, 2, 6, 10, (3, 2), (1, 2)),       # overlap down, tiles across
    (2, 2, 8, 8, 2, 3),                  # gaps between windows
    (2, 2, 7, 5, 1, 2),                  # 1x1 windows: subsampling
    (1, 2, 5, 7, (5, 7), 1),             # one window covers the image
]


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_the_definition(name, geometry, dtype):
    *shape, size, stride = geometry
    x = np.random.default_rng(list(shape)).standard_normal(shape).astype(dtype)
    out, dx, dout = run(MODULES[name], x, size=size, stride=stride)
    ref_out, ref_dx = definition(name, x.astype(np.float64), dout.astype(np.float64), size,
                                 stride)
    assert out.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape
    tol = 1e-14 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, ref_out, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, ref_dx, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", MODULES)
def test_stride_defaults_to_the_window_size(name):
    x = np.random.default_rng(1).standard_normal((2, 2, 9, 6))
    np.testing.assert_array_equal(MODULES[name].forward(x, size=3)[0],
                                  MODULES[name].forward(x, size=3, stride=3)[0])
    np.testing.assert_array_equal(MODULES[name].forward(x[:, :, :8])[0],
                                  MODULES[name].forward(x[:, :, :8], size=(2, 2), stride=[2, 2])[0])


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("geometry", [GEOMETRIES[3], GEOMETRIES[6]], ids=str)
def test_numerical_gradients(name, geometry):
    *shape, size, stride = geometry
    x = np.random.default_rng(5).permutation(np.prod(shape)).reshape(shape) * 0.01 + 0.003
    report = check_op(MODULES[name], x, size=size, stride=stride)   # distinct values: no ties
    report.raise_if_failed()


@pytest.mark.parametrize("name", MODULES)
def test_non_contiguous_input_gives_the_same_numbers(name):
    """The output view of the fast convolution (NCHW view of a channel-major buffer)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 12, 10))
    view, _ = fast_conv.forward(x, rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5),
                                pad=1)
    assert not view.flags.c_contiguous
    dense = np.ascontiguousarray(view)
    for options in ({}, {"size": 3, "stride": 1}):
        out, dx, dout = run(MODULES[name], view, **options)
        ref, ref_dx, _ = run(MODULES[name], dense, dout=dout, **options)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(dx, ref_dx)


def test_maxpool_nan_propagates_to_the_output():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = np.nan
    out, _ = maxpool.forward(x)
    assert np.isnan(out[0, 0, 0, 0]) and np.isfinite(out.ravel()[1:]).all()


@pytest.mark.parametrize("name", MODULES)
def test_forward_and_backward_leave_their_inputs_alone(name):
    x = np.random.default_rng(4).standard_normal((2, 3, 9, 11))
    saved = x.copy()
    out, cache = MODULES[name].forward(x, size=3, stride=2)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    dout_saved = dout.copy()
    MODULES[name].backward(dout, cache)
    np.testing.assert_array_equal(x, saved)
    np.testing.assert_array_equal(dout, dout_saved)


# ------------------------------------------------------------------------ kink distances
def brute_force_kinks(x, size, stride):
    """Per element: over the windows holding it, the smallest change of that element alone
    that makes the window's maximum tie (raise it to the max, or lower the max to the
    runner-up)."""
    distance = np.full(x.shape, np.inf)
    (hh, ww) = pair(size)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for _, _, rows, cols in windows(x.shape, size, stride):
            values = x[n, c, rows, cols].ravel()
            if values.size < 2:
                continue
            first = int(np.argmax(values))
            others = np.delete(values, first)
            for k, v in enumerate(values):
                d = values[first] - others.max() if k == first else values[first] - v
                at = (n, c, rows.start + k // ww, cols.start + k % ww)
                distance[at] = min(distance[at], d)
    return distance


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_max_pool_kink_distances_match_brute_force(geometry):
    *shape, size, stride = geometry
    x = np.random.default_rng(6).standard_normal(shape)
    x[0, 0, 0, 0] = x[0, 0, 0, 1] if shape[3] > 1 else x[0, 0, 0, 0]   # one exact tie
    np.testing.assert_array_equal(pool_kinks.max_pool_kinks(x, pair(size), pair(stride)),
                                  brute_force_kinks(x, size, stride))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", MODULES)
def test_a_window_that_does_not_fit_or_a_stride_that_does_not_tile(name):
    x = np.zeros((2, 3, 5, 8))
    with pytest.raises(ValueError, match=rf"^{name}\.forward: the pool window does not fit the "
                                         r"input: its height 6 \(size\) exceeds H = 5$"):
        MODULES[name].forward(x, size=6)
    with pytest.raises(ValueError, match=rf"^{name}\.forward: stride 2 does not tile the input's "
                                         r"height: H - size = 5 - 2 = 3 is not a multiple of 2; "
                                         r"change the stride, the padding or the input size$"):
        MODULES[name].forward(x)
    with pytest.raises(ValueError, match=r"stride 3 does not tile the input's width: "
                                         r"W - size = 9 - 2 = 7 is not a multiple of 3"):
        MODULES[name].forward(np.zeros((2, 3, 4, 9)), size=2, stride=(2, 3))


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("kwargs, error, message", [
    ({"size": 0}, ValueError, r"size must be >= 1, got 0"),
    ({"size": 2, "stride": 0}, ValueError, r"stride must be >= 1, got 0"),
    ({"size": 2.0}, TypeError, r"size must be an int or a \(height, width\) pair of ints, "
                               r"got 2\.0"),
    ({"size": (2, 2, 2)}, TypeError, r"got \(2, 2, 2\)"),
])
def test_bad_options(name, kwargs, error, message):
    with pytest.raises(error, match=rf"^{name}\.forward: .*{message}$"):
        MODULES[name].forward(np.zeros((2, 3, 8, 8)), **kwargs)


@pytest.mark.parametrize("name", MODULES)
def test_bad_x_and_dout(name):
    module = MODULES[name]
    with pytest.raises(ValueError, match=rf"^{name}\.forward: x must be 4-D, got shape \(8, 8\)$"):
        module.forward(np.zeros((8, 8)))
    with pytest.raises(TypeError, match=rf"^{name}\.forward: x must have dtype float32 or "
                                        r"float64, got int64$"):
        module.forward(np.zeros((1, 1, 4, 4), dtype=np.int64))
    out, cache = module.forward(np.zeros((2, 3, 8, 6)))
    with pytest.raises(ValueError, match=rf"^{name}\.backward: dout must have shape \(2, 3, 4, 3\) "
                                         r"to match the forward output, got \(2, 3, 3, 4\)$"):
        module.backward(np.zeros((2, 3, 3, 4)), cache)
    with pytest.raises(TypeError, match=rf"^{name}\.backward: dout has dtype float32 but x has "
                                        r"dtype float64; pass all float inputs in one dtype$"):
        module.backward(out.astype(np.float32), cache)
