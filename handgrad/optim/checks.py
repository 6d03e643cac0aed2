"""What the Solver checks about what it is given: the update rule's name, the checkpoint path,
the callbacks, the model, the data and the task before any training, the gradients
``model.loss`` returns at every step, and the options and checkpoint a run resumes with; and
what it reads from a model's optional members. (Numeric options are checked with
:mod:`handgrad.validation`.)

Every function raises ``TypeError`` or ``ValueError`` with a message that starts with
``Solver:`` and names the option, key or attribute, what was expected and what came, so that a
mistake surfaces at construction time instead of epochs into a run. :class:`TrainingDiverged`
is what the Solver raises when the loss or a gradient is not finite.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from handgrad.contracts import Model
from handgrad.optim import schedules
from handgrad.optim.checkpoint import dumps
from handgrad.optim.clipping import NonFiniteGradientError, global_norm
from handgrad.optim.rules import RULES

HOOKS = ("on_train_begin", "on_step_begin", "on_step_end", "on_epoch_end", "on_train_end")
DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")
# Options Solver.resume refuses to change: they would make the saved state meaningless.
FIXED_ON_RESUME = ("update_rule", "optim_config", "batch_size", "seed")


def rule_name(update_rule: Any) -> str:
    """The name of an update rule given by name (or as one of the built-in rule functions)."""
    if callable(update_rule) and getattr(update_rule, "rule_name", None) in RULES:
        update_rule = update_rule.rule_name
    if not isinstance(update_rule, str):
        raise TypeError(f"Solver: update_rule must be a rule name, one of "
                        f"{', '.join(sorted(RULES))}; got {update_rule!r}")
    return update_rule


def checkpoint_path(checkpoint: str | os.PathLike | None) -> Path | None:
    """The checkpoint option as a Path (None stays None); its directory must exist."""
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and not path.parent.is_dir():
        raise ValueError(f"Solver: the directory of checkpoint {str(path)!r} "
                         f"does not exist")
    return path


def first_non_finite(X: np.ndarray) -> tuple[int, ...] | None:
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


def check_callbacks(callbacks: Iterable[Any]) -> list[Any]:
    """The callbacks as a list; each must have every hook of the callback protocol."""
    callbacks = list(callbacks)
    for cb in callbacks:
        missing = [h for h in HOOKS if not callable(getattr(cb, h, None))]
        if missing:
            raise TypeError(f"Solver: callback {cb!r} lacks {', '.join(missing)}; "
                            f"subclass handgrad.optim.callbacks.Callback")
    return callbacks


def check_model(model: object) -> None:
    """A dict ``params`` of float arrays, a ``loss`` method, ``buffers`` a dict of arrays."""
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


def check_data(data: Any) -> None:
    """The four keys, numeric arrays with one row per example, matching lengths, finite X."""
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
        bad = first_non_finite(X)
        if bad is not None:
            raise ValueError(f"Solver: X_{split} contains {X[bad]} at index {bad}; "
                             f"clean the data first")


def check_task(model: Model, X_train: np.ndarray, y_train: np.ndarray, y_val: np.ndarray
               ) -> tuple[str, str, int | None]:
    """Decide classification or regression, probe the model, check the targets.

    Returns ``(task, metric, num_classes)``: ``metric`` is ``"accuracy"`` or ``"mse"``,
    ``num_classes`` is None for regression.
    """
    task = getattr(model, "task", None)
    if task is None:
        task = "regression" if y_train.dtype.kind == "f" else "classification"
    if task not in ("classification", "regression"):
        raise ValueError(f"Solver: model.task must be 'classification' or 'regression', "
                         f"got {task!r}")
    metric = "accuracy" if task == "classification" else "mse"
    targets = {"train": y_train, "val": y_val}

    probe = model.loss(X_train[:2])
    if not isinstance(probe, np.ndarray) or probe.ndim == 0 or \
            probe.shape[0] != min(2, X_train.shape[0]):
        got = probe.shape if isinstance(probe, np.ndarray) else type(probe).__name__
        raise TypeError(f"Solver: model.loss(X) must return an array of scores with one row "
                        f"per example; for 2 examples it returned {got}")
    num_classes: int | None = None
    if task == "classification":
        declared = getattr(model, "num_classes", None)
        if declared is None:
            declared = probe.shape[-1]
        num_classes = int(declared)
        for split, y in targets.items():
            if y.dtype.kind not in "iu":
                raise TypeError(f"Solver: y_{split} must hold integer class labels for "
                                f"classification, got dtype {y.dtype} (for a regression "
                                f"model set model.task = 'regression')")
            if y.shape[1:] != probe.shape[1:-1]:
                raise ValueError(f"Solver: y_{split} has shape {y.shape}, but the model "
                                 f"scores of shape {probe.shape} call for labels of shape "
                                 f"(N,{''.join(f' {d},' for d in probe.shape[1:-1])})")
            bad = (y < 0) | (y >= num_classes)
            if bad.any():
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"Solver: y_{split} holds label {int(y[where])} at index "
                                 f"{where[0] if len(where) == 1 else where}, outside "
                                 f"[0, {num_classes}) (the model has "
                                 f"{num_classes} classes)")
    else:
        for split, y in targets.items():
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
    return task, metric, num_classes


def check_grads(grads: Mapping[str, Any], params: Mapping[str, np.ndarray]) -> None:
    """The gradients from ``model.loss``: keyed like ``params``, each an array of exactly its
    parameter's shape and dtype."""
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


def check_resumable(saved: Mapping[str, Any], params: Mapping[str, np.ndarray],
                    buffers: Mapping[str, np.ndarray], num_train: int, task: str) -> None:
    """A loaded checkpoint ``saved`` (:func:`handgrad.optim.checkpoint.load_checkpoint`) fits a
    model with these ``params`` and ``buffers`` trained on ``num_train`` examples for
    ``task``: the same parameter names, shapes and dtypes, buffer names, data size and task."""
    meta = saved["metadata"]
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
    if meta["data"]["num_train"] != num_train:
        raise ValueError(f"Solver.resume: the checkpoint was trained on "
                         f"{meta['data']['num_train']} examples, data has {num_train}")
    if meta["task"] != task:
        raise ValueError(f"Solver.resume: the checkpoint is a {meta['task']} run, this "
                         f"model and data make a {task} run")
    if sorted(saved["buffers"]) != sorted(buffers):
        raise ValueError(f"Solver.resume: the checkpoint has buffers {sorted(saved['buffers'])}"
                         f" but the model has {sorted(buffers)}")


def resume_options(meta: Mapping[str, Any], overrides: Mapping[str, Any],
                   path: str | os.PathLike) -> dict[str, Any]:
    """The constructor options of a resumed run: those saved in a checkpoint's metadata
    ``meta``, updated by ``overrides`` (refusing unknown ones and :data:`FIXED_ON_RESUME`), with
    ``checkpoint`` defaulting to ``path``, the checkpoint read."""
    options = dict(meta["solver"])
    allowed = set(options) | {"checkpoint", "callbacks", "diagnose"}
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
    return options


# What the Solver reads from a model's optional members.

def model_buffers(model: Model) -> dict[str, np.ndarray]:
    """``model.buffers`` as a new dict (``{}`` when the model has none)."""
    buffers = getattr(model, "buffers", None)
    return dict(buffers) if buffers else {}


def model_rng(model: Model) -> np.random.Generator | None:
    """``model.rng`` when it is a NumPy Generator, else None."""
    rng = getattr(model, "rng", None)
    return rng if isinstance(rng, np.random.Generator) else None


def model_config(model: Model) -> dict[str, Any] | None:
    """``model.config()`` when the model has it and it is JSON-serializable, else None."""
    config = getattr(model, "config", None)
    if not callable(config):
        return None
    try:
        value = config()
        dumps(value)
    except Exception:  # noqa: BLE001 - a checkpoint must not fail because of metadata
        return None
    return value


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


def checked_norm(loss: float, grads: Mapping[str, Any], params: Mapping[str, np.ndarray], *,
                 step: int, epoch: int, num_epochs: int, checkpoint: Path | None) -> float:
    """The global L2 norm of ``grads`` (before any clipping), once the loss is finite and the
    gradients match ``params``; :class:`TrainingDiverged` when the loss or a gradient holds
    NaN or inf at update ``step`` of 0-based ``epoch`` (``checkpoint``: the run's, if any)."""
    def diverged(what: str, param: str | None) -> TrainingDiverged:
        where = f"step {step} (epoch {epoch + 1} of {num_epochs})"
        saved = (f"; the last checkpoint {str(checkpoint)!r} was left as it was"
                 if checkpoint is not None else "")
        return TrainingDiverged(f"training diverged at {where}: {what}. Lower the learning "
                                f"rate or clip the gradients (clip_norm){saved}",
                                step=step, epoch=epoch, param=param, loss=loss)

    if not math.isfinite(loss):
        bad = next((name for name, g in grads.items() if isinstance(g, np.ndarray)
                    and g.dtype.kind == "f" and first_non_finite(g) is not None), None)
        also = "" if bad is None else f" (and the gradient of {bad!r} is not finite)"
        raise diverged(f"the loss is {loss}{also}", bad)
    check_grads(grads, params)
    try:
        return global_norm(grads, "Solver")
    except NonFiniteGradientError as exc:
        bad = "NaN" if np.isnan(grads[exc.param]).any() else "inf"
        raise diverged(f"the gradient of {exc.param!r} contains {bad} (loss {loss:.6g})",
                       exc.param) from None
