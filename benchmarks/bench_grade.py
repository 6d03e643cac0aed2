"""Grading throughput: `handgrad grade` over N correct submissions of an assignment.

Builds N submissions from the reference modules (what a student who solved everything hands
in), grades them with ``handgrad grade --workers W`` in a fresh results folder, checks that
every one got full marks, and prints submissions per minute. The bar for backprop-basics is
100 submissions with 2 workers in under 3 minutes.

With ``--baseline`` it also grades the same submissions with workers started as fresh Python
processes (``HANDGRAD_SANDBOX_ZYGOTE=0``) instead of forked from the clean zygote, in the same
run, and prints the ratio.

    python benchmarks/bench_grade.py                     # 100 submissions, 2 workers
    python benchmarks/bench_grade.py -n 20 --baseline    # smaller, with the fresh-process baseline
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from handgrad.grading.authoring import spec, starter

ROOT = Path(__file__).resolve().parent.parent


def make_submissions(assignment: spec.Assignment, folder: Path, n: int) -> None:
    """``n`` submission folders, each holding the reference source of every stubbed module."""
    files = {name: starter.module_source(module)[0].read_bytes()
             for module, name in spec.student_files(assignment).items()}
    for i in range(n):
        sub = folder / f"student{i:03d}"
        sub.mkdir(parents=True)
        for name, data in files.items():
            (sub / name).write_bytes(data)


def grade(assignment: Path, submissions: Path, out: Path, workers: int,
          zygote: bool) -> float:
    """Run ``handgrad grade`` once; return its wall time in seconds."""
    env = dict(os.environ, HANDGRAD_SANDBOX_ZYGOTE="1" if zygote else "0")
    cmd = [sys.executable, "-m", "handgrad.cli", "grade", str(assignment), str(submissions),
           "--out", str(out), "--workers", str(workers), "--seed", "1"]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"bench_grade: handgrad grade exited with {done.returncode}")
    return seconds


def full_marks(out: Path, n: int) -> bool:
    with open(out / "grades.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return len(rows) == n and all(float(r["score"]) == float(r["max_score"]) for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default=str(ROOT / "assignments" / "backprop-basics"))
    parser.add_argument("-n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument("--workers", type=int, default=2, help="parallel submissions (default 2)")
    parser.add_argument("--baseline", action="store_true",
                        help="also grade with fresh-process workers and print the ratio")
    args = parser.parse_args()

    assignment = spec.load(args.assignment)
    runs = [("zygote", True)] + ([("fresh processes", False)] if args.baseline else [])
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        subs = Path(tmp) / "submissions"
        make_submissions(assignment, subs, args.n)
        print(f"bench_grade: {assignment.name}, {len(assignment.checks)} checks, "
              f"{args.n} correct submissions, {args.workers} workers")
        times = {}
        for label, zygote in runs:
            out = Path(tmp) / f"results-{label.replace(' ', '-')}"
            seconds = grade(Path(args.assignment), subs, out, args.workers, zygote)
            ok = full_marks(out, args.n)
            times[label] = seconds
            print(f"  {label:16s} {seconds:7.1f} s  {args.n / seconds * 60:7.1f} submissions/min"
                  f"  {'all full marks' if ok else 'NOT ALL FULL MARKS'}")
            if not ok:
                return 1
        if args.baseline:
            print(f"  zygote / fresh processes: {times['zygote'] / times['fresh processes']:.2f}"
                  f" of the time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
