"""The Solver: trains a model with minibatch updates, CS231n style, plus checkpoints.

The model is any object with

- ``params``: a dict of float arrays (the Solver replaces the entries after every update);
- ``loss(X, y=None)``: the scores (predictions) when ``y`` is None (test mode), else
  ``(loss, grads)`` with ``grads`` keyed like ``params`` (train mode).

and optionally

- ``task``: ``"classification"`` or ``"regression"`` (default: classification for integer
  targets, regression for float targets);
- ``num_classes``: the number of classes (default: the width of the scores);
- ``config()``: the constructor keyword arguments, stored in checkpoints so that a tool can
  rebuild the model;
- ``buffers``: a dict of arrays that are state but not trained (batchnorm running statistics);
  they must exist from construction on and be updated in place. They are checkpointed, kept
  with the best parameters and restored in place;
- ``rng``: a ``np.random.Generator`` the model draws from (dropout); its state is checkpointed
  so that a resumed run repeats the same draws.

Classification tracks accuracy (higher is better); regression the mean squared error of the
test-mode predictions over every output entry (lower is better). ``val_metric_history`` /
``train_metric_history`` name whichever applies and ``best_val_metric`` is its best value.

Each epoch is one pass over a fresh shuffle of the training set (minibatches drawn without
replacement; the last one may be smaller), so an epoch has ``ceil(N / batch_size)`` updates.
Before training and after every epoch the Solver measures the metric on up to
``num_train_samples`` training examples and ``num_val_samples`` validation examples (all when
None), keeps a copy of the parameters with the best validation score and restores them when
training ends. Use ``Solver.resume(path, model, data, **overrides)`` to continue from a
checkpoint; the run then ends exactly as an uninterrupted one with the same seed.

The loop itself (an epoch, an update, the evaluations) is in :mod:`handgrad.optim.training`;
the checks of the options, model and data in :mod:`handgrad.optim.solver_checks`; the state
kept in checkpoints in :mod:`handgrad.optim.solver_state`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from handgrad.optim import checkpoint as ckpt
from handgrad.optim import evaluation, interrupt, schedules, solver_state, training
from handgrad.optim.callbacks import Callback, TimeBudget
from handgrad.optim.progress import Progress
from handgrad.optim.rules import check_hyperparameters, get_rule
from handgrad.optim.solver_checks import DATA_KEYS as DATA_KEYS
from handgrad.optim.solver_checks import HOOKS as HOOKS
from handgrad.optim.solver_checks import TrainingDiverged as TrainingDiverged
from handgrad.optim.solver_checks import (
    check_callbacks,
    check_data,
    check_model,
    check_seed,
    check_task,
    checkpoint_path,
    positive_float,
    positive_int,
    rule_name,
)
from handgrad.optim.solver_state import FIXED_ON_RESUME as FIXED_ON_RESUME


class Solver:
    """Train ``model`` on ``data`` (a dict with ``X_train, y_train, X_val, y_val``).

    Everything is checked here, before any training: the data (missing keys, lengths, NaN or
    inf in X, labels that are not integers or outside ``[0, num_classes)``), the model (one
    test-mode forward pass on two training examples), the update rule and its config.

    Arguments (CS231n names and defaults where CS231n has them):

    - ``update_rule``: a name in ``handgrad.optim.RULES`` (sgd, sgd_momentum, nesterov,
      rmsprop, adam, adamw); ``optim_config``: its hyper-parameters (learning_rate, ...),
      deep-copied for every parameter, which then also keeps its own optimizer state.
    - ``lr_decay``: after every epoch, every parameter's learning rate is multiplied by it.
      ``lr_schedule``: a schedule (``handgrad.optim.schedules``, or ``"cosine"``) that sets the
      learning rate before every update instead; it cannot be combined with ``lr_decay``.
    - ``clip_value`` then ``clip_norm``: gradient clipping by value and by global L2 norm.
      ``grad_norm_history`` records the global norm before any clipping, every step.
    - ``num_train_samples`` / ``num_val_samples``: examples used to measure the metric after
      each epoch (None: all).
    - ``print_every``: iterations between progress lines; ``verbose=False`` prints nothing.
    - ``seed``: seeds the Solver's own generator (shuffles and metric subsamples).
    - ``checkpoint``: path of an ``.npz`` written atomically after every epoch, at an early
      stop and every ``checkpoint_every`` updates when given.
    - ``callbacks``: :class:`handgrad.optim.callbacks.Callback` objects; one may end training
      early with :meth:`request_stop` (``callbacks.TimeBudget`` does on a wall-clock budget).
    - ``diagnose``: also attach a :class:`handgrad.diagnostics.Monitor` (every 50 steps; none is
      added when ``callbacks`` has one), which records ``history["diagnostics"]`` and warns the
      first time a leak of backpropagation shows.

    Ctrl-C during ``train()`` finishes the current step, stops as a callback's stop request
    would (evaluation, checkpoint, best parameters) and then raises
    :class:`~handgrad.optim.interrupt.TrainingInterrupted`; see :mod:`handgrad.optim.interrupt`.

    After ``train()``: ``loss_history``, ``grad_norm_history`` and ``lr_history`` hold one
    entry per update; ``train_acc_history`` / ``val_acc_history`` (classification) or
    ``train_mse_history`` / ``val_mse_history`` (regression) one per evaluation (before
    training, after every epoch, at a stop inside an epoch), ``eval_epoch_history`` the epoch
    of each (0.0, 1.0, ..., 2.5 for a stop half-way through the third). ``best_val_metric``
    (``best_val_acc``), ``best_epoch`` (an int at an epoch end), ``best_params`` and
    ``restored_best`` describe the restored parameters; ``epoch`` counts completed epochs,
    ``step`` updates; ``stopped_early`` and ``stop_reason`` tell whether a callback ended
    training before ``num_epochs`` and why; ``history`` holds what callbacks recorded.
    """

    def __init__(self, model: Any, data: Mapping[str, np.ndarray], update_rule: str = "adam",
                 optim_config: Mapping[str, Any] | None = None, lr_decay: float = 1.0,
                 lr_schedule: Callable[[float, int, int, int], float] | str | None = None,
                 batch_size: int = 100, num_epochs: int = 10, clip_norm: float | None = None,
                 clip_value: float | None = None, num_train_samples: int | None = 1000,
                 num_val_samples: int | None = None, print_every: int = 100,
                 verbose: bool = True, seed: int | None = None,
                 checkpoint: str | os.PathLike | None = None, callbacks: Iterable[Any] = (),
                 checkpoint_every: int | None = None, diagnose: bool = False):
        self.model = model
        check_model(model)

        # Options.
        update_rule = rule_name(update_rule)
        self.update_rule = update_rule
        self.rule = get_rule(update_rule)
        self.optim_config = dict(optim_config or {})
        check_hyperparameters(update_rule, self.optim_config, allow_state=False)
        self.base_lr = float(self.optim_config.get(
            "learning_rate", self.rule.defaults["learning_rate"]))  # type: ignore[attr-defined]
        self.lr_decay = positive_float("lr_decay", lr_decay)
        self.lr_schedule = None if lr_schedule is None else schedules.get_schedule(lr_schedule)
        if self.lr_schedule is not None and self.lr_decay != 1.0:
            raise ValueError("Solver: give either lr_decay or lr_schedule, not both "
                             "(schedules.step_decay(d) is lr_decay=d as a schedule)")
        self.batch_size = positive_int("batch_size", batch_size)
        self.num_epochs = positive_int("num_epochs", num_epochs, allow_zero=True)
        self.clip_norm = positive_float("clip_norm", clip_norm, allow_none=True)
        self.clip_value = positive_float("clip_value", clip_value, allow_none=True)
        self.num_train_samples = positive_int("num_train_samples", num_train_samples,
                                              allow_none=True)
        self.num_val_samples = positive_int("num_val_samples", num_val_samples,
                                            allow_none=True)
        self.print_every = positive_int("print_every", print_every)
        self.verbose = bool(verbose)
        self.seed = check_seed(seed)
        self.checkpoint = checkpoint_path(checkpoint)
        self.checkpoint_every = positive_int("checkpoint_every", checkpoint_every,
                                             allow_none=True)
        self.callbacks = check_callbacks(callbacks)
        self.diagnose = bool(diagnose)
        if self.diagnose:
            from handgrad.diagnostics import Monitor

            if not any(isinstance(cb, Monitor) for cb in self.callbacks):
                self.callbacks.append(Monitor())

        # Data and task.
        check_data(data)
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.num_train = self.X_train.shape[0]
        self.steps_per_epoch = -(-self.num_train // self.batch_size)
        self.task, self.metric, self.num_classes = check_task(
            model, self.X_train, self.y_train, self.y_val)

        self._reset()

    # ------------------------------------------------------------------ state

    def _reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.epoch = 0  # completed epochs
        self.step = 0   # completed updates
        self._perm: np.ndarray | None = None
        self._pos = 0
        self.optim_configs = {name: copy.deepcopy(self.optim_config)
                              for name in self.model.params}
        self.loss_history: list[float] = []
        self.grad_norm_history: list[float] = []
        self.lr_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.train_mse_history: list[float] = []
        self.val_mse_history: list[float] = []
        self.eval_epoch_history: list[float] = []
        self.history: dict[str, list] = {}
        self.best_params: dict[str, np.ndarray] | None = None
        self.best_buffers: dict[str, np.ndarray] | None = None
        self.best_val_metric: float | None = None
        self.best_epoch: int | float | None = None
        self.restored_best = False
        self.stopped_early = False
        self.stop_reason: str | None = None
        self._stop_request: str | None = None
        self._interrupted = False

    @property
    def total_steps(self) -> int:
        return self.num_epochs * self.steps_per_epoch

    @property
    def train_metric_history(self) -> list[float]:
        return self.train_acc_history if self.task == "classification" else self.train_mse_history

    @property
    def val_metric_history(self) -> list[float]:
        return self.val_acc_history if self.task == "classification" else self.val_mse_history

    @property
    def best_val_acc(self) -> float | None:
        """The best validation accuracy (classification only; None before any evaluation)."""
        return self.best_val_metric if self.task == "classification" else None

    # ------------------------------------------------------------------ evaluation

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                       batch_size: int = 100) -> float:
        """Fraction of examples whose highest score is the label, in test mode, in batches.

        With ``num_samples``, a random subset of that size is used (drawn from the Solver's
        generator). Scores holding NaN make the accuracy NaN. Classification only.
        """
        if self.task != "classification":
            raise ValueError("Solver.check_accuracy: accuracy is not defined for a regression "
                             "model; use Solver.evaluate (mean squared error)")
        X, y = evaluation.subsample(self.rng, X, y, num_samples)
        return evaluation.accuracy(self.model, X, y, batch_size)

    def check_mse(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                  batch_size: int = 100) -> float:
        """Mean squared error of the test-mode predictions, over every output entry."""
        X, y = evaluation.subsample(self.rng, X, y, num_samples)
        return evaluation.mean_squared_error(self.model, X, y, batch_size)

    def evaluate(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                 batch_size: int = 100) -> float:
        """The task's metric: accuracy (classification) or mean squared error (regression)."""
        if self.task == "classification":
            return self.check_accuracy(X, y, num_samples, batch_size)
        return self.check_mse(X, y, num_samples, batch_size)

    # ------------------------------------------------------------------ training
    # (one epoch, one update and the evaluations are in handgrad.optim.training)

    def _interrupt(self) -> None:
        """The first Ctrl-C: stop after the current step, then raise TrainingInterrupted.
        Another one: raise KeyboardInterrupt at once."""
        if self._interrupted:
            raise KeyboardInterrupt
        self._interrupted = True
        self.request_stop(interrupt.INTERRUPTED)

    def request_stop(self, reason: str) -> None:
        """Ask :meth:`train` to stop early for ``reason`` (kept in ``stop_reason``).

        For callbacks, or another thread, while ``train()`` runs; the first request counts.
        The Solver finishes the current step, evaluates, writes the checkpoint, restores the
        best parameters and calls ``on_train_end``; ``stopped_early`` is then True. Where
        exactly it stops, and how that checkpoint resumes, is described under "Stopping
        early" in :mod:`handgrad.optim.callbacks`.
        """
        if not isinstance(reason, str) or not reason:
            raise TypeError(f"Solver.request_stop: reason must be a non-empty str, "
                            f"got {reason!r}")
        if self._stop_request is None:
            self._stop_request = reason

    def train(self) -> None:
        """Train for the remaining epochs (or until a stop is requested, see
        :meth:`request_stop`), then restore the best validation parameters.

        Raises :class:`TrainingDiverged` (before applying the update) when the loss or a
        gradient is not finite; the last checkpoint is then left untouched. On Ctrl-C, stops
        after the current step and then raises
        :class:`~handgrad.optim.interrupt.TrainingInterrupted`.
        """
        self.stopped_early, self.stop_reason, self._stop_request = False, None, None
        self._interrupted = False
        # A time budget may end the run long before num_epochs: show no total then.
        budget = any(isinstance(cb, TimeBudget) for cb in self.callbacks)
        progress = Progress(self.verbose, None if budget else self.total_steps, self.step,
                            self.print_every)
        with interrupt.first_sigint_calls(self._interrupt):
            try:
                training.notify(self, "on_train_begin")
                if not self.val_metric_history:
                    training.evaluate(self, progress)
                while self.epoch < self.num_epochs and self._stop_request is None:
                    training.run_epoch(self, progress)
                if self._stop_request is not None and self.epoch < self.num_epochs:
                    self.stopped_early, self.stop_reason = True, self._stop_request
                    progress.message(f"Stopped early at step {self.step} (epoch "
                                     f"{training.epoch_reached(self):g} / {self.num_epochs}): "
                                     f"{self.stop_reason}")
                solver_state.restore_best(self, progress.message)
            finally:
                progress.close()
            training.notify(self, "on_train_end")
        if self._interrupted:
            saved = self.checkpoint if self.checkpoint and self.checkpoint.exists() else None
            raise interrupt.TrainingInterrupted(self.step, float(training.epoch_reached(self)),
                                                saved)

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write the full training state to ``path`` (default: the ``checkpoint`` option)."""
        target = Path(path) if path is not None else self.checkpoint
        if target is None:
            raise ValueError("Solver.save_checkpoint: no path given and no checkpoint option")
        arrays, meta = solver_state.pack(self)
        ckpt.write_checkpoint(target, arrays, meta)
        return target

    @classmethod
    def resume(cls, path: str | os.PathLike, model: Any, data: Mapping[str, np.ndarray],
               **overrides: Any) -> Solver:
        """Rebuild the Solver saved in checkpoint ``path`` around ``model`` and ``data``.

        ``model`` must have the same parameter names, shapes and dtypes (the checkpoint's
        values replace its own), ``data`` the same number of training examples. ``train()``
        continues where the checkpoint stopped, writing further checkpoints to ``path`` unless
        ``checkpoint=`` says otherwise. ``overrides`` may change any constructor option
        (``num_epochs``, ``verbose``, ``callbacks``, ...) but update_rule, optim_config,
        batch_size and seed. Pass callbacks again: each gets back the state saved for the
        callback of its class. Pass a custom (not built-in) ``lr_schedule`` again too.
        """
        options, saved_ckpt = solver_state.resume_options(path, overrides)
        solver = cls(model, data, **options)
        solver_state.restore(solver, saved_ckpt)
        return solver


__all__ = ["Callback", "Solver", "TrainingDiverged"]
