"""``handgrad check [DIR] [NAME ...]``: a student checks the work in a starter folder.

Reads ``DIR/assignment.toml`` (written by ``handgrad assign``; DIR defaults to the current
folder), runs the grader's own runner on the folder with the public checks (all of them, or
those the NAMEs select: a check id, a file or module such as ``relu``, a function such as
``rnn.step_backward``; see :mod:`handgrad.grading.judging.selection`), and prints the table of
:mod:`handgrad.grading.judging.table`: one row per check with its status, the largest relative
error, the worst entry and the points, and under each problem a one-line hint. The first argument is
the folder when it is a folder, otherwise a name. Colors only on a terminal (and never with
``NO_COLOR`` set). The exit code is 0 only when every selected check passes, 1 when one does
not, 2 when nothing could be checked. :func:`handgrad.grading.check` does the same from
Python.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("targets", nargs="*", metavar="[DIR] [NAME ...]",
                        help="the starter folder with your files (default: the current "
                             "folder), then the checks to run (default: all), by check id, "
                             "file, module or function, e.g. relu or rnn.step_backward")
    parser.add_argument("--no-color", action="store_true", help="never use colors")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from handgrad.grading.authoring import spec
    from handgrad.grading.judging import selfcheck, table
    from handgrad.grading.judging.selection import UnknownCheckError, select

    targets = list(args.targets)
    folder = Path(".")
    if targets and Path(targets[0]).is_dir():
        folder = Path(targets.pop(0))
    elif targets and not (folder / "assignment.toml").is_file() and (
            os.sep in targets[0] or Path(targets[0]).exists()):
        print(f"handgrad check: {targets[0]} is not a folder; give the starter folder that "
              f"`handgrad assign` wrote, or run this inside it", file=sys.stderr)
        return 2
    out = sys.stdout
    color = _use_color(out) and not args.no_color
    try:
        assignment = selfcheck.load_starter(folder, caller="handgrad check")
        select(assignment.checks, targets, caller="handgrad check")
    except (FileNotFoundError, spec.SpecError, UnknownCheckError) as exc:
        message = str(exc)
        prefix = "" if message.startswith("handgrad check:") else "handgrad check: "
        print(prefix + message, file=sys.stderr)
        return 2
    by_id = {c.id: c for c in assignment.checks}
    print(selfcheck.header(assignment, folder), file=out)
    try:
        result = selfcheck.run_public(assignment, folder, targets, caller="handgrad check",
                                      progress=_progress(out, by_id) if out.isatty() else None)
    except KeyboardInterrupt:
        raise
    except ImportError as exc:
        _clear_line(out)
        print(f"handgrad check: the checker is not available in this installation: {exc}",
              file=sys.stderr)
        return 2
    except Exception as exc:  # the runner failed: one line, never a traceback
        _clear_line(out)
        print(f"handgrad check: the checker failed: {table.one_line(exc)}", file=sys.stderr)
        return 2
    _clear_line(out)
    print(table.render(result, by_id, color=color), file=out)
    checks = list(getattr(result, "checks", []))
    ok = bool(checks) and all(r.status == "passed" for r in checks)
    return 0 if ok else 1


def _progress(out: Any, by_id: dict[str, Any]):
    """Show ``checked k of n: function`` on one rewritten line (terminals only)."""
    from handgrad.grading.judging.table import display_names

    names = display_names(by_id)

    def progress(result: Any, done: int, total: int) -> None:
        name = names.get(getattr(result, "check_id", ""), getattr(result, "name", ""))
        out.write(f"\r\033[K  checked {done} of {total}: {name}")
        out.flush()
    return progress


def _clear_line(out: Any) -> None:
    if out.isatty():
        out.write("\r\033[K")
        out.flush()


def _use_color(out: Any) -> bool:
    return (hasattr(out, "isatty") and out.isatty() and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb")
