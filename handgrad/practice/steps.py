"""The worked solution of a problem: the forward pass, then the chain rule one step at a time.

A :class:`Step` is one line ``name = formula = the formula with numbers = value``. Forward
steps compute the intermediate values; backward steps are either a *local* derivative of one
node with respect to its input, or a *chain* step, the upstream gradient times the local
derivative (summed over the paths when a value feeds several nodes). A :class:`Solution`
prints as text (``str``) and as Markdown in Jupyter (``_repr_markdown_``), marking the asked
quantities with their three-significant-digit answers.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from handgrad.practice.numeric import fmt, rounded, vector

ROLES = ("forward", "local", "chain")
WIDTH = 100
_TAGS = {"forward": "", "local": "local  ", "chain": "chain  "}


@dataclass(frozen=True)
class Step:
    """One line of a worked solution.

    ``name``: the quantity (``"a"``, ``"dh/da"``, ``"dL/dw"``); ``formula``: how it is made,
    in symbols (``"dL/da * x"``); ``numbers``: the same with the values put in
    (``"0.31458 * 2"``, may be empty); ``value``: a number, or a tuple for a vector such as
    batchnorm's ``xhat``; ``role``: ``"forward"``, ``"local"`` or ``"chain"``.
    """

    name: str
    formula: str
    numbers: str
    value: float | tuple[float, ...]
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Step: role must be one of {', '.join(ROLES)}, got {self.role!r}")

    @property
    def value_text(self) -> str:
        return vector(self.value) if isinstance(self.value, tuple) else fmt(self.value)

    def parts(self) -> list[str]:
        """The non-empty parts of the line, a part equal to the one before it dropped."""
        parts: list[str] = []
        for part in (self.name, self.formula, self.numbers, self.value_text):
            if part and (not parts or part != parts[-1]):
                parts.append(part)
        return parts


@dataclass(frozen=True)
class Solution:
    """The worked solution of one problem; ``key`` holds the right value of each asked name."""

    title: str
    upstream: str                      # e.g. "dL/dh = 0.4"
    forward: tuple[Step, ...]
    backward: tuple[Step, ...]
    asked: tuple[str, ...]
    key: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", MappingProxyType(dict(self.key)))

    def lines(self, indent: str = "  ") -> list[str]:
        out = [f"Worked solution: {self.title}", "Forward pass"]
        out += [line for step in self.forward for line in self._step_lines(step, indent)]
        out.append(f"Backward pass from {self.upstream}: local derivatives and the chain rule")
        out += [line for step in self.backward for line in self._step_lines(step, indent)]
        for note in self.notes:
            out += textwrap.wrap(note, WIDTH, initial_indent=indent, subsequent_indent=indent)
        # a no-break space inside each "name = value" keeps the pair on one line
        answers = ", ".join(f"{name}\u00a0=\u00a0{rounded(self.key[name])}" for name in self.asked)
        out += [line.replace("\u00a0", " ") for line in
                textwrap.wrap(f"Answers to 3 significant digits: {answers}", WIDTH,
                              subsequent_indent=indent)]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _step_lines(self, step: Step, indent: str) -> list[str]:
        parts = step.parts()
        head = indent + _TAGS[step.role] + parts[0]
        mark = f"   <- answer {rounded(self.key[step.name])}" if step.name in self.asked else ""
        line = head + " = " + " = ".join(parts[1:]) + mark
        if len(line) <= WIDTH or len(parts) < 3:
            return [line]
        pad = " " * (len(head) + 1)
        lines = [head + " = " + parts[1]]
        lines += [pad + "= " + part for part in parts[2:]]
        lines[-1] += mark
        return lines

    def _repr_markdown_(self) -> str:
        rows = ["| pass | quantity | formula | with the numbers | value |", "|---|---|---|---|---|"]
        for step in (*self.forward, *self.backward):
            asked = step.name in self.asked
            name = f"**{step.name}**" if asked else step.name
            value = (f"**{step.value_text}** (answer {rounded(self.key[step.name])})"
                     if asked else step.value_text)
            numbers = f"`{step.numbers}`" if step.numbers else ""
            rows.append(f"| {step.role} | {name} | `{step.formula}` | {numbers} | {value} |")
        paragraphs = [f"**Worked solution: {self.title}**",
                      f"Upstream gradient: `{self.upstream}`.", "\n".join(rows), *self.notes]
        return "\n\n".join(paragraphs)
