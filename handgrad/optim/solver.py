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

Classification tracks accuracy (``train_acc_history``, ``val_acc_history``; higher is better).
Regression has no accuracy: it tracks the mean squared error of the test-mode predictions
against the targets (``train_mse_history``, ``val_mse_history``; lower is better), averaged
over every output entry. ``val_metric_history`` / ``train_metric_history`` name whichever
applies and ``best_val_metric`` is the best value of it.

Each epoch is one pass over a fresh shuffle of the training set (minibatches drawn without
replacement; the last one may be smaller), so an epoch has ``ceil(N / batch_size)`` updates.
Before training and after every epoch the Solver measures the metric on up to
``num_train_samples`` training examples and ``num_val_samples`` validation examples (all when
None), keeps a copy of the parameters with the best validation score and restores them when
training ends. Use ``Solver.resume(path, model, data, **overrides)`` to continue from a
checkpoint; the run then ends exactly as an uninterrupted one with the same seed.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from handgrad.optim import checkpoint as ckpt
from handgrad.optim import clipping, evaluation, schedules, solver_state
from handgrad.optim.callbacks import Callback
from handgrad.optim.clipping import NonFiniteGradientError, global_norm
from handgrad.optim.progress import Progress
from handgrad.optim.rules import check_hyperparameters, get_rule
from handgrad.optim.solver_checks import DATA_KEYS as DATA_KEYS
from handgrad.optim.solver_checks import HOOKS as HOOKS
from handgrad.optim.solver_checks import (
    check_callbacks,
    check_data,
    check_grads,
    check_model,
    check_seed,
    check_task,
    checkpoint_path,
    first_non_finite,
    positive_float,
    positive_int,
    rule_name,
)
from handgrad.optim.solver_state import FIXED_ON_RESUME as FIXED_ON_RESUME
from handgrad.optim.solver_state import model_buffers


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN or inf; training stopped before the bad update.

    ``step`` and ``epoch`` are 0-based; ``param`` names the parameter whose gradient is not
    finite (None when the loss itself is not finite).
    """

    def __init__(self, message: str, *, step: int, epoch: int, param: str | None,
                 loss: float | None):
        super().__init__(message)
        self.step = step
        self.epoch = epoch
        self.param = param
        self.loss = loss


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
    - ``checkpoint``: path of an ``.npz`` written atomically after every epoch (and every
      ``checkpoint_every`` updates when given).
    - ``callbacks``: :class:`handgrad.optim.callbacks.Callback` objects.

    After ``train()``: ``loss_history``, ``grad_norm_history`` and ``lr_history`` hold one
    entry per update; ``train_acc_history`` / ``val_acc_history`` (classification) or
    ``train_mse_history`` / ``val_mse_history`` (regression) one entry before training and one
    per epoch; ``best_val_metric`` (``best_val_acc``), ``best_epoch``, ``best_params`` and
    ``restored_best`` describe the restored parameters; ``epoch`` counts completed epochs and
    ``step`` completed updates; ``history`` holds what callbacks recorded. Continue a saved run
    with the classmethod ``Solver.resume(path, model, data, **overrides)``.
    """

    def __init__(self, model: Any, data: Mapping[str, np.ndarray], update_rule: str = "adam",
                 optim_config: Mapping[str, Any] | None = None, lr_decay: float = 1.0,
                 lr_schedule: Callable[[float, int, int, int], float] | str | None = None,
                 batch_size: int = 100, num_epochs: int = 10, clip_norm: float | None = None,
                 clip_value: float | None = None, num_train_samples: int | None = 1000,
                 num_val_samples: int | None = None, print_every: int = 100,
                 verbose: bool = True, seed: int | None = None,
                 checkpoint: str | os.PathLike | None = None, callbacks: Iterable[Any] = (),
                 checkpoint_every: int | None = None):
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
        self.history: dict[str, list] = {}
        self.best_params: dict[str, np.ndarray] | None = None
        self.best_buffers: dict[str, np.ndarray] | None = None
        self.best_val_metric: float | None = None
        self.best_epoch: int | None = None
        self.restored_best = False

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

    def _evaluate_epoch(self, progress: Progress) -> None:
        batch = max(self.batch_size, 100)
        train = self.evaluate(self.X_train, self.y_train, self.num_train_samples, batch)
        val = self.evaluate(self.X_val, self.y_val, self.num_val_samples, batch)
        self.train_metric_history.append(train)
        self.val_metric_history.append(val)
        if evaluation.is_better(self.task, val, self.best_val_metric):
            self.best_val_metric = val
            self.best_epoch = self.epoch
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            self.best_buffers = {k: v.copy() for k, v in model_buffers(self.model).items()}
        short = "acc" if self.task == "classification" else "mse"
        progress.message(f"(Epoch {self.epoch} / {self.num_epochs}) train {short}: {train:.6f}; "
                         f"val {short}: {val:.6f}", **{f"val_{short}": val})

    # ------------------------------------------------------------------ training

    def _diverged(self, what: str, param: str | None, loss: float | None) -> TrainingDiverged:
        where = f"step {self.step} (epoch {self.epoch + 1} of {self.num_epochs})"
        saved = (f"; the last checkpoint {str(self.checkpoint)!r} was left as it was"
                 if self.checkpoint is not None else "")
        return TrainingDiverged(f"training diverged at {where}: {what}. Lower the learning "
                                f"rate or clip the gradients (clip_norm){saved}",
                                step=self.step, epoch=self.epoch, param=param, loss=loss)

    def _update(self) -> None:
        """One minibatch update (the caller makes sure the epoch has examples left)."""
        step = self.step
        for cb in self.callbacks:
            cb.on_step_begin(self, step)
        if self.lr_schedule is not None:
            lr = float(self.lr_schedule(self.base_lr, step, self.steps_per_epoch,
                                        self.total_steps))
            if not (lr >= 0 and math.isfinite(lr)):
                raise ValueError(f"Solver: lr_schedule returned {lr} at step {step}")
            for config in self.optim_configs.values():
                config["learning_rate"] = lr

        idx = self._perm[self._pos:self._pos + self.batch_size]
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        loss = float(loss)
        if not math.isfinite(loss):
            bad = next((name for name, g in grads.items() if isinstance(g, np.ndarray)
                        and g.dtype.kind == "f" and first_non_finite(g) is not None), None)
            also = "" if bad is None else f" (and the gradient of {bad!r} is not finite)"
            raise self._diverged(f"the loss is {loss}{also}", bad, loss)
        params = self.model.params
        check_grads(grads, params)
        try:
            norm = global_norm(grads, "Solver")
        except NonFiniteGradientError as exc:
            bad = "NaN" if np.isnan(grads[exc.param]).any() else "inf"
            raise self._diverged(f"the gradient of {exc.param!r} contains {bad} "
                                 f"(loss {loss:.6g})", exc.param, loss) from None

        if self.clip_value is not None:
            clipping.clip_grad_value(grads, self.clip_value)
        if self.clip_norm is not None:
            clipping.clip_grad_norm(grads, self.clip_norm)

        for name, w in params.items():
            next_w, self.optim_configs[name] = self.rule(w, grads[name],
                                                         self.optim_configs[name])
            params[name] = next_w

        first = next(iter(self.optim_configs.values()))
        self.loss_history.append(loss)
        self.grad_norm_history.append(norm)
        self.lr_history.append(float(first["learning_rate"]))
        self._pos += self.batch_size
        self.step += 1
        for cb in self.callbacks:
            cb.on_step_end(self, step, loss, grads)

    def train(self) -> None:
        """Train for the remaining epochs, then restore the best validation parameters.

        Raises :class:`TrainingDiverged` (before applying the update) when the loss or a
        gradient is not finite; the last checkpoint is then left untouched.
        """
        progress = Progress(self.verbose, self.total_steps, self.step, self.print_every)
        try:
            for cb in self.callbacks:
                cb.on_train_begin(self)
            if not self.val_metric_history:
                self._evaluate_epoch(progress)
            while self.epoch < self.num_epochs:
                if self._perm is None:
                    self._perm = self.rng.permutation(self.num_train)
                    self._pos = 0
                while self._pos < self.num_train:
                    self._update()
                    progress.step(self.step - 1, self.loss_history[-1])
                    if (self.checkpoint is not None and self.checkpoint_every is not None
                            and self.step % self.checkpoint_every == 0
                            and self._pos < self.num_train):
                        self.save_checkpoint()
                self.epoch += 1
                self._perm = None
                self._pos = 0
                if self.lr_schedule is None:
                    for config in self.optim_configs.values():
                        config["learning_rate"] *= self.lr_decay
                self._evaluate_epoch(progress)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, self.epoch - 1)
                if self.checkpoint is not None:
                    self.save_checkpoint()
            self._restore_best(progress)
        finally:
            progress.close()
        for cb in self.callbacks:
            cb.on_train_end(self)

    def _restore_best(self, progress: Progress) -> None:
        if self.best_params is None:
            self.restored_best = False
            message = (f"Solver: the validation {self.metric} was never a finite number, so "
                       f"there are no best parameters; keeping the last ones")
            warnings.warn(message, RuntimeWarning, stacklevel=3)
            progress.message(message)
            return
        for name, value in self.best_params.items():
            self.model.params[name] = value.copy()
        buffers = model_buffers(self.model)
        for name, value in (self.best_buffers or {}).items():
            np.copyto(buffers[name], value)
        self.restored_best = True

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

        ``model`` must have the same parameter names, shapes and dtypes (its values are
        replaced by the checkpoint's), ``data`` the same number of training examples. The
        returned Solver continues where the checkpoint stopped when ``train()`` is called, and
        writes further checkpoints to ``path`` unless ``checkpoint=`` says otherwise.
        ``overrides`` may change any constructor option (typically ``num_epochs`` to train
        longer, ``verbose``, ``callbacks``) except update_rule, optim_config, batch_size and
        seed. Callbacks are not stored: pass them again; each gets back the state saved for
        the callback of the same class. A custom (non built-in) ``lr_schedule`` must be passed
        again too.
        """
        options, saved_ckpt = solver_state.resume_options(path, overrides)
        solver = cls(model, data, **options)
        solver_state.restore(solver, saved_ckpt)
        return solver


__all__ = ["Callback", "Solver", "TrainingDiverged"]
