"""What one worker run means for each of its draws.

:func:`interpret` reads the frames a worker sent (:mod:`handgrad.grading.sandbox.wire`; nothing in
them is trusted): a ``ready`` or ``import_failed`` frame, one ``draw`` frame per draw, then
``done``. Each returned draw is judged against the grader's expected values
(:mod:`handgrad.grading.judging.verdict`); a draw without a result gets a verdict that says why,
from how the worker ended: time limit, CPU limit, file-size limit, a signal (out of memory), an exit
from student code, an import that failed, or malformed data on the result channel. Used by
:class:`handgrad.grading.judging.runner.Grader` for every check of every submission.
"""

from __future__ import annotations

import signal

from handgrad.grading.authoring.spec import Check
from handgrad.grading.judging.draws import Draw
from handgrad.grading.judging.verdict import DrawVerdict, Report, judge_backward, judge_function
from handgrad.grading.sandbox import wire
from handgrad.grading.sandbox.process import Limits, WorkerRun


def interpret(run: WorkerRun, *, check: Check, filename: str, draws: list[Draw],
              timeout: float, limits: Limits, file_errors: dict[str, str]
              ) -> list[DrawVerdict]:
    """One verdict per draw the worker was asked to run (``draws``, in request order).

    ``filename`` is the student's file, ``timeout`` the per-draw wall-clock limit; problems
    with the file itself (it does not compile, its import fails) are added to ``file_errors``.
    """
    n = len(draws)
    reports: dict[int, Report] = {}
    problem: str | None = run.protocol_error and \
        f"the worker sent malformed data on its result channel ({run.protocol_error})"
    ready = False
    import_failed: dict | None = None
    worker_error: str | None = None
    for header, blobs in run.frames:
        if problem:
            break
        t = header.get("type")
        if t == "ready" and not ready and import_failed is None:
            ready = True
        elif t == "import_failed" and not ready and import_failed is None:
            import_failed = header
        elif t == "draw" and ready:
            idx = header.get("index")
            if type(idx) is not int or not 0 <= idx < n or idx in reports:
                problem = "the worker sent an unexpected or repeated result"
                break
            try:
                reports[idx] = parse_report(header, blobs)
            except (wire.WireError, TypeError, ValueError) as exc:
                problem = f"the worker sent malformed data ({exc})"
                break
        elif t == "done":
            pass  # the worker finished; draws without a result are explained below
        elif t == "worker_error":
            worker_error = str(header.get("message", ""))[:300]
        else:
            problem = f"the worker sent an unexpected message ({str(t)[:40]!r})"
            break
    if run.spawn_error:
        return [DrawVerdict("grader_error", f"grader error: {run.spawn_error}")] * n
    if import_failed is not None:
        return [import_verdict(filename, import_failed, file_errors)] * n
    judge = judge_backward if check.kind == "backward" else judge_function
    out: list[DrawVerdict] = []
    ended: DrawVerdict | None = None
    for i, draw in enumerate(draws):
        if i in reports and ended is None:
            try:
                out.append(judge(draw, reports[i], check.tolerance, check.function))
            except Exception as exc:  # the comparison itself failed: fail closed
                out.append(DrawVerdict("error", f"the returned data could not be "
                                       f"compared: {type(exc).__name__}: {exc}"))
            continue
        if ended is None:
            ended = end_verdict(run, filename, timeout, limits, ready, problem, worker_error,
                                draw)
            out.append(ended)
        else:
            out.append(DrawVerdict(ended.status, f"not run: {ended.message}",
                                   notes=["not run"]))
    return out


def import_verdict(filename: str, header: dict, file_errors: dict[str, str]) -> DrawVerdict:
    """The verdict of every draw when importing the student's file failed."""
    status = header.get("status")
    message = str(header.get("message", ""))[:400]
    flags = header.get("flags")
    flags = [str(f)[:200] for f in flags][:10] if isinstance(flags, list) else []
    fname = filename
    if flags:
        v = DrawVerdict("flagged", "flagged for review, scored 0: " + "; ".join(flags))
    elif status == "missing":
        v = DrawVerdict("missing", message or f"{fname}: not found")
    elif status == "syntax":
        file_errors[fname] = f"does not compile: {message}"
        v = DrawVerdict("error", f"{fname} does not compile: {message}")
    elif status == "not_implemented":
        v = DrawVerdict("not_implemented", f"importing {fname} raised "
                        f"NotImplementedError: {message}")
    elif status == "memory":
        v = DrawVerdict("memory", f"memory limit exceeded while importing {fname}")
    else:
        file_errors[fname] = f"importing it failed: {message}"
        v = DrawVerdict("error", f"importing {fname} failed: {message}")
    v.notes.append("general")
    return v


def end_verdict(run: WorkerRun, filename: str, timeout: float, limits: Limits, ready: bool,
                problem: str | None, worker_error: str | None, draw: Draw) -> DrawVerdict:
    """Why a draw has no result: how the worker ended."""
    fname = filename
    where = f"while importing {fname}" if not ready else f"in {draw.label}"
    lim = limits
    if problem:
        return DrawVerdict("error", f"{problem} {where}")
    if run.timed_out:
        budget = timeout + (0 if ready else lim.startup_seconds)
        return DrawVerdict("timeout", f"time limit exceeded ({budget:g} s) {where}; the "
                           f"other functions were still graded")
    sig = run.killed_by
    if sig == signal.SIGXCPU:
        return DrawVerdict("timeout", f"CPU time limit exceeded {where}")
    if sig == getattr(signal, "SIGXFSZ", None):
        return DrawVerdict("error", f"file size limit ({lim.file_size_mb} MB) exceeded "
                           f"{where}")
    if sig is not None:
        try:
            signame = signal.Signals(sig).name
        except ValueError:
            signame = f"signal {sig}"
        extra = " (out of memory?)" if sig == signal.SIGKILL else ""
        return DrawVerdict("crashed", f"crashed: the worker was killed by {signame}{extra} "
                           f"{where}")
    if worker_error and not ready:
        return DrawVerdict("grader_error", f"grader error: the worker failed before "
                           f"running any student code: {worker_error}")
    if worker_error:
        return DrawVerdict("error", f"the worker failed {where}: {worker_error}")
    code = run.returncode
    return DrawVerdict("crashed", f"crashed: the worker exited with code {code} {where} "
                       f"before returning a result (sys.exit or os._exit in your code?)")


def parse_report(header: dict, blobs: list[bytes]) -> Report:
    """The :class:`Report` of one ``draw`` frame, checked field by field."""
    status = header.get("status")
    if status not in ("ok", "not_implemented", "error", "memory"):
        raise ValueError(f"unknown draw status {str(status)[:40]!r}")
    flags = header.get("flags", [])
    if not isinstance(flags, list):
        raise ValueError("bad flags")
    calls = header.get("forward_calls", 0)
    if type(calls) is not int:
        raise ValueError("bad forward call count")
    mutated = header.get("cache_mutated", [])
    if not isinstance(mutated, list):
        raise ValueError("bad cache report")
    data = None
    if status == "ok":
        data = wire.decode(header.get("data"), blobs)
    return Report(status=status, message=str(header.get("message", ""))[:400],
                  where=str(header.get("where", ""))[:20], data=data,
                  flags=[str(f)[:200] for f in flags][:10], forward_calls=calls,
                  cache_mutated=[str(m)[:100] for m in mutated][:5])
