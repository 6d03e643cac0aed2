"""The gradient checker: numerical gradients, rel_error, check_op's findings, modes, kinks, hints.

The ops under test are defined here: correct ones written from the textbook formulas, and
broken ones, each with exactly one classic mistake that check_op must name.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from handgrad.gradcheck import (
    GradCheckError,
    check_op,
    hint_for,
    numerical_gradient,
    numerical_gradient_array,
    rel_error,
    relative_errors,
)
from handgrad.gradcheck import registry as reg
from handgrad.layers import affine

RNG = np.random.default_rng(1234)


def affine_inputs(n=3, d=4, m=5, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)).astype(dtype),
            rng.standard_normal((d, m)).astype(dtype),
            rng.standard_normal(m).astype(dtype))


def relu_inputs(shape=(4, 5), seed=0):
    rng = np.random.default_rng(seed)
    signs = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return signs * rng.uniform(0.1, 2.0, shape)


def relu_kinks(args, kwargs):
    return {0: np.abs(args[0])}


# --- test ops: correct ----------------------------------------------------------------------

def _relu_forward(x):
    return np.maximum(x, 0), x


def _relu_backward(dout, x):
    return dout * (x > 0)


RELU = SimpleNamespace(name="relu", forward=_relu_forward, backward=_relu_backward)


def _square_matmul_forward(x, w):
    return x @ w, (x, w)


def _square_matmul_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout


MATMUL = SimpleNamespace(name="matmul", forward=_square_matmul_forward,
                         backward=_square_matmul_backward)


def _half_sq_loss_forward(x):
    """loss = (1/N) sum_n 0.5 * |x_n|^2, a NumPy scalar of x's dtype."""
    n = x.shape[0]
    return x.dtype.type(0.5 * np.sum(x * x) / n), x


def _half_sq_loss_backward(dout, x):
    return x * (x.dtype.type(dout) / x.shape[0])


HALF_SQ = SimpleNamespace(name="half_sq", forward=_half_sq_loss_forward,
                          backward=_half_sq_loss_backward)


# --- test ops: each with one mistake --------------------------------------------------------

def _broken(name, forward=affine.forward, backward=affine.backward):
    return SimpleNamespace(name=name, forward=forward, backward=backward)


def _affine_off_by_one_percent(dout, cache):
    dx, dw, db = affine.backward(dout, cache)
    return dx, dw * 1.01, db


def _affine_transposed_dw(dout, cache):
    dx, dw, db = affine.backward(dout, cache)
    return dx, dw.T, db


def _affine_wrong_dtype(dout, cache):
    dx, dw, db = affine.backward(dout, cache)
    return dx, dw.astype(np.float32), db


def _affine_upcast(dout, cache):
    dx, dw, db = affine.backward(dout, cache)
    return dx.astype(np.float64), dw, db


def _affine_wrong_shape(dout, cache):
    dx, dw, db = affine.backward(dout, cache)
    return dx, dw, db[None, :]


def _affine_two_grads(dout, cache):
    dx, dw, _ = affine.backward(dout, cache)
    return dx, dw


def _affine_not_implemented(dout, cache):
    raise NotImplementedError("affine.backward: not implemented yet")


def _relu_backward_mutates_dout(dout, x):
    dout[x <= 0] = 0
    return dout


def _relu_forward_mutates_x(x):
    np.maximum(x, 0, out=x)
    return x.copy(), x.copy()


def _relu_backward_mutates_cache(dout, x):
    x[x < 0] = 0.0
    return dout * (x > 0)


_NOISE = np.random.default_rng(99)


def _relu_backward_nondeterministic(dout, x):
    # Right to 1e-15, so the values pass: only the reentrancy check can see it.
    noise = (1.0 + 1e-15 * _NOISE.standard_normal(x.shape)).astype(x.dtype)
    return dout * (x > 0) * noise


def _relu_backward_ignores_dout(dout, x):
    return (x > 0).astype(x.dtype)


def _relu_backward_inverted(dout, x):
    return dout * (x < 0)


def _relu_backward_tuple(dout, x):
    return (dout * (x > 0),)


def _matmul_backward_transposed(dout, cache):
    x, w = cache
    return dout @ w.T, (x.T @ dout).T


def _half_sq_backward_missing_mean(dout, x):
    return x * x.dtype.type(dout)


def _half_sq_forward_python_float(x):
    return float(0.5 * np.sum(x * x) / x.shape[0]), x


# --- numerical_gradient -------------------------------------------------------------------

def test_numerical_gradient_of_sum_of_squares_is_2x():
    x = RNG.standard_normal((3, 4))
    grad = numerical_gradient(lambda v: np.sum(v ** 2), x)
    assert grad.shape == x.shape
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-8, atol=1e-10)


def test_numerical_gradient_of_sin_is_cos():
    x = np.linspace(-3, 3, 7)
    grad = numerical_gradient(lambda v: np.sin(v).sum(), x)
    np.testing.assert_allclose(grad, np.cos(x), rtol=1e-8, atol=1e-10)


def test_numerical_gradient_array_of_matrix_product():
    x = RNG.standard_normal((3, 4))
    w = RNG.standard_normal((4, 5))
    dout = RNG.standard_normal((3, 5))
    dw = numerical_gradient_array(lambda v: x @ v, w, dout)
    dx = numerical_gradient_array(lambda v: v @ w, x, dout)
    np.testing.assert_allclose(dw, x.T @ dout, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dx, dout @ w.T, rtol=1e-8, atol=1e-10)


def test_numerical_gradient_sees_in_place_perturbation_through_a_closure():
    w = RNG.standard_normal(4)
    grad = numerical_gradient(lambda _: float(np.sum(w ** 3)), w)  # f ignores its argument
    np.testing.assert_allclose(grad, 3 * w ** 2, rtol=1e-7)


def test_numerical_gradient_indices_match_full_gradient():
    x = RNG.standard_normal((3, 4))
    full = numerical_gradient(lambda v: np.sum(np.tanh(v) * v), x)
    some = numerical_gradient(lambda v: np.sum(np.tanh(v) * v), x, indices=[(0, 1), (2, 3)])
    assert some.shape == (2,)
    np.testing.assert_array_equal(some, [full[0, 1], full[2, 3]])


def test_numerical_gradient_restores_x_bitwise():
    x = np.array([[0.1, -0.0, 1e-300], [3.3, -7.7, 1.0 / 3.0]])
    before = x.tobytes()
    numerical_gradient(lambda v: np.sum(np.exp(v)), x)
    numerical_gradient_array(lambda v: v * 2.0, x, np.ones_like(x) * 0.5)
    assert x.tobytes() == before


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([0.1, 0.2, 0.3, 1.0 / 3.0])
    before = x.tobytes()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 4:  # raises with x[1] perturbed
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert x.tobytes() == before


def test_numerical_gradient_of_a_view_of_x_and_on_a_strided_view():
    x = RNG.standard_normal((3, 4))
    dout = RNG.standard_normal(12)
    # f returns a view of x: the output moves with x, so it must be copied at once
    np.testing.assert_allclose(numerical_gradient_array(lambda v: v.reshape(-1), x, dout),
                               dout.reshape(3, 4), rtol=1e-9)
    parent = RNG.standard_normal((4, 6))
    before = parent.tobytes()
    view = parent[:, ::2]
    grad = numerical_gradient(lambda v: np.sum(v ** 2), view)
    np.testing.assert_allclose(grad, 2 * view, rtol=1e-8)
    assert parent.tobytes() == before


def test_check_op_of_an_op_whose_output_is_a_view_of_its_input():
    flatten = SimpleNamespace(name="flatten",
                              forward=lambda x: (x.reshape(x.shape[0], -1), x.shape),
                              backward=lambda dout, shape: dout.reshape(shape))
    report = check_op(flatten, RNG.standard_normal((3, 2, 4)))
    assert report.passed, str(report)


def test_numerical_gradient_float32_uses_the_step_actually_taken():
    x = np.array([1.0, 3.0, 100.0], dtype=np.float32)
    grad = numerical_gradient(lambda v: float(np.sum(v.astype(np.float64))), x, h=1e-3)
    # f is linear with slope 1; dividing by the real (rounded) step gives exactly 1.
    np.testing.assert_allclose(grad, 1.0, rtol=1e-12)


def test_numerical_gradient_rejects_non_scalar_and_bad_shapes():
    x = RNG.standard_normal(3)
    with pytest.raises(ValueError, match="scalar"):
        numerical_gradient(lambda v: v * 2, x)
    with pytest.raises(ValueError, match="shape"):
        numerical_gradient_array(lambda v: v * 2, x, np.ones(4))
    with pytest.raises(TypeError):
        numerical_gradient(lambda v: 0.0, np.arange(3))


# --- rel_error ----------------------------------------------------------------------------

def test_rel_error_values():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(1.0, 1.1) == pytest.approx(0.1 / 2.1)
    assert rel_error(np.array([1.0, -2.0]), np.array([1.0, 2.0])) == pytest.approx(1.0)
    # the floor (1e-8) keeps a tiny error on an exact zero small rather than 1
    assert rel_error(0.0, 1e-12) == pytest.approx(1e-4)
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0


def test_rel_error_nan_and_inf_never_pass():
    assert rel_error(np.array([1.0, np.nan]), np.array([1.0, 1.0])) == np.inf
    assert rel_error(np.array([np.nan]), np.array([np.nan])) == np.inf
    assert rel_error(np.array([np.inf]), np.array([np.inf])) == np.inf
    assert relative_errors([1.0, np.inf], [1.0, 1.0]).tolist() == [0.0, np.inf]


def test_rel_error_refuses_to_broadcast():
    with pytest.raises(ValueError, match="shapes differ"):
        rel_error(np.ones((3, 1)), np.ones((3,)))


# --- check_op: correct ops pass -----------------------------------------------------------

@pytest.mark.parametrize("mode", ["full", "sparse", "fast"])
def test_check_op_passes_affine_module(mode):
    report = check_op(affine, *affine_inputs(), mode=mode)
    assert report.passed, str(report)
    assert [r.name for r in report.inputs] == ["x", "w", "b"]
    assert report.contract_errors == []
    assert all(r.max_rel_error < 1e-7 for r in report.inputs)


def test_check_op_accepts_names_specs_and_pairs():
    for op in ("affine", reg.get("affine"), (affine.forward, affine.backward)):
        report = check_op(op, *affine_inputs())
        assert report.passed, str(report)
    drawn = check_op("affine")  # inputs from the registry entry
    assert drawn.passed and drawn.op == "affine"


def test_check_op_never_touches_the_callers_arrays_and_reports_the_cast():
    args = affine_inputs(dtype=np.float32)
    before = [a.tobytes() for a in args]
    report = check_op(affine, *args)
    assert report.passed, str(report)
    assert [a.tobytes() for a in args] == before
    assert any("cast" in n and "float32" in n for n in report.notes)


def test_check_op_passes_elementwise_and_loss_ops():
    assert check_op(RELU, relu_inputs(), kink_distance=relu_kinks).passed
    x = RNG.standard_normal((4, 3))
    report = check_op(HALF_SQ, x)
    assert report.passed, str(report)
    w = RNG.standard_normal((4, 4))
    assert check_op(MATMUL, RNG.standard_normal((3, 4)), w).passed


# --- check_op: each mistake is caught and named -------------------------------------------

def test_off_by_one_percent_fails_in_every_mode():
    op = _broken("affine_1pct", backward=_affine_off_by_one_percent)
    for mode in ("full", "sparse", "fast"):
        report = check_op(op, *affine_inputs(), mode=mode)
        assert not report.passed, mode
        assert report.contract_errors == []
        assert report.input("x").passed and report.input("b").passed
        w = report.input("w")
        assert not w.passed and w.verdict == "FAIL"
        assert w.max_rel_error == pytest.approx(0.01 / 2.01, rel=1e-3)
        assert w.hint is None         # 1.01 has no name: no guess


def test_sparse_mode_samples_and_reports_coordinates():
    op = _broken("affine_1pct", backward=_affine_off_by_one_percent)
    report = check_op(op, *affine_inputs(n=6, d=7, m=8), mode="sparse", num_checks=5, seed=3)
    w = report.input("w")
    assert w.checked == 5 and len(w.indices) == 5 and len(set(w.indices)) == 5
    assert all(0 <= i < 7 and 0 <= j < 8 for i, j in w.indices)
    again = check_op(op, *affine_inputs(n=6, d=7, m=8), mode="sparse", num_checks=5, seed=3)
    assert again.input("w").indices == w.indices  # seeded
    other = check_op(op, *affine_inputs(n=6, d=7, m=8), mode="sparse", num_checks=5, seed=4)
    assert other.input("w").indices != w.indices


def test_fast_mode_is_directional_and_falls_back_to_full_on_failure():
    good = check_op(affine, *affine_inputs(), mode="fast")
    assert all(r.mode == "fast" and r.checked == 1 for r in good.inputs)
    op = _broken("affine_1pct", backward=_affine_off_by_one_percent)
    report = check_op(op, *affine_inputs(), mode="fast")
    w = report.input("w")
    assert w.mode == "fast->full"
    assert w.checked == w.shape[0] * w.shape[1]
    assert "directional check failed" in w.note and "fails too" in w.note
    assert report.input("x").mode == "fast"


def test_transposed_gradient_of_a_square_matrix_fails_with_a_hint():
    report = check_op(_broken("mm_T", _square_matmul_forward, _matmul_backward_transposed),
                      RNG.standard_normal((3, 4)), RNG.standard_normal((4, 4)))
    assert not report.passed and report.contract_errors == []
    assert not report.input("w").passed
    assert "transposed (same shape" in report.input("w").hint


def test_transposed_gradient_of_a_rectangular_matrix_is_a_shape_error():
    report = check_op(_broken("affine_T", backward=_affine_transposed_dw), *affine_inputs())
    assert report.has_error("grad-shape")
    message = str(next(e for e in report.contract_errors if e.check == "grad-shape"))
    assert "(5, 4)" in message and "(4, 5)" in message and "transposed" in message
    assert not report.input("w").passed
    assert "transpose of the right one" in report.input("w").hint


def test_missing_mean_is_caught_with_the_n_hint():
    x = RNG.standard_normal((4, 3))
    report = check_op(_broken("half_sq", _half_sq_loss_forward, _half_sq_backward_missing_mean),
                      x)
    assert not report.passed and report.contract_errors == []
    assert "N = 4" in report.hint and "division by N" in report.hint


def test_wrong_dtype_is_a_finding():
    report = check_op(_broken("affine_f32", backward=_affine_wrong_dtype), *affine_inputs())
    assert report.has_error("grad-dtype")
    assert any("dw has dtype float32" in e.message for e in report.contract_errors)
    assert not report.passed


def test_silent_upcast_of_float32_is_a_finding():
    report = check_op(_broken("affine_up", backward=_affine_upcast),
                      *affine_inputs(dtype=np.float32))
    errors = [e for e in report.contract_errors if e.check == "grad-dtype"]
    assert errors and "dx has dtype float64" in errors[0].message
    assert "float32 inputs" in errors[0].message


def test_python_float_loss_is_a_finding():
    report = check_op(_broken("half_sq_f", _half_sq_forward_python_float,
                              _half_sq_loss_backward), RNG.standard_normal((4, 3)))
    assert report.has_error("out-dtype") and not report.passed


def test_wrong_shape_is_a_finding():
    report = check_op(_broken("affine_keepdims", backward=_affine_wrong_shape), *affine_inputs())
    assert report.has_error("grad-shape")
    assert any("db has shape (1, 5)" in e.message for e in report.contract_errors)
    assert not report.input("b").passed
    assert "reshape" in report.input("b").hint


def test_wrong_number_of_gradients_is_a_finding():
    report = check_op(_broken("affine_2", backward=_affine_two_grads), *affine_inputs())
    assert report.has_error("grad-count")
    assert any("returned 2 gradients; expected 3" in e.message for e in report.contract_errors)
    assert report.inputs == [] and not report.passed
    one = check_op(_broken("relu_tuple", _relu_forward, _relu_backward_tuple), relu_inputs())
    assert one.has_error("grad-count") and not one.passed


def test_dout_mutating_backward_is_a_finding():
    report = check_op(_broken("relu_dout", _relu_forward, _relu_backward_mutates_dout),
                      relu_inputs())
    assert report.failures() == ["dout-mutated"]
    assert report.input("x").passed  # the values are right; only the contract is broken


def test_input_mutating_forward_is_a_finding():
    x = relu_inputs()
    before = x.tobytes()
    report = check_op(_broken("relu_in", _relu_forward_mutates_x, _relu_backward), x)
    assert report.has_error("input-mutated")
    assert "x" in next(e for e in report.contract_errors if e.check == "input-mutated").message
    assert x.tobytes() == before  # the checker worked on its own copy


def test_cache_mutating_backward_is_a_finding():
    report = check_op(_broken("relu_cache", _relu_forward, _relu_backward_mutates_cache),
                      relu_inputs())
    assert report.has_error("cache-mutated") and not report.passed


def test_nondeterministic_backward_is_a_finding():
    report = check_op(_broken("relu_noise", _relu_forward, _relu_backward_nondeterministic),
                      relu_inputs())
    assert report.failures() == ["nondeterministic"]


def test_backward_that_ignores_dout_is_not_linear():
    report = check_op(_broken("relu_ones", _relu_forward, _relu_backward_ignores_dout),
                      relu_inputs())
    assert report.has_error("not-linear") and not report.input("x").passed


def test_exceptions_become_findings():
    report = check_op(_broken("affine_todo", backward=_affine_not_implemented),
                      *affine_inputs())
    assert report.failures() == ["backward-error"]
    assert "not implemented" in report.contract_errors[0].message
    bad_shapes = check_op(affine, RNG.standard_normal((3, 4)), RNG.standard_normal((5, 2)),
                          RNG.standard_normal(2))
    assert bad_shapes.has_error("forward-error") and not bad_shapes.passed


def test_unknown_op_name_and_bad_mode_raise():
    with pytest.raises(KeyError, match="known ops"):
        check_op("no_such_op")
    with pytest.raises(ValueError, match="mode"):
        check_op(affine, *affine_inputs(), mode="quick")


def test_missing_module_is_an_import_finding():
    spec = reg.OpSpec(name="ghost", module="handgrad.layers._no_such_module",
                      make_inputs=lambda rng, dims, dtype: ((np.ones(3),), {}), dims={},
                      arg_names=("x",))
    report = check_op(spec)
    assert report.failures() == ["import"] and not report.passed


# --- kinks --------------------------------------------------------------------------------

def test_relu_at_exactly_zero_is_a_kink_not_a_failure():
    x = relu_inputs()
    x[0, 0] = 0.0
    x[2, 3] = 0.0
    report = check_op(RELU, x, kink_distance=relu_kinks)
    assert report.passed, str(report)
    xr = report.input("x")
    assert xr.verdict == "kink" and report.verdict == "kink"
    assert sorted(e.index for e in xr.kink_entries) == [(0, 0), (2, 3)]
    assert all(e.kink_distance == 0.0 for e in xr.kink_entries)
    # the numerical derivative at the kink is the average of the two slopes
    for e in xr.kink_entries:
        assert e.analytic == 0.0 and e.numeric != 0.0
    assert xr.max_rel_error < 1e-7
    assert "kink" in xr.note


@pytest.mark.parametrize("mode", ["sparse", "fast"])
def test_kinks_in_sparse_and_fast_modes(mode):
    x = relu_inputs((3, 2))
    x[0, 1] = 0.0
    report = check_op(RELU, x, mode=mode, num_checks=6, kink_distance=relu_kinks)
    assert report.passed and report.verdict == "kink", str(report)
    if mode == "fast":  # the direction crosses the kink, so the full check decides
        assert report.input("x").mode == "fast->full"
        assert "passes apart from entries at a kink" in report.input("x").note


def test_relu_module_from_the_registry_knows_its_kinks():
    relu = pytest.importorskip("handgrad.layers.relu")
    x = relu_inputs()
    x[1, 1] = 0.0
    report = check_op(relu, x)  # no kink_distance given: found through the registry entry
    assert report.passed and report.input("x").verdict == "kink", str(report)


def test_without_kink_information_a_zero_input_fails():
    x = relu_inputs()
    x[0, 0] = 0.0
    report = check_op(RELU, x)
    assert not report.passed
    assert report.input("x").worst[0].index == (0, 0)


def test_wrong_relu_backward_away_from_kinks_fails():
    report = check_op(_broken("relu_inv", _relu_forward, _relu_backward_inverted),
                      relu_inputs(), kink_distance=relu_kinks)
    assert not report.passed and report.input("x").kink_entries == []


def test_wrong_relu_backward_fails_even_with_some_kinks():
    x = relu_inputs()
    x[0, 0] = 0.0
    report = check_op(_broken("relu_inv", _relu_forward, _relu_backward_inverted), x,
                      kink_distance=relu_kinks)
    assert not report.passed
    assert [e.index for e in report.input("x").kink_entries] == [(0, 0)]


# --- reports and hints --------------------------------------------------------------------

def test_report_renders_a_table_with_worst_entries_and_hint():
    op = _broken("affine_1pct", backward=_affine_off_by_one_percent)
    report = check_op(op, *affine_inputs())
    text = str(report)
    assert "gradcheck affine_1pct: FAIL" in text
    assert "max rel error" in text and "worst entries" in text and "hint (w)" not in text
    with pytest.raises(GradCheckError) as info:
        report.raise_if_failed()
    assert isinstance(info.value, AssertionError) and "worst entries" in str(info.value)
    ok = check_op(affine, *affine_inputs())
    assert ok.raise_if_failed() is ok and "PASS" in str(ok)
    assert "worst entries" not in str(ok) and "worst entries" in ok.render(verbose=True)


def test_worst_entries_are_sorted_and_carry_the_input_value():
    op = _broken("affine_1pct", backward=_affine_off_by_one_percent)
    args = affine_inputs()
    w = check_op(op, *args).input("w")
    errs = [e.rel_err for e in w.worst]
    assert errs == sorted(errs, reverse=True) and len(w.worst) == 5
    for e in w.worst:
        assert e.input_value == args[1][e.index]
        assert e.analytic == pytest.approx(1.01 * e.numeric, rel=1e-6)
        assert e.abs_err == pytest.approx(abs(e.analytic - e.numeric))


@pytest.mark.parametrize("factor, batch, words", [
    (4.0, 4, "N = 4 times"), (0.25, 4, "1/N = 1/4"), (2.0, None, "2x"),
    (0.5, None, "half"), (-1.0, None, "sign is flipped"), (7.0, None, "7x"),
    (1 / 6, None, "1/6")])
def test_hint_recognizes_constant_factors(factor, batch, words):
    numeric = RNG.standard_normal((4, 3))
    assert words in hint_for(factor * numeric, numeric, batch_size=batch)


@pytest.mark.parametrize("factor", [1.01, 1.7, -0.3])
def test_a_factor_with_no_name_gets_no_hint(factor):
    numeric = RNG.standard_normal((4, 3))
    assert hint_for(factor * numeric, numeric, batch_size=4) is None


def test_hint_recognizes_other_patterns():
    n = RNG.standard_normal((4, 4))
    assert hint_for(n, n) is None
    assert hint_for(n + 1e-9, n) is None
    assert "transpose" in hint_for(n.T, n)
    rect = RNG.standard_normal((3, 5))
    assert "transpose of the right one" in hint_for(rect.T, rect)
    assert "transposed shape" in hint_for(RNG.standard_normal((5, 3)), rect)
    assert "reshape" in hint_for(rect.reshape(15), rect)
    assert "all zeros" in hint_for(np.zeros_like(n), n)
    assert "does not depend" in hint_for(n, np.zeros_like(n))
    with_nan = n.copy()
    with_nan[1, 2] = np.nan
    assert "NaN" in hint_for(with_nan, n)
    assert "forward pass is not finite" in hint_for(n, with_nan)
    masked = n.copy()
    masked[0, :2] = 0.0
    assert "2 of 16 entries disagree" in hint_for(masked, n)


def test_every_finding_has_a_documented_name():
    from handgrad.gradcheck import CONTRACT_CHECKS

    broken = [
        (_broken("a", backward=_affine_wrong_dtype), affine_inputs()),
        (_broken("b", backward=_affine_two_grads), affine_inputs()),
        (_broken("c", backward=_affine_not_implemented), affine_inputs()),
        (_broken("d", _relu_forward, _relu_backward_mutates_dout), (relu_inputs(),)),
        (_broken("e", _relu_forward_mutates_x, _relu_backward), (relu_inputs(),)),
        (_broken("f", _relu_forward, _relu_backward_mutates_cache), (relu_inputs(),)),
        (_broken("g", _relu_forward, _relu_backward_nondeterministic), (relu_inputs(),)),
        (_broken("h", _relu_forward, _relu_backward_ignores_dout), (relu_inputs(),)),
    ]
    seen = set()
    for op, args in broken:
        report = check_op(op, *args)
        assert not report.passed
        seen.update(e.check for e in report.contract_errors)
    assert seen <= set(CONTRACT_CHECKS)
    assert len(seen) >= 8
