"""``handgrad gradcheck [OP ...]``: check every registered op (or the named ones).

Prints one row per op and input (op, input, shape, max relative error, verdict ``ok`` /
``FAIL`` / ``kink``), the findings under a failing op, then a summary line. Exit status: 0 when
everything passes, 1 when anything fails, 2 for an unknown op name.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ops", nargs="*", metavar="OP",
                        help="ops to check, by registry name (default: all; see --list)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the inputs and the upstream gradient (default 0)")
    parser.add_argument("--mode", choices=("full", "sparse", "fast"), default="full",
                        help="full: every coordinate (default); sparse: --num-checks random "
                             "coordinates per input; fast: one random direction per input, "
                             "full check on failure")
    parser.add_argument("--tol", type=float, default=None,
                        help="largest relative error that passes (default 1e-7)")
    parser.add_argument("--num-checks", type=int, default=10, metavar="K",
                        help="coordinates per input in sparse mode (default 10)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="print the full report of every op, worst entries included")
    parser.add_argument("--list", action="store_true", help="list the registered ops and exit")


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from handgrad.gradcheck.check import DEFAULT_TOL, check_op
    from handgrad.gradcheck.registry import REGISTRY
    from handgrad.gradcheck.report import format_entries, format_error

    if args.list:
        width = max(map(len, REGISTRY))
        for name, spec in REGISTRY.items():
            print(f"{name.ljust(width)}  {spec.description}")
        return 0
    names = list(dict.fromkeys(args.ops)) or list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        from handgrad.gradcheck.registry import unknown_message

        print(f"handgrad gradcheck: {unknown_message(unknown[0])}", file=sys.stderr)
        return 2
    if args.num_checks < 1:
        print("handgrad gradcheck: --num-checks must be at least 1", file=sys.stderr)
        return 2
    tol = DEFAULT_TOL if args.tol is None else args.tol

    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    paint = {"ok": "32", "FAIL": "1;31", "kink": "33"}

    def verdict(text: str) -> str:
        return f"\033[{paint[text]}m{text}\033[0m" if color and text in paint else text

    op_w = max(len("op"), *map(len, names))
    in_w = max(len("(contract)"), *(len(a) for n in names for a in REGISTRY[n].arg_names))
    shape_w, err_w = 14, len("max rel error")

    def row(op: str, inp: str, shape: str, err: str, what: str) -> None:
        print(f"{op.ljust(op_w)}  {inp.ljust(in_w)}  {shape.ljust(shape_w)}  "
              f"{err.rjust(err_w)}  {what}".rstrip())

    print(f"gradcheck: {len(names)} op(s), mode {args.mode}, seed {args.seed}, tol {tol:g}")
    row("op", "input", "shape", "max rel error", "verdict")
    failed: list[str] = []
    kinked: list[str] = []
    inputs_checked = 0
    for name in names:
        report = check_op(name, mode=args.mode, seed=args.seed, tol=tol,
                          num_checks=args.num_checks)
        for r in report.inputs:
            inputs_checked += 1
            extra = f"  ({r.mode})" if r.mode != args.mode else ""
            row(name, r.name, str(r.shape), format_error(r.max_rel_error),
                verdict(r.verdict) + extra)
        if report.contract_errors or not report.inputs:
            row(name, "(contract)", "", "", verdict("FAIL"))
        if not report.passed:
            failed.append(name)
        elif report.verdict == "kink":
            kinked.append(name)
        if args.verbose:
            print("\n".join("    " + line for line in report.render(verbose=True).splitlines()))
            continue
        for e in report.contract_errors:
            print(f"    {e}")
        for r in report.inputs:
            if r.passed:
                continue
            if r.note:
                print(f"    {r.name}: {r.note}")
            if r.worst:
                print(f"    {r.name}: worst entries")
                for line in format_entries(r.worst[:3]):
                    print(f"      {line}")
            if r.hint:
                print(f"    hint ({r.name}): {r.hint}")

    total = len(names)
    if failed:
        print(f"gradcheck: {len(failed)} of {total} op(s) FAIL: {', '.join(failed)}")
        return 1
    kinks = f"; at kinks only: {', '.join(kinked)}" if kinked else ""
    print(f"gradcheck: all {total} op(s) pass ({inputs_checked} inputs checked{kinks})")
    return 0
