"""The softmax problem: a softmax over a few classes followed by the cross-entropy loss.

Forward: ``e_k = exp(z_k)``, ``S = sum_k e_k``, ``p_k = e_k / S``, ``L = -log(p_y)`` for the
true class ``y``. Backward from ``dL/dL = 1``: ``dL/dp_y = -1 / p_y``; the softmax's local
derivatives ``dp_y/dz_y = p_y * (1 - p_y)`` and ``dp_y/dz_k = -p_y * p_k`` for ``k != y``;
their products give ``dL/dz_k``. Classes are numbered from 1, as on the sheet.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from handgrad.practice.checking import Mistake
from handgrad.practice.numeric import fmt, given_numbers, term, vector
from handgrad.practice.problem import Problem
from handgrad.practice.randomness import MAX_ATTEMPTS, Draw, exhausted
from handgrad.practice.steps import Step

WHERE = "practice.softmax_cross_entropy"
MAX_LOGIT = 50.0


def softmax_cross_entropy(logits: Sequence[float], label: int,
                          ask: int | str = "all") -> Problem:
    """A softmax cross-entropy problem with these numbers.

    ``logits``: 2 to 6 numbers ``z1, z2, ...`` (within +-50, so that ``exp`` stays on paper);
    ``label``: the true class, numbered from 1; ``ask``: ``"all"`` for the gradient with respect
    to every logit, or the number of one logit.
    """
    z = given_numbers(logits, "logits", WHERE, 2, 6)
    classes = len(z)
    if any(abs(v) > MAX_LOGIT for v in z):
        raise ValueError(f"{WHERE}: logits must lie within [-{MAX_LOGIT:g}, {MAX_LOGIT:g}] to "
                         f"be worked by hand, got {vector(tuple(z))}")
    y = _class_number(label, "label", classes)
    if ask == "all":
        asked_classes = list(range(1, classes + 1))
    else:
        asked_classes = [_class_number(ask, "ask", classes)]

    e = [math.exp(v) for v in z]
    total = sum(e)
    p = [v / total for v in e]
    loss = -math.log(p[y - 1])
    ks = range(1, classes + 1)
    forward = [Step(f"e{k}", f"exp(z{k})", f"exp({fmt(z[k - 1])})", e[k - 1], "forward")
               for k in ks]
    forward.append(Step("S", " + ".join(f"e{k}" for k in ks), " + ".join(fmt(v) for v in e),
                        total, "forward"))
    forward += [Step(f"p{k}", f"e{k} / S", f"{fmt(e[k - 1])} / {fmt(total)}", p[k - 1],
                     "forward") for k in ks]
    forward.append(Step("L", f"-log(p{y})", f"-log({fmt(p[y - 1])})", loss, "forward"))

    py = p[y - 1]
    dpy = -1.0 / py
    backward = [Step(f"dL/dp{y}", f"dL/dL * d(-log p{y})/dp{y} = 1 * (-1 / p{y})",
                     f"-1 / {fmt(py)}", dpy, "chain")]
    key: dict[str, float] = {}
    for k in ks:
        pk = p[k - 1]
        if k == y:
            slope = py * (1.0 - py)
            local = Step(f"dp{y}/dz{k}", f"p{y} * (1 - p{y})", f"{fmt(py)} * (1 - {fmt(py)})",
                         slope, "local")
        else:
            slope = -py * pk
            local = Step(f"dp{y}/dz{k}", f"-p{y} * p{k}", f"-{fmt(py)} * {fmt(pk)}", slope,
                         "local")
        gradient = dpy * slope
        key[f"dL/dz{k}"] = gradient
        backward += [local, Step(f"dL/dz{k}", f"dL/dp{y} * dp{y}/dz{k}",
                                 f"{term(dpy)} * {term(slope)}", gradient, "chain")]

    mistakes = []
    for k in ks:
        quantity, pk = f"dL/dz{k}", p[k - 1]
        mistakes.append(Mistake(quantity, dpy, f"that is dL/dp{y}; go on through the softmax "
                                               f"to z{k}"))
        if k == y:
            mistakes.append(Mistake(quantity, pk, f"that is p{k}; the true class also gets "
                                                  f"the -1 that comes from the log"))
        else:
            mistakes.append(Mistake(quantity, pk - 1.0, f"only the true class (y = {y}) gets "
                                                        f"a -1; for z{k} it is p{k}"))
    given: dict[str, float] = {f"z{k}": z[k - 1] for k in ks}
    given["y"] = y
    logit_names = ", ".join(f"z{k}" for k in ks)
    together = ", ".join(fmt(p[k - 1] - (k == y), 6) for k in ks)
    return Problem(
        kind="softmax", title=f"softmax over {classes} classes with cross-entropy",
        graph=(f"p_k = exp(z_k) / ({' + '.join(f'exp(z{k})' for k in ks)})   for k = "
               f"1..{classes}", "L = -log(p_y)"),
        given=given,
        given_text=", ".join(f"z{k} = {fmt(z[k - 1])}" for k in ks) + f"; true class y = {y}",
        upstream_text="dL/dL = 1 (L is the loss)",
        asked=tuple(f"dL/dz{k}" for k in asked_classes), key=key, forward=tuple(forward),
        backward=tuple(backward), mistakes=tuple(mistakes),
        solution_notes=(f"Together: dL/dz_k = p_k - 1 for the true class and p_k for the "
                        f"others, so the gradient with respect to ({logit_names}) is "
                        f"({together}); it sums to 0.",
                        "In code, subtract max(z) from every logit before exp: the "
                        "probabilities do not change and a large logit no longer overflows."))


def _class_number(value: object, name: str, classes: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{WHERE}: {name} must be a class number from 1 to {classes}, got "
                        f"{value!r}")
    if not 1 <= int(value) <= classes:
        raise ValueError(f"{WHERE}: {name} must be a class number from 1 to {classes} (classes "
                         f"are numbered from 1, as on the sheet), got {value}")
    return int(value)


def draw(rng: Draw) -> Problem:
    """Three distinct logits with one decimal in [-2, 3], a true class, one logit or all."""
    for _ in range(MAX_ATTEMPTS):
        logits = rng.distinct_tenths(3, -20, 30)
        label = rng.integer(1, 3)
        ask: int | str = "all" if rng.chance(0.5) else rng.integer(1, 3)
        total = sum(math.exp(v) for v in logits)
        if min(math.exp(v) / total for v in logits) >= 0.02:   # no gradient too small to work
            return softmax_cross_entropy(logits, label, ask)
    raise exhausted(WHERE)
