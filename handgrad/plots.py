"""Training curves: loss per step and accuracy per epoch, for one run or several side by side.

Figures are drawn with matplotlib's object API on an Agg canvas (``Figure`` +
``FigureCanvasAgg``, made by :func:`figure`), never through ``pyplot``: no display is needed and
the backend of the caller's session (a notebook, say) is left alone. :func:`save` writes a
figure as PNG atomically; :mod:`handgrad.diagnostics.plots` draws with the same two.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handgrad._files import atomic_write

# Where a run keeps each curve: Solver attribute names and checkpoint history names.
_LOSS_KEYS = ("loss_history", "loss")
_EPOCH_KEYS = ("eval_epoch_history", "eval_epoch")  # the epoch of each evaluation
_METRICS = (  # (train keys, val keys, label)
    (("train_acc_history", "train_acc"), ("val_acc_history", "val_acc"), "accuracy"),
    (("train_mse_history", "train_mse"), ("val_mse_history", "val_mse"), "mean squared error"),
)


def figure(width: float, height: float) -> Any:
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Any, path: str | os.PathLike) -> Path:
    """Write ``fig`` to the PNG file ``path`` atomically, creating parent folders; return it."""
    # A plot is an ordinary file (0o644); it is cheap to redraw, so no fsync.
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png"), mode=0o644,
                        fsync=False)


def _get(run: Any, keys: Sequence[str]) -> np.ndarray | None:
    for key in keys:
        value = run.get(key) if isinstance(run, Mapping) else getattr(run, key, None)
        if value is not None and len(value):
            return np.asarray(value, dtype=np.float64).reshape(-1)
    return None


def _eval_epochs(run: Any, n: int) -> np.ndarray:
    """The epochs of a run's ``n`` evaluations: its eval_epoch history (2.5 for a stop
    half-way through the third epoch) when it has one of that length, else 0 .. n-1."""
    epochs = _get(run, _EPOCH_KEYS)
    return epochs if epochs is not None and epochs.size == n else np.arange(n, dtype=float)


def _is_run(value: Any) -> bool:
    return _get(value, _LOSS_KEYS) is not None or any(
        _get(value, train) is not None for train, _, _ in _METRICS)


def _runs(histories: Any) -> dict[str, Any]:
    if _is_run(histories):
        return {"": histories}
    if isinstance(histories, Mapping) and histories and all(map(_is_run, histories.values())):
        return {str(label): run for label, run in histories.items()}
    raise ValueError("plot_training: histories must be a Solver, a history dict (loss_history, "
                     "train_acc_history, val_acc_history) or a dict of label -> those, each "
                     "with at least one recorded value")


def smooth(values: np.ndarray, window: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Moving average of ``values``; returns ``(steps, averages)`` at the window centres.

    The default window is about 1/25 of the run (at least 1, at most 200 steps).
    """
    n = values.size
    if window is None:
        window = int(min(200, max(1, n // 25)))
    window = max(1, min(window, n))
    kernel = np.full(window, 1.0 / window)
    averages = np.convolve(values, kernel, mode="valid")
    steps = np.arange(averages.size) + (window - 1) / 2.0
    return steps, averages


def plot_training(histories: Any, path: str | os.PathLike, title: str | None = None) -> Path:
    """Draw the training curves of one or several runs into the PNG file ``path``.

    ``histories`` is a Solver, a dict of its histories (``loss_history``, ``train_acc_history``,
    ``val_acc_history``; the checkpoint names ``loss``, ``train_acc``, ``val_acc`` work too), or a
    dict ``{label: Solver or history dict}`` to compare runs; the picture is
    :func:`training_figure`'s. The file is written atomically (temporary file, then rename) and
    its parent folders are created. Returns the path.
    """
    return save(training_figure(histories, title), path)


def training_figure(histories: Any, title: str | None = None) -> Any:
    """The training curves of one or several runs, as a matplotlib ``Figure`` (Agg canvas).

    ``histories`` as for :func:`plot_training`. Left panel: the loss at every step, faint,
    with its moving average on top; right panel: train (dashed) and validation (solid)
    accuracy per epoch (or mean squared error for regression runs), at the epochs of
    ``eval_epoch_history`` (checkpoint: ``eval_epoch``) when the run has it, so that an
    evaluation at an early stop sits where the run stopped. In a notebook, ``display`` it.
    """
    from matplotlib.ticker import MaxNLocator

    runs = _runs(histories)
    fig = figure(11, 4.2)
    ax_loss, ax_metric = fig.subplots(1, 2)
    metric_label = None
    colors = [f"C{i % 10}" for i in range(len(runs))]
    for (label, run), color in zip(runs.items(), colors, strict=True):
        name = label or None
        loss = _get(run, _LOSS_KEYS)
        if loss is not None:
            steps = np.arange(loss.size)
            ax_loss.plot(steps, loss, color=color, alpha=0.25, linewidth=0.8)
            s_steps, s_loss = smooth(loss)
            ax_loss.plot(s_steps, s_loss, color=color, linewidth=1.8, label=name)
        for train_keys, val_keys, mlabel in _METRICS:
            train, val = _get(run, train_keys), _get(run, val_keys)
            if train is None and val is None:
                continue
            metric_label = metric_label or mlabel
            for values, style, split in ((train, "--", "train"), (val, "-", "val")):
                if values is not None:
                    epochs = _eval_epochs(run, values.size)
                    tag = f"{label} {split}".strip()
                    ax_metric.plot(epochs, values, style, color=color, marker="o",
                                   markersize=3, label=tag)
            break
    ax_loss.set_xlabel("step (minibatch)")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("training loss")
    ax_loss.grid(alpha=0.3)
    if any(runs):
        ax_loss.legend(fontsize=8)
    if metric_label is None:
        ax_metric.text(0.5, 0.5, "no accuracy recorded", ha="center", va="center",
                       transform=ax_metric.transAxes)
        ax_metric.set_axis_off()
    else:
        ax_metric.set_xlabel("epoch")
        ax_metric.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_metric.set_ylabel(metric_label)
        ax_metric.set_title(f"{metric_label} per epoch")
        ax_metric.grid(alpha=0.3)
        ax_metric.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
