"""2-D convolution: conv (im2col), conv_naive (the teaching loops) and the tuned twin
handgrad.fast.conv, against hand-worked numbers, against the definition written out here as
loops over every index, against each other, against numerical gradients; dtypes, views and
the errors of bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from handgrad.fast import conv as fast_conv
from handgrad.gradcheck import check_op
from handgrad.layers import conv, conv_naive

MODULES = {"conv": conv, "conv_naive": conv_naive, "fast_conv": fast_conv}
ERROR_NAME = {"conv": "conv", "conv_naive": "conv_naive", "fast_conv": "conv"}


def pair(v):
    return (v, v) if isinstance(v, int) else v


def definition(x, w, b, dout, stride, pad):
    """out and (dx, dw, db) straight from the definition, one scalar product at a time:
    out[n, f, i, j] = b[f] + sum_{c, a, e} xp[n, c, i*sh + a, j*sw + e] * w[f, c, a, e], and
    each term hands dout[n, f, i, j] times its other factor to each of its two factors."""
    (sh, sw), (ph, pw) = pair(stride), pair(pad)
    n_, c_, h_, w_ = x.shape
    f_, _, hh, ww = w.shape
    xp = np.zeros((n_, c_, h_ + 2 * ph, w_ + 2 * pw))
    xp[:, :, ph:ph + h_, pw:pw + w_] = x
    out_h, out_w = (h_ + 2 * ph - hh) // sh + 1, (w_ + 2 * pw - ww) // sw + 1
    out = np.zeros((n_, f_, out_h, out_w))
    dxp, dw, db = np.zeros_like(xp), np.zeros(w.shape), np.zeros(f_)
    for n, f, i, j in itertools.product(range(n_), range(f_), range(out_h), range(out_w)):
        total = float(b[f])
        g = float(dout[n, f, i, j])
        db[f] += g
        for c, a, e in itertools.product(range(c_), range(hh), range(ww)):
            xv, wv = xp[n, c, i * sh + a, j * sw + e], w[f, c, a, e]
            total += xv * wv
            dxp[n, c, i * sh + a, j * sw + e] += g * wv
            dw[f, c, a, e] += g * xv
        out[n, f, i, j] = total
    return out, (dxp[:, :, ph:ph + h_, pw:pw + w_], dw, db)


def run(module, x, w, b, dout=None, **options):
    out, cache = module.forward(x, w, b, **options)
    if dout is None:
        dout = np.random.default_rng(99).standard_normal(out.shape).astype(x.dtype)
    return out, module.backward(dout, cache), dout


def inputs(rng, n, c, h, w, f, hh, ww, dtype=np.float64):
    return (rng.standard_normal((n, c, h, w)).astype(dtype),
            rng.standard_normal((f, c, hh, ww)).astype(dtype),
            rng.standard_normal(f).astype(dtype))


# ------------------------------------------------------------------------- worked by hand
X3 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)           # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


@pytest.mark.parametrize("name", MODULES)
def test_hand_worked_2x2_filter(name):
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out, (dx, dw, db), _ = run(MODULES[name], X3, w, np.array([0.5]),
                               dout=np.array([[[[1.0, 0.0], [0.0, 0.0]]]]))
    # out[0, 0] = 1*1 + 2*2 + 3*4 + 4*5 = 37, and so on, plus 0.5
    np.testing.assert_allclose(out, [[[[37.5, 47.5], [67.5, 77.5]]]], rtol=1e-15)
    # only out[0, 0] gets gradient: its window is x[0:2, 0:2], its filter w
    np.testing.assert_allclose(dx, [[[[1, 2, 0], [3, 4, 0], [0, 0, 0]]]], rtol=1e-15)
    np.testing.assert_allclose(dw, [[[[1, 2], [4, 5]]]], rtol=1e-15)
    np.testing.assert_allclose(db, [1.0], rtol=1e-15)


@pytest.mark.parametrize("name", MODULES)
def test_hand_worked_padding_and_stride(name):
    # pad 1 and stride 2 with a 3x3 filter of ones: each output sums a 2x2 corner of x
    out, (dx, dw, db), _ = run(MODULES[name], X3, np.ones((1, 1, 3, 3)), np.zeros(1),
                               dout=np.ones((1, 1, 2, 2)), stride=2, pad=1)
    np.testing.assert_allclose(out, [[[[12, 16], [24, 28]]]], rtol=1e-15)
    # the centre pixel is in all four windows, the edges in two, the corners in one
    np.testing.assert_allclose(dx, [[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]], rtol=1e-15)
    # filter entry (a, e) meets x[2i + a - 1, 2j + e - 1] over the four windows: (1, 1) the
    # four corners, 1 + 3 + 7 + 9; (0, 0) only the centre; (0, 1) the middle row's ends 4 + 6
    np.testing.assert_allclose(dw, [[[[5, 10, 5], [10, 20, 10], [5, 10, 5]]]], rtol=1e-15)
    np.testing.assert_allclose(db, [4.0], rtol=1e-15)


# ----------------------------------------------------------------------- the definition
GEOMETRIES = [
    # (N, C, H, W, F, HH, WW, stride, pad)
    (2, 3, 5, 7, 4, 3, 3, 1, 0),
    (3, 2, 7, 9, 2, 3, 3, 2, 1),
    (2, 2, 6, 8, 3, 2, 3, (2, 1), (1, 0)),
    (1, 1, 4, 5, 1, 4, 5, 1, 0),            # the filter covers the whole image: out is 1x1
    (2, 3, 5, 4, 2, 1, 1, 1, 2),            # 1x1 filter with padding: a border of b
    (2, 1, 7, 7, 3, 3, 2, 3, (1, 2)),       # stride 3
    (1, 2, 2, 3, 2, 4, 5, 1, (1, 1)),       # the filter is larger than the unpadded image
    (3, 2, 6, 8, 3, 2, 3, 1, (1, 2)),       # stride 1 with uneven padding
    (2, 1, 6, 7, 8, 2, 2, 1, 1),            # more filters than rows of im2col (F > C*HH*WW)
]


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_matches_the_definition(name, geometry):
    *sizes, stride, pad = geometry
    rng = np.random.default_rng(list(sizes))
    x, w, b = inputs(rng, *sizes)
    out, grads, dout = run(MODULES[name], x, w, b, stride=stride, pad=pad)
    ref_out, ref_grads = definition(x, w, b, dout, stride, pad)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    for label, g, ref in zip(("dx", "dw", "db"), grads, ref_grads, strict=True):
        assert g.shape == ref.shape, label
        np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-12, err_msg=label)


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("geometry", [GEOMETRIES[1], GEOMETRIES[3], GEOMETRIES[5]], ids=str)
def test_numerical_gradients(name, geometry):
    *sizes, stride, pad = geometry
    x, w, b = inputs(np.random.default_rng(7), *sizes)
    check_op(MODULES[name], x, w, b, stride=stride, pad=pad).raise_if_failed()


@pytest.mark.parametrize("size", [(8, 3, 32, 32, 32), (8, 3, 32, 32, 16), (4, 32, 16, 16, 64),
                                  (3, 5, 9, 11, 6)])
@pytest.mark.parametrize("options", [{"pad": 1}, {"stride": 2, "pad": 1}, {"stride": (1, 2)}])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_three_agree_at_realistic_sizes(size, options, dtype):
    n, c, h, w, f = size
    (sh, sw), (ph, pw) = pair(options.get("stride", 1)), pair(options.get("pad", 0))
    h += (h + 2 * ph - 3) % sh       # the next size the stride tiles
    w += (w + 2 * pw - 3) % sw
    x, wt, b = inputs(np.random.default_rng(3), n, c, h, w, f, 3, 3, dtype)
    results = {name: run(module, x, wt, b, **options) for name, module in MODULES.items()}
    ref_out, ref_grads, dout = results["conv_naive"]
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for name, (out, grads, _) in results.items():
        for label, a, r in zip(("out", "dx", "dw", "db"), (out, *grads), (ref_out, *ref_grads),
                               strict=True):
            assert a.dtype == dtype and a.shape == r.shape, f"{name} {label}"
            scale = np.max(np.abs(r))
            assert np.max(np.abs(a - r)) <= tol * scale, f"{name} {label}"


# ------------------------------------------------------------- dtypes, layouts, threads
@pytest.mark.parametrize("name", MODULES)
def test_float32_in_float32_out_close_to_float64(name):
    x, w, b = inputs(np.random.default_rng(5), 3, 2, 6, 7, 4, 3, 2)
    out64, grads64, dout = run(MODULES[name], x, w, b, pad=1)
    out32, grads32, _ = run(MODULES[name], *(a.astype(np.float32) for a in (x, w, b)),
                            dout=dout.astype(np.float32), pad=1)
    for a32, a64 in zip((out32, *grads32), (out64, *grads64), strict=True):
        assert a32.dtype == np.float32
        np.testing.assert_allclose(a32, a64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("channels, filters, layout", [
    (3, 32, "per-example"),        # 3x3 filters on 3 channels: 27 rows of im2col < 32 filters
    (16, 8, "channel-major"),      # 144 rows >= 8 filters
])
@pytest.mark.parametrize("stride, pad", [(1, 1), (2, 1), ((1, 2), 0)])
def test_the_twin_takes_both_layouts_and_each_agrees_with_the_readable_layer(
        channels, filters, layout, stride, pad):
    x, w, b = inputs(np.random.default_rng(13), 3, channels, 9, 11, filters, 3, 3)
    out, cache = fast_conv.forward(x, w, b, stride=stride, pad=pad)
    assert cache[0] == layout
    dout = np.random.default_rng(14).standard_normal(out.shape)
    ref_out, ref_cache = conv.forward(x, w, b, stride=stride, pad=pad)
    for a, r in zip((out, *fast_conv.backward(dout, cache)),
                    (ref_out, *conv.backward(dout, ref_cache)), strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)


def test_fast_outputs_are_views_that_behave_like_arrays():
    x, w, b = inputs(np.random.default_rng(6), 2, 3, 8, 9, 4, 3, 3)
    out, (dx, _, _), _ = run(fast_conv, x, w, b, pad=1)
    ref_out, (ref_dx, _, _), _ = run(conv, x, w, b, pad=1)
    for view, ref in ((out, ref_out), (dx, ref_dx)):
        np.testing.assert_allclose(np.ascontiguousarray(view), ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(view.reshape(view.shape[0], -1), ref.reshape(ref.shape[0], -1),
                                   rtol=1e-12, atol=1e-12)


def test_a_chain_of_fast_convs_takes_its_own_views():
    """The second layer reads the first layer's output view; its dx flows back as a view."""
    rng = np.random.default_rng(8)
    x, w1, b1 = inputs(rng, 2, 3, 10, 10, 5, 3, 3)
    w2, b2 = rng.standard_normal((4, 5, 3, 2)), rng.standard_normal(4)
    grads = {}
    for name, module in (("fast", fast_conv), ("readable", conv)):
        h, c1 = module.forward(x, w1, b1, pad=1)
        out, c2 = module.forward(h, w2, b2, stride=(1, 2), pad=(0, 1))
        dout = np.random.default_rng(9).standard_normal(out.shape)
        dh, dw2, db2 = module.backward(dout, c2)
        grads[name] = (out, *module.backward(dh, c1), dw2, db2)
    for a, r in zip(grads["fast"], grads["readable"], strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name", MODULES)
def test_forward_and_backward_leave_their_inputs_alone(name):
    x, w, b = inputs(np.random.default_rng(11), 2, 3, 6, 5, 2, 3, 3)
    saved = [a.copy() for a in (x, w, b)]
    out, cache = MODULES[name].forward(x, w, b, pad=1)
    dout = np.random.default_rng(12).standard_normal(out.shape)
    dout_saved = dout.copy()
    MODULES[name].backward(dout, cache)
    for a, s in zip((x, w, b, dout), (*saved, dout_saved), strict=True):
        np.testing.assert_array_equal(a, s)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_keeps_the_local_gradient_in_one_derivation_region(name):
    lines = [line.strip() for line in MODULES[name].__doc__.splitlines()]
    assert lines.count("BEGIN DERIVATION") <= 1 and lines.count("END DERIVATION") <= 1
    if name != "fast_conv":  # the twin is never handed out; its docstring points to conv's
        assert lines.count("BEGIN DERIVATION") == 1
        assert lines.index("BEGIN DERIVATION") < lines.index("END DERIVATION")


# ----------------------------------------------------------------------------- errors
def call(name, x, w, b, **options):
    return MODULES[name].forward(x, w, b, **options)


@pytest.mark.parametrize("name", MODULES)
def test_a_filter_that_does_not_fit_says_which_axis_with_the_numbers(name):
    x, w, b = inputs(np.random.default_rng(0), 2, 3, 2, 9, 4, 5, 3)
    op = ERROR_NAME[name]
    with pytest.raises(ValueError, match=rf"^{op}\.forward: the filter does not fit the padded "
                                         r"input: its height 5 \(HH\) exceeds H \+ 2\*pad = "
                                         r"2 \+ 2\*1 = 4$"):
        call(name, x, w, b, pad=1)
    with pytest.raises(ValueError, match=rf"^{op}\.forward: the filter does not fit the input: "
                                         r"its height 5 \(HH\) exceeds H = 2$"):
        call(name, x, w, b)
    x2, w2, b2 = inputs(np.random.default_rng(0), 2, 3, 9, 2, 4, 3, 4)
    with pytest.raises(ValueError, match=r"its width 4 \(WW\) exceeds W = 2"):
        call(name, x2, w2, b2)


@pytest.mark.parametrize("name", MODULES)
def test_a_stride_that_does_not_tile_says_which_axis_with_the_numbers(name):
    x, w, b = inputs(np.random.default_rng(0), 2, 3, 6, 7, 4, 3, 3)
    op = ERROR_NAME[name]
    with pytest.raises(ValueError, match=rf"^{op}\.forward: stride 2 does not tile the padded "
                                         r"input's height: H \+ 2\*pad - HH = 6 \+ 2\*1 - 3 = 5 "
                                         r"is not a multiple of 2; change the stride, the "
                                         r"padding or the input size$"):
        call(name, x, w, b, stride=2, pad=1)
    with pytest.raises(ValueError, match=r"stride 3 does not tile the input's width: "
                                         r"W - WW = 7 - 3 = 4 is not a multiple of 3"):
        call(name, x[:, :, :6], w, b, stride=(1, 3))


@pytest.mark.parametrize("name", MODULES)
def test_shape_and_dtype_errors_name_the_argument(name):
    x, w, b = inputs(np.random.default_rng(0), 2, 3, 6, 7, 4, 3, 3)
    op = ERROR_NAME[name]
    with pytest.raises(ValueError, match=rf"^{op}\.forward: w has 2 input channels but x has 3 "
                                         r"\(x shape \(2, 3, 6, 7\), w shape \(4, 2, 3, 3\)\); "
                                         r"w must be \(F, 3, HH, WW\)$"):
        call(name, x, w[:, :2], b)
    with pytest.raises(ValueError, match=rf"^{op}\.forward: b must have shape \(F,\) = \(4,\) to "
                                         r"match w \(4, 3, 3, 3\), got \(3,\)$"):
        call(name, x, w, b[:3])
    with pytest.raises(ValueError, match=rf"^{op}\.forward: x must be 4-D, got shape \(3, 6, 7\)"):
        call(name, x[0], w, b)
    with pytest.raises(ValueError, match=r"w must be 4-D, got shape \(4, 27\)"):
        call(name, x, w.reshape(4, -1), b)
    with pytest.raises(TypeError, match=r"w has dtype float32 but x has dtype float64"):
        call(name, x, w.astype(np.float32), b)
    with pytest.raises(TypeError, match=r"x must have dtype float32 or float64, got int64"):
        call(name, x.astype(np.int64), w, b)
    with pytest.raises(TypeError, match=r"x must be a numpy array of float32 or float64, got list"):
        call(name, x.tolist(), w, b)


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("option, value, error, message", [
    ("stride", 0, ValueError, r"stride must be >= 1, got 0"),
    ("stride", (1, -2), ValueError, r"stride must be >= 1, got \(1, -2\)"),
    ("pad", -1, ValueError, r"pad must be >= 0, got -1"),
    ("stride", 1.0, TypeError, r"stride must be an int or a \(height, width\) pair of ints, "
                               r"got 1\.0"),
    ("stride", True, TypeError, r"got True"),
    ("pad", (1, 1, 1), TypeError, r"pad must be an int or a \(height, width\) pair of ints, "
                                  r"got \(1, 1, 1\)"),
    ("pad", (1, "1"), TypeError, r"got \(1, '1'\)"),
])
def test_bad_options(name, option, value, error, message):
    x, w, b = inputs(np.random.default_rng(0), 2, 3, 6, 7, 4, 3, 3)
    with pytest.raises(error, match=rf"^{ERROR_NAME[name]}\.forward: .*{message}$"):
        call(name, x, w, b, **{option: value})


@pytest.mark.parametrize("name", MODULES)
def test_options_as_ints_tuples_lists_and_numpy_ints_agree(name):
    x, w, b = inputs(np.random.default_rng(0), 2, 3, 7, 7, 4, 3, 3)
    ref = call(name, x, w, b, stride=2, pad=1)[0]
    for stride, pad in (((2, 2), (1, 1)), ([2, 2], [1, 1]), (np.int64(2), np.int32(1))):
        np.testing.assert_array_equal(call(name, x, w, b, stride=stride, pad=pad)[0], ref)


@pytest.mark.parametrize("name", MODULES)
def test_backward_checks_dout(name):
    x, w, b = inputs(np.random.default_rng(0), 2, 3, 6, 7, 4, 3, 3)
    out, cache = MODULES[name].forward(x, w, b, pad=1)
    op = ERROR_NAME[name]
    with pytest.raises(ValueError, match=rf"^{op}\.backward: dout must have shape "
                                         r"\(2, 4, 6, 7\) to match the forward output, got "
                                         r"\(2, 4, 7, 6\)$"):
        MODULES[name].backward(np.zeros((2, 4, 7, 6)), cache)
    with pytest.raises(TypeError, match=rf"^{op}\.backward: dout has dtype float32 but x has "
                                        r"dtype float64"):
        MODULES[name].backward(np.zeros(out.shape, np.float32), cache)
