"""Judging answers: one :class:`Verdict` per asked quantity, a :class:`CheckResult` per problem.

A verdict's status is one of

- ``right``: agrees with the true value to three significant digits (see
  :mod:`handgrad.practice.numeric` for the exact rule);
- ``wrong``: a number that does not agree; the verdict carries the true value and, when the
  answer matches a known slip (the local derivative forgotten, ``x`` used where ``w`` belongs,
  the sign flipped), a hint that names it;
- ``malformed``: not a number in an accepted form; the reason is given;
- ``missing``: no answer;
- ``duplicate``: answered more than once with different values (in an answers file);
- ``revealed``: the student asked to see the value (interactive mode).

Names are matched leniently: case, spaces, underscores and braces do not matter, ``∂`` counts as
``d``, and a bare ``dw`` means ``dL/dw``; so ``dL/dW``, ``dw`` and ``∂L/∂w`` all name ``dL/dw``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from handgrad.practice.numeric import AnswerError, agrees, as_fraction, fmt, rounded

STATUSES = ("right", "wrong", "malformed", "missing", "duplicate", "revealed")

_COLORS = {"right": "32", "wrong": "31", "malformed": "33", "missing": "33", "duplicate": "33",
           "revealed": "2"}
_GREEK = {"γ": "gamma", "β": "beta", "μ": "mu", "σ": "sigma"}


@dataclass(frozen=True)
class Mistake:
    """A slip students make: answering ``value`` for ``quantity``, and what it means."""

    quantity: str
    value: float
    explanation: str


@dataclass(frozen=True)
class Verdict:
    """The judgement of one asked quantity.

    ``answer`` is the answer as written (``None`` when missing); ``detail`` is the reason for
    ``malformed``, the hint for ``wrong`` (may be empty) or the lines for ``duplicate``.
    """

    quantity: str
    status: str
    expected: float
    answer: str | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"Verdict: status must be one of {', '.join(STATUSES)}, "
                             f"got {self.status!r}")

    @property
    def right(self) -> bool:
        return self.status == "right"

    def describe(self) -> str:
        """One line after the status: what was written and, when wrong, the true value."""
        true_value = f"it is {rounded(self.expected)} ({fmt(self.expected, 6)})"
        if self.status == "right":
            return f"{self.answer} (true value {fmt(self.expected, 6)})"
        if self.status == "wrong":
            hint = f"; {self.detail}" if self.detail else ""
            return f"you wrote {self.answer}; {true_value}{hint}"
        if self.status == "malformed":
            return f"not a number: {self.detail}"
        if self.status == "missing":
            return "no answer"
        if self.status == "duplicate":
            return f"answered more than once with different values ({self.detail}); keep one"
        return true_value


@dataclass(frozen=True)
class CheckResult:
    """The verdicts of one problem, in the order the problem asks its quantities."""

    title: str
    verdicts: tuple[Verdict, ...]

    @property
    def right(self) -> int:
        return sum(v.right for v in self.verdicts)

    @property
    def total(self) -> int:
        return len(self.verdicts)

    @property
    def all_right(self) -> bool:
        return self.right == self.total

    def counts(self) -> dict[str, int]:
        """How many verdicts have each status (statuses that occur, in :data:`STATUSES` order)."""
        return count_statuses(self.verdicts)

    def __getitem__(self, quantity: str) -> Verdict:
        for verdict in self.verdicts:
            if verdict.quantity == quantity:
                return verdict
        raise KeyError(f"CheckResult: no verdict for {quantity!r}; the quantities are "
                       f"{', '.join(v.quantity for v in self.verdicts)}")

    def lines(self, color: bool = False, indent: str = "  ") -> list[str]:
        width = max((len(v.quantity) for v in self.verdicts), default=0)
        out = [f"{self.title}: {self.right}/{self.total} right"]
        for v in self.verdicts:
            status = paint(v.status, f"{v.status:<9}", color)
            out.append(f"{indent}{v.quantity:<{width}}  {status}  {v.describe()}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_markdown_(self) -> str:
        rows = [f"**{self.title}: {self.right}/{self.total} right**", "",
                "| quantity | verdict | |", "|---|---|---|"]
        rows += [f"| {v.quantity} | {v.status} | {v.describe()} |" for v in self.verdicts]
        return "\n".join(rows)


def count_statuses(verdicts: Iterable[Verdict]) -> dict[str, int]:
    statuses = [v.status for v in verdicts]
    return {s: statuses.count(s) for s in STATUSES if s in statuses}


def paint(status: str, text: str, color: bool) -> str:
    """``text`` in the terminal color of ``status`` when ``color`` is on."""
    return f"\033[{_COLORS[status]}m{text}\033[0m" if color else text


def fold(name: str) -> str:
    """The form in which quantity names are compared (see the module docstring)."""
    text = name.replace("∂", "d")
    for letter, word in _GREEK.items():
        text = text.replace(letter, word)
    text = re.sub(r"[\s_{}]", "", text).lower()
    if "/" not in text and text.startswith("d"):
        text = "dl/" + text
    return text


def resolve(name: str, asked: Iterable[str]) -> str | None:
    """The asked quantity that ``name`` names, or ``None`` when it names none of them."""
    wanted = fold(name)
    return next((q for q in asked if fold(q) == wanted), None)


def answer_text(answer: object) -> str:
    """An answer as it was written (a string stripped; a number as Python prints it)."""
    return answer.strip() if isinstance(answer, str) else str(answer)


def judge(quantity: str, expected: float, answer: object,
          mistakes: Iterable[Mistake] = ()) -> Verdict:
    """The verdict on one ``answer`` (``None`` or an empty string: missing).

    Raises ``TypeError`` when ``answer`` is neither a number nor a string.
    """
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return Verdict(quantity, "missing", expected)
    written = answer_text(answer)
    try:
        value = as_fraction(answer, where=f"the answer for {quantity}")
    except AnswerError as exc:
        return Verdict(quantity, "malformed", expected, written, str(exc))
    if agrees(value, expected):
        return Verdict(quantity, "right", expected, written)
    return Verdict(quantity, "wrong", expected, written, _slip(quantity, expected, value, mistakes))


def _slip(quantity: str, expected: float, value: Fraction, mistakes: Iterable[Mistake]) -> str:
    for mistake in mistakes:
        if (mistake.quantity == quantity and not agrees(Fraction(mistake.value), expected)
                and agrees(value, mistake.value)):
            return mistake.explanation
    if expected != 0 and agrees(-value, expected):
        return "the size is right but the sign is not"
    return ""


def check_answers(title: str, asked: tuple[str, ...], key: Mapping[str, float],
                  mistakes: Iterable[Mistake], answers: Mapping[str, object],
                  where: str = "check") -> CheckResult:
    """Judge ``answers`` (quantity name -> answer) against ``key`` for every asked quantity.

    Names are matched with :func:`resolve`. Raises ``ValueError`` for a name that is not asked
    or a quantity given twice under two names, ``TypeError`` for an answer that is neither a
    number nor a string; an asked quantity that is absent is ``missing``.
    """
    if not isinstance(answers, Mapping):
        raise TypeError(f"{where}: answers must be a mapping of quantity names to answers, "
                        f"e.g. {{'{asked[0]}': 0.315}}, got {type(answers).__name__}")
    chosen: dict[str, tuple[str, object]] = {}
    for name, answer in answers.items():
        if not isinstance(name, str):
            raise TypeError(f"{where}: quantity names must be strings, got {name!r}")
        quantity = resolve(name, asked)
        if quantity is None:
            raise ValueError(f"{where}: {name!r} is not asked in this problem; it asks for "
                             f"{', '.join(asked)}")
        if quantity in chosen:
            raise ValueError(f"{where}: {quantity} is given twice, as {chosen[quantity][0]!r} "
                             f"and as {name!r}")
        chosen[quantity] = (name, answer)
    mistakes = tuple(mistakes)
    verdicts = tuple(judge(q, key[q], chosen[q][1] if q in chosen else None, mistakes)
                     for q in asked)
    return CheckResult(title, verdicts)
