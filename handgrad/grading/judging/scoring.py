"""What grading a submission produces: a :class:`CheckResult` per check part, a
:class:`SubmissionResult` per submission, and :func:`combine`, which scores the draws of one
part from their verdicts. Fields are described in :mod:`handgrad.grading.judging.runner`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from handgrad.grading.authoring.spec import Check
from handgrad.grading.judging.draws import Draw
from handgrad.grading.judging.verdict import DrawVerdict


@dataclass
class CheckResult:
    check_id: str
    name: str
    status: str
    score: float
    max_score: float
    max_rel_error: float | None = None
    worst: dict[str, Any] | None = None
    message: str = ""
    hint: str | None = None
    output: str = ""
    visibility: str = "visible"
    spec_id: str = ""
    hidden: bool = False
    draws: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SubmissionResult:
    submission: str
    checks: list[CheckResult]
    score: float
    max_score: float
    status: str
    which: str = "public"
    secret_seed: int | None = None
    draws: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    file_errors: dict[str, str] = field(default_factory=dict)
    message: str = ""
    fingerprint: str = ""
    elapsed: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def combine(check: Check, filename: str, pairs: list[tuple[Draw, DrawVerdict]], hidden: bool,
            points: float) -> CheckResult:
    """The result of the public (or hidden) part of ``check``: ``points`` when every draw of
    ``pairs`` passed, else 0 with the message of the first flagged or failing draw."""
    flagged = [(d, v) for d, v in pairs if v.status == "flagged"]
    failing = [(d, v) for d, v in pairs if v.status != "passed"]
    rels = [v.max_rel_error for _, v in pairs if v.max_rel_error is not None]
    max_rel = max(rels) if rels else None
    worst = None
    best = None
    for d, v in pairs:
        if v.worst is not None and v.max_rel_error is not None and \
                (best is None or v.max_rel_error > best):
            best = v.max_rel_error
            worst = dict(v.worst, draw=d.label)
    hint = None
    if flagged:
        d, v = flagged[0]
        status, message = "flagged", v.message
    elif failing:
        d, v = failing[0]
        status = v.status
        general = "general" in v.notes
        message = v.message if general else f"{v.message} [{d.label}]"
        hint = v.hint
        # the row shows the failing gradient's own numbers, never those of a right one
        max_rel = v.max_rel_error
        worst = dict(v.worst, draw=d.label) if v.worst is not None else None
    elif not pairs:
        status, message = "grader_error", "grader error: no draws to check"
    else:
        status = "passed"
        rel = f", max relative error {max_rel:.1e}" if max_rel is not None else ""
        message = (f"passed: {len(pairs)} {'hidden' if hidden else 'public'} "
                   f"draw{'s' if len(pairs) != 1 else ''}{rel} (tolerance "
                   f"{check.tolerance:g})")
    fn = f"{filename}:{check.function}"
    return CheckResult(
        check_id=f"{check.id}.hidden" if hidden else check.id,
        name=f"{check.id} ({fn}){' hidden' if hidden else ''}",
        status=status, score=points if status == "passed" else 0.0, max_score=points,
        max_rel_error=max_rel if max_rel is None or np.isfinite(max_rel) else None,
        worst=worst, message=_one_line(message), hint=hint,
        visibility="after_due_date" if hidden else "visible", spec_id=check.id,
        hidden=hidden,
        draws=[dict(d.describe(), label=d.label, status=v.status,
                    max_rel_error=v.max_rel_error if v.max_rel_error is None or
                    np.isfinite(v.max_rel_error) else None,
                    message=_one_line(v.message))
               for d, v in pairs])


def _one_line(text: str, limit: int = 500) -> str:
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    head, space, _ = text[:limit - 4].rpartition(" ")   # never cut inside a word
    return (head if space and head else text[:limit - 4]).rstrip() + " ..."
