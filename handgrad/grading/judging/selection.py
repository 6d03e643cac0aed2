"""Choosing checks by name: ``handgrad check relu`` and ``check("relu")``.

A name selects every check it matches, compared without regard to case:

- the check id (``relu_backward``, ``batchnorm_backward_test_mode``),
- the student's file or module (``relu.py``, ``relu``: every check of that file),
- the function (``relu.backward``, ``step_backward``, or its target
  ``handgrad.layers.relu:backward``),
- the registry op (``rnn_step_relu``).

Several names select the union, in the assignment's order. A name that matches nothing is an
:class:`UnknownCheckError` that suggests the nearest names ("did you mean ...").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from handgrad.grading.authoring.spec import Check


class UnknownCheckError(ValueError):
    """A check name that matches no check; the message suggests the nearest names."""


def names_of(check: Check) -> tuple[str, ...]:
    """Every name that selects ``check``, in the order they are suggested."""
    module = check.module.rsplit(".", 1)[-1]
    names = [check.id, f"{module}.{check.function}", module, f"{module}.py", check.function,
             check.target]
    if check.op:
        names.append(check.op)
    return tuple(dict.fromkeys(names))


def select(checks: Sequence[Check], names: Iterable[str], *,
           caller: str = "check") -> list[Check]:
    """The checks matching any of ``names`` (all of them when ``names`` is empty).

    Raises :class:`UnknownCheckError`, naming ``caller``, for a name that matches no check,
    and ``TypeError`` for a name that is not a string.
    """
    wanted = list(names)
    for name in wanted:
        if not isinstance(name, str):
            raise TypeError(f"{caller}: check names must be strings, got {name!r} "
                            f"({type(name).__name__})")
    if not wanted:
        return list(checks)
    chosen: set[str] = set()
    for name in wanted:
        key = name.strip().lower()
        hits = [c.id for c in checks if key in {n.lower() for n in names_of(c)}]
        if not hits:
            raise UnknownCheckError(_unknown(name, checks, caller))
        chosen.update(hits)
    return [c for c in checks if c.id in chosen]


def _unknown(name: str, checks: Sequence[Check], caller: str) -> str:
    """The error message: the nearest name of each close check, then every check id."""
    key = name.strip().lower()
    scored = []
    for c in checks:
        best = max(names_of(c), key=lambda n: _similarity(key, n.lower()))
        score = _similarity(key, best.lower())
        if score >= 0.6:
            scored.append((score, best))
    top = max((score for score, _ in scored), default=0.0)
    close = [n for score, n in sorted(scored, key=lambda item: -item[0])
             if score >= top - 0.1][:3]
    message = f"{caller}: no check matches {name!r}"
    if close:
        message += f"; did you mean {' or '.join(repr(n) for n in dict.fromkeys(close))}?"
    return message + f" The checks of this assignment: {', '.join(c.id for c in checks)}."


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()
