"""Training curves: loss per step and accuracy per epoch, for one run or several side by side.

Figures are drawn with matplotlib's object API on an Agg canvas (``Figure`` +
``FigureCanvasAgg``), never through ``pyplot``: no display is needed and the backend of the
caller's session (a notebook, say) is left alone.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Where a run keeps each curve: Solver attribute names and checkpoint history names.
_LOSS_KEYS = ("loss_history", "loss")
_METRICS = (  # (train keys, val keys, label)
    (("train_acc_history", "train_acc"), ("val_acc_history", "val_acc"), "accuracy"),
    (("train_mse_history", "train_mse"), ("val_mse_history", "val_mse"), "mean squared error"),
)


def _get(run: Any, keys: Sequence[str]) -> np.ndarray | None:
    for key in keys:
        value = run.get(key) if isinstance(run, Mapping) else getattr(run, key, None)
        if value is not None and len(value):
            return np.asarray(value, dtype=np.float64).reshape(-1)
    return None


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
    dict ``{label: Solver or history dict}`` to compare runs. Left panel: the loss at every
    step, faint, with its moving average on top; right panel: train (dashed) and validation
    (solid) accuracy per epoch (or mean squared error for regression runs). The file is
    written atomically (temporary file, then rename) and its parent folders are created.
    Returns the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    runs = _runs(histories)
    path = Path(path)
    fig = Figure(figsize=(11, 4.2), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
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
                    epochs = np.arange(values.size)
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

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a plot is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
