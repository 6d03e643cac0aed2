"""The RNN step problem: one step of a vanilla RNN with scalars,
``h = tanh(wx*x + wh*h_prev + b)``, with an upstream gradient ``dL/dh``.

Asks for ``dL/dwx``, ``dL/dwh``, ``dL/dh_prev`` (what flows back to the previous step) and
``dL/db``. It is the tanh neuron with two inputs, one of which is the previous hidden state.
"""

from __future__ import annotations

from handgrad.practice.numeric import fmt, given_number
from handgrad.practice.problem import Problem
from handgrad.practice.randomness import MAX_ATTEMPTS, Draw, exhausted
from handgrad.practice.unit import Product, work

WHERE = "practice.rnn_step"
ASKED = ("dL/dwx", "dL/dwh", "dL/dh_prev", "dL/db")


def rnn_step(wx: float, x: float, wh: float, h_prev: float, b: float,
             upstream: float) -> Problem:
    """An RNN step problem with these numbers; ``upstream`` is ``dL/dh``."""
    numbers = {name: given_number(value, name, WHERE) for name, value in
               (("wx", wx), ("x", x), ("wh", wh), ("h_prev", h_prev), ("b", b),
                ("upstream", upstream))}
    products = [Product("wx", "x", numbers["wx"], numbers["x"]),
                Product("wh", "h_prev", numbers["wh"], numbers["h_prev"])]
    unit = work("tanh", products, "b", numbers["b"], numbers["upstream"])
    given = {k: v for k, v in numbers.items() if k != "upstream"}
    given["dL/dh"] = numbers["upstream"]
    return Problem(
        kind="rnn", title="vanilla RNN step", graph=unit.graph, given=given,
        given_text=", ".join(f"{k} = {fmt(v)}" for k, v in given.items() if k != "dL/dh"),
        upstream_text=f"dL/dh = {fmt(numbers['upstream'])}", asked=ASKED,
        key={q: unit.values[q] for q in ASKED}, forward=unit.forward, backward=unit.backward,
        mistakes=unit.mistakes,
        solution_notes=("dL/dh_prev is what this step passes back to the step before it; over "
                        "many steps these factors (wh * (1 - h^2)) multiply, which is why RNN "
                        "gradients explode or vanish.",))


def draw(rng: Draw) -> Problem:
    """An RNN step with numbers of one decimal, ``h_prev`` inside (-1, 1) like a tanh output."""
    for _ in range(MAX_ATTEMPTS):
        wx, wh = rng.tenths(-15, 15, nonzero=True), rng.tenths(-15, 15, nonzero=True)
        x, h_prev = rng.tenths(-20, 20, nonzero=True), rng.tenths(-9, 9, nonzero=True)
        b, upstream = rng.tenths(-5, 5), rng.tenths(-15, 15, nonzero=True)
        if abs(wx * x + wh * h_prev + b) <= 2.5:
            return rnn_step(wx, x, wh, h_prev, b, upstream)
    raise exhausted(WHERE)
