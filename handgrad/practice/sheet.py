"""A set of problems as text: the problem sheet, the answer key, an answers template, and the
report on a file of answers.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from handgrad.practice.answers_file import SetResult
from handgrad.practice.checking import CheckResult
from handgrad.practice.problem import Problem
from handgrad.practice.steps import WIDTH

SOLUTION_POLICIES = ("always", "wrong", "never")

RULE = ("An answer is right when it is within one unit of the third significant digit of "
        "the true value (for 0.62916: 0.628 is wrong; 0.629, 0.630 and 0.63 are right).")

FORMAT = ("Answer format, one per line: PROBLEM.QUANTITY = VALUE, e.g. 1.dL/dw = 0.629 "
          "(also -0.126, 1.26e-1, 1/3); # starts a comment.")


def sheet(problems: Sequence[Problem], title: str) -> str:
    """The problem sheet: the statements, numbered, then how to answer."""
    lines = [title, *textwrap.wrap(RULE, WIDTH), ""]
    for number, problem in enumerate(problems, start=1):
        lines += problem.statement_lines(number)
        lines.append("")
    lines += textwrap.wrap(FORMAT, WIDTH)
    return "\n".join(lines)


def answer_key(problems: Sequence[Problem], title: str) -> str:
    """The instructor's key: each statement followed by its worked solution."""
    lines = [f"{title}: answer key", *textwrap.wrap(RULE, WIDTH), ""]
    for number, problem in enumerate(problems, start=1):
        lines += problem.statement_lines(number)
        lines += ["  " + line for line in problem.solution().lines()]
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def template(problems: Sequence[Problem], title: str) -> str:
    """An answers file to fill in: one empty line per asked quantity."""
    lines = [f"# {title}",
             *textwrap.wrap(FORMAT, WIDTH, initial_indent="# ", subsequent_indent="# "),
             "# A line left empty after '=' counts as no answer."]
    for number, problem in enumerate(problems, start=1):
        lines.append(f"# Problem {number}: {problem.title}")
        lines += [f"{number}.{quantity} = " for quantity in problem.asked]
    return "\n".join(lines)


def wants_solution(policy: str, result: CheckResult) -> bool:
    """Whether ``policy`` (one of :data:`SOLUTION_POLICIES`) shows the solution after ``result``."""
    if policy not in SOLUTION_POLICIES:
        raise ValueError(f"solutions must be one of {', '.join(SOLUTION_POLICIES)}, "
                         f"got {policy!r}")
    return policy == "always" or (policy == "wrong" and not result.all_right)


def report(problems: Sequence[Problem], result: SetResult, title: str,
           solutions: str = "always", color: bool = False) -> str:
    """The graded answers: per problem its verdicts (and worked solution), then the score."""
    lines = [title, ""]
    pairs = zip(problems, result.results, strict=True)
    for number, (problem, checked) in enumerate(pairs, start=1):
        verdicts = checked.lines(color=color)
        lines.append(f"Problem {number}: {verdicts[0]}")
        lines += verdicts[1:]
        if wants_solution(solutions, checked):
            lines += ["  " + line for line in problem.solution().lines()]
        lines.append("")
    if result.issues:
        lines.append("Lines not understood:")
        lines += [f"  {issue}" for issue in result.issues]
        lines.append("")
    lines.append(result.score_line())
    return "\n".join(lines)
