"""A Solver's training state as checkpoint entries, and back (for ``Solver.resume``).

:func:`pack` turns a Solver into the arrays and JSON metadata of the checkpoint layout described
in :mod:`handgrad.optim.checkpoint` (which writes and reads the file); :func:`resume_options`
merges a checkpoint's saved options with the caller's overrides, refusing the ones that would
make the saved state meaningless; :func:`restore` checks that a freshly built Solver matches
the checkpoint and puts the saved state into it, so that the resumed run ends exactly as an
uninterrupted one.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from handgrad.optim import checkpoint as ckpt
from handgrad.optim import schedules

if TYPE_CHECKING:  # pragma: no cover
    from handgrad.optim.solver import Solver

# Options Solver.resume refuses to change: they would make the saved state meaningless.
FIXED_ON_RESUME = ("update_rule", "optim_config", "batch_size", "seed")
HISTORIES = ("loss", "grad_norm", "lr", "train_acc", "val_acc", "train_mse", "val_mse",
             "eval_epoch")


def model_buffers(model: Any) -> dict[str, np.ndarray]:
    """``model.buffers`` as a new dict (``{}`` when the model has none)."""
    buffers = getattr(model, "buffers", None)
    return dict(buffers) if buffers else {}


def model_rng(model: Any) -> np.random.Generator | None:
    """``model.rng`` when it is a NumPy Generator, else None."""
    rng = getattr(model, "rng", None)
    return rng if isinstance(rng, np.random.Generator) else None


def solver_options(solver: Solver) -> dict[str, Any]:
    """The constructor options that rebuild ``solver`` (JSON-serializable)."""
    return {
        "update_rule": solver.update_rule,
        "optim_config": solver.optim_config,
        "lr_decay": solver.lr_decay,
        "lr_schedule": (None if solver.lr_schedule is None
                        else schedules.to_json(solver.lr_schedule)),
        "batch_size": solver.batch_size,
        "num_epochs": solver.num_epochs,
        "clip_norm": solver.clip_norm,
        "clip_value": solver.clip_value,
        "num_train_samples": solver.num_train_samples,
        "num_val_samples": solver.num_val_samples,
        "print_every": solver.print_every,
        "verbose": solver.verbose,
        "seed": solver.seed,
        "checkpoint_every": solver.checkpoint_every,
        "diagnose": solver.diagnose,
    }


def model_config(model: Any) -> dict[str, Any] | None:
    """``model.config()`` when the model has it and it is JSON-serializable, else None."""
    config = getattr(model, "config", None)
    if not callable(config):
        return None
    try:
        value = config()
        ckpt.dumps(value)
    except Exception:  # noqa: BLE001 - a checkpoint must not fail because of metadata
        return None
    return value


def pack(solver: Solver) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the metadata of a checkpoint of ``solver``'s full training state."""
    model = solver.model
    names = list(model.params)
    buffers = model_buffers(model)
    arrays: dict[str, np.ndarray] = {}
    optim_scalars, optim_arrays = [], []
    for i, name in enumerate(names):
        arrays[f"params/{i}"] = np.asarray(model.params[name])
        if solver.best_params is not None:
            arrays[f"best_params/{i}"] = solver.best_params[name]
        scalars, keys = {}, []
        for key, value in solver.optim_configs[name].items():
            if isinstance(value, np.ndarray):
                arrays[f"optim/{i}/{key}"] = value
                keys.append(key)
            else:
                scalars[key] = value
        optim_scalars.append(scalars)
        optim_arrays.append(keys)
    for i, (name, value) in enumerate(buffers.items()):
        arrays[f"buffers/{i}"] = value
        if solver.best_params is not None and solver.best_buffers is not None:
            arrays[f"best_buffers/{i}"] = solver.best_buffers[name]
    for key in HISTORIES:
        arrays[f"history/{key}"] = np.asarray(getattr(solver, f"{key}_history"),
                                              dtype=np.float64)
    if solver._perm is not None:
        arrays["epoch_perm"] = solver._perm
    rng = model_rng(model)
    model_cls = type(model)
    from handgrad import __version__

    meta = {
        "format": ckpt.FORMAT,
        "format_version": ckpt.FORMAT_VERSION,
        "handgrad_version": __version__,
        "solver": solver_options(solver),
        "lr_schedule_repr": None if solver.lr_schedule is None else repr(solver.lr_schedule),
        "task": solver.task,
        "metric": solver.metric,
        "num_classes": solver.num_classes,
        "epoch": solver.epoch,
        "step": solver.step,
        "epoch_pos": solver._pos,
        "steps_per_epoch": solver.steps_per_epoch,
        "rng_state": solver.rng.bit_generator.state,
        "model_rng_state": None if rng is None else rng.bit_generator.state,
        "param_names": names,
        "param_shapes": [list(model.params[n].shape) for n in names],
        "param_dtypes": [str(model.params[n].dtype) for n in names],
        "buffer_names": list(buffers),
        "optim_scalars": optim_scalars,
        "optim_arrays": optim_arrays,
        "best_val_metric": solver.best_val_metric,
        "best_epoch": solver.best_epoch,
        "stop_reason": solver._stop_request if solver.epoch < solver.num_epochs else None,
        "callbacks": [{"class": type(cb).__qualname__, "state": cb.state()}
                      for cb in solver.callbacks],
        "callback_history": solver.history,
        "model_class": f"{model_cls.__module__}.{model_cls.__qualname__}",
        "model_config": model_config(model),
        "data": {"num_train": int(solver.num_train), "num_val": int(solver.X_val.shape[0]),
                 "X_train_shape": list(solver.X_train.shape)},
    }
    return arrays, meta


def resume_options(path: str | os.PathLike, overrides: Mapping[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load checkpoint ``path``; return the constructor options (saved ones updated by
    ``overrides``, ``checkpoint`` defaulting to ``path``) and the loaded checkpoint."""
    saved_ckpt = ckpt.load_checkpoint(path)
    meta = saved_ckpt["metadata"]
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
    return options, saved_ckpt


def schedule_learning_rate(solver: Solver, step: int) -> None:
    """Set every parameter's learning rate to what ``solver.lr_schedule`` gives for ``step``."""
    lr = float(solver.lr_schedule(solver.base_lr, step, solver.steps_per_epoch,
                                  solver.total_steps))
    if not (lr >= 0 and math.isfinite(lr)):
        raise ValueError(f"Solver: lr_schedule returned {lr} at step {step}")
    for config in solver.optim_configs.values():
        config["learning_rate"] = lr


def decay_learning_rate(solver: Solver) -> None:
    """Multiply every parameter's learning rate by ``solver.lr_decay`` (at an epoch end)."""
    for config in solver.optim_configs.values():
        config["learning_rate"] *= solver.lr_decay


def keep_as_best(solver: Solver, val: float, epoch: float) -> None:
    """Record the model's current parameters and buffers as the best, scoring ``val``."""
    solver.best_val_metric = val
    solver.best_epoch = epoch
    solver.best_params = {k: v.copy() for k, v in solver.model.params.items()}
    solver.best_buffers = {k: v.copy() for k, v in model_buffers(solver.model).items()}


def restore_best(solver: Solver, report: Callable[[str], None]) -> None:
    """Put the best validation parameters (and their buffers) back into the model at the end
    of training; without any (no finite validation score), warn and ``report`` it."""
    if solver.best_params is None:
        solver.restored_best = False
        message = (f"Solver: the validation {solver.metric} was never a finite number, so "
                   f"there are no best parameters; keeping the last ones")
        warnings.warn(message, RuntimeWarning, stacklevel=3)  # points at the train() call
        report(message)
        return
    for name, value in solver.best_params.items():
        solver.model.params[name] = value.copy()
    buffers = model_buffers(solver.model)
    for name, value in (solver.best_buffers or {}).items():
        np.copyto(buffers[name], value)
    solver.restored_best = True


def restore(solver: Solver, saved: dict[str, Any]) -> None:
    """Check that ``solver`` matches the checkpoint ``saved`` and load its state into it."""
    meta = saved["metadata"]
    params = solver.model.params
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
    if meta["data"]["num_train"] != solver.num_train:
        raise ValueError(f"Solver.resume: the checkpoint was trained on "
                         f"{meta['data']['num_train']} examples, data has {solver.num_train}")
    if meta["task"] != solver.task:
        raise ValueError(f"Solver.resume: the checkpoint is a {meta['task']} run, this "
                         f"model and data make a {solver.task} run")
    buffers = model_buffers(solver.model)
    if sorted(saved["buffers"]) != sorted(buffers):
        raise ValueError(f"Solver.resume: the checkpoint has buffers {sorted(saved['buffers'])}"
                         f" but the model has {sorted(buffers)}")

    for name in names:
        params[name] = saved["params"][name]
    for name, value in saved["buffers"].items():
        np.copyto(buffers[name], value)
    solver.optim_configs = {name: dict(saved["optim_configs"][name]) for name in names}
    hist = dict(saved["histories"])
    if "eval_epoch" not in hist:  # written before evaluations recorded their epoch
        hist["eval_epoch"] = np.arange(len(hist["val_acc"]) + len(hist["val_mse"]), dtype=float)
    for key in HISTORIES:
        setattr(solver, f"{key}_history", hist[key].tolist())
    solver.history = {k: list(v) for k, v in saved["history"].items()}
    solver.epoch, solver.step = int(meta["epoch"]), int(meta["step"])
    solver._perm = saved["epoch_perm"]
    solver._pos = int(meta["epoch_pos"]) if solver._perm is not None else 0
    state = meta["rng_state"]
    solver.rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
    solver.rng.bit_generator.state = state
    rng = model_rng(solver.model)
    if rng is not None and meta.get("model_rng_state") is not None:
        rng.bit_generator.state = meta["model_rng_state"]
    solver.best_params = saved["best_params"]
    solver.best_buffers = saved["best_buffers"]
    solver.best_val_metric = meta["best_val_metric"]
    solver.best_epoch = meta["best_epoch"]
    pending = list(meta["callbacks"])
    for cb in solver.callbacks:
        for entry in pending:
            if entry["class"] == type(cb).__qualname__:
                cb.load_state(entry["state"])
                pending.remove(entry)
                break
