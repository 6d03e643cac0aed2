"""Pictures of the leaks: activation histograms, dead units and update ratios over training,
gradient norms per time step. Loss curves side by side are :func:`handgrad.plots.plot_training`.

Figures are drawn with matplotlib's object API on an Agg canvas (no display, the caller's
backend untouched) and written atomically as PNG (temporary file, then rename); parent
folders are created. Every function returns the path it wrote.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handgrad.diagnostics.activations import ActivationStats
from handgrad.diagnostics.flow import HEALTHY_UPDATE_RATIO
from handgrad.plots import figure, save


def activation_histograms(runs: Mapping[str, Sequence[ActivationStats]],
                          path: str | os.PathLike, title: str | None = None) -> Path:
    """One row per run (label -> the layers' :class:`ActivationStats`), one panel per layer:
    the histogram of the layer's outputs, with the saturated fraction in the panel title.
    The classic picture: with too large weights every sigmoid sits at 0 or 1."""
    if not runs or not all(runs.values()):
        raise ValueError("activation_histograms: give at least one run with one layer")
    cols = max(len(layers) for layers in runs.values())
    side_by_side = cols == 1  # one layer per run: the runs next to each other
    nrows, ncols = (1, len(runs)) if side_by_side else (len(runs), cols)
    fig = figure(3.9 * ncols + 0.6, 2.8 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for row, (label, layers) in enumerate(runs.items()):
        for col in range(cols):
            ax = axes[0, row] if side_by_side else axes[row, col]
            if col >= len(layers):
                ax.set_axis_off()
                continue
            st = layers[col]
            edges = np.asarray(st.edges)
            counts = np.asarray(st.counts, dtype=np.float64)
            total = counts.sum() or 1.0
            ax.bar(edges[:-1], counts / total, width=np.diff(edges), align="edge",
                   color=f"C{row}", alpha=0.85)
            sat = ("" if st.saturated is None
                   else f", {100 * st.saturated:.1f}% saturated")
            ax.set_title(f"{label}\n{st.layer} ({st.activation}){sat}", fontsize=9)
            ax.set_xlabel("activation")
            ax.set_ylabel("fraction of outputs")
            ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save(fig, path)


def _series(records: Sequence[Mapping[str, Any]], get: Any) -> tuple[np.ndarray, np.ndarray]:
    steps, values = [], []
    for r in records:
        value = get(r)
        if value is not None:
            steps.append(r["step"])
            values.append(value)
    return np.asarray(steps), np.asarray(values, dtype=np.float64)


def dead_units_over_training(runs: Mapping[str, Sequence[Mapping[str, Any]]],
                             path: str | os.PathLike, title: str | None = None) -> Path:
    """Dead-unit fraction of every ReLU layer against the step, one color per run
    (label -> the Monitor's records), one line style per layer."""
    fig = figure(7.5, 4.2)
    ax = fig.subplots()
    styles = ["-", "--", ":", "-."]
    for i, (label, records) in enumerate(runs.items()):
        layers = records[0]["layers"] if records else []
        for j, layer in enumerate(layers):
            if layer.get("dead") is None:
                continue
            steps, dead = _series(records, lambda r, j=j: r["layers"][j].get("dead"))
            ax.plot(steps, 100 * dead, styles[j % len(styles)], color=f"C{i}", marker="o",
                    markersize=3, label=f"{label}, {layer['layer']}")
    ax.set_xlabel("step")
    ax.set_ylabel("dead units (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title or "dead ReLU units over training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)


def update_ratios_over_training(runs: Mapping[str, Sequence[Mapping[str, Any]]],
                                path: str | os.PathLike, title: str | None = None,
                                params: Sequence[str] | None = None) -> Path:
    """``||update|| / ||weight||`` per step for the weight matrices (or ``params``), log
    scale, one color per run, with the healthy level 1e-3 marked."""
    fig = figure(7.5, 4.2)
    ax = fig.subplots()
    styles = ["-", "--", ":", "-."]
    for i, (label, records) in enumerate(runs.items()):
        names = list(params) if params is not None else (records[0]["weights"] if records
                                                          else [])
        for j, name in enumerate(names):
            steps, ratio = _series(records,
                                   lambda r, n=name: (r.get("update_ratios") or {}).get(n))
            if steps.size:
                ax.plot(steps, ratio, styles[j % len(styles)], color=f"C{i}", marker="o",
                        markersize=3, label=f"{label}, {name}")
    ax.axhline(HEALTHY_UPDATE_RATIO, color="gray", linewidth=1, linestyle=":")
    ax.text(0.01, HEALTHY_UPDATE_RATIO, " healthy ~1e-3", color="gray", fontsize=8,
            va="bottom", transform=ax.get_yaxis_transform())
    ax.set(yscale="log", xlabel="step", ylabel="|update| / |weight|",
           title=title or "update-to-weight ratio over training")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save(fig, path)


def _positive(values: Sequence[float | None]) -> np.ndarray:
    arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    arr[~(arr > 0)] = np.nan
    return arr


def hidden_gradient_norms(curves: Mapping[str, Sequence[float | None]],
                          path: str | os.PathLike, title: str | None = None,
                          training: Mapping[str, Mapping[str, Any]] | None = None,
                          clip_norm: float | None = None) -> Path:
    """``||dL/dh_t||`` against the time step t, log scale, one line per probe (label -> the
    norms). With ``training`` (label -> ``{"grad_norms": [...], "diverged_at": step or
    None}``) a second panel shows the global gradient norm per training step (log scale),
    with the clipping threshold and where a run diverged."""
    fig = figure(12.5 if training else 7.5, 4.4)
    axes = fig.subplots(1, 2 if training else 1, squeeze=False)[0]
    ax = axes[0]
    for i, (label, norms) in enumerate(curves.items()):
        values = _positive(norms)
        ax.plot(np.arange(values.size), values, color=f"C{i}", linewidth=1.8, label=label)
    ax.set(yscale="log", xlabel="time step t (the gradient enters at the last one)",
           ylabel="|dL/dh_t|", title="gradient reaching each hidden state")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if training:
        ax = axes[1]
        for i, (label, run) in enumerate(training.items()):
            values = _positive(run["grad_norms"])
            diverged = run.get("diverged_at")
            color = f"C{i + len(curves)}"
            if diverged is None:
                ax.plot(np.arange(values.size), values, color=color, marker="o",
                        markersize=3, label=label)
                continue
            # A diverged run may have a single point, often under another run's first one:
            # draw it on top, hollow and large, and say in words where it stopped.
            ax.plot(np.arange(values.size), values, color=color, marker="o", markersize=9,
                    markerfacecolor="none", markeredgewidth=2, zorder=3,
                    label=f"{label} (diverged at step {diverged})")
            last = values[np.isfinite(values)][-1] if np.isfinite(values).any() else 1.0
            ax.plot([diverged], [last], "x", color="red", markersize=10, markeredgewidth=2,
                    zorder=3)
            ax.annotate(f"{label}: diverged at step {diverged}\n(loss or gradient not finite)",
                        xy=(diverged, last), xytext=(0.04, 0.3 + 0.15 * i),
                        textcoords="axes fraction", color="red", fontsize=9,
                        arrowprops={"arrowstyle": "->", "color": "red"})
        ax.set_yscale("log")
        if clip_norm is not None:
            low, high = ax.get_ylim()
            ax.set_ylim(min(low, clip_norm / 10), high)
            ax.axhline(clip_norm, color="gray", linewidth=1, linestyle=":")
            ax.text(0.01, clip_norm, f" clipping threshold (clip_norm={clip_norm:g})",
                    color="gray", fontsize=8, va="bottom",
                    transform=ax.get_yaxis_transform())
        ax.set(xlabel="training step",
               ylabel="global gradient norm (before clipping)",
               title="training the exploding recurrence")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save(fig, path)
