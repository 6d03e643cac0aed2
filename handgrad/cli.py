"""The ``handgrad`` command: one subcommand per job, each a module of :mod:`handgrad.commands`.

A subcommand module provides ``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).
Every subcommand module is imported to build the parser, so each keeps its heavy imports
(matplotlib, the Solver, the grader) inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module providing add_arguments/run, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "gradcheck": ("handgrad.commands.gradcheck",
                  "check every op's backward against numerical gradients"),
    "train": ("handgrad.models.command", "train a net on shipped or generated data"),
    "diagnose": ("handgrad.commands.diagnose",
                 "show the leaks of backpropagation and their fixes"),
    "assign": ("handgrad.commands.assign", "turn an assignment into a student starter"),
    "check": ("handgrad.commands.check", "check your assignment work locally (students)"),
    "grade": ("handgrad.commands.grade", "grade a folder of submissions (instructors)"),
    "practice": ("handgrad.commands.practice",
                 "work backpropagation by hand on small graphs with numbers"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handgrad",
        description="Hand-written backward passes: check, train, diagnose, teach and grade.",
    )
    from handgrad import __version__

    parser.add_argument("--version", action="version", version=f"handgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a subcommand whose module is not part of this installation
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("handgrad: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
