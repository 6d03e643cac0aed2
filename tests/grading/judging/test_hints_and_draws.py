"""Whole-gradient hints (right or silent), the grader's property draws, one status per
check, and the one-entry guarantee of check_op's sparse and fast modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handgrad.gradcheck import check_op
from handgrad.gradcheck.hints import whole_gradient_hint
from handgrad.grading.authoring import spec
from handgrad.grading.judging import draws as draws_mod
from handgrad.grading.judging.runner import overall_status
from handgrad.grading.judging.scoring import CheckResult
from handgrad.layers import tanh

ASSIGNMENTS = Path(__file__).resolve().parents[3] / "assignments"
RNG = np.random.default_rng(5)


def test_sum_over_the_wrong_axis_is_named_when_the_shapes_cannot_tell() -> None:
    dout = RNG.standard_normal((4, 4))           # N = M: a student's axis=1 keeps the shape
    got = dout.sum(axis=1)
    hint = whole_gradient_hint(got, dout.sum(axis=0), name="db", op="affine", dout=dout,
                               dims={"N": 4, "M": 4})
    assert hint is not None and "wrong axis" in hint


def test_missing_dout_is_told_apart_from_a_factor_by_a_non_constant_dout() -> None:
    x = RNG.standard_normal((3, 4))
    dout = RNG.standard_normal((3, 4))
    h = np.tanh(x)
    expected = dout * (1 - h ** 2)
    hint = whole_gradient_hint(1 - h ** 2, expected, name="dx", op="tanh", args=(x,),
                               dout=dout, dims={"N": 3, "D": 4})
    assert hint is not None and "never multiplied in" in hint
    scalar = whole_gradient_hint(expected / 1.3, expected, name="dx", dout=np.float64(1.3))
    assert scalar is not None and "scalar dout" in scalar


@pytest.mark.parametrize("factor", [1.7, 3.0, -0.4])
def test_an_unnamed_factor_gets_no_hint(factor: float) -> None:
    e = RNG.standard_normal((3, 5))
    assert whole_gradient_hint(factor * e, e, name="dx", dims={"N": 2}) is None


def test_an_unrecognized_mistake_gets_no_hint() -> None:
    e = RNG.standard_normal((4, 5))
    wrong = e.copy()
    wrong[1, 2] *= 535                            # one wrong entry: no pattern, no guess
    assert whole_gradient_hint(wrong, e, name="dx", dims={"N": 4}) is None
    assert whole_gradient_hint(e + 0.3 * RNG.standard_normal(e.shape), e, name="dx") is None


def test_a_right_gradient_gets_no_hint() -> None:
    e = RNG.standard_normal((4, 5))
    assert whole_gradient_hint(e.copy(), e, name="dx", dims={"N": 4}) is None


def _draws(assignment: str, check_id: str) -> list[draws_mod.Draw]:
    check = next(c for c in spec.load(ASSIGNMENTS / assignment).checks if c.id == check_id)
    draws = draws_mod.plan(check, which="all", secret_seed=3)
    draws = draws_mod.add_properties(draws, check)
    draws_mod.fill(draws, check)
    return draws


def test_property_draws_in_public_and_hidden_groups() -> None:
    draws = _draws("backprop-basics", "affine_backward")
    for hidden in (False, True):
        group = [d for d in draws if d.hidden == hidden]
        props = [d.prop for d in group]
        assert {"float32", "zero dout", "repeat"} <= set(props)
        assert {p for p in props if p.startswith("size 1: ")} == {
            f"size 1: {k}" for k in ("N", "d1", "d2", "M")}
        assert [d.number for d in group] == list(range(1, len(group) + 1))
        assert all(d.count == len(group) and d.grader_error is None for d in group)
        f32 = next(d for d in group if d.prop == "float32")
        assert all(a.dtype == np.float32 for a in f32.args) and f32.dout.dtype == np.float32
        assert all(g.dtype == np.float32 for g in f32.grads)
        zero = next(d for d in group if d.prop == "zero dout")
        assert not zero.dout.any() and not any(g.any() for g in zero.grads)
        first, again = group[0], next(d for d in group if d.prop == "repeat")
        assert again is group[-1] and again.seed == first.seed and again.dims == first.dims
        one = next(d for d in group if d.prop == "size 1: N")
        assert one.args[0].shape[0] == 1
    assert all("seed" not in d.describe() for d in draws)


def test_size_one_draws_the_reference_rejects_are_left_out() -> None:
    draws = _draws("batchnorm-rnn", "batchnorm_backward")
    assert not any(d.prop == "size 1: N" for d in draws)        # train mode needs N >= 2
    assert any(d.prop == "size 1: D" for d in draws)
    assert all(d.grader_error is None for d in draws)


def _result(cid: str, status: str) -> CheckResult:
    return CheckResult(check_id=cid, name=cid, status=status, score=0.0, max_score=1.0,
                       spec_id=cid.split(".")[0], hidden=cid.endswith(".hidden"))


def test_one_status_per_check_not_per_part() -> None:
    parts = [_result("a", "failed"), _result("a.hidden", "failed"), _result("b", "passed"),
             _result("b.hidden", "timeout")]
    assert overall_status(parts) == "a=failed; b=timeout"
    assert overall_status([_result("a", "passed"), _result("a.hidden", "passed")]) == "ok"


def _one_wrong_entry(dout: np.ndarray, cache: object) -> np.ndarray:
    dx = tanh.backward(dout, cache)
    dx[2, 3] *= 1.5                                # a bug confined to one entry
    return dx


@pytest.mark.parametrize("mode", ["sparse", "fast"])
def test_sparse_and_fast_modes_catch_a_one_entry_bug_at_every_seed(mode: str) -> None:
    x = RNG.standard_normal((6, 7))
    for seed in range(20):
        report = check_op((tanh.forward, _one_wrong_entry), x, mode=mode, seed=seed,
                          num_checks=3)
        assert not report.passed, (mode, seed)
        assert any(e.index == (2, 3) for e in report.inputs[0].worst)


def test_a_failed_row_shows_its_own_error_not_a_right_gradients() -> None:
    from handgrad.grading.judging.scoring import combine
    from handgrad.grading.judging.verdict import Report, judge_backward

    check = next(c for c in spec.load(ASSIGNMENTS / "backprop-basics").checks
                 if c.id == "affine_backward")
    draws = [d for d in _draws("backprop-basics", "affine_backward") if not d.hidden]
    pairs = []
    for d in draws:
        dx, dw, db = (g.copy() for g in d.grads)
        if d.prop == "float32":
            dx = dx.astype(np.float64)            # the only mistake: dx comes back float64
        data = {"value": (dx, dw, db), "args_after": list(d.args), "dout_after": d.dout}
        pairs.append((d, judge_backward(d, Report("ok", data=data), 1e-6, "backward")))
    res = combine(check, "affine.py", pairs, False, 1.0)
    assert res.status == "failed" and "dx has dtype float64, expected float32" in res.message
    assert res.worst is None and res.max_rel_error is None


def _float32_draws(assignment: str, secret_seed: int,
                   only: str | None = None) -> list[tuple[object, draws_mod.Draw]]:
    out = []
    for check in spec.load(ASSIGNMENTS / assignment).checks:
        if check.kind != "backward" or only not in (None, check.id):
            continue
        draws = draws_mod.plan(check, which="all", secret_seed=secret_seed)
        draws = [d for d in draws_mod.add_properties(draws, check) if d.prop == "float32"]
        draws_mod.fill(draws, check)
        out.extend((check, d) for d in draws)
    return out


def _judge_float32(draw: draws_mod.Draw, grads: tuple) -> str:
    from handgrad.grading.judging.verdict import Report, judge_backward

    value = grads[0] if len(grads) == 1 else tuple(grads)
    data = {"value": value, "args_after": list(draw.args), "dout_after": draw.dout}
    return judge_backward(draw, Report("ok", data=data), 1e-6, "backward").status


@pytest.mark.parametrize("assignment", ["backprop-basics", "batchnorm-rnn", "conv-lstm"])
def test_the_references_own_float32_arithmetic_passes_every_float32_draw(
        assignment: str) -> None:
    # A gradient that sums terms which cancel (attention's query bias) loses more digits in
    # float32 than a fixed tolerance allows; the reference computed in float32 is the bar.
    for secret_seed in range(3):
        for check, draw in _float32_draws(assignment, secret_seed):
            assert draw.grader_error is None, (check.id, draw.grader_error)
            own = draw.reference_float32
            assert own and all(g.dtype == np.float32 for g in own)
            assert _judge_float32(draw, own) == "passed", (check.id, secret_seed)


def test_the_measured_float32_tolerance_still_fails_a_wrong_gradient() -> None:
    from handgrad.grading.judging.verdict import FLOAT32_CAP

    for _, draw in _float32_draws("conv-lstm", 1, only="attention_backward_masked"):
        own = list(draw.reference_float32)
        for i, g in enumerate(own):
            if not g.any():
                continue
            off = [a.copy() for a in own]
            # every entry off by three times the cap: no measured allowance reaches it
            off[i] = (g * np.float32(1 + 3 * FLOAT32_CAP)).astype(np.float32)
            assert _judge_float32(draw, tuple(off)) == "failed", (draw.grad_names[i])
        return
    raise AssertionError("conv-lstm has no attention_backward_masked check")
