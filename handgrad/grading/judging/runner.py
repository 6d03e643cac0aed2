"""The runner shared by ``handgrad check`` (students) and ``handgrad grade`` (instructors).

Public interface::

    run_checks(assignment, submission_dir, *, which="public", secret_seed=None, limits=None,
               progress=None, only=None) -> SubmissionResult

``assignment`` is a :class:`handgrad.grading.authoring.spec.Assignment`; ``submission_dir`` a
folder or a ``.zip`` holding the student's files (see "Layout" below). ``which="public"`` runs the
public draws only (the student's self-check); ``which="all"`` adds the hidden draws, derived from
``secret_seed`` (``os.urandom`` when ``None``). ``limits`` is a :class:`Limits` (defaults:
each check's spec timeout per draw, 1024 MB, ...). ``progress(result, done, total)`` is called
after each :class:`CheckResult` is ready. ``only`` (check ids) runs just those checks; the
whole assignment still defines the files and the reference modules a submission may not
import (with their tuned twins in :mod:`handgrad.fast`, which compute the same answers), so a
check means the same alone as among all. It never raises for anything a
submission does.

For many submissions, build one :class:`Grader` (it computes every expected value once) and
call ``grader.grade(path, name=...)`` per submission; ``grade`` is thread-safe.

Results:

- :class:`CheckResult` ``(check_id, name, status, score, max_score, max_rel_error, worst,
  message, hint, output, visibility, spec_id, hidden, draws)``. ``status`` is one of
  ``STATUSES``: passed, failed, not_implemented, error, timeout, memory, crashed, flagged,
  grader_error, missing. ``message`` is one line for the student; ``worst`` is ``{"gradient",
  "index", "analytic", "expected", "numeric"?, "draw"}`` for the entry with the largest
  relative error; ``output`` is what the student's code printed (capped at 64 KiB).
  With ``which="public"`` there is one result per spec check (``check_id`` = the spec id,
  ``max_score`` = its points, ``visibility`` "visible"). With ``which="all"`` a check with
  hidden draws has two: the public part (the spec id, visible, ``points - hidden share``)
  and the hidden part (``"<id>.hidden"``, ``visibility`` "after_due_date",
  ``points * HIDDEN_SHARE``); the parts of a check sum to its points. A part earns its points
  only when every one of its draws passes (value draws and the property draws of
  :func:`~handgrad.grading.judging.draws.add_properties`: float32, size 1, zero dout,
  repeat). The output printed by the student's code goes with the hidden part then (it may
  show hidden inputs).
- :class:`SubmissionResult` ``(submission, checks, score, max_score, status, which,
  secret_seed, draws, file_errors, message, fingerprint, elapsed, versions)``; ``status`` is
  "ok" (everything passed), "invalid submission", or ``"id=status; ..."`` with one status
  per check that did not pass (:func:`overall_status`); ``draws`` records every draw's seed
  and sizes, for reproducibility (instructor-only: never written into results.json).

Layout: the student file of a check's module is its last component (``affine.py`` for
``handgrad.layers.affine``; :func:`~handgrad.grading.authoring.spec.student_filename`), unique
within an assignment (:func:`~handgrad.grading.authoring.spec.student_files` raises
``SpecError`` otherwise), at the top of the submission or inside one top-level folder. See
:mod:`handgrad.grading.judging.submission`.

How a check runs: one fresh sandboxed worker process per checked function per submission
runs all its draws (public, then hidden), so one function's infinite loop, crash or memory
bomb costs only that function. The draws of one function share a process: that is the
isolation traded for speed (one process per draw would be five times the processes), and it
is harmless, since all of them run the same student code. Workers are forked from a pristine
fork server on Linux (about 30 ms each instead of 0.2-0.5 s for a new interpreter with
NumPy). See :mod:`handgrad.grading.sandbox.process` (isolation),
:mod:`handgrad.grading.sandbox.worker` (what runs inside), :mod:`handgrad.grading.judging.draws`
(expected values, computed here and never sent to a worker),
:mod:`handgrad.grading.judging.interpret` (what a worker's frames and its end mean per draw),
:mod:`handgrad.grading.judging.verdict` (comparisons; a check passes only on a positive verdict)
and :mod:`handgrad.grading.judging.scoring` (the result types, points per part).
"""

from __future__ import annotations

import hashlib
import os
import platform
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from handgrad.fast.twins import TWINS
from handgrad.grading.authoring import solution_free
from handgrad.grading.authoring.spec import Assignment, Check, student_files
from handgrad.grading.judging import draws as draws_mod
from handgrad.grading.judging.interpret import interpret
from handgrad.grading.judging.scoring import CheckResult, SubmissionResult, combine
from handgrad.grading.judging.submission import InvalidSubmission, Loaded, load
from handgrad.grading.judging.verdict import STATUSES, DrawVerdict
from handgrad.grading.sandbox import bwrap, file_policy, process, uids, wire
from handgrad.grading.sandbox.process import Limits

__all__ = ["run_checks", "Grader", "CheckResult", "SubmissionResult", "Limits", "STATUSES",
           "HIDDEN_SHARE", "SandboxError"]

HIDDEN_SHARE = 0.5            # of a check's points, for its hidden draws (which="all")
GRADER_VERSION = "1"          # bump when a change can alter scores (part of fingerprints)
GRADER_MODULES = ("handgrad.gradcheck",)


def reference_modules(assignment: Assignment) -> list[str]:
    """The modules a submission may neither import nor read: the ones the starter stubs and
    their tuned twins (``handgrad.fast.TWINS``)."""
    modules = list(assignment.modules)
    return modules + [TWINS[m] for m in modules if m in TWINS]


class SandboxError(RuntimeError):
    """The sandbox itself does not work on this machine (see :meth:`Grader.self_test`)."""


SANDBOXES = ("bwrap", "weak")


def strong_sandbox_problem() -> str | None:
    """Why the kernel sandbox (bubblewrap, Linux) cannot be used here, or None."""
    import sys

    if not sys.platform.startswith("linux"):
        return "the kernel sandbox needs Linux"
    return bwrap.usable()


def choose_sandbox(allow_weak: bool) -> str:
    """``"bwrap"`` when bubblewrap works here; else ``"weak"`` if ``allow_weak``, else
    :class:`SandboxError` saying why (what ``handgrad grade`` does without
    ``--allow-weak-sandbox``)."""
    problem = strong_sandbox_problem()
    if problem is None:
        return "bwrap"
    if allow_weak:
        return "weak"
    raise SandboxError(f"{problem}; untrusted submissions are graded in bubblewrap's kernel "
                       f"sandbox. Install it, or pass --allow-weak-sandbox to grade with the "
                       f"weaker walls only (uid, limits, Python-level guards)")


def versions() -> dict[str, str]:
    from handgrad import __version__

    return {"handgrad": __version__, "grader": GRADER_VERSION, "numpy": np.__version__,
            "python": platform.python_version()}


def new_secret_seed() -> int:
    return int.from_bytes(os.urandom(8), "little") >> 1


def run_checks(assignment: Assignment, submission_dir: str | Path, *, which: str = "public",
               secret_seed: int | None = None, limits: Limits | None = None,
               progress: Callable[[CheckResult, int, int], Any] | None = None,
               only: Collection[str] | None = None) -> SubmissionResult:
    """Grade one submission (a folder or a .zip); see the module docstring."""
    grader = Grader(assignment, which=which, secret_seed=secret_seed, limits=limits, only=only)
    try:
        return grader.grade(submission_dir, progress=progress)
    finally:
        grader.close()


# ------------------------------------------------------------------------------- the grader


@dataclass
class _Plan:
    check: Check
    filename: str
    draws: list[draws_mod.Draw]
    request: bytes | None          # the worker request (None when no draw is usable)
    usable: list[int]              # indices into draws that the worker runs
    timeout: float


class Grader:
    """Expected values for every draw, computed once; ``grade`` runs one submission."""

    def __init__(self, assignment: Assignment, *, which: str = "public",
                 secret_seed: int | None = None, limits: Limits | None = None,
                 deny_read: Sequence[str | Path] = (), registry: Any = None,
                 python: str | None = None, only: Collection[str] | None = None,
                 sandbox: str | None = None) -> None:
        if which not in ("public", "all"):
            raise ValueError(f"which must be 'public' or 'all', got {which!r}")
        if sandbox is None:
            sandbox = "bwrap" if python is None and strong_sandbox_problem() is None else "weak"
        if sandbox not in SANDBOXES:
            raise ValueError(f"Grader: sandbox must be one of {SANDBOXES}, got {sandbox!r}")
        self.sandbox = sandbox
        if only is not None:
            unknown = sorted(set(only) - {c.id for c in assignment.checks})
            if unknown:
                raise ValueError(f"Grader: only names unknown check ids {unknown}")
        self.assignment = assignment
        self.which = which
        self.secret_seed = (secret_seed if secret_seed is not None else new_secret_seed()) \
            if which == "all" else secret_seed
        self.limits = limits or Limits()
        self.python = python
        self.files = student_files(assignment)          # raises SpecError on clashes
        self.registry = registry
        self._ws_lock = threading.Lock()
        self._versions = versions()
        self._workspace: process.Workspace | None = process.Workspace()
        self._lib: Path | None = None
        if sandbox == "bwrap":
            # what workers import: handgrad without any reference solution
            self._lib = solution_free.build_sandbox(self._workspace.path / "lib" / "handgrad")
        files = file_policy.policy(
            reference_modules(assignment),
            deny=[*deny_read, assignment.folder, self._workspace.path])
        self.protected = list(files.protected)
        # the worker sees the solution-free copies of the reference modules at other paths;
        # opening one is still an attempt to read the reference, and flagged
        self._worker_protected = list(self.protected)
        if sandbox == "bwrap":
            package = file_policy.installed_package()
            self._worker_protected = [
                f"{bwrap.LIB}/handgrad/{Path(p).relative_to(package).as_posix()}"
                for p in self.protected if Path(p).is_relative_to(package)]
        self.deny_read = list(files.deny)
        self.allow_read = list(files.allow)
        self.plans: list[_Plan] = []
        for check in assignment.checks:
            if only is not None and check.id not in only:
                continue
            draws = draws_mod.plan(check, which=which, secret_seed=self.secret_seed)
            draws = draws_mod.add_properties(draws, check, registry=registry)
            draws_mod.fill(draws, check, registry=registry)
            self.plans.append(self._make_plan(check, draws))

    # --- setup
    def _limits_payload(self, timeout: float, ndraws: int) -> dict[str, Any]:
        lim = self.limits
        cpu = lim.cpu_seconds or (timeout * (ndraws + 1) + lim.startup_seconds + 5)
        processes = lim.processes
        if not uids.running_as_root():
            processes = max(processes, 16) + uids.user_process_count()
        return {"memory_bytes": int(lim.memory_mb) << 20, "cpu_seconds": int(cpu + 0.999),
                "file_size_bytes": int(lim.file_size_mb) << 20, "open_files": lim.open_files,
                "processes": processes}

    def _make_plan(self, check: Check, draws: list[draws_mod.Draw]) -> _Plan:
        filename = self.files[check.module]
        timeout = float(self.limits.timeout or check.timeout)
        usable = [i for i, d in enumerate(draws) if d.grader_error is None]
        request = None
        if usable:
            payload = []
            for i in usable:
                d = draws[i]
                item = {"args": d.args, "kwargs": d.kwargs}
                if check.kind == "backward":
                    item["dout"] = d.dout
                payload.append(item)
            node, blobs = wire.encode(payload)
            forward, outputs = (self._forward_of(check) if check.kind == "backward"
                                else (None, 1))
            header = {
                "type": "request", "kind": check.kind, "module": filename[:-3],
                "function": check.function, "forward": forward, "outputs": outputs,
                "reference_modules": reference_modules(self.assignment),
                "grader_modules": list(GRADER_MODULES),
                "protected_files": self._worker_protected,
                "deny_read": self.deny_read, "allow_read": self.allow_read,
                "limits": self._limits_payload(timeout, len(usable)),
                "parent_pid": os.getpid(),
                "seccomp": "required" if self.sandbox == "bwrap" else "try",
                "draws": node["items"],
            }
            request = wire.frame(header, blobs)
        return _Plan(check, filename, draws, request, usable, timeout)

    def _forward_of(self, check: Check) -> tuple[str, int]:
        """The forward's name and its number of outputs (besides the cache)."""
        try:
            op = draws_mod.registry_op(check, self.registry)
        except draws_mod.GraderError:
            return "forward", 1
        return op.forward, len(op.outputs)

    def workspace(self) -> process.Workspace:
        with self._ws_lock:
            if self._workspace is None:
                raise RuntimeError("this Grader is closed")
            return self._workspace

    def close(self) -> None:
        """Remove the grader's temporary folders."""
        with self._ws_lock:
            if self._workspace is not None:
                self._workspace.cleanup()
                self._workspace = None

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fingerprint(self) -> str:
        """What the results depend on besides the submission: assignment, seed, limits, code."""
        h = hashlib.sha256()
        toml = self.assignment.folder / "assignment.toml"
        h.update(toml.read_bytes() if toml.is_file() else repr(self.assignment).encode())
        for path in self.protected:
            try:
                h.update(Path(path).read_bytes())
            except OSError:
                pass
        h.update(repr((self.which, self.secret_seed, self.limits,
                       sorted(self._versions.items()))).encode())
        return h.hexdigest()

    def submission_fingerprint(self, digest: str) -> str:
        return hashlib.sha256(f"{self.fingerprint}:{digest}".encode()).hexdigest()

    def draw_record(self) -> dict[str, list[dict[str, Any]]]:
        return {p.check.id: [d.secret() for d in p.draws] for p in self.plans}

    def grader_errors(self) -> list[str]:
        """Problems found while computing expected values (each costs students points)."""
        out = []
        for p in self.plans:
            for d in p.draws:
                if d.grader_error:
                    out.append(f"{p.check.id} {d.label}: {d.grader_error}")
        return out

    # --- sandbox self-test
    def self_test(self) -> None:
        """Run a trivial worker; raise :class:`SandboxError` if the sandbox cannot work here."""
        header: dict[str, Any] = {
            "type": "request", "kind": "canary", "module": "canary", "function": None,
            "limits": self._limits_payload(30.0, 1), "parent_pid": os.getpid(),
            "seccomp": "required" if self.sandbox == "bwrap" else "try", "draws": []}
        session = self._session({})
        try:
            run = process.run_worker(wire.frame(header), {}, workspace=self.workspace(),
                                     limits=self.limits, first_deadline=60.0,
                                     step_timeout=30.0, python=self.python, draws=1,
                                     session=session)
        finally:
            if session is not None:
                session.close()
        ok = False
        for h, blobs in run.frames:
            if h.get("type") == "draw":
                try:
                    value = wire.decode(h.get("value"), blobs)
                except wire.WireError:
                    break
                ok = isinstance(value, np.ndarray) and value.shape == (2, 3) and \
                    np.array_equal(value, np.arange(6.0).reshape(2, 3))
        if not ok:
            detail = run.spawn_error or run.protocol_error or run.output.strip()[-600:] or \
                f"exit code {run.returncode}"
            who = f" as uid {run.uid}" if run.uid is not None else ""
            raise SandboxError(f"the grading sandbox ({self.sandbox}) does not work on this "
                               f"machine{who}: {detail}")

    def _session(self, files: dict[str, bytes]) -> process.Session | None:
        if self.sandbox != "bwrap":
            return None
        assert self._lib is not None
        return process.Session(files, lib=self._lib, limits=self.limits)

    # --- grading
    def grade(self, submission: str | Path, *, name: str | None = None,
              progress: Callable[[CheckResult, int, int], Any] | None = None
              ) -> SubmissionResult:
        """Grade one submission; never raises for anything the submission does."""
        started = time.monotonic()
        path = Path(submission)
        name = name or (path.stem if path.suffix.lower() == ".zip" else path.name)
        total = sum(2 if self._has_hidden(p) else 1 for p in self.plans)
        done = 0
        results: list[CheckResult] = []
        file_errors: dict[str, str] = {}
        try:
            loaded = load(path, sorted(set(self.files.values())))
        except InvalidSubmission as exc:
            message = f"invalid submission: {exc}"
            for plan in self.plans:
                for res in self._uniform(plan, "missing", message):
                    results.append(res)
                    done += 1
                    _call(progress, res, done, total)
            return self._finish(name, results, file_errors, message, "invalid submission",
                                self.submission_fingerprint("invalid:" + str(exc)), started)
        session = None
        try:
            session = self._session(dict(loaded.files))
        except Exception as exc:  # noqa: BLE001 - reported on every check, visibly
            session_error: str | None = f"grader error: the sandbox did not start: {exc}"
        else:
            session_error = None
        try:
            for plan in self.plans:
                try:
                    if session_error:
                        parts = self._uniform(plan, "grader_error", session_error)
                    else:
                        parts = self._grade_check(plan, loaded, file_errors, session)
                except Exception as exc:  # a bug here must cost only this check, visibly
                    parts = self._uniform(plan, "grader_error",
                                          f"grader error: {type(exc).__name__}: {exc}")
                for res in parts:
                    results.append(res)
                    done += 1
                    _call(progress, res, done, total)
        finally:
            if session is not None:
                session.close()
        return self._finish(name, results, file_errors, "", None,
                            self.submission_fingerprint(loaded.digest), started)

    def _has_hidden(self, plan: _Plan) -> bool:
        return any(d.hidden for d in plan.draws)

    def _finish(self, name: str, results: list[CheckResult], file_errors: dict[str, str],
                message: str, status: str | None, fingerprint: str,
                started: float) -> SubmissionResult:
        score = float(sum(r.score for r in results))
        max_score = float(sum(r.max_score for r in results))
        if status is None:
            status = overall_status(results)
        if not message and file_errors:
            message = "; ".join(f"{k}: {v}" for k, v in sorted(file_errors.items()))
        return SubmissionResult(
            submission=name, checks=results, score=score, max_score=max_score, status=status,
            which=self.which, secret_seed=self.secret_seed if self.which == "all" else None,
            draws=self.draw_record(), file_errors=file_errors, message=message,
            fingerprint=fingerprint, elapsed=time.monotonic() - started,
            versions=dict(self._versions))

    def _shares(self, plan: _Plan) -> tuple[float, float]:
        points = float(plan.check.points)
        if self.which == "public":
            return points, 0.0
        if not self._has_hidden(plan):
            return points, 0.0
        hidden = points * HIDDEN_SHARE
        return points - hidden, hidden

    def _uniform(self, plan: _Plan, status: str, message: str) -> list[CheckResult]:
        verdicts = [DrawVerdict(status, message) for _ in plan.draws]
        for v in verdicts:
            v.notes.append("general")
        return self._aggregate(plan, verdicts, "")

    def _grade_check(self, plan: _Plan, loaded: Loaded, file_errors: dict[str, str],
                     session: process.Session | None = None) -> list[CheckResult]:
        if plan.filename not in loaded.files:
            message = f"{plan.filename} not found in the submission"
            file_errors.setdefault(plan.filename, "not found")
            return self._uniform(plan, "missing", message)
        verdicts: list[DrawVerdict | None] = [None] * len(plan.draws)
        for i, d in enumerate(plan.draws):
            if d.grader_error:
                verdicts[i] = DrawVerdict("grader_error", f"grader error: {d.grader_error}")
        output = ""
        if plan.request is not None:
            run = process.run_worker(
                plan.request, {plan.filename: loaded.files[plan.filename],
                               **{n: b for n, b in loaded.files.items() if n != plan.filename}},
                workspace=self.workspace(), limits=self.limits,
                first_deadline=self.limits.startup_seconds + plan.timeout,
                step_timeout=plan.timeout, python=self.python, draws=len(plan.usable),
                session=session)
            output = run.output
            got = interpret(run, check=plan.check, filename=plan.filename,
                            draws=[plan.draws[i] for i in plan.usable], timeout=plan.timeout,
                            limits=self.limits, file_errors=file_errors)
            for i, v in zip(plan.usable, got, strict=True):
                verdicts[i] = v
        return self._aggregate(plan, [v for v in verdicts if v is not None], output)

    # --- aggregation
    def _aggregate(self, plan: _Plan, verdicts: list[DrawVerdict],
                   output: str) -> list[CheckResult]:
        public_points, hidden_points = self._shares(plan)
        groups = [(False, public_points)]
        if hidden_points or (self.which == "all" and self._has_hidden(plan)):
            groups.append((True, hidden_points))
        results = []
        for hidden, points in groups:
            pairs = [(d, v) for d, v in zip(plan.draws, verdicts, strict=True)
                     if d.hidden == hidden]
            res = combine(plan.check, plan.filename, pairs, hidden, points)
            attach = (hidden or len(groups) == 1)
            res.output = output if attach else ""
            results.append(res)
        return results


def overall_status(results: Sequence[CheckResult]) -> str:
    """``"ok"``, or ``"id=status; ..."`` with one status per check (its public part's when
    both parts failed, else the failing part's), never one per part."""
    first: dict[str, str] = {}
    for r in results:
        if r.status != "passed":
            first.setdefault(r.spec_id or r.check_id, r.status)
    return "ok" if not first else "; ".join(f"{k}={v}" for k, v in first.items())


def _call(progress: Callable[..., Any] | None, *args: Any) -> None:
    if progress is not None:
        progress(*args)

