"""``handgrad train fc``: a fully connected classifier on the shipped digits or the spiral.

Builds the net (or rebuilds it from ``--resume``), trains it with the Solver, prints the
accuracy table, the time and the throughput, and, with ``--diagnose``, what the
:class:`~handgrad.diagnostics.Monitor` found. The arguments are defined in
:mod:`handgrad.models.command`.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from handgrad.models.command import (
    FC_DEFAULTS,
    SPIRAL_POINTS_PER_CLASS,
    epochs_for,
    make_solver,
    optimizer_line,
    plot_curves,
    stop_line,
    table,
    train_timed,
)


def fc_data(name: str, dtype: Any) -> dict[str, Any]:
    """The data set ``name`` ("digits" or "spiral") as ``X_train, y_train, X_val, ...``.

    The spiral is generated (SPIRAL_POINTS_PER_CLASS points of 3 classes, seed 0) and split
    70/15/15 per class, so every run (and ``handgrad diagnose --model``) sees the same one.
    """
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


def _model(args: argparse.Namespace, data: dict[str, Any]) -> Any:
    from handgrad.models import from_checkpoint
    from handgrad.models.fc import FullyConnectedNet

    if args.resume:
        model = from_checkpoint(args.resume, which="last")
        if not isinstance(model, FullyConnectedNet):
            raise ValueError(f"{args.resume} holds a {type(model).__name__}, not a fully "
                             f"connected net")
        features = data["X_train"].shape[1]
        classes = int(data["y_train"].max()) + 1
        if (model.input_dim, model.num_classes) != (features, classes):
            raise ValueError(f"{args.resume} holds a net for {model.input_dim} features and "
                             f"{model.num_classes} classes, but --data {args.data} has "
                             f"{features} features and {classes} classes; resume with the "
                             f"data it was trained on")
        return model
    defaults = FC_DEFAULTS[args.data]
    return FullyConnectedNet(
        hidden_dims=args.hidden or defaults["hidden"], input_dim=data["X_train"].shape[1],
        num_classes=int(data["y_train"].max()) + 1, activation=args.activation,
        normalization=args.normalization, reg=args.reg, weight_scale=args.weight_scale,
        init=args.init, loss="softmax", dtype=args.dtype, seed=args.seed)


def _diagnostics(solver: Any) -> None:
    """What the Monitor found: every warning it issued, or that it found nothing."""
    from handgrad.diagnostics import Monitor
    from handgrad.diagnostics.monitor import records

    monitor = next((cb for cb in solver.callbacks if isinstance(cb, Monitor)), None)
    if monitor is None:
        return
    n = len(records(solver))
    head = (f"diagnostics (every {monitor.every} steps, {n} record{'' if n == 1 else 's'} "
            f"in the history)")
    if not monitor.warnings:
        print(f"{head}: no warnings")
        return
    print(f"{head}: {len(monitor.warnings)} warning{'' if len(monitor.warnings) == 1 else 's'}")
    for message in monitor.warnings:
        print(f"  - {message}")


def run(args: argparse.Namespace) -> int:
    defaults = FC_DEFAULTS[args.data]
    dtype = np.dtype(args.dtype)
    data = fc_data(args.data, dtype)
    model = _model(args, data)
    if model.dtype != dtype:  # a resumed model keeps its own dtype: cast the data once
        data = {k: (v.astype(model.dtype) if v.dtype.kind == "f" else v)
                for k, v in data.items()}
    epochs = epochs_for(args, defaults["epochs"])
    batch_size = args.batch_size or defaults["batch_size"]
    lr = args.lr or defaults["lr"]
    solver = make_solver(args, model, data, epochs, batch_size, lr,
                         num_train_samples=None,
                         print_every=max(1, 5 * -(-len(data["X_train"]) // batch_size)))
    dims = "-".join(str(d) for d in [model.input_dim, *model.hidden_dims, model.num_classes])
    bn = " + batchnorm" if model.normalization else ""
    init = (f"N(0, {model.weight_scale:g}^2)" if model.weight_scale is not None
            else f"{model.init} init")
    print(f"handgrad train fc: {args.data} ({len(data['X_train'])} train / "
          f"{len(data['X_val'])} val / {len(data['X_test'])} test examples)")
    print(f"model: {dims} {model.activation}{bn}, {init}, reg {model.reg:g}, "
          f"{model.dtype.name}; {optimizer_line(args, solver)}")

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
    _diagnostics(solver)
    plot_curves(args, solver, f"fc {dims} on {args.data}")
    return 0
