"""Answers written in a file, one per line, graded against a set of problems.

The format: one answer per line, ``PROBLEM.QUANTITY = VALUE``::

    # practice set: handgrad practice --seed 0
    1.dh/da = 0.786
    1.dL/dw = 0.629      # a comment runs to the end of the line
    1. dw = 6.29e-1      # spaces are free; dw means dL/dw
    2.dL/dz3 = -1/3      # a fraction is fine too

``PROBLEM`` is the problem's number on the sheet (from 1); ``QUANTITY`` is a name the problem
asks for, matched leniently (see :mod:`handgrad.practice.checking`); ``VALUE`` is a number as
:func:`handgrad.practice.numeric.parse_answer` reads it. Blank lines and ``#`` comments are
ignored, and so is a line with nothing after the ``=`` (a template line left empty: the
quantity stays missing). Lines may come in any order.

Grading gives each asked quantity one verdict: right, wrong, malformed (the value is not a
number), missing, or duplicate (answered on several lines with different values: none of them
counts; the same value twice is fine). A line that names no asked quantity (no ``=``, a problem
number outside the set, a quantity the problem does not ask) is listed as a line not understood.

:func:`read_file` reads such a file (or standard input) with a size limit; :func:`grade` grades
its text.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from handgrad.practice.checking import CheckResult, Verdict, count_statuses, judge, resolve
from handgrad.practice.numeric import AnswerError, parse_answer
from handgrad.practice.problem import Problem

_NAME = re.compile(r"(?P<number>\d{1,6})\s*\.(?P<quantity>.*)")
MAX_LINE_LENGTH = 1000
MAX_FILE_BYTES = 1_000_000   # an answers file has one short line per answer


@dataclass(frozen=True)
class AnswerLine:
    """One answer as written: the line number, the problem number, the name and the value."""

    line: int
    problem: int
    quantity: str
    value: str


@dataclass(frozen=True)
class LineIssue:
    """A line that names no asked quantity, and why."""

    line: int
    text: str
    message: str

    def __str__(self) -> str:
        text = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return f"line {self.line}: {self.message}: {text!r}"


@dataclass(frozen=True)
class SetResult:
    """The verdicts of a whole set: one :class:`CheckResult` per problem, and the bad lines."""

    results: tuple[CheckResult, ...]
    issues: tuple[LineIssue, ...] = ()

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        return tuple(v for r in self.results for v in r.verdicts)

    @property
    def right(self) -> int:
        return sum(r.right for r in self.results)

    @property
    def total(self) -> int:
        return sum(r.total for r in self.results)

    @property
    def all_right(self) -> bool:
        """Every asked quantity right and every line understood."""
        return self.right == self.total and not self.issues

    def score_line(self) -> str:
        counts = count_statuses(self.verdicts)
        others = [f"{n} {status}" for status, n in counts.items() if status != "right"]
        if self.issues:
            count = len(self.issues)
            others.append(f"{count} line{'' if count == 1 else 's'} not understood")
        tail = f" ({', '.join(others)})" if others else ""
        return f"Score: {self.right}/{self.total} right{tail}"

    def __str__(self) -> str:
        lines: list[str] = []
        for number, result in enumerate(self.results, start=1):
            lines += _numbered(number, result)
        lines += [str(issue) for issue in self.issues]
        lines.append(self.score_line())
        return "\n".join(lines)


def _numbered(number: int, result: CheckResult) -> list[str]:
    lines = result.lines()
    return [f"Problem {number}: {lines[0]}", *lines[1:]]


def parse(text: str) -> tuple[list[AnswerLine], list[LineIssue]]:
    """The answer lines of ``text`` and the lines that are not in the answer format."""
    answers: list[AnswerLine] = []
    issues: list[LineIssue] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        if len(content) > MAX_LINE_LENGTH:
            issues.append(LineIssue(number, content, f"longer than {MAX_LINE_LENGTH} "
                                                     f"characters"))
            continue
        name, equals, value = content.partition("=")
        match = _NAME.fullmatch(name.strip())
        if not equals or match is None or not match["quantity"].strip():
            issues.append(LineIssue(number, raw.strip(), "not in the form N.QUANTITY = VALUE "
                                                         "(e.g. 1.dL/dw = 0.629)"))
            continue
        answers.append(AnswerLine(number, int(match["number"]), match["quantity"].strip(),
                                  value.strip()))
    return answers, issues


def grade(problems: Sequence[Problem], text: str) -> SetResult:
    """Grade the answers in ``text`` (the format above) against ``problems``, numbered from 1."""
    answers, issues = parse(text)
    by_quantity: dict[tuple[int, str], list[AnswerLine]] = {}
    for answer in answers:
        if not 1 <= answer.problem <= len(problems):
            issues.append(LineIssue(answer.line, _text(answer), f"there is no problem "
                                    f"{answer.problem}; the set has problems 1 to "
                                    f"{len(problems)}"))
            continue
        problem = problems[answer.problem - 1]
        quantity = resolve(answer.quantity, problem.asked)
        if quantity is None:
            issues.append(LineIssue(answer.line, _text(answer), f"problem {answer.problem} "
                                    f"does not ask for {answer.quantity}; it asks for "
                                    f"{', '.join(problem.asked)}"))
            continue
        by_quantity.setdefault((answer.problem, quantity), []).append(answer)
    results = []
    for number, problem in enumerate(problems, start=1):
        verdicts = tuple(_verdict(problem, q, by_quantity.get((number, q), []))
                         for q in problem.asked)
        results.append(CheckResult(problem.title, verdicts))
    issues.sort(key=lambda issue: issue.line)
    return SetResult(tuple(results), tuple(issues))


def _text(answer: AnswerLine) -> str:
    return f"{answer.problem}.{answer.quantity} = {answer.value}"


def _verdict(problem: Problem, quantity: str, lines: list[AnswerLine]) -> Verdict:
    written = [a for a in lines if a.value]
    expected = problem.key[quantity]
    if len(written) > 1 and len({_value_or_text(a.value) for a in written}) > 1:
        where = ", ".join(f"line {a.line}: {a.value}" for a in written)
        return Verdict(quantity, "duplicate", expected, "; ".join(a.value for a in written),
                       where)
    return judge(quantity, expected, written[0].value if written else None, problem.mistakes)


def _value_or_text(value: str) -> Fraction | str:
    try:
        return parse_answer(value)
    except AnswerError:
        return value


def read_file(path: str) -> str:
    """The text of an answers file (``-``: standard input), at most 1 MB of UTF-8."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    else:
        file = Path(path)
        if not file.is_file():
            raise ValueError("no such file" if not file.exists() else "not a regular file")
        with file.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES:,} bytes; an answers file has one "
                         f"short line per answer")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from None
