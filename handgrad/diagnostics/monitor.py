"""The Solver Monitor: diagnostics every N steps, and a warning the first time a leak shows.

::

    from handgrad.diagnostics import Monitor
    solver = Solver(model, data, callbacks=[Monitor(every=50)])
    solver.train()
    solver.history["diagnostics"]      # one record per sample (see .record)

Before training and after every ``every``-th update the Monitor runs the detectors on a fixed
probe of ``probe_size`` training examples (drawn once, from ``seed``) and on the gradients of
that update, and appends the record (with ``step``, ``epoch``, ``loss`` and the ``warnings``
issued then) to ``solver.history["diagnostics"]``. Each problem (see
:class:`handgrad.diagnostics.rules.Thresholds`) is reported once per kind and layer:

- printed to stderr (above the progress bar) when the Solver is ``verbose``;
- always logged as a warning to the ``handgrad.diagnostics`` logger (silent unless the
  application configures logging);
- kept in ``monitor.warnings``.

The set of problems already reported is part of :meth:`Monitor.state`, so a resumed run does
not repeat them. The cost is a few forward passes over the probe per sample; with
``every=50`` it stays under a few percent of training time (see benchmarks/bench_monitor.py).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from handgrad.contracts import Trainer
from handgrad.diagnostics.record import snapshot
from handgrad.diagnostics.rules import Finding, Thresholds, findings
from handgrad.optim.callbacks import Callback

logger = logging.getLogger("handgrad.diagnostics")
logger.addHandler(logging.NullHandler())

HISTORY_KEY = "diagnostics"


def _emit(message: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        print(message, file=sys.stderr, flush=True)


class Monitor(Callback):
    """Record diagnostics every ``every`` steps and warn once per problem.

    ``probe_size``: training examples the layer and loss detectors look at (the first
    ``RECURRENT_PROBE`` of them for the RNN probe). ``warn=False`` records without warning.
    ``histograms=True`` also stores each layer's activation histogram in every record.
    Threshold keywords (``saturated``, ``dead``, ``update_high``, ``update_low``,
    ``exploding``, ``vanishing``, ``zero_examples``, ``zero_entries``) override the defaults
    of :class:`~handgrad.diagnostics.rules.Thresholds`.
    """

    def __init__(self, every: int = 50, probe_size: int = 256, warn: bool = True, *,
                 histograms: bool = False, seed: int = 0, **thresholds: float) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"Monitor: every must be a positive int, got {every!r}")
        if isinstance(probe_size, bool) or not isinstance(probe_size, int) or probe_size < 1:
            raise ValueError(f"Monitor: probe_size must be a positive int, got {probe_size!r}")
        known = set(Thresholds.__dataclass_fields__)
        unknown = sorted(set(thresholds) - known)
        if unknown:
            raise TypeError(f"Monitor: unknown threshold(s) {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(known))}")
        self.every = every
        self.probe_size = probe_size
        self.warn = bool(warn)
        self.histograms = bool(histograms)
        self.seed = seed
        self.thresholds = Thresholds(**thresholds)
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._probe: tuple[np.ndarray, np.ndarray] | None = None
        self._before: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, solver: Trainer) -> None:
        n = solver.X_train.shape[0]
        rng = np.random.default_rng(self.seed)
        idx = np.sort(rng.choice(n, min(self.probe_size, n), replace=False))
        self._probe = (solver.X_train[idx], solver.y_train[idx])
        history = solver.history.setdefault(HISTORY_KEY, [])
        if not history or history[-1]["step"] != solver.step:
            self._record(solver, solver.step, None, None, None)

    def _due(self, step: int) -> bool:
        return (step + 1) % self.every == 0

    def on_step_begin(self, solver: Trainer, step: int) -> None:
        if self._due(step):
            self._before = {k: np.array(v, copy=True) for k, v in solver.model.params.items()}

    def on_step_end(self, solver: Trainer, step: int, loss: float,
                    grads: dict[str, np.ndarray]) -> None:
        if self._due(step):
            self._record(solver, step + 1, grads, self._before, loss)
            self._before = None

    # ------------------------------------------------------------------ recording
    def _record(self, solver: Trainer, step: int, grads: dict[str, np.ndarray] | None,
                before: dict[str, np.ndarray] | None, loss: float | None) -> None:
        if self._probe is None:
            self.on_train_begin(solver)
            return
        X, y = self._probe
        with np.errstate(all="ignore"):
            record = snapshot(solver.model, X, y, grads=grads, before=before,
                              histograms=self.histograms, exploding=self.thresholds.exploding,
                              vanishing=self.thresholds.vanishing, seed=self.seed)
        record = {"step": int(step), "epoch": int(solver.epoch),
                  "loss": None if loss is None else float(loss), **record}
        issued = []
        for finding in findings(record, self.thresholds, learning_rate=_learning_rate(solver)):
            if finding.key not in self._warned:
                self._warned.add(finding.key)
                issued.append(finding.message)
                self._warn(solver, finding)
        record["warnings"] = issued
        solver.history.setdefault(HISTORY_KEY, []).append(record)

    def _warn(self, solver: Trainer, finding: Finding) -> None:
        self.warnings.append(finding.message)
        logger.warning(finding.message)
        if self.warn and getattr(solver, "verbose", True):
            _emit(f"diagnostics: {finding.message}")

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        return {"warned": sorted(self._warned), "warnings": list(self.warnings)}

    def load_state(self, state: dict[str, Any]) -> None:
        self._warned = set(state.get("warned", []))
        self.warnings = list(state.get("warnings", []))


def _learning_rate(solver: Trainer) -> float | None:
    configs = getattr(solver, "optim_configs", None) or {}
    for config in configs.values():
        lr = config.get("learning_rate")
        if lr is not None:
            return float(lr)
    return getattr(solver, "base_lr", None)


def records(history: Any) -> list[dict[str, Any]]:
    """The diagnostics records of a Solver, of its ``history`` dict or of a checkpoint's."""
    if hasattr(history, "history"):
        history = history.history
    return list((history or {}).get(HISTORY_KEY, []))
