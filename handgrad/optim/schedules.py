"""Learning-rate schedules.

A schedule is any callable ::

    lr = schedule(base_lr, step, steps_per_epoch, total_steps)

that returns the learning rate of update number ``step`` (0-based over the whole run, so the
epoch is ``step // steps_per_epoch``); ``base_lr`` is the learning rate of the optimizer config
and ``total_steps = num_epochs * steps_per_epoch``. The Solver calls it before every update and
writes the result into every parameter's ``config["learning_rate"]``.

The built-in schedules are small frozen dataclasses, so a checkpoint can store them as JSON and
``Solver.resume`` can rebuild them; a plain function works as well (pass it again on resume).
Adding one: write a dataclass with ``__call__`` and add it to ``SCHEDULES``.

==================  ================================================================
``constant()``      ``base_lr``
``step_decay(d,k)`` ``base_lr * d ** (epoch // k)`` (``k=1``: CS231n's ``lr_decay = d``)
``cosine(min_lr)``  ``min_lr + (base_lr - min_lr) * (1 + cos(pi * step / total_steps)) / 2``
``linear_warmup``   ``then(...) * min(1, (step + 1) / steps)``: ramps up over the first steps
==================  ================================================================
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handgrad import validation as check

Schedule = Callable[[float, int, int, int], float]


@dataclass(frozen=True)
class Constant:
    """Keep the base learning rate."""

    def __call__(self, base_lr: float, step: int, steps_per_epoch: int,
                 total_steps: int) -> float:
        return float(base_lr)


@dataclass(frozen=True)
class StepDecay:
    """Multiply the learning rate by ``decay`` every ``every`` epochs."""

    decay: float
    every: int = 1

    def __post_init__(self) -> None:
        check.number("step_decay", "decay", self.decay, low=0.0, low_open=True)
        check.integer("step_decay", "every", self.every, low=1)

    def __call__(self, base_lr: float, step: int, steps_per_epoch: int,
                 total_steps: int) -> float:
        epoch = step // steps_per_epoch
        return float(base_lr) * self.decay ** (epoch // self.every)


@dataclass(frozen=True)
class Cosine:
    """Cosine annealing from ``base_lr`` (first step) towards ``min_lr`` over the whole run."""

    min_lr: float = 0.0

    def __post_init__(self) -> None:
        check.number("cosine", "min_lr", self.min_lr, low=0.0)

    def __call__(self, base_lr: float, step: int, steps_per_epoch: int,
                 total_steps: int) -> float:
        progress = step / max(total_steps, 1)
        return self.min_lr + (float(base_lr) - self.min_lr) * 0.5 * (1.0 + math.cos(
            math.pi * progress))


@dataclass(frozen=True)
class LinearWarmup:
    """Scale another schedule by ``min(1, (step + 1) / steps)``: a linear ramp from
    ``lr / steps`` at the first update to the full rate at update ``steps``."""

    steps: int
    then: Any = field(default_factory=Constant)

    def __post_init__(self) -> None:
        check.integer("linear_warmup", "steps", self.steps, low=1)
        if not callable(self.then):
            raise TypeError(f"linear_warmup: then must be a schedule, got {self.then!r}")

    def __call__(self, base_lr: float, step: int, steps_per_epoch: int,
                 total_steps: int) -> float:
        lr = self.then(base_lr, step, steps_per_epoch, total_steps)
        return lr * min(1.0, (step + 1) / self.steps)


def constant() -> Constant:
    return Constant()


def step_decay(decay: float, every: int = 1) -> StepDecay:
    return StepDecay(decay, every)


def cosine(min_lr: float = 0.0) -> Cosine:
    return Cosine(min_lr)


def linear_warmup(steps: int, then: Schedule | None = None) -> LinearWarmup:
    return LinearWarmup(steps, Constant() if then is None else then)


SCHEDULES: dict[str, type] = {
    "constant": Constant,
    "step_decay": StepDecay,
    "cosine": Cosine,
    "linear_warmup": LinearWarmup,
}


def get_schedule(spec: str | Schedule) -> Schedule:
    """Return ``spec`` if it is callable, else the built-in schedule of that name (defaults)."""
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec in SCHEDULES and spec not in ("step_decay",
                                                                     "linear_warmup"):
        return SCHEDULES[spec]()
    raise ValueError(f"unknown lr_schedule {spec!r}; pass a callable "
                     f"lr = schedule(base_lr, step, steps_per_epoch, total_steps) or one of "
                     f"'constant', 'cosine' (step_decay and linear_warmup need arguments: "
                     f"handgrad.optim.schedules.step_decay(0.95), linear_warmup(100, cosine()))")


def to_json(schedule: Schedule) -> dict[str, Any] | None:
    """A JSON-able description of a built-in schedule, or None for any other callable."""
    for name, cls in SCHEDULES.items():
        if type(schedule) is cls and dataclasses.is_dataclass(schedule):
            out: dict[str, Any] = {"name": name}
            for f in dataclasses.fields(schedule):
                value = getattr(schedule, f.name)
                if callable(value):
                    inner = to_json(value)
                    if inner is None:
                        return None
                    value = inner
                out[f.name] = value
            return out
    return None


def from_json(spec: dict[str, Any]) -> Schedule:
    """Rebuild what :func:`to_json` produced."""
    spec = dict(spec)
    cls = SCHEDULES[spec.pop("name")]
    kwargs = {k: from_json(v) if isinstance(v, dict) else v for k, v in spec.items()}
    return cls(**kwargs)
