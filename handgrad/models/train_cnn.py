"""``handgrad train cnn``: a convolutional classifier on the shipped digits, as 1x8x8 images.

Builds the net (or rebuilds it from ``--resume``), trains it with the Solver, prints the
accuracy table, the time and the throughput, and writes the curves. The arguments are defined
in :mod:`handgrad.models.command`; the defaults are :data:`~handgrad.models.command.CNN_DEFAULTS`.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from handgrad.models.command import (
    CNN_DEFAULTS,
    epochs_for,
    make_solver,
    optimizer_line,
    plot_curves,
    stop_line,
    table,
    train_timed,
)

# The digits' 64 pixels per example are an 8x8 grayscale image.
DIGITS_SHAPE = (1, 8, 8)


def cnn_data(name: str, dtype: Any) -> dict[str, Any]:
    """The data set ``name`` ("digits") with every ``X_*`` reshaped to (N, 1, 8, 8)."""
    from handgrad import data as hdata

    if name != "digits":
        raise ValueError(f"train cnn: unknown data set {name!r}; it trains on the digits")
    data = hdata.digits(dtype=dtype)
    return {k: (np.ascontiguousarray(v.reshape(-1, *DIGITS_SHAPE)) if k.startswith("X_")
                else v) for k, v in data.items()}


def _model(args: argparse.Namespace, data: dict[str, Any]) -> Any:
    from handgrad.models import from_checkpoint
    from handgrad.models.convnet import ConvNet

    shape = tuple(data["X_train"].shape[1:])
    classes = int(data["y_train"].max()) + 1
    if args.resume:
        model = from_checkpoint(args.resume, which="last")
        if not isinstance(model, ConvNet):
            raise ValueError(f"{args.resume} holds a {type(model).__name__}, not a "
                             f"convolutional net")
        if (model.input_dim, model.num_classes) != (shape, classes):
            raise ValueError(f"{args.resume} holds a net for {model.input_dim} images and "
                             f"{model.num_classes} classes, but --data {args.data} has "
                             f"{shape} images and {classes} classes")
        return model
    hidden = CNN_DEFAULTS["hidden"] if args.hidden is None else args.hidden
    return ConvNet(
        input_dim=shape, num_filters=args.filters or CNN_DEFAULTS["filters"],
        filter_size=args.filter_size, hidden_dims=hidden, num_classes=classes,
        normalization=None if args.normalization == "none" else args.normalization,
        keep_prob=args.keep_prob, reg=args.reg, dtype=args.dtype, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    dtype = np.dtype(args.dtype)
    data = cnn_data(args.data, dtype)
    model = _model(args, data)
    if model.dtype != dtype:  # a resumed model keeps its own dtype: cast the data once
        data = {k: (v.astype(model.dtype) if v.dtype.kind == "f" else v)
                for k, v in data.items()}
    epochs = epochs_for(args, CNN_DEFAULTS["epochs"])
    batch_size = args.batch_size or CNN_DEFAULTS["batch_size"]
    lr = args.lr or CNN_DEFAULTS["lr"]
    decay = CNN_DEFAULTS["lr_decay"] if args.lr_decay is None else args.lr_decay
    extra: dict[str, Any] = {} if args.resume else {"lr_decay": decay}
    solver = make_solver(args, model, data, epochs, batch_size, lr, num_train_samples=None,
                         print_every=max(1, 5 * -(-len(data["X_train"]) // batch_size)),
                         **extra)
    dropout = f", dropout keep {model.keep_prob:g}" if model.keep_prob < 1 else ""
    print(f"handgrad train cnn: {args.data} as {'x'.join(map(str, model.input_dim))} images "
          f"({len(data['X_train'])} train / {len(data['X_val'])} val / {len(data['X_test'])} "
          f"test examples)")
    print(f"model: {model.describe()}{dropout}, he init, reg {model.reg:g}, "
          f"{model.dtype.name}; {optimizer_line(args, solver)}, lr decay {solver.lr_decay:g}")

    seconds, examples = train_timed(solver)
    rows = []
    for split in ("train", "val", "test"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        rows.append([split, f"{len(y)}", f"{100 * solver.check_accuracy(X, y):.1f}%"])
    print()
    print(table(["split", "examples", "accuracy"], rows))
    best = (f"best validation accuracy at epoch {solver.best_epoch:g}"
            if solver.restored_best else "last parameters")
    if stopped := stop_line(solver):
        print(stopped)
    print(f"time {seconds:.1f} s, {examples / max(seconds, 1e-9):,.0f} examples/s; "
          f"parameters of the {best}")
    plot_curves(args, solver, f"cnn {model.describe()} on {args.data}")
    return 0
