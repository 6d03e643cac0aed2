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
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from handgrad.optim import checkpoint as ckpt
from handgrad.optim import clipping, schedules
from handgrad.optim.callbacks import Callback
from handgrad.optim.clipping import NonFiniteGradientError, global_norm
from handgrad.optim.progress import Progress
from handgrad.optim.rules import RULES, check_hyperparameters, get_rule

HOOKS = ("on_train_begin", "on_step_begin", "on_step_end", "on_epoch_end", "on_train_end")
DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")
# Options Solver.resume refuses to change: they would make the saved state meaningless.
FIXED_ON_RESUME = ("update_rule", "optim_config", "batch_size", "seed")


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


def _positive_int(name: str, value: Any, *, allow_zero: bool = False,
                  allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"Solver: {name} must be {kind} int, got {value!r}")
    return int(value)


def _positive_float(name: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if (isinstance(value, bool) or not isinstance(value, Real) or not value > 0
            or not math.isfinite(float(value))):
        raise ValueError(f"Solver: {name} must be a positive finite number, got {value!r}")
    return float(value)


def _first_non_finite(X: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first NaN or inf in a float array (checked in blocks of rows, so a large
    dataset does not need a boolean copy of itself), or None."""
    if X.dtype.kind != "f":
        return None
    if X.ndim == 0:
        return None if np.isfinite(X) else ()
    rows = max(1, (1 << 20) // max(1, math.prod(X.shape[1:])))
    for start in range(0, X.shape[0], rows):
        block = X[start:start + rows]
        finite = np.isfinite(block)
        if not finite.all():
            where = np.argwhere(~finite)[0]
            return (int(where[0]) + start, *(int(i) for i in where[1:]))
    return None


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
        self._check_model(model)

        # Options.
        if callable(update_rule) and getattr(update_rule, "rule_name", None) in RULES:
            update_rule = update_rule.rule_name
        if not isinstance(update_rule, str):
            raise TypeError(f"Solver: update_rule must be a rule name, one of "
                            f"{', '.join(sorted(RULES))}; got {update_rule!r}")
        self.update_rule = update_rule
        self.rule = get_rule(update_rule)
        self.optim_config = dict(optim_config or {})
        check_hyperparameters(update_rule, self.optim_config, allow_state=False)
        self.base_lr = float(self.optim_config.get(
            "learning_rate", self.rule.defaults["learning_rate"]))  # type: ignore[attr-defined]
        self.lr_decay = _positive_float("lr_decay", lr_decay)
        self.lr_schedule = None if lr_schedule is None else schedules.get_schedule(lr_schedule)
        if self.lr_schedule is not None and self.lr_decay != 1.0:
            raise ValueError("Solver: give either lr_decay or lr_schedule, not both "
                             "(schedules.step_decay(d) is lr_decay=d as a schedule)")
        self.batch_size = _positive_int("batch_size", batch_size)
        self.num_epochs = _positive_int("num_epochs", num_epochs, allow_zero=True)
        self.clip_norm = _positive_float("clip_norm", clip_norm, allow_none=True)
        self.clip_value = _positive_float("clip_value", clip_value, allow_none=True)
        self.num_train_samples = _positive_int("num_train_samples", num_train_samples,
                                               allow_none=True)
        self.num_val_samples = _positive_int("num_val_samples", num_val_samples,
                                             allow_none=True)
        self.print_every = _positive_int("print_every", print_every)
        self.verbose = bool(verbose)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
            raise TypeError(f"Solver: seed must be an int or None, got {seed!r}")
        self.seed = seed
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        if self.checkpoint is not None and not self.checkpoint.parent.is_dir():
            raise ValueError(f"Solver: the directory of checkpoint {str(self.checkpoint)!r} "
                             f"does not exist")
        self.checkpoint_every = _positive_int("checkpoint_every", checkpoint_every,
                                              allow_none=True)
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            missing = [h for h in HOOKS if not callable(getattr(cb, h, None))]
            if missing:
                raise TypeError(f"Solver: callback {cb!r} lacks {', '.join(missing)}; "
                                f"subclass handgrad.optim.callbacks.Callback")

        # Data and task.
        self._check_data(data)
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.num_train = self.X_train.shape[0]
        self.steps_per_epoch = -(-self.num_train // self.batch_size)
        self._check_task()

        self._reset()

    # ------------------------------------------------------------------ validation

    @staticmethod
    def _check_model(model: Any) -> None:
        params = getattr(model, "params", None)
        if not isinstance(params, dict) or not params:
            raise TypeError("Solver: model must have a non-empty dict `params` of float arrays")
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                got = p.dtype if isinstance(p, np.ndarray) else type(p).__name__
                raise TypeError(f"Solver: model.params[{name!r}] must be a float numpy array, "
                                f"got {got}")
        if not callable(getattr(model, "loss", None)):
            raise TypeError("Solver: model must have a method loss(X, y=None)")
        buffers = getattr(model, "buffers", None)
        if buffers is not None and (not isinstance(buffers, Mapping) or not all(
                isinstance(b, np.ndarray) for b in buffers.values())):
            raise TypeError("Solver: model.buffers must be a dict of numpy arrays")

    @staticmethod
    def _check_data(data: Any) -> None:
        if not isinstance(data, Mapping):
            raise TypeError(f"Solver: data must be a dict with keys {', '.join(DATA_KEYS)}, "
                            f"got {type(data).__name__}")
        missing = [k for k in DATA_KEYS if k not in data]
        if missing:
            raise ValueError(f"Solver: data is missing {', '.join(map(repr, missing))} "
                             f"(it needs {', '.join(DATA_KEYS)})")
        for key in DATA_KEYS:
            value = data[key]
            if not isinstance(value, np.ndarray):
                raise TypeError(f"Solver: data[{key!r}] must be a numpy array, "
                                f"got {type(value).__name__}")
            if value.ndim == 0:
                raise ValueError(f"Solver: data[{key!r}] must have one row per example, "
                                 f"got a 0-d array")
            if value.dtype.kind not in "iuf":
                raise TypeError(f"Solver: data[{key!r}] must hold numbers, got dtype "
                                f"{value.dtype}")
        for split in ("train", "val"):
            X, y = data[f"X_{split}"], data[f"y_{split}"]
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"Solver: X_{split} has {X.shape[0]} examples but y_{split} "
                                 f"has {y.shape[0]}")
            if X.shape[0] == 0:
                raise ValueError(f"Solver: X_{split} is empty")
            bad = _first_non_finite(X)
            if bad is not None:
                raise ValueError(f"Solver: X_{split} contains {X[bad]} at index {bad}; "
                                 f"clean the data first")

    def _check_task(self) -> None:
        """Decide classification or regression, probe the model, check the targets."""
        model, y_train = self.model, self.y_train
        task = getattr(model, "task", None)
        if task is None:
            task = "regression" if y_train.dtype.kind == "f" else "classification"
        if task not in ("classification", "regression"):
            raise ValueError(f"Solver: model.task must be 'classification' or 'regression', "
                             f"got {task!r}")
        self.task = task
        self.metric = "accuracy" if task == "classification" else "mse"

        probe = model.loss(self.X_train[:2])
        if not isinstance(probe, np.ndarray) or probe.ndim == 0 or \
                probe.shape[0] != min(2, self.num_train):
            got = probe.shape if isinstance(probe, np.ndarray) else type(probe).__name__
            raise TypeError(f"Solver: model.loss(X) must return an array of scores with one row "
                            f"per example; for 2 examples it returned {got}")
        self.num_classes: int | None = None
        if task == "classification":
            num_classes = getattr(model, "num_classes", None)
            if num_classes is None:
                num_classes = probe.shape[-1]
            self.num_classes = int(num_classes)
            for split in ("train", "val"):
                y = getattr(self, f"y_{split}")
                if y.dtype.kind not in "iu":
                    raise TypeError(f"Solver: y_{split} must hold integer class labels for "
                                    f"classification, got dtype {y.dtype} (for a regression "
                                    f"model set model.task = 'regression')")
                if y.shape[1:] != probe.shape[1:-1]:
                    raise ValueError(f"Solver: y_{split} has shape {y.shape}, but the model "
                                     f"scores of shape {probe.shape} call for labels of shape "
                                     f"(N,{''.join(f' {d},' for d in probe.shape[1:-1])})")
                bad = (y < 0) | (y >= self.num_classes)
                if bad.any():
                    where = tuple(int(i) for i in np.argwhere(bad)[0])
                    raise ValueError(f"Solver: y_{split} holds label {int(y[where])} at index "
                                     f"{where[0] if len(where) == 1 else where}, outside "
                                     f"[0, {self.num_classes}) (the model has "
                                     f"{self.num_classes} classes)")
        else:
            for split in ("train", "val"):
                y = getattr(self, f"y_{split}")
                if y.dtype.kind != "f":
                    raise TypeError(f"Solver: y_{split} must hold float targets for "
                                    f"regression, got dtype {y.dtype}")
                if not np.isfinite(y).all():
                    raise ValueError(f"Solver: y_{split} contains NaN or inf")
                if math.prod(y.shape[1:]) != math.prod(probe.shape[1:]):
                    hint = (" (integer class labels make this a classification problem)"
                            if probe.ndim == 2 and probe.shape[1] > 1 and y.ndim == 1 else "")
                    raise ValueError(f"Solver: y_{split} has shape {y.shape} but the model "
                                     f"predicts shape {probe.shape[1:]} per example{hint}")

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

    def _buffers(self) -> dict[str, np.ndarray]:
        buffers = getattr(self.model, "buffers", None)
        return dict(buffers) if buffers else {}

    def _model_rng(self) -> np.random.Generator | None:
        rng = getattr(self.model, "rng", None)
        return rng if isinstance(rng, np.random.Generator) else None

    # ------------------------------------------------------------------ evaluation

    def _subsample(self, X: np.ndarray, y: np.ndarray, num_samples: int | None
                   ) -> tuple[np.ndarray, np.ndarray]:
        n = X.shape[0]
        if num_samples is not None and n > num_samples:
            mask = self.rng.choice(n, num_samples, replace=False)
            return X[mask], y[mask]
        return X, y

    def _scores(self, X: np.ndarray, batch_size: int) -> Iterable[tuple[int, np.ndarray]]:
        for start in range(0, X.shape[0], batch_size):
            yield start, self.model.loss(X[start:start + batch_size])

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                       batch_size: int = 100) -> float:
        """Fraction of examples whose highest score is the label, in test mode, in batches.

        With ``num_samples``, a random subset of that size is used (drawn from the Solver's
        generator). Scores holding NaN make the accuracy NaN. Classification only.
        """
        if self.task != "classification":
            raise ValueError("Solver.check_accuracy: accuracy is not defined for a regression "
                             "model; use Solver.evaluate (mean squared error)")
        X, y = self._subsample(X, y, num_samples)
        correct = 0
        for start, scores in self._scores(X, batch_size):
            if np.isnan(scores).any():
                return float("nan")
            pred = np.argmax(scores, axis=-1)
            correct += int(np.count_nonzero(pred == y[start:start + batch_size]))
        return correct / y.size

    def check_mse(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                  batch_size: int = 100) -> float:
        """Mean squared error of the test-mode predictions, over every output entry."""
        X, y = self._subsample(X, y, num_samples)
        total = 0.0
        for start, scores in self._scores(X, batch_size):
            target = y[start:start + batch_size].reshape(scores.shape)
            diff = scores.astype(np.float64) - target
            total += float(np.dot(diff.ravel(), diff.ravel()))
        return total / y.size

    def evaluate(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                 batch_size: int = 100) -> float:
        """The task's metric: accuracy (classification) or mean squared error (regression)."""
        if self.task == "classification":
            return self.check_accuracy(X, y, num_samples, batch_size)
        return self.check_mse(X, y, num_samples, batch_size)

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best_val_metric is None:
            return True
        if self.task == "classification":
            return value > self.best_val_metric
        return value < self.best_val_metric

    def _evaluate_epoch(self, progress: Progress) -> None:
        batch = max(self.batch_size, 100)
        train = self.evaluate(self.X_train, self.y_train, self.num_train_samples, batch)
        val = self.evaluate(self.X_val, self.y_val, self.num_val_samples, batch)
        self.train_metric_history.append(train)
        self.val_metric_history.append(val)
        if self._better(val):
            self.best_val_metric = val
            self.best_epoch = self.epoch
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
            self.best_buffers = {k: v.copy() for k, v in self._buffers().items()}
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
                        and g.dtype.kind == "f" and _first_non_finite(g) is not None), None)
            also = "" if bad is None else f" (and the gradient of {bad!r} is not finite)"
            raise self._diverged(f"the loss is {loss}{also}", bad, loss)
        params = self.model.params
        if grads.keys() != params.keys():
            missing = sorted(set(params) - set(grads))
            extra = sorted(set(grads) - set(params))
            raise ValueError(f"Solver: model.loss returned gradients for {sorted(grads)} but "
                             f"params are {sorted(params)} (missing {missing}, extra {extra})")
        for name, g in grads.items():
            p = params[name]
            if not isinstance(g, np.ndarray) or g.shape != p.shape or g.dtype != p.dtype:
                got = (f"shape {g.shape}, dtype {g.dtype}" if isinstance(g, np.ndarray)
                       else type(g).__name__)
                raise ValueError(f"Solver: the gradient of {name!r} must match the parameter "
                                 f"(shape {p.shape}, dtype {p.dtype}), got {got}")
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
        buffers = self._buffers()
        for name, value in (self.best_buffers or {}).items():
            np.copyto(buffers[name], value)
        self.restored_best = True

    # ------------------------------------------------------------------ checkpoints

    def _solver_options(self) -> dict[str, Any]:
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
        }

    def _model_config(self) -> dict[str, Any] | None:
        config = getattr(self.model, "config", None)
        if not callable(config):
            return None
        try:
            value = config()
            ckpt.dumps(value)
        except Exception:  # noqa: BLE001 - a checkpoint must not fail because of metadata
            return None
        return value

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path:
        """Write the full training state to ``path`` (default: the ``checkpoint`` option)."""
        target = Path(path) if path is not None else self.checkpoint
        if target is None:
            raise ValueError("Solver.save_checkpoint: no path given and no checkpoint option")
        names = list(self.model.params)
        buffers = self._buffers()
        arrays: dict[str, np.ndarray] = {}
        optim_scalars, optim_arrays = [], []
        for i, name in enumerate(names):
            arrays[f"params/{i}"] = np.asarray(self.model.params[name])
            if self.best_params is not None:
                arrays[f"best_params/{i}"] = self.best_params[name]
            scalars, keys = {}, []
            for key, value in self.optim_configs[name].items():
                if isinstance(value, np.ndarray):
                    arrays[f"optim/{i}/{key}"] = value
                    keys.append(key)
                else:
                    scalars[key] = value
            optim_scalars.append(scalars)
            optim_arrays.append(keys)
        for i, (name, value) in enumerate(buffers.items()):
            arrays[f"buffers/{i}"] = value
            if self.best_params is not None and self.best_buffers is not None:
                arrays[f"best_buffers/{i}"] = self.best_buffers[name]
        histories = {"loss": self.loss_history, "grad_norm": self.grad_norm_history,
                     "lr": self.lr_history, "train_acc": self.train_acc_history,
                     "val_acc": self.val_acc_history, "train_mse": self.train_mse_history,
                     "val_mse": self.val_mse_history}
        for key, values in histories.items():
            arrays[f"history/{key}"] = np.asarray(values, dtype=np.float64)
        if self._perm is not None:
            arrays["epoch_perm"] = self._perm
        model_rng = self._model_rng()
        model_cls = type(self.model)
        from handgrad import __version__

        meta = {
            "format": ckpt.FORMAT,
            "format_version": ckpt.FORMAT_VERSION,
            "handgrad_version": __version__,
            "solver": self._solver_options(),
            "lr_schedule_repr": None if self.lr_schedule is None else repr(self.lr_schedule),
            "task": self.task,
            "metric": self.metric,
            "num_classes": self.num_classes,
            "epoch": self.epoch,
            "step": self.step,
            "epoch_pos": self._pos,
            "steps_per_epoch": self.steps_per_epoch,
            "rng_state": self.rng.bit_generator.state,
            "model_rng_state": None if model_rng is None else model_rng.bit_generator.state,
            "param_names": names,
            "param_shapes": [list(self.model.params[n].shape) for n in names],
            "param_dtypes": [str(self.model.params[n].dtype) for n in names],
            "buffer_names": list(buffers),
            "optim_scalars": optim_scalars,
            "optim_arrays": optim_arrays,
            "best_val_metric": self.best_val_metric,
            "best_epoch": self.best_epoch,
            "callbacks": [{"class": type(cb).__qualname__, "state": cb.state()}
                          for cb in self.callbacks],
            "callback_history": self.history,
            "model_class": f"{model_cls.__module__}.{model_cls.__qualname__}",
            "model_config": self._model_config(),
            "data": {"num_train": int(self.num_train), "num_val": int(self.X_val.shape[0]),
                     "X_train_shape": list(self.X_train.shape)},
        }
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
        saved_ckpt = ckpt.load_checkpoint(path)
        meta = saved_ckpt["metadata"]
        options = dict(meta["solver"])
        allowed = set(options) | {"checkpoint", "callbacks"}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise TypeError(f"Solver.resume: unknown option(s) {', '.join(unknown)}")
        for key in FIXED_ON_RESUME:
            if key in overrides and overrides[key] != options[key]:
                raise ValueError(f"Solver.resume: cannot change {key} (saved {options[key]!r}, "
                                 f"given {overrides[key]!r}); the optimizer state and the "
                                 f"shuffles depend on it")
        if "lr_schedule" not in overrides:
            spec = options["lr_schedule"]
            if spec is not None:
                options["lr_schedule"] = schedules.from_json(spec)
            elif meta.get("lr_schedule_repr") is not None:
                raise ValueError(f"Solver.resume: the run used the custom lr_schedule "
                                 f"{meta['lr_schedule_repr']}; pass it again with "
                                 f"lr_schedule=...")
        options.update(overrides)
        options.setdefault("checkpoint", path)
        solver = cls(model, data, **options)
        solver._load_state(saved_ckpt)
        return solver

    def _load_state(self, saved: dict[str, Any]) -> None:
        meta = saved["metadata"]
        params = self.model.params
        names = meta["param_names"]
        if sorted(names) != sorted(params):
            raise ValueError(f"Solver.resume: the checkpoint has parameters {sorted(names)} "
                             f"but the model has {sorted(params)}")
        for name in names:
            value = saved["params"][name]
            if value.shape != params[name].shape or value.dtype != params[name].dtype:
                raise ValueError(f"Solver.resume: parameter {name!r} is {value.shape} "
                                 f"{value.dtype} in the checkpoint but {params[name].shape} "
                                 f"{params[name].dtype} in the model")
        if meta["data"]["num_train"] != self.num_train:
            raise ValueError(f"Solver.resume: the checkpoint was trained on "
                             f"{meta['data']['num_train']} examples, data has {self.num_train}")
        if meta["task"] != self.task:
            raise ValueError(f"Solver.resume: the checkpoint is a {meta['task']} run, this "
                             f"model and data make a {self.task} run")
        buffers = self._buffers()
        if sorted(saved["buffers"]) != sorted(buffers):
            raise ValueError(f"Solver.resume: the checkpoint has buffers {sorted(saved['buffers'])}"
                             f" but the model has {sorted(buffers)}")

        for name in names:
            params[name] = saved["params"][name]
        for name, value in saved["buffers"].items():
            np.copyto(buffers[name], value)
        self.optim_configs = {name: dict(saved["optim_configs"][name]) for name in names}
        hist = saved["histories"]
        for key in ("loss", "grad_norm", "lr", "train_acc", "val_acc", "train_mse", "val_mse"):
            setattr(self, f"{key}_history", hist[key].tolist())
        self.history = {k: list(v) for k, v in saved["history"].items()}
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
        self._perm = saved["epoch_perm"]
        self._pos = int(meta["epoch_pos"]) if self._perm is not None else 0
        state = meta["rng_state"]
        self.rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
        self.rng.bit_generator.state = state
        model_rng = self._model_rng()
        if model_rng is not None and meta.get("model_rng_state") is not None:
            model_rng.bit_generator.state = meta["model_rng_state"]
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


__all__ = ["Callback", "Solver", "TrainingDiverged"]
