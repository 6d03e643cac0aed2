"""``handgrad train``: train a fully connected net or a character RNN with the Solver.

::

    handgrad train fc  --data digits|spiral [--hidden 128] [--lr 3e-3] [--epochs 20] ...
    handgrad train rnn --data sonnets [--hidden 128] [--seq-len 50] [--minutes 3] ...

Shows the Solver's progress, then a table of the final metrics, the time taken and the
throughput, writes a PNG of the training curves and, for the RNN, prints a text sample.
``--minutes M`` stops training once M minutes are spent (a
:class:`handgrad.optim.callbacks.TimeBudget`), after at most ``--epochs`` epochs
(:data:`MINUTES_EPOCHS` when not given). Heavy imports (the Solver, matplotlib) happen
inside :func:`run`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

# Defaults of `handgrad train fc`, per data set. The digits defaults reach about 97% test
# accuracy in a few seconds (see the README); spiral needs more epochs of its small set.
FC_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"hidden": [128], "lr": 3e-3, "epochs": 20, "batch_size": 64},
    "spiral": {"hidden": [100], "lr": 1e-2, "epochs": 100, "batch_size": 64},
}
SPIRAL_POINTS_PER_CLASS = 200
RNN_EPOCHS = 10
# Epochs of a --minutes run without --epochs: more than fit in the budgets it is meant for,
# so that the time budget, not the epoch count, ends the run.
MINUTES_EPOCHS = 10_000
UPDATE_RULES = ("sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw")


# ------------------------------------------------------------------------------ arguments
def _number(kind: type, low: float, low_open: bool) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low:g}, "
                                             f"got {text}")
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
                   help="write a checkpoint (.npz) after every epoch")
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
    fc.add_argument("--activation", choices=("relu", "sigmoid", "tanh"), default="relu",
                    help="hidden activation (default relu)")
    fc.add_argument("--normalization", choices=("batchnorm",), default=None,
                    help="batch normalization after every hidden affine layer")
    fc.add_argument("--init", choices=("he", "xavier", "normal"), default="he",
                    help="weight initialization when --weight-scale is not given (default he)")
    fc.add_argument("--weight-scale", type=positive_float, default=None, metavar="W",
                    help="draw every weight from N(0, W^2) instead of --init")
    fc.add_argument("--reg", type=nonneg_float, default=0.0, metavar="R",
                    help="L2 regularization strength, loss += 0.5 R sum(W^2) (default 0)")
    _common(fc, lr_help="default 3e-3 for digits, 1e-2 for spiral",
            epochs_help="default 20 for digits, 100 for spiral", batch_help="default 64",
            clip_default=None)

    rnn = sub.add_parser(
        "rnn", help="character-level RNN language model on the shipped sonnets",
        description="Train embedding - RNN - temporal affine - temporal softmax on the "
                    "characters of Shakespeare's sonnets, then print a sample. "
                    "Example: handgrad train rnn --minutes 3")
    rnn.add_argument("--data", choices=("sonnets",), default="sonnets",
                     help="the corpus (sonnets, shipped)")
    rnn.add_argument("--hidden", type=positive_int, default=128, metavar="H",
                     help="hidden state size (default 128)")
    rnn.add_argument("--wordvec", type=positive_int, default=64, metavar="D",
                     help="character embedding size (default 64)")
    rnn.add_argument("--activation", choices=("tanh", "relu"), default="tanh",
                     help="RNN activation (default tanh)")
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
def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(headers, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


def _plot(args: argparse.Namespace, histories: Any, title: str) -> None:
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


def _stop_line(solver: Any) -> str | None:
    """The line telling that training stopped early, and where (None if it did not)."""
    if not solver.stopped_early:
        return None
    return (f"stopped early: {solver.stop_reason}, at step {solver.step} (epoch "
            f"{solver.eval_epoch_history[-1]:g} of {solver.num_epochs})")


def _error(message: str) -> int:
    print(f"handgrad train: error: {message}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------------------------- fc
def _fc_data(name: str, dtype: Any) -> dict[str, Any]:
    import numpy as np

    from handgrad import data as hdata

    if name == "digits":
        return hdata.digits(dtype=dtype)
    X, y = hdata.spiral(n_per_class=SPIRAL_POINTS_PER_CLASS, n_classes=3, seed=0, dtype=dtype)
    parts = hdata.stratified_split(y, (0.7, 0.15, 0.15), seed=0)
    out = {}
    for split, rows in zip(("train", "val", "test"), parts, strict=True):
        out[f"X_{split}"] = np.ascontiguousarray(X[rows])
        out[f"y_{split}"] = y[rows]
    return out


def _fc_model(args: argparse.Namespace, data: dict[str, Any]) -> Any:
    from handgrad.models import from_checkpoint
    from handgrad.models.fc import FullyConnectedNet

    if args.resume:
        model = from_checkpoint(args.resume, which="last")
        if not isinstance(model, FullyConnectedNet):
            raise ValueError(f"{args.resume} holds a {type(model).__name__}, not a fully "
                             f"connected net")
        return model
    defaults = FC_DEFAULTS[args.data]
    return FullyConnectedNet(
        hidden_dims=args.hidden or defaults["hidden"], input_dim=data["X_train"].shape[1],
        num_classes=int(data["y_train"].max()) + 1, activation=args.activation,
        normalization=args.normalization, reg=args.reg, weight_scale=args.weight_scale,
        init=args.init, loss="softmax", dtype=args.dtype, seed=args.seed)


def _epochs(args: argparse.Namespace, default: int) -> int:
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


def _solver(args: argparse.Namespace, model: Any, data: dict[str, Any], epochs: int,
            batch_size: int, lr: float, **extra: Any) -> Any:
    from handgrad.optim import Solver
    from handgrad.optim.callbacks import TimeBudget

    if args.checkpoint:
        Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    options = {"num_epochs": epochs, "verbose": not args.quiet, **extra}
    if args.minutes:
        options["callbacks"] = [TimeBudget(args.minutes * 60)]
    if args.checkpoint:
        options["checkpoint"] = args.checkpoint
    if args.resume:
        return Solver.resume(args.resume, model, data, **options)
    return Solver(model, data, update_rule=args.update, optim_config={"learning_rate": lr},
                  batch_size=batch_size, clip_norm=args.clip_norm, seed=args.seed,
                  **options)


def _train(solver: Any) -> tuple[float, int]:
    """Train; return (seconds, examples processed)."""
    start_step = solver.step
    start = time.perf_counter()
    solver.train()
    seconds = time.perf_counter() - start
    steps = solver.step - start_step
    full, rest = divmod(steps, solver.steps_per_epoch)
    examples = full * solver.num_train + min(rest * solver.batch_size, solver.num_train)
    return seconds, examples


def _run_fc(args: argparse.Namespace) -> int:
    import numpy as np

    defaults = FC_DEFAULTS[args.data]
    dtype = np.dtype(args.dtype)
    data = _fc_data(args.data, dtype)
    model = _fc_model(args, data)
    if model.dtype != dtype:  # a resumed model keeps its own dtype: cast the data once
        data = {k: (v.astype(model.dtype) if v.dtype.kind == "f" else v)
                for k, v in data.items()}
    epochs = _epochs(args, defaults["epochs"])
    batch_size = args.batch_size or defaults["batch_size"]
    lr = args.lr or defaults["lr"]
    solver = _solver(args, model, data, epochs, batch_size, lr,
                     num_train_samples=None, print_every=max(1, 5 * -(-len(data["X_train"])
                                                                      // batch_size)))
    dims = "-".join(str(d) for d in [model.input_dim, *model.hidden_dims, model.num_classes])
    bn = " + batchnorm" if model.normalization else ""
    init = (f"N(0, {model.weight_scale:g}^2)" if model.weight_scale is not None
            else f"{model.init} init")
    print(f"handgrad train fc: {args.data} ({len(data['X_train'])} train / "
          f"{len(data['X_val'])} val / {len(data['X_test'])} test examples)")
    print(f"model: {dims} {model.activation}{bn}, {init}, reg {model.reg:g}, "
          f"{model.dtype.name}; {solver.update_rule} lr {solver.base_lr:g}, batch "
          f"{solver.batch_size}, {_length(args, solver)}"
          + (f", clip norm {solver.clip_norm:g}" if solver.clip_norm else "")
          + (f" (resumed at epoch {solver.epoch})" if args.resume else ""))

    seconds, examples = _train(solver)
    rows = []
    for split in ("train", "val", "test"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        rows.append([split, f"{len(y)}", f"{100 * solver.check_accuracy(X, y):.1f}%"])
    print()
    print(_table(["split", "examples", "accuracy"], rows))
    best = (f"best validation accuracy at epoch {solver.best_epoch:g}"
            if solver.restored_best else "last parameters")
    if stopped := _stop_line(solver):
        print(stopped)
    print(f"time {seconds:.1f} s, {examples / max(seconds, 1e-9):,.0f} examples/s; "
          f"parameters of the {best}")
    _plot(args, solver, f"fc {dims} on {args.data}")
    return 0


# ---------------------------------------------------------------------------------- rnn
def _sequence_metrics(model: Any, X: Any, y: Any, batch_size: int = 100) -> tuple[float, float]:
    """(mean loss per character in nats, next-character accuracy) in test mode."""
    from handgrad.losses import temporal_softmax_cross_entropy as tsce

    total = right = 0.0
    count = 0
    for start in range(0, X.shape[0], batch_size):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        scores = model.loss(xb)
        loss, _ = tsce.forward(scores, yb)
        total += float(loss) * xb.shape[0]
        right += float((scores.argmax(axis=2) == yb).sum())
        count += yb.size
    return total / count, right / count


def _run_rnn(args: argparse.Namespace) -> int:
    import numpy as np

    from handgrad.data import sonnets
    from handgrad.models import from_checkpoint
    from handgrad.models.rnn_lm import RNNLanguageModel

    corpus = sonnets()
    unknown = sorted(set(args.prefix) - set(corpus.vocab))
    if unknown:
        return _error(f"--prefix has characters that are not in the corpus: "
                      f"{''.join(unknown)!r}")
    stride = args.stride or max(1, args.seq_len // 2)
    data = corpus.training_data(seq_len=args.seq_len, val_fraction=0.1, stride=stride)
    if args.resume:
        model = from_checkpoint(args.resume, which="last")
        if not isinstance(model, RNNLanguageModel):
            raise ValueError(f"{args.resume} holds a {type(model).__name__}, not an RNN "
                             f"language model")
    else:
        model = RNNLanguageModel(vocab=corpus.vocab, wordvec_dim=args.wordvec,
                                 hidden_dim=args.hidden, activation=args.activation,
                                 dtype=np.dtype(args.dtype), seed=args.seed)
    solver = _solver(args, model, data, _epochs(args, RNN_EPOCHS), args.batch_size or 50,
                     args.lr or 2e-3, num_train_samples=1000, print_every=50)
    print(f"handgrad train rnn: sonnets, {len(corpus.text):,} characters, vocabulary of "
          f"{corpus.vocab_size}; {len(data['X_train'])} train / {len(data['X_val'])} val "
          f"windows of {args.seq_len} characters (stride {stride})")
    print(f"model: embedding {model.wordvec_dim} - {model.activation} RNN {model.hidden_dim} - "
          f"softmax over {model.vocab_size}, {model.dtype.name}; {solver.update_rule} lr "
          f"{solver.base_lr:g}, batch {solver.batch_size}, {_length(args, solver)}"
          + (f", clip norm {solver.clip_norm:g}" if solver.clip_norm else "")
          + (f" (resumed at epoch {solver.epoch})" if args.resume else ""))

    seconds, examples = _train(solver)
    rows = []
    for split in ("train", "val"):
        loss, acc = _sequence_metrics(model, data[f"X_{split}"], data[f"y_{split}"])
        rows.append([split, f"{data[f'y_{split}'].size:,}", f"{loss:.3f}",
                     f"{100 * acc:.1f}%"])
    print()
    print(_table(["split", "characters", "loss/char", "next-char acc"], rows))
    if stopped := _stop_line(solver):
        print(stopped)
    chars = examples * args.seq_len
    print(f"time {seconds:.1f} s, {examples / max(seconds, 1e-9):,.0f} windows/s "
          f"({chars / max(seconds, 1e-9):,.0f} characters/s); loss/char in nats "
          f"(uniform guessing: {math.log(model.vocab_size):.2f})")
    per_char = {"loss_history": [v / args.seq_len for v in solver.loss_history],
                "train_acc_history": solver.train_acc_history,
                "val_acc_history": solver.val_acc_history,
                "eval_epoch_history": solver.eval_epoch_history}
    _plot(args, per_char, f"char-RNN (H={model.hidden_dim}) on sonnets: loss per character, "
                          f"next-character accuracy")
    if args.sample:
        text = model.sample(args.prefix, args.sample, temperature=args.temperature,
                            seed=args.seed)
        print(f"\nsample (temperature {args.temperature:g}):\n{args.prefix}{text}")
    return 0


# ---------------------------------------------------------------------------------- entry
def run(args: argparse.Namespace) -> int:
    from handgrad.optim import TrainingDiverged

    try:
        if args.model == "fc":
            return _run_fc(args)
        return _run_rnn(args)
    except TrainingDiverged as exc:
        print(f"handgrad train: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        return _error(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))
