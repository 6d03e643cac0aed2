"""Interactive practice: one quantity at a time, each answer judged at once.

At each prompt (``1.dL/dw = ``) the student types a number, ``?`` to see the value (the
quantity counts as revealed), or ``q`` to stop. A malformed answer is explained and asked
again; an empty line asks again. After each problem comes its worked solution (by the
solutions policy). End of input (Ctrl-D) or Ctrl-C ends the session with the score so far.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from handgrad.practice.answers_file import SetResult
from handgrad.practice.checking import CheckResult, Verdict, judge, paint
from handgrad.practice.numeric import fmt, rounded
from handgrad.practice.problem import Problem
from handgrad.practice.sheet import RULE, wants_solution
from handgrad.practice.steps import WIDTH

QUIT = ("q", "quit", "exit")


@dataclass(frozen=True)
class SessionResult:
    """What a session ends with: the verdicts given so far and how it ended."""

    result: SetResult          # the problems reached; a problem left midway has fewer verdicts
    finished: bool             # every asked quantity was answered or revealed
    interrupted: bool          # ended by Ctrl-C

    @property
    def all_right(self) -> bool:
        return self.finished and self.result.all_right


class _Stop(Exception):
    def __init__(self, interrupted: bool) -> None:
        super().__init__()
        self.interrupted = interrupted


def interact(problems: Sequence[Problem], *, title: str,
             read: Callable[[str], str] = input, out: TextIO | None = None,
             solutions: str = "always", color: bool = False) -> SessionResult:
    """Run a session over ``problems``; ``read(prompt)`` returns one line or raises ``EOFError``.

    ``read`` defaults to :func:`input` (line editing on a terminal) and ``out`` to stdout; a
    test passes a reader over a list of lines and a ``StringIO``.
    """
    out = out if out is not None else sys.stdout

    def write(text: str = "") -> None:
        print(text, file=out, flush=True)

    write(title)
    for line in textwrap.wrap(f"{RULE} Type a number (0.315, -1.26e-1, 1/3), ? to see the "
                              f"value, or q to stop; Ctrl-D or Ctrl-C stops too.", WIDTH):
        write(line)
    results: list[CheckResult] = []
    finished, interrupted = False, False
    try:
        for number, problem in enumerate(problems, start=1):
            write()
            for line in problem.statement_lines(number):
                write(line)
            verdicts: list[Verdict] = []
            results.append(CheckResult(problem.title, ()))
            for quantity in problem.asked:
                verdicts.append(_ask(problem, number, quantity, read, write, color))
                results[-1] = CheckResult(problem.title, tuple(verdicts))
            checked = results[-1]
            write(f"  {checked.right}/{checked.total} right")
            if wants_solution(solutions, checked):
                for line in problem.solution().lines():
                    write("  " + line)
        finished = True
    except _Stop as stop:
        interrupted = stop.interrupted
        write()
    result = SetResult(tuple(results))
    session = SessionResult(result, finished, interrupted)
    asked = sum(len(p.asked) for p in problems)
    if finished:
        write(result.score_line())
    else:
        write(f"Score so far: {result.right}/{result.total} right, after {result.total} of "
              f"{asked} quantities")
    return session


def _ask(problem: Problem, number: int, quantity: str, read: Callable[[str], str],
         write: Callable[..., None], color: bool) -> Verdict:
    expected = problem.key[quantity]
    while True:
        try:
            text = read(f"{number}.{quantity} = ").strip()
        except EOFError:
            raise _Stop(interrupted=False) from None
        except KeyboardInterrupt:
            raise _Stop(interrupted=True) from None
        if text.lower() in QUIT:
            raise _Stop(interrupted=False)
        if not text:
            write("  type a number, ? to see the value, or q to stop")
            continue
        if text == "?":
            write(f"  {paint('revealed', 'revealed', color)}: {quantity} = {rounded(expected)} "
                  f"({fmt(expected, 6)})")
            return Verdict(quantity, "revealed", expected, "?")
        verdict = judge(quantity, expected, text, problem.mistakes)
        if verdict.status == "malformed":
            write(f"  {verdict.describe()}; try again")
            continue
        write(f"  {paint(verdict.status, verdict.status, color)}: {verdict.describe()}")
        return verdict
