"""The Solver: trains a model with minibatch updates, CS231n style, plus checkpoints.

The model fits :class:`handgrad.contracts.Model`: ``params``, a dict of float arrays (the
Solver replaces the entries after every update), and ``loss(X, y=None)``. The optional members
the Solver reads (``task``, ``num_classes``, ``config()``, ``buffers``, ``rng``) are described
there too.

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

Top to bottom: the constructor, the state, the metrics, the training loop, the best parameters
and checkpoints. The helpers (update rules, clipping, schedules, metrics, checks, the checkpoint
file, progress, Ctrl-C, callbacks) are modules of their own that do not know the Solver.
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

from handgrad import contracts
from handgrad import validation as check
from handgrad.contracts import Model
from handgrad.optim import checkpoint as ckpt
from handgrad.optim import clipping, evaluation, interrupt, schedules
from handgrad.optim.callbacks import Callback as Callback
from handgrad.optim.callbacks import TimeBudget
from handgrad.optim.checks import DATA_KEYS as DATA_KEYS
from handgrad.optim.checks import FIXED_ON_RESUME as FIXED_ON_RESUME
from handgrad.optim.checks import HOOKS as HOOKS
from handgrad.optim.checks import TrainingDiverged as TrainingDiverged
from handgrad.optim.checks import (
    check_callbacks,
    check_data,
    check_model,
    check_resumable,
    check_task,
    checked_norm,
    checkpoint_path,
    model_buffers,
    model_config,
    model_rng,
    resume_options,
    rule_name,
)
from handgrad.optim.progress import Progress
from handgrad.optim.rules import check_hyperparameters, get_rule

# The float histories kept in checkpoints: ``<name>_history`` attributes.
HISTORIES = ("loss", "grad_norm", "lr", "train_acc", "val_acc", "train_mse", "val_mse",
             "eval_epoch")


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

    def __init__(self, model: Model, data: Mapping[str, np.ndarray], update_rule: str = "adam",
                 optim_config: Mapping[str, Any] | None = None, lr_decay: float = 1.0,
                 lr_schedule: Callable[[float, int, int, int], float] | str | None = None,
                 batch_size: int = 100, num_epochs: int = 10, clip_norm: float | None = None,
                 clip_value: float | None = None, num_train_samples: int | None = 1000,
                 num_val_samples: int | None = None, print_every: int = 100,
                 verbose: bool = True, seed: int | None = None,
                 checkpoint: str | os.PathLike | None = None,
                 callbacks: Iterable[contracts.Callback] = (), checkpoint_every: int | None = None,
                 diagnose: bool = False):
        self.model = model
        check_model(model)

        # Options.
        update_rule = rule_name(update_rule)
        self.update_rule = update_rule
        self.rule = get_rule(update_rule)
        self.optim_config = dict(optim_config or {})
        check_hyperparameters(update_rule, self.optim_config, allow_state=False)
        self.base_lr = float(self.optim_config.get(
            "learning_rate", self.rule.defaults["learning_rate"]))
        self.lr_decay = _positive(lr_decay, "lr_decay")
        self.lr_schedule = None if lr_schedule is None else schedules.get_schedule(lr_schedule)
        if self.lr_schedule is not None and self.lr_decay != 1.0:
            raise ValueError("Solver: give either lr_decay or lr_schedule, not both "
                             "(schedules.step_decay(d) is lr_decay=d as a schedule)")
        self.batch_size = check.integer("Solver", "batch_size", batch_size, low=1)
        self.num_epochs = check.integer("Solver", "num_epochs", num_epochs, low=0)
        self.clip_norm = None if clip_norm is None else _positive(clip_norm, "clip_norm")
        self.clip_value = None if clip_value is None else _positive(clip_value, "clip_value")
        self.num_train_samples = _count_or_all(num_train_samples, "num_train_samples")
        self.num_val_samples = _count_or_all(num_val_samples, "num_val_samples")
        self.print_every = check.integer("Solver", "print_every", print_every, low=1)
        self.verbose = bool(verbose)
        self.seed = check.seed("Solver", "seed", seed, allow_none=True)
        self.checkpoint = checkpoint_path(checkpoint)
        self.checkpoint_every = _count_or_all(checkpoint_every, "checkpoint_every")
        self.callbacks: list[contracts.Callback] = check_callbacks(callbacks)
        self.diagnose = bool(diagnose)
        if self.diagnose:
            from handgrad.diagnostics.monitor import Monitor

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
        self._perm: np.ndarray | None = None  # the current epoch's shuffle (None between)
        self._pos = 0  # examples of the current epoch used so far
        self.optim_configs: dict[str, dict[str, Any]] = {
            name: copy.deepcopy(self.optim_config) for name in self.model.params}
        self.loss_history: list[float] = []
        self.grad_norm_history: list[float] = []
        self.lr_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.train_mse_history: list[float] = []
        self.val_mse_history: list[float] = []
        self.eval_epoch_history: list[float] = []
        self.history: dict[str, list[Any]] = {}
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
    def epoch_reached(self) -> int | float:
        """Completed epochs, plus the fraction of the current one at a stop inside it."""
        if 0 < self._pos < self.num_train:
            return self.epoch + self._pos / self.num_train
        return self.epoch

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

    # ------------------------------------------------------------------ metrics

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
                self._notify("on_train_begin")
                if not self.val_metric_history:
                    self._evaluate(progress)
                while self.epoch < self.num_epochs and self._stop_request is None:
                    self._run_epoch(progress)
                if self._stop_request is not None and self.epoch < self.num_epochs:
                    self.stopped_early, self.stop_reason = True, self._stop_request
                    progress.message(f"Stopped early at step {self.step} (epoch "
                                     f"{self.epoch_reached:g} / {self.num_epochs}): "
                                     f"{self.stop_reason}")
                self._restore_best(progress.message)
            finally:
                progress.close()
            self._notify("on_train_end")
        if self._interrupted:
            saved = self.checkpoint if self.checkpoint and self.checkpoint.exists() else None
            raise interrupt.TrainingInterrupted(self.step, float(self.epoch_reached), saved)

    def _interrupt(self) -> None:
        """The first Ctrl-C: stop after the current step, then raise TrainingInterrupted.
        Another one: raise KeyboardInterrupt at once."""
        if self._interrupted:
            raise KeyboardInterrupt
        self._interrupted = True
        self.request_stop(interrupt.INTERRUPTED)

    def _notify(self, hook: str, *args: Any) -> None:
        """Call ``hook`` of every callback. A KeyboardInterrupt raised by one counts as a first
        Ctrl-C (hooks run between steps); one after that aborts (see handgrad.optim.interrupt)."""
        for cb in self.callbacks:
            try:
                getattr(cb, hook)(self, *args)
            except KeyboardInterrupt:
                if self._interrupted:
                    raise
                self._interrupt()

    def _run_epoch(self, progress: Progress) -> None:
        """The rest of the current epoch, or up to the step during which a stop came."""
        if self._perm is None:
            self._perm = self.rng.permutation(self.num_train)
            self._pos = 0
        while self._pos < self.num_train:
            self._update(self._perm[self._pos:self._pos + self.batch_size])
            progress.step(self.step - 1, self.loss_history[-1])
            if self._pos >= self.num_train:
                break
            if self._stop_request is not None:
                self._stop_inside_epoch(progress)
                return
            if (self.checkpoint is not None and self.checkpoint_every is not None
                    and self.step % self.checkpoint_every == 0):
                self.save_checkpoint()
        self.epoch += 1
        self._perm = None
        self._pos = 0
        if self.lr_schedule is None:
            for config in self.optim_configs.values():
                config["learning_rate"] *= self.lr_decay
        self._evaluate(progress)
        self._notify("on_epoch_end", self.epoch - 1)
        if self.checkpoint is not None:
            self.save_checkpoint()

    def _update(self, idx: np.ndarray) -> None:
        """One minibatch update on the training examples ``idx``."""
        step = self.step
        self._notify("on_step_begin", step)
        if self.lr_schedule is not None:
            lr = float(self.lr_schedule(self.base_lr, step, self.steps_per_epoch,
                                        self.total_steps))
            if not (lr >= 0 and math.isfinite(lr)):
                raise ValueError(f"Solver: lr_schedule returned {lr} at step {step}")
            for config in self.optim_configs.values():
                config["learning_rate"] = lr

        out = self.model.loss(self.X_train[idx], self.y_train[idx])
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError(f"Solver: model.loss(X, y) must return (loss, grads), "
                            f"got {type(out).__name__}")
        loss, grads = float(out[0]), out[1]
        norm = checked_norm(loss, grads, self.model.params, step=self.step, epoch=self.epoch,
                            num_epochs=self.num_epochs, checkpoint=self.checkpoint)
        if self.clip_value is not None:
            clipping.clip_grad_value(grads, self.clip_value)
        if self.clip_norm is not None:
            clipping.clip_grad_norm(grads, self.clip_norm)

        params = self.model.params
        for name, w in params.items():
            params[name], self.optim_configs[name] = self.rule(w, grads[name],
                                                               self.optim_configs[name])

        first = next(iter(self.optim_configs.values()))
        self.loss_history.append(loss)
        self.grad_norm_history.append(norm)
        self.lr_history.append(float(first["learning_rate"]))
        self._pos += self.batch_size
        self.step += 1
        self._notify("on_step_end", step, loss, grads)

    def _evaluate(self, progress: Progress) -> None:
        """Measure the metrics at an epoch end (or before training, or at a stop)."""
        batch = max(self.batch_size, 100)
        train = self.evaluate(self.X_train, self.y_train, self.num_train_samples, batch)
        val = self.evaluate(self.X_val, self.y_val, self.num_val_samples, batch)
        epoch = self.epoch_reached
        self.train_metric_history.append(train)
        self.val_metric_history.append(val)
        self.eval_epoch_history.append(float(epoch))
        if evaluation.is_better(self.task, val, self.best_val_metric):
            self._keep_as_best(val, epoch)
        short = "acc" if self.task == "classification" else "mse"
        progress.message(f"(Epoch {epoch:g} / {self.num_epochs}) train {short}: {train:.6f}; "
                         f"val {short}: {val:.6f}", **{f"val_{short}": val})

    def _stop_inside_epoch(self, progress: Progress) -> None:
        """Evaluate at a stop inside an epoch and write the checkpoint."""
        # The evaluation draws its subsample from a copy of the generator, so that the
        # checkpoint resumes with the shuffles of the uninterrupted run.
        rng, self.rng = self.rng, copy.deepcopy(self.rng)
        try:
            self._evaluate(progress)
        finally:
            self.rng = rng
        if self.checkpoint is not None:
            self.save_checkpoint()

    # ------------------------------------------------------------------ best parameters

    def _keep_as_best(self, val: float, epoch: int | float) -> None:
        """Record the model's current parameters and buffers as the best, scoring ``val``."""
        self.best_val_metric = val
        self.best_epoch = epoch
        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        self.best_buffers = {k: v.copy() for k, v in model_buffers(self.model).items()}

    def _restore_best(self, report: Callable[[str], None]) -> None:
        """Put the best validation parameters (and their buffers) back into the model at the
        end of training; without any (no finite validation score), warn and ``report`` it."""
        if self.best_params is None:
            self.restored_best = False
            message = (f"Solver: the validation {self.metric} was never a finite number, so "
                       f"there are no best parameters; keeping the last ones")
            warnings.warn(message, RuntimeWarning, stacklevel=3)  # points at the train() call
            report(message)
            return
        for name, value in self.best_params.items():
            self.model.params[name] = value.copy()
        buffers = model_buffers(self.model)
        for name, value in (self.best_buffers or {}).items():
            np.copyto(buffers[name], value)
        self.restored_best = True

    # ------------------------------------------------------------------ checkpoints

    def options(self) -> dict[str, Any]:
        """The constructor options that rebuild this Solver (JSON-serializable), as kept in
        its checkpoints."""
        return {
            "update_rule": self.update_rule,
            "optim_config": self.optim_config,
            "lr_decay": self.lr_decay,
            "lr_schedule": (None if self.lr_schedule is None
                            else schedules.to_json(self.lr_schedule)),
            "batch_size": self.batch_size,
            "num_epochs": self.num_epochs,
            "clip_norm": self.clip_norm,
            "clip_value": self.clip_value,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "print_every": self.print_every,
            "verbose": self.verbose,
            "seed": self.seed,
            "checkpoint_every": self.checkpoint_every,
            "diagnose": self.diagnose,
        }

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write the full training state to ``path`` (default: the ``checkpoint`` option)."""
        target = Path(path) if path is not None else self.checkpoint
        if target is None:
            raise ValueError("Solver.save_checkpoint: no path given and no checkpoint option")
        model = self.model
        arrays, layout = ckpt.encode(
            model.params, self.best_params, self.optim_configs, model_buffers(model),
            self.best_buffers, {key: getattr(self, f"{key}_history") for key in HISTORIES},
            self._perm)
        rng = model_rng(model)
        model_cls = type(model)
        from handgrad import __version__

        meta = {
            "format": ckpt.FORMAT,
            "format_version": ckpt.FORMAT_VERSION,
            "handgrad_version": __version__,
            "solver": self.options(),
            "lr_schedule_repr": None if self.lr_schedule is None else repr(self.lr_schedule),
            "task": self.task,
            "metric": self.metric,
            "num_classes": self.num_classes,
            "epoch": self.epoch,
            "step": self.step,
            "epoch_pos": self._pos,
            "steps_per_epoch": self.steps_per_epoch,
            "rng_state": self.rng.bit_generator.state,
            "model_rng_state": None if rng is None else rng.bit_generator.state,
            **layout,
            "best_val_metric": self.best_val_metric,
            "best_epoch": self.best_epoch,
            "stop_reason": self._stop_request if self.epoch < self.num_epochs else None,
            "callbacks": [{"class": type(cb).__qualname__, "state": cb.state()}
                          for cb in self.callbacks],
            "callback_history": self.history,
            "model_class": f"{model_cls.__module__}.{model_cls.__qualname__}",
            "model_config": model_config(model),
            "data": {"num_train": int(self.num_train), "num_val": int(self.X_val.shape[0]),
                     "X_train_shape": list(self.X_train.shape)},
        }
        ckpt.write_checkpoint(target, arrays, meta)
        return target

    @classmethod
    def resume(cls, path: str | os.PathLike, model: Model, data: Mapping[str, np.ndarray],
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
        saved = ckpt.load_checkpoint(path)
        meta = saved["metadata"]
        options = resume_options(meta, overrides, path)
        solver = cls(model, data, **options)
        solver._load_state(saved)
        return solver

    def _load_state(self, saved: dict[str, Any]) -> None:
        """Check that this Solver matches the loaded checkpoint ``saved``; take its state."""
        meta = saved["metadata"]
        params, buffers = self.model.params, model_buffers(self.model)
        check_resumable(saved, params, buffers, self.num_train, self.task)
        names = meta["param_names"]
        for name in names:
            params[name] = saved["params"][name]
        for name, value in saved["buffers"].items():
            np.copyto(buffers[name], value)
        self.optim_configs = {name: dict(saved["optim_configs"][name]) for name in names}
        hist = dict(saved["histories"])
        if "eval_epoch" not in hist:  # written before evaluations recorded their epoch
            hist["eval_epoch"] = np.arange(len(hist["val_acc"]) + len(hist["val_mse"]),
                                           dtype=float)
        for key in HISTORIES:
            setattr(self, f"{key}_history", hist[key].tolist())
        self.history = {k: list(v) for k, v in saved["history"].items()}
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
        self._perm = saved["epoch_perm"]
        self._pos = int(meta["epoch_pos"]) if self._perm is not None else 0
        state = meta["rng_state"]
        self.rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
        self.rng.bit_generator.state = state
        rng = model_rng(self.model)
        if rng is not None and meta.get("model_rng_state") is not None:
            rng.bit_generator.state = meta["model_rng_state"]
        self.best_params = saved["best_params"]
        self.best_buffers = saved["best_buffers"]
        self.best_val_metric = meta["best_val_metric"]
        self.best_epoch = meta["best_epoch"]
        pending = list(meta["callbacks"])
        for cb in self.callbacks:
            for entry in pending:
                if entry["class"] == type(cb).__qualname__:
                    cb.load_state(entry["state"])
                    pending.remove(entry)
                    break


# ---------------------------------------------------------------------- small helpers

def _positive(value: Any, name: str) -> float:
    return check.number("Solver", name, value, low=0.0, low_open=True)


def _count_or_all(value: Any, name: str) -> int | None:
    """An option that is a positive count, or None (all examples; never)."""
    return None if value is None else check.integer("Solver", name, value, low=1)


__all__ = ["Callback", "Solver", "TrainingDiverged"]
