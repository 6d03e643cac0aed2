"""Argument checks and helpers shared by the models."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from handgrad import validation as check
from handgrad.fast.twins import fastest

ACTIVATIONS = ("relu", "sigmoid", "tanh")
# loss name -> (module, task)
LOSSES = {
    "softmax": ("handgrad.losses.softmax_cross_entropy", "classification"),
    "huber": ("handgrad.losses.huber", "regression"),
    "mse": ("handgrad.losses.mse", "regression"),
    "clipped_error_mse": ("handgrad.losses.clipped_error_mse", "regression"),
}


def positive_int(owner: str, name: str, value: Any, minimum: int = 1) -> int:
    return check.integer(owner, name, value, low=minimum, expected=f"an integer >= {minimum}")


def nonneg_float(owner: str, name: str, value: Any, *, positive: bool = False) -> float:
    return check.number(owner, name, value, low=0.0, low_open=positive,
                        expected=f"a finite number {'>' if positive else '>='} 0")


def int_list(owner: str, name: str, values: Any) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{owner}: {name} must be a list of positive integers, got {values!r}")
    return [positive_int(owner, f"{name}[{i}]", v) for i, v in enumerate(values)]


def seed_value(owner: str, seed: Any) -> int | None:
    return check.seed(owner, "seed", seed, allow_none=True)


def layer(name: str) -> ModuleType:
    """The module that computes layer ``name`` (``"affine"``): its tuned twin in
    :mod:`handgrad.fast` where there is one, else ``handgrad.layers.<name>``."""
    return fastest(f"handgrad.layers.{name}")


def loss_module(name: str) -> ModuleType:
    """The module that computes loss ``name`` (a key of :data:`LOSSES`): its tuned twin where
    there is one, else the readable module."""
    return fastest(LOSSES[name][0])


def one(dtype: np.dtype) -> np.ndarray:
    """The upstream gradient of a scalar loss: a 0-d array of the loss dtype."""
    return np.ones((), dtype=dtype)


def set_buffers(owner: str, own: dict[str, np.ndarray], values: dict[str, Any],
                dtype: np.dtype) -> None:
    """Copy ``values`` into the model's buffer arrays ``own`` in place (cast to ``dtype``);
    a name the model does not have is a ``KeyError``, raised before anything is copied."""
    unknown = sorted(set(values) - set(own))
    if unknown:
        raise KeyError(f"{owner}: unknown buffer(s) {unknown}; known: {sorted(own)}")
    for name, value in values.items():
        np.copyto(own[name], np.asarray(value).astype(dtype, copy=False))


def l2_penalty(reg: float, weights: Sequence[np.ndarray], dtype: np.dtype) -> np.floating:
    """``0.5 * reg * sum(||W||^2)`` in ``dtype``."""
    total = dtype.type(0)
    for w in weights:
        flat = w.reshape(-1)
        total += flat @ flat
    return dtype.type(0.5 * reg) * total
