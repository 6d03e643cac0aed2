"""One unit ``h = f(w1*x1 + ... + wk*xk + b)`` with scalars: the math behind the neuron and the
RNN step problems.

Forward: ``a = sum_i w_i * x_i + b``, ``h = f(a)`` with ``f`` one of :data:`ACTIVATIONS`.
Backward from ``dL/dh``: the local derivative ``dh/da`` (``1 - h^2`` for tanh,
``h * (1 - h)`` for the sigmoid, 1 or 0 for ReLU), then ``dL/da = dL/dh * dh/da``, and for
every product ``dL/dw_i = dL/da * x_i``, ``dL/dx_i = dL/da * w_i``, and ``dL/db = dL/da``.
Everything is computed here with Python floats and the ``math`` module, independently of the
library's layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from handgrad.practice.checking import Mistake
from handgrad.practice.numeric import as_fraction, fmt, term
from handgrad.practice.steps import Step

ACTIVATIONS = ("tanh", "sigmoid", "relu")


@dataclass(frozen=True)
class Product:
    """One ``weight * input`` term of the unit, with the names the problem uses for them."""

    weight_name: str
    input_name: str
    weight: float
    input: float


@dataclass(frozen=True)
class UnitMath:
    """The worked forward and backward pass of a unit, and the slips to recognize."""

    graph: tuple[str, ...]
    values: dict[str, float]          # every named quantity: "a", "h", "dh/da", "dL/dw", ...
    forward: tuple[Step, ...]
    backward: tuple[Step, ...]
    mistakes: tuple[Mistake, ...]


def sigmoid(a: float) -> float:
    """``1 / (1 + exp(-a))``, without overflow for large negative ``a``."""
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def work(activation: str, products: Sequence[Product], bias_name: str, bias: float,
         upstream: float) -> UnitMath:
    """Work the unit through; ``upstream`` is ``dL/dh``.

    ``a`` is summed exactly (in fractions of the decimals given) before it becomes a float, so
    that 0.1*3 + (-0.3) is 0, as on paper, and a ReLU at its kink is recognized.
    """
    exact_a = sum(as_fraction(p.weight) * as_fraction(p.input) for p in products)
    a = float(exact_a + as_fraction(bias))
    sum_formula = " + ".join(f"{p.weight_name}*{p.input_name}" for p in products)
    sum_numbers = " + ".join(f"{term(p.weight)}*{term(p.input)}" for p in products)
    forward = [Step("a", f"{sum_formula} + {bias_name}", f"{sum_numbers} + {term(bias)}", a,
                    "forward")]
    if activation == "tanh":
        h = math.tanh(a)
        local = 1.0 - h * h
        node = "tanh(a)"
        forward.append(Step("h", node, f"tanh({fmt(a)})", h, "forward"))
        local_step = Step("dh/da", "1 - tanh(a)^2 = 1 - h^2", f"1 - {term(h)}^2", local, "local")
        slips = [(1.0 - a * a, "1 - a^2 uses a; the derivative of tanh(a) is 1 - h^2"),
                 (h, "that is h, the value of the node, not its derivative"),
                 (1.0 - h, "the derivative of tanh(a) is 1 - h^2, with h squared")]
    elif activation == "sigmoid":
        h = sigmoid(a)
        local = h * (1.0 - h)
        node = "sigmoid(a)"
        forward.append(Step("h", "sigmoid(a) = 1 / (1 + exp(-a))", f"1 / (1 + exp({term(-a)}))",
                            h, "forward"))
        local_step = Step("dh/da", "sigmoid(a) * (1 - sigmoid(a)) = h * (1 - h)",
                          f"{term(h)} * (1 - {term(h)})", local, "local")
        slips = [(h, "that is h = sigmoid(a); the derivative is h * (1 - h)"),
                 (a * (1.0 - a), "a * (1 - a) uses a; the derivative is h * (1 - h)")]
    elif activation == "relu":
        h = max(0.0, a)
        local = 1.0 if a > 0 else 0.0
        node = "max(0, a)"
        forward.append(Step("h", node, f"max(0, {fmt(a)})", h, "forward"))
        local_step = Step("dh/da", "1 if a > 0 else 0", f"1 if {fmt(a)} > 0 else 0", local,
                          "local")
        slips = [(h, "that is h, the value of the node, not its derivative")]
    else:
        raise ValueError(f"unit: activation must be one of {', '.join(ACTIVATIONS)}, "
                         f"got {activation!r}")

    da = upstream * local
    values = {"a": a, "h": h, "dh/da": local, "dL/da": da, f"dL/d{bias_name}": da}
    backward = [local_step,
                Step("dL/da", "dL/dh * dh/da", f"{term(upstream)} * {term(local)}", da, "chain")]
    mistakes = [Mistake("dh/da", value, why) for value, why in slips]
    mistakes += [Mistake("dL/da", local, "that is dh/da alone; multiply it by the upstream "
                                         "gradient dL/dh"),
                 Mistake("dL/da", upstream, "that is the upstream gradient dL/dh; multiply it "
                                            "by the local derivative dh/da")]
    for p in products:
        for name, other_name, factor, wrong_name, wrong in (
                (p.weight_name, p.input_name, p.input, p.weight_name, p.weight),
                (p.input_name, p.weight_name, p.weight, p.input_name, p.input)):
            gradient = da * factor
            values[f"dL/d{name}"] = gradient
            backward.append(Step(f"dL/d{name}", f"dL/da * da/d{name} = dL/da * {other_name}",
                                 f"{term(da)} * {term(factor)}", gradient, "chain"))
            mistakes += _missing_factor_slips(f"dL/d{name}", upstream, local, factor)
            mistakes.append(Mistake(f"dL/d{name}", da * wrong,
                                    f"da/d{name} is {other_name}, not {wrong_name}"))
    backward.append(Step(f"dL/d{bias_name}", f"dL/da * da/d{bias_name} = dL/da * 1",
                         f"{term(da)} * 1", da, "chain"))
    mistakes += _missing_factor_slips(f"dL/d{bias_name}", upstream, local, 1.0)
    graph = (f"a = {sum_formula} + {bias_name}", f"h = {node}")
    return UnitMath(graph, values, tuple(forward), tuple(backward), tuple(mistakes))


def _missing_factor_slips(quantity: str, upstream: float, local: float,
                          factor: float) -> list[Mistake]:
    return [Mistake(quantity, upstream * factor, "missing the local derivative dh/da"),
            Mistake(quantity, local * factor, "missing the upstream gradient dL/dh")]
