"""Grade a folder of submissions into ``results.json`` files, ``grades.csv`` and a manifest.

:func:`grade_batch` is what ``handgrad grade ASSIGNMENT SUBMISSIONS --out RESULTS`` runs.
Every folder and ``.zip`` directly under SUBMISSIONS is one submission. Each is graded with the
public and hidden checks (hidden draws from a secret seed: ``seed``, or the one recorded in
``RESULTS/manifest.json`` by an earlier run, or a fresh random one), in parallel over
``workers`` submissions; every checked function runs in its own sandboxed worker process
(see :mod:`handgrad.grading.judging.runner`). Written, each atomically:

- ``RESULTS/<submission>/results.json`` (Gradescope's format), as each submission finishes;
- ``RESULTS/grades.csv``: submission, score, max_score, one column per check (its points,
  public and hidden parts together) and a status column ("ok", "invalid submission", or the
  checks that did not pass with their status);
- ``RESULTS/manifest.json`` (mode 0600): the secret seed, every draw, the limits, versions and
  each submission's fingerprint.

Re-running is idempotent and resumable: a submission whose results.json carries the same
fingerprint (its files, the assignment, the seed, the limits, the grader version) is not
graded again; a changed one is. ``force=True`` regrades everything. A result with a grader
error never replaces an earlier results.json. It prints a summary table, and problems to
standard error. Returns the exit status of ``handgrad grade``: 0 when every submission was
graded, 1 when some check had a grader error, 2 when the grader could not run at all.
"""

from __future__ import annotations

import json
import stat
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from handgrad._files import atomic_write_bytes
from handgrad.grading.authoring import spec
from handgrad.grading.judging import results, runner
from handgrad.grading.judging.submission import InvalidSubmission, discover, load
from handgrad.grading.sandbox.process import Limits
from handgrad.grading.sandbox.uids import running_as_root

RESERVED = {"grades.csv", "manifest.json"}


def grade_batch(assignment_path: str, submissions: str, out: str, *, workers: int = 2,
                limits: Limits | None = None, seed: int | None = None, force: bool = False,
                progress: bool = True, allow_weak_sandbox: bool = False) -> int:
    """Grade every submission under ``submissions`` into ``out``; see the module docstring.

    ``limits`` is a :class:`~handgrad.grading.sandbox.process.Limits` (None: the defaults);
    ``progress`` shows a progress bar on standard error. Without bubblewrap (or where it
    cannot work) nothing is graded unless ``allow_weak_sandbox``.
    """
    started = time.monotonic()
    try:
        sandbox = runner.choose_sandbox(allow_weak_sandbox)
    except runner.SandboxError as exc:
        print(f"handgrad grade: {exc}", file=sys.stderr)
        return 2
    if sandbox == "weak":
        print("handgrad grade: warning: grading without the kernel sandbox "
              "(--allow-weak-sandbox)", file=sys.stderr)
    try:
        assignment = spec.load(assignment_path)
    except spec.SpecError as exc:
        print(f"handgrad grade: {exc}", file=sys.stderr)
        return 2
    subs_dir = Path(submissions)
    if not subs_dir.is_dir():
        print(f"handgrad grade: {subs_dir} is not a folder", file=sys.stderr)
        return 2
    out_dir = Path(out)
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        out_dir.chmod(0o700)  # results (and the secret seed) are for the grader's user only
    for folder in (subs_dir, out_dir):
        if sandbox == "weak" and _open_to_others(folder):
            print(f"handgrad grade: warning: {folder} can be read by other users; workers "
                  f"are kept out by their Python-level guards only, so make it private "
                  f"(chmod 700 it or a parent folder)", file=sys.stderr)
    manifest_path = out_dir / "manifest.json"
    old_manifest = results.read_json(manifest_path) or {}
    if seed is None:
        old = old_manifest.get("secret_seed")
        seed = old if isinstance(old, int) and not isinstance(old, bool) \
            and old_manifest.get("assignment") == assignment.name else None
    seed_source = "--seed" if seed is not None else "random"
    try:
        grader = runner.Grader(assignment, which="all", secret_seed=seed, limits=limits,
                               deny_read=[subs_dir, out_dir], sandbox=sandbox)
    except spec.SpecError as exc:
        print(f"handgrad grade: {exc}", file=sys.stderr)
        return 2
    try:
        for problem in grader.grader_errors():
            print(f"handgrad grade: grader error (students lose these points until it is "
                  f"fixed): {problem}", file=sys.stderr)
        try:
            grader.self_test()
        except runner.SandboxError as exc:
            print(f"handgrad grade: {exc}", file=sys.stderr)
            return 2
        check_ids = [c.id for c in assignment.checks]
        points = assignment.points
        found = discover(subs_dir)
        todo, rows, skipped = [], {}, 0
        fingerprints: dict[str, str] = {}
        for name, path in found:
            if name in RESERVED:
                name = f"{name}-submission"
            try:
                digest = load(path, sorted(set(grader.files.values()))).digest
            except InvalidSubmission as exc:
                digest = "invalid:" + str(exc)
            except OSError as exc:
                digest = "unreadable:" + str(exc)
            fp = grader.submission_fingerprint(digest)
            fingerprints[name] = fp
            existing = results.read_json(out_dir / name / "results.json")
            if not force and isinstance(existing, dict) and \
                    existing.get("extra_data", {}).get("fingerprint") == fp:
                rows[name] = results.csv_row(existing, check_ids)
                skipped += 1
                continue
            todo.append((name, path))

        lock = threading.Lock()
        grader_error_seen = []

        def grade_one(name: str, path: Path) -> dict:
            try:
                res = grader.grade(path, name=name)
                obj = results.gradescope_json(res, assignment_name=assignment.name,
                                              points=points, execution_time=res.elapsed)
            except Exception as exc:  # a grader bug costs this submission, visibly
                res = None
                obj = results.fallback_json(points, f"{type(exc).__name__}: {exc}")
                obj["extra_data"].update(submission=name, status="grader_error",
                                         max_score=points, fingerprint="")
            status = obj["extra_data"].get("status", "")
            target = out_dir / name / "results.json"
            has_error = "grader_error" in status
            if has_error:
                with lock:
                    grader_error_seen.append(name)
            if not (has_error and target.exists()):
                results.write_json(target, obj)
            return results.csv_row(obj, check_ids) if res is not None else {
                "submission": name, "score": 0, "max_score": points, "status": "grader_error",
                **{c: 0 for c in check_ids}}

        bar = None
        if progress and todo:
            try:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(todo), desc="grading", unit="sub", file=sys.stderr)
            except ImportError:  # pragma: no cover - tqdm is a dependency
                bar = None
        try:
            with ThreadPoolExecutor(max_workers=max(1, workers),
                                    thread_name_prefix="handgrad-grade") as pool:
                futures = {pool.submit(grade_one, n, p): n for n, p in todo}
                for fut in as_completed(futures):
                    rows[futures[fut]] = fut.result()
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        row_list = list(rows.values())
        results.write_csv(out_dir / "grades.csv", row_list, check_ids)
        elapsed = time.monotonic() - started
        manifest = {
            "assignment": assignment.name,
            "assignment_folder": str(assignment.folder.resolve()),
            "secret_seed": grader.secret_seed,
            "seed_source": seed_source if seed_source == "--seed" or not old_manifest
            else old_manifest.get("seed_source", "random"),
            "draws": grader.draw_record(),
            "limits": _limits_dict(grader.limits),
            "versions": runner.versions(),
            "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "submissions": {n: {"fingerprint": fingerprints.get(n, ""),
                                "score": r.get("score"), "status": r.get("status")}
                            for n, r in sorted(rows.items())},
        }
        atomic_write_bytes(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode(),
                           mode=0o600)
        _summary(assignment, row_list, check_ids, len(todo), skipped, elapsed, workers,
                 out_dir)
        return 1 if grader_error_seen or grader.grader_errors() else 0
    finally:
        grader.close()


def _open_to_others(path: str | Path) -> bool:
    """Whether a user other than the owner (and its group) can reach and read ``path``."""
    if not running_as_root():
        return False  # without root, workers run as this user anyway
    p = Path(path).resolve()
    for part in [*reversed(p.parents), p]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return bool(p.stat().st_mode & stat.S_IROTH)


def _limits_dict(limits: Limits) -> dict:
    return asdict(limits)


def _summary(assignment: spec.Assignment, rows: list[dict], check_ids: list[str], graded: int,
             skipped: int, elapsed: float, workers: int, out_dir: Path) -> None:
    n = len(rows)
    rate = graded / elapsed * 60 if elapsed > 0 else 0.0
    print(f"{assignment.name}: {n} submissions ({graded} graded, {skipped} unchanged and "
          f"skipped) in {elapsed:.1f} s, {rate:.1f} submissions/minute with {workers} "
          f"workers")
    checks = {c.id: c for c in assignment.checks}
    width = max([len("check")] + [len(c) for c in check_ids])
    print(f"  {'check':<{width}}  points  full marks  mean")
    for cid in check_ids:
        pts = checks[cid].points
        vals = [float(r.get(cid, 0) or 0) for r in rows]
        full = sum(1 for v in vals if v >= pts - 1e-9)
        mean = sum(vals) / n if n else 0.0
        print(f"  {cid:<{width}}  {pts:>6g}  {full:>4}/{n:<5}  {mean:.2f}")
    total = assignment.points
    mean_total = sum(float(r.get("score", 0) or 0) for r in rows) / n if n else 0.0
    ok = sum(1 for r in rows if r.get("status") == "ok")
    print(f"  {'total':<{width}}  {total:>6g}  {ok:>4}/{n:<5}  {mean_total:.2f}")
    bad = [r for r in rows if r.get("status") != "ok"]
    if bad:
        print(f"  not fully passing ({len(bad)}):")
        for r in sorted(bad, key=lambda r: str(r.get("submission")))[:25]:
            print(f"    {r.get('submission')}: {r.get('score')} -- {r.get('status')}")
        if len(bad) > 25:
            print(f"    ... and {len(bad) - 25} more (see grades.csv)")
    print(f"  results: {out_dir}/grades.csv and {out_dir}/<submission>/results.json")

