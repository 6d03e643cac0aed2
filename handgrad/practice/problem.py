"""A practice problem: a small computational graph with numbers, and the gradients it asks for.

A :class:`Problem` states the graph (``a = w*x + b``, ``h = tanh(a)``), the numbers, the
upstream gradient (``dL/dh = 0.4``) and the quantities to find (``dL/da``, ``dL/dw``, ...). It
checks answers (:meth:`Problem.check`) and shows its worked solution (:meth:`Problem.solution`).
``print(problem)`` gives the statement; in Jupyter it renders as Markdown.

Problems are made by the constructors of each kind (:func:`handgrad.practice.neuron`,
:func:`~handgrad.practice.softmax_cross_entropy`, :func:`~handgrad.practice.batchnorm_column`,
:func:`~handgrad.practice.rnn_step`), drawn from a seed (:func:`handgrad.practice.problems`) or
taken by name (:func:`handgrad.practice.named`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from handgrad.practice.checking import CheckResult, Mistake, check_answers
from handgrad.practice.steps import WIDTH, Solution, Step

KINDS = ("neuron", "softmax", "batchnorm", "rnn")


@dataclass(frozen=True)
class Problem:
    """One problem.

    ``kind``: one of :data:`KINDS`; ``title``: e.g. ``"tanh neuron"``; ``graph``: the lines
    that define the graph; ``given``: the numbers by name, the upstream gradient included
    (``{"w": 0.5, "x": 2.0, "b": -0.5, "dL/dh": 0.4}``; vectors as ``x1, x2, ...``);
    ``given_text`` and ``upstream_text``: how the statement writes them; ``asked``: the
    quantities to find, in order; ``key``: the true value of each; ``forward``/``backward``:
    the worked steps; ``mistakes``: known slips, for hints; ``notes``: lines added under the
    statement (``"Use eps = 0."``) and ``solution_notes`` under the worked solution.
    """

    kind: str
    title: str
    graph: tuple[str, ...]
    given: Mapping[str, float]
    given_text: str
    upstream_text: str
    asked: tuple[str, ...]
    key: Mapping[str, float]
    forward: tuple[Step, ...]
    backward: tuple[Step, ...]
    mistakes: tuple[Mistake, ...] = ()
    notes: tuple[str, ...] = ()
    solution_notes: tuple[str, ...] = ()
    name: str = ""
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Problem: kind must be one of {', '.join(KINDS)}, "
                             f"got {self.kind!r}")
        missing = [q for q in self.asked if q not in self.key]
        if missing or not self.asked:
            raise ValueError(f"Problem: every asked quantity needs a value in key; "
                             f"asked {self.asked}, missing {missing}")
        object.__setattr__(self, "given", MappingProxyType(dict(self.given)))
        object.__setattr__(self, "key", MappingProxyType(dict(self.key)))

    def statement_lines(self, number: int | None = None, indent: str = "  ") -> list[str]:
        """The statement, headed ``Problem N: title`` when ``number`` is given."""
        head = f"Problem {number}: {self.title}" if number is not None else self.title
        if self.name:
            head += f" [{self.name}]"
        lines = [head]
        lines += [indent + line for line in self.graph]
        lines.append(f"{indent}Given: {self.given_text}")
        lines.append(f"{indent}Upstream gradient: {self.upstream_text}")
        for note in self.notes:
            lines += textwrap.wrap(note, WIDTH, initial_indent=indent, subsequent_indent=indent)
        lines.append(f"{indent}Find, to 3 significant digits: {', '.join(self.asked)}")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.statement_lines())

    def _repr_markdown_(self) -> str:
        graph = "\n".join(self.graph)
        parts = [f"**{self.title}**", f"```\n{graph}\n```",
                 f"Given: `{self.given_text}`", f"Upstream gradient: `{self.upstream_text}`",
                 *self.notes,
                 "Find, to 3 significant digits: " + ", ".join(f"`{q}`" for q in self.asked)]
        return "\n\n".join(parts)

    def check(self, answers: Mapping[str, object]) -> CheckResult:
        """Judge ``answers``, a mapping of quantity names to numbers or strings.

        ``problem.check({"dL/dw": 0.629, "dL/db": "0.315"})`` returns a :class:`CheckResult`
        with one verdict per asked quantity (the ones not given are ``missing``). Names are
        matched leniently (``dw`` is ``dL/dw``). Raises ``ValueError`` for a name the problem
        does not ask and ``TypeError`` for an answer that is not a number or a string.
        """
        return check_answers(self.title, self.asked, self.key, self.mistakes, answers,
                             where=f"Problem.check ({self.title})")

    def solution(self) -> Solution:
        """The worked solution: every intermediate value, local derivative and product."""
        return Solution(title=self.title, upstream=self.upstream_text, forward=self.forward,
                        backward=self.backward, asked=self.asked, key=self.key,
                        notes=self.solution_notes)

    def answer_key(self) -> dict[str, float]:
        """The true value of each asked quantity, in the order asked."""
        return {q: self.key[q] for q in self.asked}
