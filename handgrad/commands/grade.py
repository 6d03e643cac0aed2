"""``handgrad grade ASSIGNMENT SUBMISSIONS --out RESULTS``: grade a folder of submissions.

Every folder and ``.zip`` directly under SUBMISSIONS is one submission. Each is graded with the
public and hidden checks (hidden draws from a secret seed: ``--seed``, or the one recorded in
``RESULTS/manifest.json`` by an earlier run, or a fresh random one), in parallel over
``--workers`` submissions; every checked function runs in its own sandboxed worker process
(see :mod:`handgrad.grading.judging.runner`); :func:`handgrad.grading.judging.batch.grade_batch`
does the work. Written, each atomically:

- ``RESULTS/<submission>/results.json`` (Gradescope's format), as each submission finishes;
- ``RESULTS/grades.csv``: submission, score, max_score, one column per check (its points,
  public and hidden parts together) and a status column ("ok", "invalid submission", or the
  checks that did not pass with their status);
- ``RESULTS/manifest.json`` (mode 0600): the secret seed, every draw, the limits, versions and
  each submission's fingerprint.

Re-running is idempotent and resumable: a submission whose results.json carries the same
fingerprint (its files, the assignment, the seed, the limits, the grader version) is not
graded again; a changed one is. ``--force`` regrades everything. A result with a grader error
never replaces an earlier results.json. Exit status: 0 when every submission was graded, 1 when
some check had a grader error, 2 when the grader could not run at all.

Each submission is graded inside its own bubblewrap sandbox (see docs/grading-security.md);
where bubblewrap is missing or cannot work, ``handgrad grade`` says so and stops unless
``--allow-weak-sandbox`` is given. ``--seed-file`` keeps the secret seed off the command line.

``--gradescope`` grades Gradescope's ``/autograder/submission`` instead (see
:mod:`handgrad.grading.judging.gradescope`; one submission per container, bubblewrap used when
it works there).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="assignment folder, e.g. assignments/backprop-basics")
    parser.add_argument("submissions", nargs="?",
                        help="folder holding one folder or .zip per submission")
    parser.add_argument("--out", metavar="RESULTS", help="folder for grades.csv and results")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="submissions graded in parallel (default 2)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="wall-clock seconds per check draw (default: the assignment's)")
    parser.add_argument("--memory", type=int, default=1024, metavar="MB",
                        help="address-space limit per worker process (default 1024)")
    parser.add_argument("--seed", type=int, default=None,
                        help="secret seed of the hidden checks (default: the manifest's, "
                             "else random); visible to other processes on this machine, "
                             "so prefer --seed-file")
    parser.add_argument("--seed-file", default=None, metavar="FILE",
                        help="read the secret seed from FILE (kept out of every command line)")
    parser.add_argument("--allow-weak-sandbox", action="store_true",
                        help="grade even where bubblewrap is missing, with the weaker walls "
                             "only (uid, limits, Python-level guards); see "
                             "docs/grading-security.md")
    parser.add_argument("--force", action="store_true",
                        help="regrade submissions whose results are up to date")
    parser.add_argument("--gradescope", action="store_true",
                        help="grade inside Gradescope's /autograder layout")
    parser.add_argument("--autograder-root", default=None, metavar="DIR",
                        help="the /autograder folder (or $HANDGRAD_AUTOGRADER_ROOT)")


def read_seed(args: argparse.Namespace) -> tuple[int | None, str | None]:
    """The secret seed from ``--seed`` or ``--seed-file`` (both: an error); ``(seed, error)``."""
    if args.seed_file is None:
        return args.seed, None
    if args.seed is not None:
        return None, "give --seed or --seed-file, not both"
    try:
        text = open(args.seed_file, encoding="utf-8").read().strip()
        return int(text), None
    except (OSError, ValueError) as exc:
        return None, f"--seed-file {args.seed_file}: expected one integer ({exc})"


def run(args: argparse.Namespace) -> int:
    from handgrad.grading.sandbox.process import Limits

    limits = Limits(timeout=args.timeout, memory_mb=args.memory)
    seed, problem = read_seed(args)
    if problem:
        print(f"handgrad grade: {problem}", file=sys.stderr)
        return 2
    args.seed = seed
    if args.gradescope:
        from handgrad.grading.judging.gradescope import grade_gradescope

        return grade_gradescope(args.assignment, root=args.autograder_root, seed=args.seed,
                                limits=limits)
    if not args.submissions or not args.out:
        print("handgrad grade: give SUBMISSIONS and --out RESULTS (or --gradescope)",
              file=sys.stderr)
        return 2
    if args.workers < 1:
        print("handgrad grade: --workers must be at least 1", file=sys.stderr)
        return 2
    from handgrad.grading.judging.batch import grade_batch
    from handgrad.grading.judging.runner import strong_sandbox_problem

    if args.seed_file is None and args.seed is not None and strong_sandbox_problem():
        # without the sandbox's own PID namespace every worker can read our command line
        print("handgrad grade: without the kernel sandbox a worker can read --seed from this "
              "process's command line; give it with --seed-file", file=sys.stderr)
        return 2
    return grade_batch(args.assignment, args.submissions, args.out, workers=args.workers,
                       limits=limits, seed=args.seed, force=args.force,
                       allow_weak_sandbox=args.allow_weak_sandbox)
