"""``handgrad practice``: work backpropagation by hand on small graphs with numbers.

::

    handgrad practice                      # interactive, a new set (its seed is printed)
    handgrad practice --seed 7             # the set an instructor handed out
    handgrad practice --seed 7 --print     # the problem sheet (--solutions: the answer key)
    handgrad practice --seed 7 --template > answers.txt
    handgrad practice --seed 7 --answers answers.txt
    handgrad practice --problem ninja      # a named problem (--list names them)

Without ``--answers``, ``--print`` or ``--template`` the session is interactive when standard
input is a terminal (or with ``--interactive``); otherwise the sheet is printed.

Exit status: 0 when every asked quantity is right (with ``--answers``: and every line is
understood), and after ``--print``, ``--template`` or ``--list``; 1 when an answer is wrong,
malformed, missing, duplicated or revealed, or a session stopped before the last quantity;
2 for a usage error (bad options, an unreadable answers file); 130 when Ctrl-C stops a session.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from handgrad.practice.catalog import NAMED
    from handgrad.practice.problem import KINDS
    from handgrad.practice.sheet import SOLUTION_POLICIES

    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the set: the same seed gives the same problems on every "
                             "machine (default: a new seed, printed with the set)")
    parser.add_argument("--count", type=int, default=None, metavar="N",
                        help="number of problems (default 4)")
    parser.add_argument("--kind", nargs="+", choices=("all", *KINDS), default=None,
                        metavar="KIND",
                        help=f"kinds of problem, taking turns: all (default), "
                             f"{', '.join(KINDS)}")
    parser.add_argument("--problem", action="append", choices=tuple(NAMED), metavar="NAME",
                        help="a named problem instead of a drawn set (repeat for several; "
                             "--list names them)")
    parser.add_argument("--list", action="store_true",
                        help="list the named problems and the kinds, and exit")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--answers", metavar="FILE",
                      help="grade the answers in FILE ('-': standard input), one per line as "
                           "'1.dL/dw = 0.629'; see --template")
    mode.add_argument("--print", action="store_true", dest="print_sheet",
                      help="print the problem sheet and exit")
    mode.add_argument("--template", action="store_true",
                      help="print an answers file to fill in and exit")
    mode.add_argument("--interactive", action="store_true",
                      help="ask one quantity at a time even when standard input is not a "
                           "terminal")
    parser.add_argument("--solutions", action="store_true",
                        help="with --print (or alone): print the answer key, each problem with "
                             "its worked solution")
    parser.add_argument("--show-solution", choices=SOLUTION_POLICIES, default="always",
                        help="after each problem, show the worked solution: always (default), "
                             "only when something was not right, or never")
    parser.add_argument("--no-color", action="store_true", help="never use colors")
    parser.epilog = ("Answers file: one answer per line, PROBLEM.QUANTITY = VALUE (1.dL/dw = "
                     "0.629, also -0.126, 1.26e-1, 1/3); # comments and blank lines are "
                     "ignored. An answer is right within one unit of the third significant "
                     "digit. Exit status: 0 all right; 1 something wrong, malformed, missing, "
                     "duplicated or revealed; 2 usage error; 130 Ctrl-C. See docs/practice.md.")


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from handgrad.practice import answers_file, catalog, session, sheet
    from handgrad.practice.problem import KINDS

    def fail(message: str) -> int:
        print(f"handgrad practice: {message}", file=sys.stderr)
        return 2

    if args.list:
        width = max(map(len, catalog.NAMED))
        print("Named problems (--problem NAME):")
        for name, description in catalog.NAMED.items():
            print(f"  {name:<{width}}  {description}")
        print(f"Kinds (--kind): all, {', '.join(KINDS)}")
        return 0
    drawn_options = [flag for flag, value in (("--seed", args.seed), ("--count", args.count),
                                              ("--kind", args.kind)) if value is not None]
    if args.problem and drawn_options:
        return fail(f"--problem takes named problems; it cannot be combined with "
                    f"{', '.join(drawn_options)}, which choose a drawn set")
    args.count = 4 if args.count is None else args.count
    args.kind = args.kind or ["all"]
    if not 1 <= args.count <= catalog.MAX_COUNT:
        return fail(f"--count must be from 1 to {catalog.MAX_COUNT}, got {args.count}")
    if args.solutions and (args.answers is not None or args.template or args.interactive):
        return fail("--solutions prints the answer key; use it alone or with --print")
    if args.answers is not None and args.seed is None and not args.problem:
        return fail("the answers belong to a set: give the --seed (and --count, --kind) the "
                    "set was made with, or --problem NAME")

    if args.problem:
        problems = [catalog.named(name) for name in args.problem]
        title = "Practice: handgrad practice " + " ".join(f"--problem {n}" for n in args.problem)
    else:
        if args.seed is None:
            import secrets

            args.seed = secrets.randbelow(1_000_000)
        problems = catalog.problems(seed=args.seed, count=args.count, kind=args.kind)
        title = (f"Practice set: handgrad practice --seed {args.seed} --count {args.count} "
                 f"--kind {' '.join(args.kind)}")

    if args.solutions:
        print(sheet.answer_key(problems, title))
        return 0
    if args.print_sheet:
        print(sheet.sheet(problems, title))
        return 0
    if args.template:
        print(sheet.template(problems, title))
        return 0
    color = (not args.no_color and "NO_COLOR" not in os.environ
             and hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
    if args.answers is not None:
        try:
            text = answers_file.read_file(args.answers)
        except (OSError, ValueError) as exc:
            return fail(f"cannot read the answers file {args.answers}: {exc}")
        result = answers_file.grade(problems, text)
        print(sheet.report(problems, result, title, solutions=args.show_solution, color=color))
        return 0 if result.all_right else 1
    if not (args.interactive or sys.stdin.isatty()):
        print(sheet.sheet(problems, title))
        print("handgrad practice: standard input is not a terminal, so the sheet is printed; "
              "answer with --answers FILE, or pass --interactive", file=sys.stderr)
        return 0
    echo = not sys.stdin.isatty()   # show piped answers after their prompts

    def read(prompt: str) -> str:
        line = input(prompt)
        if echo:
            print(line)
        return line

    ended = session.interact(problems, title=title, read=read, solutions=args.show_solution,
                             color=color)
    if ended.interrupted:
        return 130
    return 0 if ended.all_right else 1
