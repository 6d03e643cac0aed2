"""Sets of problems: drawn from a seed (:func:`problems`) or taken by name (:func:`named`).

``problems(seed=7, count=4)`` is the same list on every machine (see
:mod:`handgrad.practice.randomness`): an instructor hands out ``handgrad practice --seed 7``
and every student works the same numbers. With ``kind="all"`` the kinds take turns (neuron,
softmax, batchnorm, rnn, neuron, ...); problem ``i`` depends only on the seed, its kind and
``i``, so a longer set begins with the shorter one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from handgrad.practice import batchnorm, rnn, softmax
from handgrad.practice.neuron import draw as draw_neuron
from handgrad.practice.neuron import neuron
from handgrad.practice.problem import KINDS, Problem
from handgrad.practice.randomness import MAX_ATTEMPTS, Draw, exhausted

MAX_COUNT = 100
SMALLEST_ANSWER = 1e-3      # a nonzero answer smaller than this is no fun to work by hand
LARGEST_ANSWER = 1e3

_DRAWS: dict[str, Callable[[Draw], Problem]] = {
    "neuron": draw_neuron, "softmax": softmax.draw, "batchnorm": batchnorm.draw,
    "rnn": rnn.draw,
}


def _named() -> dict[str, tuple[str, Callable[[], Problem]]]:
    return {
        "ninja": ("the tanh neuron worked by hand: w = 0.5, x = 2, b = -0.5, dL/dh = 0.4",
                  lambda: neuron("tanh", w=0.5, x=2, b=-0.5, upstream=0.4)),
        "dead-relu": ("a ReLU that is off: no gradient reaches its weights",
                      lambda: neuron("relu", w=1.5, x=-2, b=0.5, upstream=0.8)),
        "saturated-sigmoid": ("a saturated sigmoid: the local gradient is almost 0",
                              lambda: neuron("sigmoid", w=3, x=2, b=0, upstream=1)),
        "softmax": ("softmax cross-entropy over logits (2, 1, 0.1), true class 1",
                    lambda: softmax.softmax_cross_entropy((2.0, 1.0, 0.1), label=1)),
        "batchnorm": ("batchnorm of the column (1, 2, 3, 6)",
                      lambda: batchnorm.batchnorm_column((1, 2, 3, 6), gamma=2, beta=0.5,
                                                         upstream=(0.1, -0.2, 0.3, 0.4),
                                                         ask=1)),
        "rnn": ("one RNN step: h = tanh(0.5*1 + (-1)*0.5 + 0.2)",
                lambda: rnn.rnn_step(wx=0.5, x=1, wh=-1, h_prev=0.5, b=0.2, upstream=1.0)),
    }


NAMED: dict[str, str] = {name: description for name, (description, _) in _named().items()}
"""The named problems and what each shows."""


def named(name: str) -> Problem:
    """The named problem ``name`` (see :data:`NAMED`), e.g. ``named("ninja")``."""
    table = _named()
    if name not in table:
        raise ValueError(f"practice.named: no problem named {name!r}; the named problems are "
                         f"{', '.join(table)}")
    description, make = table[name]
    return replace(make(), name=name, description=description)


def kinds_of(kind: str | Sequence[str]) -> tuple[str, ...]:
    """The kinds a ``kind`` argument selects: ``"all"``, one kind, or a sequence of kinds."""
    selected = (kind,) if isinstance(kind, str) else tuple(kind)
    if not selected:
        raise ValueError("practice.problems: kind selects no kind; give 'all' or one or more "
                         f"of {', '.join(KINDS)}")
    out: list[str] = []
    for k in selected:
        if k == "all":
            out += KINDS
        elif k in KINDS:
            out.append(k)
        else:
            raise ValueError(f"practice.problems: kind must be 'all' or one of "
                             f"{', '.join(KINDS)}, got {k!r}")
    return tuple(dict.fromkeys(out))


def problems(*, seed: int, count: int = 4, kind: str | Sequence[str] = "all") -> list[Problem]:
    """``count`` problems drawn from ``seed``, the selected kinds taking turns.

    ``seed``: any integer; ``count``: 1 to :data:`MAX_COUNT`; ``kind``: ``"all"``,
    ``"neuron"``, ``"softmax"``, ``"batchnorm"``, ``"rnn"``, or a list of them. The numbers
    have one decimal (batchnorm inputs: halves), and every answer is 0 exactly or between
    0.001 and 1000 in size.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"practice.problems: seed must be an integer, got {seed!r}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"practice.problems: count must be an integer from 1 to {MAX_COUNT}, "
                         f"got {count!r}")
    kinds = kinds_of(kind)
    return [_draw(seed, kinds[i % len(kinds)], i) for i in range(count)]


def _draw(seed: int, kind: str, index: int) -> Problem:
    rng = Draw(seed, kind, index)
    for _ in range(MAX_ATTEMPTS):
        problem = _DRAWS[kind](rng)
        if all(v == 0 or SMALLEST_ANSWER <= abs(v) <= LARGEST_ANSWER
               for v in problem.key.values()):
            return problem
    raise exhausted(f"practice.problems ({kind})")
