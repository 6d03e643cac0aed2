"""``handgrad train``: train a fully connected net, a convolutional net or a character RNN with
the Solver.

::

    handgrad train fc  --data digits|spiral [--hidden 128] [--lr 3e-3] [--epochs 20] ...
    handgrad train cnn --data digits [--filters 32 64] [--hidden 128] [--epochs 30] ...
    handgrad train rnn --data sonnets [--cell rnn|lstm] [--hidden 128] [--minutes 3] ...

Shows the Solver's progress, then a table of the final metrics, the time taken and the
throughput, writes a PNG of the training curves and, for the RNN, prints a text sample.
``--minutes M`` stops training once M minutes are spent (a
:class:`handgrad.optim.callbacks.TimeBudget`), after at most ``--epochs`` epochs
(:data:`MINUTES_EPOCHS` when not given). ``train fc --diagnose`` attaches a
:class:`handgrad.diagnostics.Monitor` (every :data:`DIAGNOSE_EVERY` steps) and prints its
warnings.

Ctrl-C stops after the current step (see :mod:`handgrad.optim.interrupt`): the checkpoint,
if ``--checkpoint`` or ``--resume`` gave one, is written with the exact state, the command
prints where it is and the command line that resumes the run, and exits with status 130.
A second Ctrl-C stops at once and leaves the last checkpoint as it was.

This module holds the arguments and what the models share; :mod:`handgrad.models.train_fc`,
:mod:`handgrad.models.train_cnn` and :mod:`handgrad.models.train_rnn` run them. Heavy imports
(the Solver, matplotlib) happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from handgrad import validation as check
from handgrad.contracts import Model
from handgrad.models._common import ACTIVATIONS
from handgrad.models.fc import INITS
from handgrad.models.rnn_lm import CELLS, RNN_ACTIVATIONS

# Defaults of `handgrad train fc`, per data set. The digits defaults reach about 97% test
# accuracy in a few seconds (see the README); spiral needs more epochs of its small set.
FC_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"hidden": [128], "lr": 3e-3, "epochs": 20, "batch_size": 64},
    "spiral": {"hidden": [100], "lr": 1e-2, "epochs": 100, "batch_size": 64},
}
SPIRAL_POINTS_PER_CLASS = 200
# Defaults of `handgrad train cnn` on the digits (as 1x8x8 images): 3x3 convs of 32 and 64
# filters with spatial batchnorm, each followed by a 2x2 max pool, then 128 hidden units; adam
# at 1e-3 decayed by 0.95 per epoch. Over seeds 0-7 they reach 98.5% to 99.3% test accuracy
# (mean 99.1%) in 20 epochs, 7-12 s on 2 cores (see the README).
CNN_DEFAULTS: dict[str, Any] = {"filters": [32, 64], "filter_size": 3, "hidden": [128],
                                "lr": 1e-3, "lr_decay": 0.95, "epochs": 20, "batch_size": 64}
RNN_EPOCHS = 10
# Epochs of a --minutes run without --epochs: more than fit in the budgets it is meant for,
# so that the time budget, not the epoch count, ends the run.
MINUTES_EPOCHS = 10_000
# The names of handgrad.optim.RULES, listed here so that building the parser does not
# import the Solver (a test keeps the two in step).
UPDATE_RULES = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw")
DIAGNOSE_EVERY = 50  # steps between two records of `train fc --diagnose`
INTERRUPTED_EXIT = 130  # the shell's status for a command ended by SIGINT


# ------------------------------------------------------------------------------ arguments
def _number(kind: type, low: float, low_open: bool) -> Any:
    bound = f"{'>' if low_open else '>='} {low:g}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            check.number("handgrad train", "the value", value, low=low, low_open=low_open)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}") from None
        return value
    return parse


positive_int = _number(int, 0, True)
nonneg_int = _number(int, 0, False)
positive_float = _number(float, 0.0, True)
nonneg_float = _number(float, 0.0, False)


def _common(p: argparse.ArgumentParser, *, lr_help: str, epochs_help: str,
            batch_help: str, clip_default: float | None) -> None:
    p.add_argument("--update", choices=UPDATE_RULES, default="adam",
                   help="update rule (default adam)")
    p.add_argument("--lr", type=positive_float, default=None, metavar="LR",
                   help=f"learning rate ({lr_help})")
    p.add_argument("--epochs", type=positive_int, default=None, metavar="N",
                   help=f"passes over the training set ({epochs_help}; {MINUTES_EPOCHS} "
                        f"with --minutes)")
    p.add_argument("--minutes", type=positive_float, default=None, metavar="M",
                   help="stop training when M minutes are spent (checked after every step; "
                        "the run then ends after the current step)")
    p.add_argument("--batch-size", type=positive_int, default=None, metavar="B",
                   help=f"minibatch size ({batch_help})")
    clip = "none" if clip_default is None else f"{clip_default:g}"
    p.add_argument("--clip-norm", type=positive_float, default=clip_default, metavar="C",
                   help=f"clip the global gradient norm to C (default {clip})")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="floating-point type of the data and the whole computation "
                        "(default float32)")
    p.add_argument("--seed", type=nonneg_int, default=0,
                   help="seed of the weights and the shuffles (default 0)")
    p.add_argument("--checkpoint", metavar="PATH", default=None,
                   help="write a checkpoint (.npz) after every epoch and when Ctrl-C stops "
                        "the run")
    p.add_argument("--resume", metavar="PATH", default=None,
                   help="continue the run saved in this checkpoint (the architecture and "
                        "optimizer settings come from it; --epochs sets the new total)")
    p.add_argument("--plot", metavar="PATH", default=None,
                   help="where to write the PNG of the curves (default out/train-MODEL-DATA.png)")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    p.add_argument("--quiet", action="store_true",
                   help="no progress while training (the final table is still printed)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model", metavar="MODEL")
    sub.required = True

    fc = sub.add_parser(
        "fc", help="fully connected classifier on the shipped digits or the spiral",
        description="Train {affine - [batchnorm] - activation} x L - affine - softmax with the "
                    "Solver. Example: handgrad train fc --data digits")
    fc.add_argument("--data", choices=tuple(FC_DEFAULTS), default="digits",
                    help="digits (shipped, 8x8 images, 10 classes; default) or spiral "
                         "(generated, 3 classes)")
    fc.add_argument("--hidden", type=positive_int, nargs="+", default=None, metavar="H",
                    help="hidden layer sizes (default 128 for digits, 100 for spiral)")
    fc.add_argument("--activation", choices=ACTIVATIONS, default="relu",
                    help="hidden activation (default relu)")
    fc.add_argument("--normalization", choices=("batchnorm",), default=None,
                    help="batch normalization after every hidden affine layer")
    fc.add_argument("--init", choices=INITS, default="he",
                    help="weight initialization when --weight-scale is not given (default he)")
    fc.add_argument("--weight-scale", type=positive_float, default=None, metavar="W",
                    help="draw every weight from N(0, W^2) instead of --init")
    fc.add_argument("--reg", type=nonneg_float, default=0.0, metavar="R",
                    help="L2 regularization strength, loss += 0.5 R sum(W^2) (default 0)")
    fc.add_argument("--diagnose", action="store_true",
                    help=f"watch for saturated, dead or vanishing units every "
                         f"{DIAGNOSE_EVERY} steps and print the warnings")
    _common(fc, lr_help="default 3e-3 for digits, 1e-2 for spiral",
            epochs_help="default 20 for digits, 100 for spiral", batch_help="default 64",
            clip_default=None)

    cnn = sub.add_parser(
        "cnn", help="convolutional classifier on the shipped digits (as 1x8x8 images)",
        description="Train {conv - [spatial batchnorm] - relu - max pool} x L - {affine - relu "
                    "- [dropout]} x M - affine - softmax with the Solver. "
                    "Example: handgrad train cnn --data digits")
    cnn.add_argument("--data", choices=("digits",), default="digits",
                     help="digits (shipped, 8x8 images, 10 classes; default)")
    cnn.add_argument("--filters", type=positive_int, nargs="+", default=None, metavar="F",
                     help="filters of each conv stage (default 32 64)")
    cnn.add_argument("--filter-size", type=positive_int, default=CNN_DEFAULTS["filter_size"],
                     metavar="K", help="K x K filters, padded to keep the image size "
                                       "(default 3)")
    cnn.add_argument("--hidden", type=positive_int, nargs="*", default=None, metavar="H",
                     help="hidden affine layer sizes after the convs (default 128; none: "
                          "--hidden with no value)")
    cnn.add_argument("--normalization", choices=("spatial_batchnorm", "none"),
                     default="spatial_batchnorm",
                     help="spatial batchnorm after every conv (default) or none")
    cnn.add_argument("--keep-prob", type=positive_float, default=1.0, metavar="P",
                     help="dropout after every hidden affine layer, keeping units with "
                          "probability P (default 1: no dropout)")
    cnn.add_argument("--reg", type=nonneg_float, default=0.0, metavar="R",
                     help="L2 regularization strength, loss += 0.5 R sum(W^2) (default 0)")
    cnn.add_argument("--lr-decay", type=positive_float, default=None, metavar="G",
                     help=f"multiply the learning rate by G after every epoch (default "
                          f"{CNN_DEFAULTS['lr_decay']:g})")
    _common(cnn, lr_help=f"default {CNN_DEFAULTS['lr']:g}",
            epochs_help=f"default {CNN_DEFAULTS['epochs']}",
            batch_help=f"default {CNN_DEFAULTS['batch_size']}", clip_default=None)

    rnn = sub.add_parser(
        "rnn", help="character-level RNN language model on the shipped sonnets",
        description="Train embedding - RNN (or LSTM) - temporal affine - temporal softmax on "
                    "the characters of Shakespeare's sonnets, then print a sample. "
                    "Example: handgrad train rnn --cell lstm --minutes 3")
    rnn.add_argument("--data", choices=("sonnets",), default="sonnets",
                     help="the corpus (sonnets, shipped)")
    rnn.add_argument("--hidden", type=positive_int, default=128, metavar="H",
                     help="hidden state size (default 128)")
    rnn.add_argument("--wordvec", type=positive_int, default=64, metavar="D",
                     help="character embedding size (default 64)")
    rnn.add_argument("--cell", choices=CELLS, default="rnn",
                     help="recurrent cell: rnn (vanilla, default) or lstm")
    rnn.add_argument("--activation", choices=RNN_ACTIVATIONS, default="tanh",
                     help="activation of the vanilla RNN (default tanh; the LSTM's are fixed)")
    rnn.add_argument("--seq-len", type=positive_int, default=50, metavar="T",
                     help="characters per training window (default 50)")
    rnn.add_argument("--stride", type=positive_int, default=None, metavar="S",
                     help="distance between the starts of training windows (default T/2)")
    rnn.add_argument("--sample", type=nonneg_int, default=300, metavar="K",
                     help="characters to sample after training (default 300; 0: none)")
    rnn.add_argument("--temperature", type=positive_float, default=0.8, metavar="TAU",
                     help="sampling temperature (default 0.8)")
    rnn.add_argument("--prefix", default="\n",
                     help="text the sample continues (default: a line break)")
    _common(rnn, lr_help="default 2e-3", epochs_help=f"default {RNN_EPOCHS}",
            batch_help="default 50", clip_default=5.0)


# ------------------------------------------------------------------------------ reporting
def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(headers, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


def plot_curves(args: argparse.Namespace, histories: Any, title: str) -> None:
    if args.no_plot:
        return
    from handgrad.plots import plot_training

    path = Path(args.plot or f"out/train-{args.model}-{args.data}.png")
    plot_training(histories, path, title=title)
    print(f"curves written to {path}")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _length(args: argparse.Namespace, solver: Any) -> str:
    """How long the run trains: ``20 epochs`` or ``up to 10000 epochs or 3 min``."""
    if args.minutes:
        return f"up to {_plural(solver.num_epochs, 'epoch')} or {args.minutes:g} min"
    return _plural(solver.num_epochs, "epoch")


def optimizer_line(args: argparse.Namespace, solver: Any) -> str:
    """``adam lr 0.003, batch 64, 20 epochs[, clip norm C][ (resumed at epoch E)]``."""
    return (f"{solver.update_rule} lr {solver.base_lr:g}, batch {solver.batch_size}, "
            f"{_length(args, solver)}"
            + (f", clip norm {solver.clip_norm:g}" if solver.clip_norm else "")
            + (f" (resumed at epoch {solver.epoch})" if args.resume else ""))


def stop_line(solver: Any) -> str | None:
    """The line telling that training stopped early, and where (None if it did not)."""
    if not solver.stopped_early:
        return None
    return (f"stopped early: {solver.stop_reason}, at step {solver.step} (epoch "
            f"{solver.eval_epoch_history[-1]:g} of {solver.num_epochs})")


def error(message: str) -> int:
    print(f"handgrad train: error: {message}", file=sys.stderr)
    return 2


# ------------------------------------------------------------------------------ training
def epochs_for(args: argparse.Namespace, default: int) -> int:
    """The Solver's num_epochs: --epochs; else, with --minutes, MINUTES_EPOCHS more than a
    resumed checkpoint has done; else ``default``."""
    if args.epochs:
        return args.epochs
    if not args.minutes:
        return default
    done = 0
    if args.resume:
        from handgrad.optim import load_checkpoint

        done = int(load_checkpoint(args.resume)["metadata"]["epoch"])
    return done + MINUTES_EPOCHS


def make_solver(args: argparse.Namespace, model: Model, data: dict[str, Any], epochs: int,
                batch_size: int, lr: float, **extra: Any) -> Any:
    from handgrad.optim import Solver
    from handgrad.optim.callbacks import TimeBudget

    if args.checkpoint:
        Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    options = {"num_epochs": epochs, "verbose": not args.quiet, **extra}
    callbacks: list[Any] = []
    if args.minutes:
        callbacks.append(TimeBudget(args.minutes * 60))
    if getattr(args, "diagnose", False):
        from handgrad.diagnostics import Monitor

        callbacks.append(Monitor(every=DIAGNOSE_EVERY))
    if callbacks:
        options["callbacks"] = callbacks
    if args.checkpoint:
        options["checkpoint"] = args.checkpoint
    if args.resume:
        return Solver.resume(args.resume, model, data, **options)
    return Solver(model, data, update_rule=args.update, optim_config={"learning_rate": lr},
                  batch_size=batch_size, clip_norm=args.clip_norm, seed=args.seed,
                  **options)


def train_timed(solver: Any) -> tuple[float, int]:
    """Train; return (seconds, examples processed)."""
    start_step = solver.step
    start = time.perf_counter()
    solver.train()
    seconds = time.perf_counter() - start
    steps = solver.step - start_step
    full, rest = divmod(steps, solver.steps_per_epoch)
    examples = full * solver.num_train + min(rest * solver.batch_size, solver.num_train)
    return seconds, examples


# ---------------------------------------------------------------------------------- Ctrl-C
def resume_command(args: argparse.Namespace, path: str | Path) -> str:
    """The command line that continues this run from the checkpoint ``path``."""
    import shlex

    words = ["handgrad", "train", args.model, "--data", args.data, "--resume", str(path)]
    for flag, value in (("--epochs", args.epochs), ("--minutes", args.minutes)):
        if value:
            words += [flag, f"{value:g}"]
    if args.model == "rnn":  # the windows must be cut as before
        words += ["--seq-len", str(args.seq_len)]
        if args.stride:
            words += ["--stride", str(args.stride)]
    if getattr(args, "diagnose", False):
        words.append("--diagnose")
    return " ".join(shlex.quote(w) for w in words)


def interrupted(args: argparse.Namespace, exc: KeyboardInterrupt) -> int:
    """Report a Ctrl-C: where training stopped, the checkpoint and how to resume."""
    from handgrad.optim import TrainingInterrupted

    print(file=sys.stderr)
    path = args.checkpoint or args.resume
    if isinstance(exc, TrainingInterrupted):
        print(f"handgrad train: interrupted at step {exc.step} (epoch {exc.epoch:g})",
              file=sys.stderr)
        path = exc.checkpoint
        if path is not None:
            print(f"checkpoint written to {path}", file=sys.stderr)
    elif path is not None:  # a second Ctrl-C, or one outside training
        print(f"handgrad train: stopped at once; {path} was not updated", file=sys.stderr)
    else:
        print("handgrad train: interrupted", file=sys.stderr)
    if path is not None and Path(path).exists():
        print(f"resume with: {resume_command(args, path)}", file=sys.stderr)
    elif path is not None:
        print("no checkpoint was written yet, so there is nothing to resume", file=sys.stderr)
    else:
        print("no checkpoint to resume from (pass --checkpoint PATH to keep one)",
              file=sys.stderr)
    return INTERRUPTED_EXIT


# ---------------------------------------------------------------------------------- entry
def run(args: argparse.Namespace) -> int:
    from handgrad.optim import TrainingDiverged

    try:
        if args.model == "fc":
            from handgrad.models import train_fc

            return train_fc.run(args)
        if args.model == "cnn":
            from handgrad.models import train_cnn

            return train_cnn.run(args)
        from handgrad.models import train_rnn

        return train_rnn.run(args)
    except KeyboardInterrupt as exc:
        return interrupted(args, exc)
    except TrainingDiverged as exc:
        print(f"handgrad train: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        return error(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))
