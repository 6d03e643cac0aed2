"""``handgrad assign ASSIGNMENT --out DIR``: write the student starter of an assignment.

The starter holds the stubbed modules, the handout, the public part of ``assignment.toml`` and
a README; see :mod:`handgrad.grading.authoring.starter`. ``--gradescope-zip PATH`` also builds the
autograder zip to upload to Gradescope.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="assignment folder, e.g. assignments/backprop-basics")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write the starter to (created; must be empty)")
    parser.add_argument("--force", action="store_true",
                        help="replace DIR if it already holds files")
    parser.add_argument("--gradescope-zip", metavar="PATH", default=None,
                        help="also build the Gradescope autograder zip at PATH")
    parser.add_argument("--package", metavar="DIR", default=None,
                        help="also write the solution-free handgrad package students install "
                             "(pip install DIR) to run handgrad check and the notebook")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from handgrad.grading.authoring import markers, spec, starter

    try:
        assignment = spec.load(args.assignment)
        modules = starter.write(assignment, args.out, force=args.force)
    except (spec.SpecError, starter.StarterError, markers.MarkerError) as exc:
        print(f"handgrad assign: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"handgrad assign: cannot write the starter: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    print(f"{assignment.title}: starter written to {out}")
    for m in modules:
        points = sum(c.points for c in assignment.checks if c.module == m.module)
        kept = f"; kept as reference: {', '.join(m.kept_functions)}" if m.kept_functions else ""
        print(f"  {m.filename:<28} stubbed: {', '.join(m.stubbed_functions)} "
              f"({_plural(points)}){kept}")
    print(f"  handout.md, handout.ipynb, assignment.toml (public checks), README.md; "
          f"{_plural(assignment.points)} in all")
    if args.package:
        from handgrad.grading.authoring import solution_free

        try:
            solution_free.write_student_package(args.package)
        except (OSError, solution_free.SolutionFreeError, markers.MarkerError) as exc:
            print(f"handgrad assign: cannot write the student package: {exc}",
                  file=sys.stderr)
            return 1
        print(f"Solution-free package written to {args.package} (students: pip install "
              f"{args.package}; hand it out instead of handgrad itself)")
    if args.gradescope_zip:
        try:
            from handgrad.grading.judging.gradescope import build_autograder_zip
        except ImportError as exc:
            print(f"handgrad assign: the Gradescope builder is not available: {exc}",
                  file=sys.stderr)
            return 2
        try:
            build_autograder_zip(assignment, Path(args.gradescope_zip))
        except Exception as exc:  # report any builder failure as one line
            print(f"handgrad assign: building {args.gradescope_zip} failed: {exc}",
                  file=sys.stderr)
            return 2
        print(f"Gradescope autograder zip written to {args.gradescope_zip}")
    return 0


def _plural(points: float) -> str:
    from handgrad.grading.authoring.starter import points_text

    return f"{points_text(points)} point{'' if points == 1 else 's'}"
