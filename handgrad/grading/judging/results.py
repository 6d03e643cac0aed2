"""Gradescope ``results.json``, the gradebook ``grades.csv``, and writing them atomically.

``results.json`` follows Gradescope's autograder specification: a top-level ``score``, one
entry in ``tests`` per :class:`~handgrad.grading.judging.scoring.CheckResult` (``name``, ``number``,
``score``, ``max_score``, ``status`` "passed"/"failed", ``output``, ``visibility``: hidden
draws are ``after_due_date``), ``stdout_visibility: "hidden"``, and ``extra_data`` with the
status, the fingerprint used to skip unchanged submissions on a re-run and the versions. No
secret is in it: the secret seed and the seeds of the draws (which would let a student rebuild
the hidden inputs) go to the instructor-only ``manifest.json`` of the results folder
(``secrets.json`` inside Gradescope; :func:`secrets_json`), so results.json can be handed
on. Numbers are JSON numbers, never strings. :func:`validate` checks all of that,
and that the ``max_score`` values add up to the assignment's points, before anything is
written; :func:`write_json` writes via a temporary file and ``os.replace``, so a reader never
sees half a file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from handgrad._files import atomic_write_bytes
from handgrad.grading.judging.scoring import CheckResult, SubmissionResult

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
FORMATS = ("text", "html", "simple_format", "md", "ansi")
MAX_OUTPUT = 64 * 1024
MAX_RESULTS_BYTES = 1 << 20


class ResultsError(ValueError):
    """A results.json that Gradescope would reject; lists every problem."""


def _number(x: float) -> float | int:
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2 ** 53 else round(x, 10)


def test_output(check: CheckResult) -> str:
    """The text a student sees for one test."""
    lines = [check.message]
    if check.hint:
        lines.append(f"hint: {check.hint}")
    if check.worst and check.status not in ("passed",):
        w = check.worst
        idx = ", ".join(str(i) for i in w.get("index", []))
        entry = f"{w.get('gradient', '')}[{idx}]" if idx else str(w.get("gradient", ""))
        numeric = f", numerical {w['numeric']:.6g}" if "numeric" in w else ""
        lines.append(f"worst entry {entry}: yours {w.get('analytic', float('nan')):.6g}, "
                     f"expected {w.get('expected', float('nan')):.6g}{numeric} "
                     f"({w.get('draw', '')})")
    if check.draws:
        lines.append("draws:")
        for d in check.draws:
            err = d.get("max_rel_error")
            err_s = f", max relative error {err:.2e}" if isinstance(err, float) else ""
            lines.append(f"  {d.get('label', '')}: {d.get('status', '')}{err_s}")
    if check.output.strip():
        lines.append("")
        lines.append("--- printed by your code (capped) ---")
        lines.append(check.output.rstrip("\n"))
    text = "\n".join(lines)
    if len(text) > MAX_OUTPUT:
        text = text[:MAX_OUTPUT - 40] + "\n[... output truncated ...]"
    return text


def gradescope_json(result: SubmissionResult, *, assignment_name: str = "",
                    points: float | None = None, execution_time: float | None = None
                    ) -> dict[str, Any]:
    """Build the results.json object of one graded submission."""
    tests = []
    for i, check in enumerate(result.checks, start=1):
        tests.append({
            "name": check.name,
            "number": str(i),
            "score": _number(check.score),
            "max_score": _number(check.max_score),
            "status": "passed" if check.status == "passed" else "failed",
            "output": test_output(check),
            "output_format": "text",
            "visibility": check.visibility,
            "tags": [check.spec_id, check.status],
            "extra_data": {
                "check_id": check.check_id, "spec_id": check.spec_id,
                "handgrad_status": check.status, "hidden": check.hidden,
                "max_rel_error": check.max_rel_error,
            },
        })
    head = [f"handgrad: {assignment_name}" if assignment_name else "handgrad"]
    if result.message:
        head.append(result.message)
    if any(c.hidden for c in result.checks):
        head.append("Hidden checks (other sizes and seeds) are shown after the due date.")
    if result.file_errors:
        for name, problem in sorted(result.file_errors.items()):
            head.append(f"{name}: {problem}")
    obj: dict[str, Any] = {
        "score": _number(result.score),
        "output": "\n".join(head),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            "submission": result.submission,
            "status": result.status,
            "which": result.which,
            "fingerprint": result.fingerprint,
            "versions": result.versions,
            "max_score": _number(result.max_score),
        },
        "tests": tests,
    }
    if execution_time is not None:
        obj["execution_time"] = _number(round(execution_time, 3))
    problems = validate(obj, points=points)
    if problems:
        raise ResultsError("; ".join(problems))
    return obj


def secrets_json(result: SubmissionResult) -> dict[str, Any]:
    """The instructor-only record of a graded submission: the secret seed and every draw."""
    return {"submission": result.submission, "secret_seed": result.secret_seed,
            "draws": result.draws, "fingerprint": result.fingerprint}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate(obj: Any, *, points: float | None = None) -> list[str]:
    """Problems that would make Gradescope reject ``obj`` (an empty list when it is valid)."""
    p: list[str] = []
    if not isinstance(obj, dict):
        return ["results must be a JSON object"]
    try:
        size = len(json.dumps(obj, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return [f"not serializable as strict JSON: {exc}"]
    if size > MAX_RESULTS_BYTES:
        p.append(f"results are {size} bytes (at most {MAX_RESULTS_BYTES})")
    known = {"score", "execution_time", "output", "output_format", "test_output_format",
             "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
             "leaderboard"}
    for key in set(obj) - known:
        p.append(f"unknown top-level key {key!r}")
    if "score" not in obj and "tests" not in obj:
        p.append("needs a score or tests")
    if "score" in obj and not _is_number(obj["score"]):
        p.append(f"score must be a number, got {obj['score']!r}")
    if "execution_time" in obj and not _is_number(obj["execution_time"]):
        p.append("execution_time must be a number")
    for key in ("output",):
        if key in obj and not isinstance(obj[key], str):
            p.append(f"{key} must be a string")
    for key in ("output_format", "test_output_format", "test_name_format"):
        if key in obj and obj[key] not in FORMATS:
            p.append(f"{key} must be one of {FORMATS}")
    for key in ("visibility", "stdout_visibility"):
        if key in obj and obj[key] not in VISIBILITIES:
            p.append(f"{key} must be one of {VISIBILITIES}")
    if "extra_data" in obj and not isinstance(obj["extra_data"], dict):
        p.append("extra_data must be an object")
    tests = obj.get("tests", [])
    if not isinstance(tests, list):
        return p + ["tests must be an array"]
    total_max = 0.0
    total = 0.0
    scored = True
    for i, t in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(t, dict):
            p.append(f"{where} must be an object")
            continue
        for key in ("score", "max_score"):
            if key in t and not _is_number(t[key]):
                p.append(f"{where}.{key} must be a number, got {t[key]!r}")
        if "score" not in t or "max_score" not in t:
            scored = False
        elif _is_number(t["score"]) and _is_number(t["max_score"]):
            if t["score"] < 0 or t["score"] > t["max_score"] + 1e-9:
                p.append(f"{where}.score {t['score']} is not in [0, max_score]")
            total += t["score"]
            total_max += t["max_score"]
        if "status" in t and t["status"] not in ("passed", "failed"):
            p.append(f"{where}.status must be 'passed' or 'failed'")
        for key in ("name", "output", "number"):
            if key in t and not isinstance(t[key], str):
                p.append(f"{where}.{key} must be a string")
        if "visibility" in t and t["visibility"] not in VISIBILITIES:
            p.append(f"{where}.visibility must be one of {VISIBILITIES}")
        for key in ("name_format", "output_format"):
            if key in t and t[key] not in FORMATS:
                p.append(f"{where}.{key} must be one of {FORMATS}")
        if "tags" in t and not (isinstance(t["tags"], list)
                                and all(isinstance(x, str) for x in t["tags"])):
            p.append(f"{where}.tags must be an array of strings")
        if "extra_data" in t and not isinstance(t["extra_data"], dict):
            p.append(f"{where}.extra_data must be an object")
    if scored and tests:
        if points is not None and abs(total_max - float(points)) > 1e-6:
            p.append(f"the tests' max_score add up to {total_max:g}, but the assignment has "
                     f"{float(points):g} points")
        if "score" in obj and _is_number(obj["score"]) and abs(obj["score"] - total) > 1e-6:
            p.append(f"score {obj['score']} is not the sum of the tests' scores ({total:g})")
    return p


def fallback_json(points: float, message: str) -> dict[str, Any]:
    """results.json for when the grader itself failed: score 0, says it is not the student."""
    obj = {
        "score": 0,
        "output": ("The autograder failed before it could grade this submission. This is a "
                   "problem with the grader, not with your code; your instructor has been told. "
                   "Please contact them.\n\n" + message[:4000]),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"grader_error": message[:4000]},
        "tests": [{"name": "autograder", "number": "1", "score": 0,
                   "max_score": _number(points), "status": "failed",
                   "output": "grader error: " + message[:4000], "visibility": "visible"}],
    }
    return obj


# ------------------------------------------------------------------------------- files


def write_json(path: str | Path, obj: Any, mode: int = 0o644) -> None:
    text = json.dumps(obj, indent=2, allow_nan=False, sort_keys=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def csv_row(result_json: Mapping[str, Any], check_ids: Iterable[str]) -> dict[str, Any]:
    """One gradebook row from a results.json object (so skipped submissions reuse theirs)."""
    extra = result_json.get("extra_data", {})
    row: dict[str, Any] = {"submission": extra.get("submission", ""),
                           "score": result_json.get("score", 0),
                           "max_score": extra.get("max_score", "")}
    per: dict[str, float] = {cid: 0.0 for cid in check_ids}
    for t in result_json.get("tests", []):
        spec_id = t.get("extra_data", {}).get("spec_id")
        if spec_id in per:
            per[spec_id] += float(t.get("score", 0))
    for cid, v in per.items():
        row[cid] = _number(v)
    row["status"] = extra.get("status", "")
    return row


def write_csv(path: str | Path, rows: list[dict[str, Any]], check_ids: list[str]) -> None:
    buf = io.StringIO()
    fields = ["submission", "score", "max_score", *check_ids, "status"]
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in sorted(rows, key=lambda r: str(r.get("submission", ""))):
        w.writerow({k: _csv_safe(v) for k, v in row.items()})
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


def _csv_safe(v: Any) -> Any:
    # A cell starting with = + - @ is a formula in spreadsheets; submission names come from
    # students, so quote such cells.
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):
        return "'" + v
    return v
