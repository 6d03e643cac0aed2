"""The student's public checks from Python: ``check(...)``, for a notebook or a script.

::

    from handgrad.grading import check

    check()                                 # every public check of the current folder
    report = check("relu")                  # the checks of relu.py
    report = check("relu_backward", "tanh", folder="starter")
    report.passed, report.score, report["relu_backward"].status

Names are matched as :mod:`handgrad.grading.judging.selection` says (a check id, a file or module, a
function, a registry op), with a "did you mean" for a typo. The table printed is the one
``handgrad check`` prints, from the same code (:mod:`handgrad.grading.judging.table`), and the
checks run through the grader's own runner: every call reads the student's files again and runs each
checked function in a fresh worker process, so an edit saved since the last call is what gets
checked (nothing of the student's code is cached in the calling process).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handgrad.grading.authoring import spec
from handgrad.grading.judging import table
from handgrad.grading.judging.selection import select


@dataclass(frozen=True)
class CheckOutcome:
    """One row of the table: how one public check of one function went."""

    id: str                        # the check id, e.g. "relu_backward"
    function: str                  # as the table shows it, e.g. "relu.backward"
    status: str                    # one of handgrad.grading.judging.runner.STATUSES
    score: float
    max_score: float
    max_rel_error: float | None    # largest relative error against the expected gradient
    worst: str                     # the worst entry, "dx[2, 0]: 0.5 vs 0.25", or ""
    message: str                   # one line for the student ("" for a pass)
    hint: str | None               # the hint under the row (None for a pass)
    output: str                    # what the student's code printed

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class CheckReport:
    """The public checks of a starter folder: one :class:`CheckOutcome` per check, the
    points, and ``text``, the table exactly as ``handgrad check`` prints it.

    ``report["relu_backward"]`` (or ``report["relu.backward"]``) is one outcome; iterating
    gives them in the assignment's order; ``str(report)`` is the table.
    """

    title: str
    folder: Path
    checks: tuple[CheckOutcome, ...]
    score: float
    max_score: float
    text: str

    @property
    def passed(self) -> bool:
        """True when at least one check ran and every check passed."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def statuses(self) -> dict[str, str]:
        """``{check id: status}``."""
        return {c.id: c.status for c in self.checks}

    def __getitem__(self, key: str) -> CheckOutcome:
        for c in self.checks:
            if key in (c.id, c.function):
                return c
        raise KeyError(f"CheckReport: no check {key!r} here; these ran: "
                       f"{', '.join(c.id for c in self.checks)}")

    def __iter__(self) -> Iterator[CheckOutcome]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        rows = "; ".join(f"{c.id}: {table.STATUS_LABELS.get(c.status, c.status)}"
                         for c in self.checks)
        return (f"<CheckReport {table.number(self.score)}/{table.number(self.max_score)} "
                f"points: {rows}>")


def header(assignment: spec.Assignment, folder: Path) -> str:
    """The line above the table."""
    return f"{assignment.title}: public checks of {folder.resolve()}"


def load_starter(folder: str | Path, *, caller: str) -> spec.Assignment:
    """The assignment of a starter folder; a folder without ``assignment.toml`` is a
    ``FileNotFoundError`` that says where to run."""
    path = Path(folder)
    if not (path / "assignment.toml").is_file():
        raise FileNotFoundError(
            f"{caller}: no assignment.toml in {path.resolve()}; run this in the starter folder "
            f"that `handgrad assign` wrote (in a notebook: open the notebook from that folder, "
            f"or pass folder=...)")
    return spec.load(path)


def run_public(assignment: spec.Assignment, folder: Path, names: Sequence[str], *,
               caller: str, progress: Callable[[Any, int, int], Any] | None = None) -> Any:
    """Run the public checks matching ``names`` (all when empty); the runner's result."""
    chosen = select(assignment.checks, names, caller=caller)
    from handgrad.grading.judging.runner import run_checks

    only = None if len(chosen) == len(assignment.checks) else [c.id for c in chosen]
    return run_checks(assignment, folder, which="public", progress=progress, only=only)


def report_of(assignment: spec.Assignment, folder: Path, result: Any, *,
              color: bool = False) -> CheckReport:
    """The :class:`CheckReport` of a runner result."""
    by_id = {c.id: c for c in assignment.checks}
    names = table.display_names(by_id)
    outcomes = tuple(
        CheckOutcome(id=r.check_id, function=names.get(r.check_id, r.check_id),
                     status=r.status, score=float(r.score), max_score=float(r.max_score),
                     max_rel_error=_float_or_none(getattr(r, "max_rel_error", None)),
                     worst=table.worst_text(getattr(r, "worst", None)),
                     message=table.one_line(getattr(r, "message", "") or ""),
                     hint=table.hint_of(r), output=str(getattr(r, "output", "") or ""))
        for r in result.checks)
    text = header(assignment, folder) + "\n" + table.render(result, by_id, color=color)
    return CheckReport(title=assignment.title, folder=folder.resolve(), checks=outcomes,
                       score=float(result.score), max_score=float(result.max_score), text=text)


def check(*names: str, folder: str | Path = ".", show: bool = True,
          color: bool = False) -> CheckReport:
    """Run the public checks of the starter in ``folder`` (default: the current folder).

    With no ``names``, every check; otherwise the checks that any name matches (a check id, a
    file or module such as ``"relu"``, a function such as ``"rnn.step_backward"``, a registry
    op). Prints the table of ``handgrad check`` unless ``show=False`` (ANSI colors with
    ``color=True``) and returns a :class:`CheckReport`.

    Raises ``FileNotFoundError`` when ``folder`` holds no ``assignment.toml``,
    :class:`~handgrad.grading.judging.selection.UnknownCheckError` (a ``ValueError``, with "did you
    mean") for a name that matches no check, and ``SpecError`` for an unreadable
    ``assignment.toml``. Nothing the student's code does makes it raise: a crash, a hang or a
    stub is a row of the table.
    """
    base = Path(folder)
    assignment = load_starter(base, caller="check")
    result = run_public(assignment, base, names, caller="check")
    report = report_of(assignment, base, result, color=color)
    if show:
        print(report.text, file=sys.stdout, flush=True)
    return report


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
