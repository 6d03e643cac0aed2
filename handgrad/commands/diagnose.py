"""``handgrad diagnose``: show the leaks of backpropagation next to their fixes, or diagnose a
trained net.

::

    handgrad diagnose [--out DIR] [--seed S] [--only sigmoid relu rnn clipped]
    handgrad diagnose --model PATH [--data digits|spiral|sonnets]

Without ``--model`` it runs the four scenarios of :mod:`handgrad.diagnostics.scenarios`,
prints a table and the checks of each, and writes the pictures to DIR (default
``out/diagnose``); the exit code is 1 when a check fails. With ``--model`` it loads a
checkpoint written by ``handgrad train`` (or any Solver checkpoint of a handgrad model),
runs every detector on training examples and prints the findings.
Heavy imports (the Solver, matplotlib) happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

SCENARIOS = ("sigmoid", "relu", "rnn", "clipped")
DATASETS = ("digits", "spiral", "sonnets")


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = _nonneg_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0, got 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Reproduce four leaks of backpropagation (saturated sigmoids, dead ReLUs, exploding "
        "and vanishing RNN gradients, a clipped loss that zeroes gradients) next to their "
        "fixes, printing the numbers and writing the pictures; or, with --model, run the "
        "detectors on a trained net.")
    parser.add_argument("--out", metavar="DIR", default="out/diagnose",
                        help="folder for the PNG pictures (default out/diagnose)")
    parser.add_argument("--seed", type=_nonneg_int, default=0,
                        help="seed of the weights, the data and the shuffles (default 0)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, metavar="NAME",
                        help=f"run only these scenarios ({', '.join(SCENARIOS)})")
    parser.add_argument("--no-plots", action="store_true", help="do not write the pictures")
    parser.add_argument("--model", metavar="PATH",
                        help="diagnose the net saved in this checkpoint instead")
    parser.add_argument("--data", choices=DATASETS, default=None,
                        help="data for --model (default: digits or spiral from the net's "
                             "input size; sonnets for a character RNN)")
    parser.add_argument("--probe", type=_positive_int, default=1000, metavar="N",
                        help="training examples the detectors look at with --model "
                             "(default 1000)")


# ---------------------------------------------------------------------------- output
def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(headers), "  ".join("-" * w for w in widths),
                      *(line(r) for r in rows)])


def _error(message: str) -> int:
    print(f"handgrad diagnose: error: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------------------- scenarios
def _plots(scenario: Any, out: Path) -> list[Path]:
    from handgrad.diagnostics import plots
    from handgrad.plots import plot_training

    d = scenario.data
    if scenario.name == "sigmoid":
        runs = {label: run["stats"] for label, run in d["runs"].items()}
        return [plots.activation_histograms(
            runs, out / "sigmoid-activations.png",
            "hidden sigmoid outputs at initialization (digits)")]
    if scenario.name == "relu":
        runs = {label: run["records"] for label, run in d["runs"].items()}
        return [plots.dead_units_over_training(runs, out / "relu-dead-units.png",
                                               "dead ReLU units while training (digits)"),
                plots.update_ratios_over_training(runs, out / "relu-update-ratios.png",
                                                  "update-to-weight ratio while training")]
    if scenario.name == "rnn":
        steps = len(next(iter(d["curves"].values()))) - 1
        return [plots.hidden_gradient_norms(
            d["curves"], out / "rnn-gradient-norms.png",
            f"vanilla RNN: the gradient over {steps} steps back in time",
            training=d["training"], clip_norm=d["clip_norm"])]
    if scenario.name == "clipped":
        runs = {label: run["solver"] for label, run in d["runs"].items()}
        return [plot_training(runs, out / "clipped-error-loss.png",
                              "Q-value regression: squared clipped error vs Huber loss")]
    return []


def _run_scenarios(args: argparse.Namespace) -> int:
    import numpy as np

    from handgrad.diagnostics import scenarios

    names = [n for n in SCENARIOS if not args.only or n in args.only]
    out = Path(args.out)
    print(f"handgrad diagnose: {len(names)} leak(s) of backpropagation next to their fixes "
          f"(seed {args.seed})")
    start = time.perf_counter()
    failed, total = [], 0
    for number, name in enumerate(names, start=1):
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            scenario = scenarios.RUNNERS[name](seed=args.seed)
        seconds = time.perf_counter() - t0
        print(f"\n{number}. {scenario.title}  ({seconds:.1f} s)")
        print(f"   {scenario.setup}\n")
        print(_table(scenario.headers, scenario.rows))
        for check in scenario.checks:
            total += 1
            mark = "PASS" if check.passed else "FAIL"
            print(f"  {mark}  {check.description}: {check.value}")
            if not check.passed:
                failed.append(f"{name}: {check.description}")
        if not args.no_plots:
            for path in _plots(scenario, out):
                print(f"  picture: {path}")
    seconds = time.perf_counter() - start
    print()
    if failed:
        print(f"handgrad diagnose: {len(failed)} of {total} check(s) FAIL ({seconds:.1f} s)")
        return 1
    print(f"handgrad diagnose: all {total} checks pass ({seconds:.1f} s)")
    return 0


# ---------------------------------------------------------------------------- --model
def _model_data(model: Any, name: str | None) -> tuple[str, Any, Any]:
    if hasattr(model, "vocab_size") and "Wh" in model.params:
        if name not in (None, "sonnets"):
            raise ValueError(f"a character RNN is diagnosed on the sonnets, not {name}")
        from handgrad.data import sonnets

        d = sonnets().training_data(seq_len=50, val_fraction=0.1, stride=25)
        return "sonnets", d["X_train"], d["y_train"]
    input_dim = getattr(model, "input_dim", None)
    if isinstance(input_dim, tuple):  # a ConvNet's (C, H, W): it also takes flat rows
        input_dim = input_dim[0] * input_dim[1] * input_dim[2]
    if name is None:
        name = {64: "digits", 2: "spiral"}.get(input_dim) if isinstance(input_dim, int) else None
        if name is None:
            raise ValueError(f"the net takes {input_dim} inputs per example; neither digits "
                             f"(64) nor spiral (2) fits")
    if name == "sonnets":
        raise ValueError(f"the sonnets are for a character RNN; this is a "
                         f"{type(model).__name__}")
    from handgrad.models.train_fc import fc_data

    d = fc_data(name, model.dtype)  # the training split `handgrad train fc` used
    X, y = d["X_train"], d["y_train"]
    if X.shape[1] != input_dim:
        raise ValueError(f"the net takes {input_dim} inputs per example but {name} has "
                         f"{X.shape[1]}")
    return name, X, y


def _run_model(args: argparse.Namespace) -> int:
    import numpy as np

    from handgrad.diagnostics import plots
    from handgrad.diagnostics.activations import activation_stats
    from handgrad.diagnostics.monitor import records
    from handgrad.diagnostics.record import snapshot
    from handgrad.diagnostics.rules import findings, sci
    from handgrad.models import from_checkpoint
    from handgrad.optim import load_checkpoint

    path = Path(args.model)
    if not path.is_file():
        return _error(f"no checkpoint at {path}")
    try:
        saved = load_checkpoint(path)
        model = from_checkpoint(path)
        name, X, y = _model_data(model, args.data)
    except (ValueError, TypeError, KeyError, OSError) as exc:
        return _error(str(exc))
    meta = saved["metadata"]
    rng = np.random.default_rng(args.seed)
    n = min(args.probe, X.shape[0])
    idx = np.sort(rng.choice(X.shape[0], n, replace=False))
    X, y = X[idx], y[idx]
    with np.errstate(all="ignore"):
        record = snapshot(model, X, y, seed=args.seed)
    lr = ((meta.get("solver") or {}).get("optim_config") or {}).get("learning_rate")

    print(f"handgrad diagnose: {path} ({type(model).__name__}, trained {meta.get('epoch')} "
          f"epoch(s), {meta.get('step')} steps); detectors on {n} {name} training examples\n")
    if record["layers"]:
        print("activations (saturated: local gradient below 0.01):")
        for layer in record["layers"]:
            text = (f"  {layer['layer']} ({layer['activation']}): mean {layer['mean']:.3g}, "
                    f"std {layer['std']:.3g}")
            if layer.get("saturated") is not None:
                text += f", {100 * layer['saturated']:.1f}% saturated"
            if layer.get("dead") is not None:
                text += (f", {100 * layer['dead']:.1f}% of units dead, "
                         f"{100 * layer['nearly_dead']:.1f}% nearly dead")
            print(text)
    print("gradients on those examples:")
    for pname, g in record["grad_norms"].items():
        rel = record["relative"].get(pname)
        zero = record["zero_fraction"].get(pname, 0.0)
        rel_text = f", {sci(rel)} of |{pname}|" if rel is not None else ""
        print(f"  {pname}: |grad| {g:.3g}{rel_text}, {100 * zero:.1f}% exactly zero")
    ratios = ", ".join(f"{k} {v:.3g}" for k, v in record["layer_ratios"].items()
                       if v is not None)
    if ratios:
        print(f"  layer-to-layer gradient ratios: {ratios}")
    if record.get("zero_examples") is not None:
        print(f"  examples with an exactly-zero loss gradient: "
              f"{100 * record['zero_examples']:.1f}%")
    rec = record.get("recurrent")
    if rec is not None:
        ratio = "not finite" if rec["ratio"] is None else sci(rec["ratio"])
        print(f"recurrence: spectral radius of Wh {rec['spectral_radius']:.3g}; "
              f"|dL/dh_0| / |dL/dh_{len(rec['norms']) - 1}| = {ratio}: {rec['verdict']}")

    found = findings(record, learning_rate=lr)
    print()
    if found:
        print(f"findings ({len(found)}):")
        for f in found:
            print(f"  - {f.message}")
    else:
        print("findings: none; nothing looks wrong")
    past = [w for r in records(saved["history"]) for w in r.get("warnings", [])]
    if past:
        print(f"\nwarnings recorded while it trained ({len(past)}):")
        for w in past:
            print(f"  - {w}")
    if record["layers"] and not args.no_plots:
        stats = [activation_stats(out, act, layer=lname)
                 for lname, act, out in model.hidden_activations(X)]
        picture = plots.activation_histograms({path.stem: stats},
                                              Path(args.out) / f"{path.stem}-activations.png",
                                              f"hidden activations of {path.name}")
        print(f"\npicture: {picture}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.model is None and args.data is not None:
        return _error("--data goes with --model")
    if args.model is not None:
        return _run_model(args)
    return _run_scenarios(args)
