"""Learning-rate schedules: hand-computed values and the JSON round trip."""

from __future__ import annotations

import json
import math

import pytest

from handgrad.optim import schedules
from handgrad.optim.schedules import constant, cosine, linear_warmup, step_decay

SPE, TOTAL = 10, 40  # 10 steps per epoch, 4 epochs


def lrs(schedule, base=0.1):
    return [schedule(base, step, SPE, TOTAL) for step in range(TOTAL)]


def test_constant():
    assert lrs(constant()) == [0.1] * TOTAL


def test_step_decay_by_hand():
    s = step_decay(0.5)
    got = lrs(s, base=0.8)
    # epochs 0..3: 0.8, 0.4, 0.2, 0.1, each for 10 steps
    assert got == [0.8] * 10 + [0.4] * 10 + [0.2] * 10 + [0.1] * 10
    s2 = step_decay(0.1, every=2)
    assert [s2(1.0, step, SPE, TOTAL) for step in (0, 19, 20, 39)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.1])


def test_cosine_by_hand():
    s = cosine(min_lr=0.01)
    # step 0: 0.01 + 0.09 * (1 + cos 0) / 2 = 0.1
    # step 10 (a quarter): 0.01 + 0.09 * (1 + cos(pi/4)) / 2 = 0.01 + 0.045 * 1.7071068 = 0.0868198
    # step 20 (half): 0.01 + 0.09 * (1 + 0) / 2 = 0.055
    # step 30: 0.01 + 0.045 * (1 - 0.7071068) = 0.0231802
    # step 39: 0.01 + 0.045 * (1 + cos(pi*39/40)) = 0.01 + 0.045 * 0.0030827 = 0.0101387
    got = lrs(s)
    assert got[0] == pytest.approx(0.1, abs=1e-15)
    assert got[10] == pytest.approx(0.0868198, abs=1e-7)
    assert got[20] == pytest.approx(0.055, abs=1e-15)
    assert got[30] == pytest.approx(0.0231802, abs=1e-7)
    assert got[39] == pytest.approx(0.0101387, abs=1e-7)
    assert all(a > b for a, b in zip(got, got[1:], strict=False))
    assert cosine()(0.1, 20, SPE, TOTAL) == pytest.approx(0.05)


def test_linear_warmup_by_hand():
    s = linear_warmup(4)
    # (step + 1) / 4 of the base for the first 4 steps, then the base
    assert lrs(s, base=0.2)[:6] == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2, 0.2], abs=1e-15)
    wrapped = linear_warmup(4, cosine())
    # step 1: cosine gives 0.5 * (1 + cos(pi/40)) * 0.2 = 0.1996917, times 2/4 = 0.0998458
    assert wrapped(0.2, 1, SPE, TOTAL) == pytest.approx(0.0998458, abs=1e-7)
    assert wrapped(0.2, 20, SPE, TOTAL) == pytest.approx(0.1, abs=1e-15)


def test_a_plain_function_is_a_schedule():
    def halving_each_step(base_lr, step, steps_per_epoch, total_steps):
        return base_lr * 0.5 ** step

    assert schedules.get_schedule(halving_each_step) is halving_each_step
    assert isinstance(schedules.get_schedule("cosine"), schedules.Cosine)
    with pytest.raises(ValueError, match="unknown lr_schedule 'linear'"):
        schedules.get_schedule("linear")


def test_json_round_trip():
    s = linear_warmup(5, cosine(min_lr=1e-4))
    spec = schedules.to_json(s)
    assert spec == {"name": "linear_warmup", "steps": 5,
                    "then": {"name": "cosine", "min_lr": 1e-4}}
    back = schedules.from_json(json.loads(json.dumps(spec)))
    assert back == s
    assert schedules.to_json(step_decay(0.9)) == {"name": "step_decay", "decay": 0.9, "every": 1}
    assert schedules.to_json(lambda *a: 1.0) is None
    assert schedules.to_json(linear_warmup(3, lambda *a: 1.0)) is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="decay must be a positive"):
        step_decay(0.0)
    with pytest.raises(ValueError, match="every must be a positive int"):
        step_decay(0.5, every=0)
    with pytest.raises(ValueError, match="min_lr"):
        cosine(min_lr=-1.0)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        linear_warmup(0)
    assert math.isfinite(cosine()(0.1, 0, 1, 0))  # no division by zero on an empty run
