"""The neuron problem: ``h = f(w*x + b)`` or ``h = f(w1*x1 + w2*x2 + b)``, f = tanh, sigmoid
or ReLU, with an upstream gradient ``dL/dh``.

Asks for the local derivative ``dh/da``, then ``dL/da`` and the gradient of every weight, input
and the bias. The famous example (a tanh neuron with w = 0.5, x = 2, b = -0.5 and
dL/dh = 0.4) is ``neuron("tanh", w=0.5, x=2, b=-0.5, upstream=0.4)``: dL/dw =
0.4 * (1 - tanh(0.5)^2) * 2 = 0.629.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from decimal import Decimal

from handgrad.practice.numeric import fmt, given_number, given_numbers
from handgrad.practice.problem import Problem
from handgrad.practice.randomness import MAX_ATTEMPTS, Draw, exhausted
from handgrad.practice.unit import ACTIVATIONS, Product, work

WHERE = "practice.neuron"


def neuron(activation: str, w: float | Sequence[float], x: float | Sequence[float], b: float,
           upstream: float) -> Problem:
    """A neuron problem with these numbers.

    ``activation``: ``"tanh"``, ``"sigmoid"`` or ``"relu"``; ``w`` and ``x``: two numbers (one
    input) or two sequences of one or two numbers (``w=(0.5, -1), x=(2, 0.5)``: inputs x1, x2);
    ``b``: the bias; ``upstream``: ``dL/dh``. A ReLU neuron whose ``a`` is exactly 0 (the kink,
    where the derivative is not defined) is refused with a ``ValueError``.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"{WHERE}: activation must be one of {', '.join(ACTIVATIONS)}, "
                         f"got {activation!r}")
    ws, xs = _inputs(w, "w"), _inputs(x, "x")
    if len(ws) != len(xs):
        raise ValueError(f"{WHERE}: w has {len(ws)} numbers but x has {len(xs)}; give one "
                         f"weight per input")
    b = given_number(b, "b", WHERE)
    upstream = given_number(upstream, "upstream", WHERE)
    names = ("w", "x") if len(ws) == 1 else None
    products = [Product(*(names or (f"w{i}", f"x{i}")), wi, xi)
                for i, (wi, xi) in enumerate(zip(ws, xs, strict=True), start=1)]
    unit = work(activation, products, "b", b, upstream)
    if activation == "relu" and unit.values["a"] == 0:
        raise ValueError(f"{WHERE}: a = w*x + b is exactly 0, where ReLU has a kink and no "
                         f"derivative; choose other numbers")
    given: dict[str, float] = {}
    for p in products:
        given[p.weight_name], given[p.input_name] = p.weight, p.input
    given["b"] = b
    given["dL/dh"] = upstream
    leaves = [f"dL/d{name}" for p in products for name in (p.weight_name, p.input_name)]
    asked = ("dh/da", "dL/da", *leaves, "dL/db")
    inputs = "" if len(products) == 1 else f" with {len(products)} inputs"
    dead = activation == "relu" and unit.values["a"] < 0
    notes = ("The unit is off (a < 0), so no gradient flows back through it; a unit that is "
             "off for every input is a dead ReLU and never learns.",) if dead else ()
    return Problem(
        kind="neuron", title=f"{activation} neuron{inputs}", graph=unit.graph, given=given,
        given_text=", ".join(f"{k} = {fmt(v)}" for k, v in given.items() if k != "dL/dh"),
        upstream_text=f"dL/dh = {fmt(upstream)}", asked=asked,
        key={q: unit.values[q] for q in asked}, forward=unit.forward, backward=unit.backward,
        mistakes=unit.mistakes, solution_notes=notes)


def _inputs(value: object, name: str) -> list[float]:
    if isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool):
        return [given_number(value, name, WHERE)]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{WHERE}: {name} must be a number or a sequence of one or two "
                        f"numbers, got {type(value).__name__}")
    return given_numbers(value, name, WHERE, 1, 2)


def draw(rng: Draw) -> Problem:
    """A neuron with numbers of one decimal: an activation, one or two inputs, a mild ``a``."""
    activation = rng.choice(ACTIVATIONS)
    count = rng.choice((1, 2))
    for _ in range(MAX_ATTEMPTS):
        ws = [rng.tenths(-15, 15, nonzero=True) for _ in range(count)]
        xs = [rng.tenths(-20, 20, nonzero=True) for _ in range(count)]
        b = rng.tenths(-10, 10)
        upstream = rng.tenths(-15, 15, nonzero=True)
        a = sum(wi * xi for wi, xi in zip(ws, xs, strict=True)) + b
        if abs(a) > 2.5:          # saturated: gradients too small to work by hand
            continue
        if activation == "relu":
            if abs(a) < 0.1:      # too close to the kink
                continue
            if a < 0 and rng.chance(0.6):   # a dead unit now and then, not one time in two
                continue
        return neuron(activation, ws if count == 2 else ws[0], xs if count == 2 else xs[0],
                      b, upstream)
    raise exhausted(WHERE)
