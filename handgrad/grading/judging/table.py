"""The student's table of check results, shared by ``handgrad check`` and
:func:`handgrad.grading.check`.

:func:`render` turns a :class:`~handgrad.grading.judging.results.SubmissionResult` into the table:
one row per check (the function, its status, the largest relative error, the worst entry, the
points), under each problem its one-line message, a hint and the first lines the code printed,
and a total line. No traceback wall: an exception shows as its one-line message. Colors only
when asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

STATUS_LABELS = {
    "passed": "passed",
    "failed": "failed",
    "not_implemented": "not implemented",
    "error": "error",
    "timeout": "timed out",
    "memory": "out of memory",
    "crashed": "crashed",
    "flagged": "flagged",
    "grader_error": "checker error",
    "missing": "missing",
}

STATUS_HINTS = {
    "not_implemented": "replace the '# YOUR CODE HERE' line and the raise under it with your code",
    "timeout": "it ran out of time: look for an endless loop, or a Python loop over examples "
               "where a vectorized NumPy operation would do",
    "memory": "it ran out of memory: look for a huge temporary array, e.g. an (N, N) or "
              "(N, D, M) intermediate where a matrix product would do",
    "crashed": "the process running your code died; run your function by hand on small inputs",
    "flagged": "your code did something the checks do not allow (see the message); write the "
               "function yourself with NumPy",
    "missing": "the function is not in your file: keep the file name and the function name "
               "of the starter",
    "grader_error": "the checker itself failed; this is not your fault: report it with the "
                    "message above",
    "error": "your code raised an exception (above); call the function by hand on small "
             "inputs to reproduce it",
}

PRINTED_LINES = 5

GREEN, RED, YELLOW, DIM, BOLD, RESET = ("\033[32m", "\033[31m", "\033[33m", "\033[2m",
                                        "\033[1m", "\033[0m")


def render(result: Any, by_id: dict[str, Any], *, color: bool = False) -> str:
    """The table for a ``SubmissionResult``, with hints, and the total line."""
    rows = []
    notes: dict[int, list[str]] = {}
    names = display_names(by_id)
    for i, r in enumerate(result.checks):
        check = by_id.get(r.check_id)
        name = names.get(r.check_id) or function_name(check, r)
        status = r.status
        label = STATUS_LABELS.get(status, status.replace("_", " "))
        err = error_text(getattr(r, "max_rel_error", None))
        worst = worst_text(getattr(r, "worst", None)) if status == "failed" else ""
        points = f"{number(r.score)}/{number(r.max_score)}"
        rows.append((name, label, err, worst, points, status))
        if status != "passed":
            notes[i] = explain(r)
    headers = ("function", "status", "max rel error", "worst entry (yours vs expected)",
               "points")
    widths = [max(len(h), *(len(row[k]) for row in rows)) if rows else len(h)
              for k, h in enumerate(headers)]
    widths[3] = min(widths[3], 48)
    lines = [""]
    if getattr(result, "status", "") == "invalid submission" and getattr(result, "message", ""):
        lines += [f"  {one_line(result.message)}", ""]
    lines += ["  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
              "  " + "  ".join("-" * w for w in widths)]
    for i, (name, label, err, worst, points, status) in enumerate(rows):
        cells = [name.ljust(widths[0]), _paint(label.ljust(widths[1]), status, color),
                 err.ljust(widths[2]), _clip(worst, widths[3]).ljust(widths[3]),
                 points.rjust(widths[4])]
        lines.append("  " + "  ".join(cells).rstrip())
        for note in notes.get(i, []):
            lines.append("      " + (f"{DIM}{note}{RESET}" if color else note))
    checks = list(result.checks)
    passed = sum(r.status == "passed" for r in checks)
    counts: dict[str, int] = {}
    for r in checks:
        if r.status != "passed":
            label = STATUS_LABELS.get(r.status, r.status)
            counts[label] = counts.get(label, 0) + 1
    summary = ", ".join([f"{passed} passed"] + [f"{n} {label}" for label, n in counts.items()])
    total = (f"total: {number(result.score)}/{number(result.max_score)} points "
             f"({summary})")
    if color:
        total = f"{BOLD}{GREEN if passed == len(checks) else RED}{total}{RESET}"
    lines += ["", "  " + total]
    if passed == len(checks) and checks:
        lines.append("  All public checks pass. The grader also runs hidden checks at other "
                     "sizes and seeds.")
    return "\n".join(lines)


def function_name(check: Any, r: Any) -> str:
    """``affine.backward`` from a check's target ``handgrad.layers.affine:backward``."""
    if check is not None:
        module, function = check.target.split(":", 1)
        return f"{module.rsplit('.', 1)[-1]}.{function}"
    return getattr(r, "name", None) or r.check_id


def explain(r: Any) -> list[str]:
    """The lines under a row that did not pass: the message, a hint, what the code printed."""
    out = []
    message = one_line(getattr(r, "message", "") or "")
    if message:
        out.append(message)
    hint = hint_of(r)
    if hint:
        out.append(f"hint: {one_line(hint)}")
    printed = [line.rstrip() for line in str(getattr(r, "output", "") or "").splitlines()
               if line.strip()]
    if printed:
        more = f" (first {PRINTED_LINES} of {len(printed)} lines)" \
            if len(printed) > PRINTED_LINES else ""
        out.append(f"your code printed{more}:")
        out.extend(f"  | {_clip(line, 100)}" for line in printed[:PRINTED_LINES])
    return out


def hint_of(r: Any) -> str | None:
    """The hint shown under a row: the runner's, else one from the mistake's pattern, else
    the status's general advice (None for a pass)."""
    if r.status == "passed":
        return None
    hint = getattr(r, "hint", None)
    if not hint and r.status in ("failed", "error"):
        hint = pattern_hint(r)
    return hint or STATUS_HINTS.get(r.status)


def pattern_hint(r: Any) -> str | None:
    """A hint from the kind of the mistake (shape, dtype, NaN), when the runner gave none."""
    message = (getattr(r, "message", "") or "").lower()
    if "shape" in message:
        if "transpos" in message:
            return "your gradient looks transposed: check the order of the matrix product"
        return ("wrong shape: every gradient has exactly the shape of its input; check which "
                "matrix is transposed and which axis you sum over")
    if "nan" in message or "inf" in message.split():
        return ("your gradient has NaN or inf: reuse what forward cached instead of "
                "exponentiating or dividing again")
    if "dtype" in message:
        return ("wrong dtype: a float32 input needs a float32 gradient; avoid float64 "
                "temporaries and Python-float arrays")
    err = getattr(r, "max_rel_error", None)
    if isinstance(err, float) and math.isnan(err):
        return ("your gradient has NaN: reuse what forward cached instead of exponentiating "
                "or dividing again")
    # Nothing is guessed from one entry's ratio: a pattern of values is named only by the
    # runner, which sees the whole gradient (handgrad.gradcheck.hints).
    return None


def display_names(by_id: dict[str, Any]) -> dict[str, str]:
    """Display names of checks: ``affine.backward``, qualified when a function has several."""
    base = {cid: function_name(c, None) for cid, c in by_id.items()}
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name] = counts.get(name, 0) + 1
    return {cid: name if counts[name] == 1 else f"{name} ({by_id[cid].op or cid})"
            for cid, name in base.items()}


def _paint(text: str, status: str, color: bool) -> str:
    if not color:
        return text
    code = GREEN if status == "passed" else YELLOW if status == "not_implemented" else RED
    return f"{code}{text}{RESET}"


def error_text(err: Any) -> str:
    if err is None:
        return "-"
    try:
        value = float(err)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(value):
        return "nan"
    return f"{value:.1e}"


def worst_parts(worst: Any) -> tuple[str, Any, Any] | None:
    """``(where, yours, expected)`` from the runner's worst entry, a dict or a triple."""
    if not worst:
        return None
    if isinstance(worst, dict):
        name = str(worst.get("gradient", "") or "")
        index = worst.get("index")
        where = name + (_fmt_index(index) if index not in (None, [], ()) else "")
        return where, worst.get("analytic"), worst.get("expected", worst.get("numeric"))
    try:
        index, yours, expected = worst
    except (TypeError, ValueError):
        return None
    return _fmt_index(index), yours, expected


def worst_text(worst: Any) -> str:
    parts = worst_parts(worst)
    if parts is None:
        return ""
    where, yours, expected = parts
    return f"{where}: {_g(yours)} vs {_g(expected)}" if where else f"{_g(yours)} vs {_g(expected)}"


def _fmt_index(index: Any) -> str:
    if isinstance(index, str):
        return index
    if isinstance(index, Sequence):
        return f"[{', '.join(str(i) for i in index)}]"
    return f"[{index}]"


def _g(value: Any) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def number(value: Any) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def one_line(value: Any) -> str:
    text = str(value).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return shorten(line, 320)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a space, never inside a word."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 4]
    head, space, _ = cut.rpartition(" ")
    return (head if space and head else cut).rstrip() + " ..."
