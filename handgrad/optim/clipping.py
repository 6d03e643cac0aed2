"""Gradient clipping over a dict of gradients, in place.

``clip_grad_norm(grads, max_norm)`` treats all arrays as one vector ``g`` and rescales it when
its L2 norm is too large, as ``torch.nn.utils.clip_grad_norm_``: with ``norm`` the square root
of the sum of ``g**2`` over all arrays and entries, every array is multiplied by
``max_norm / (norm + 1e-6)`` when that is less than 1 and left alone otherwise, so every array
keeps its direction and the relative sizes between arrays are kept (the 1e-6, ``EPS``, keeps
an all-zero gradient from dividing by zero).
``clip_grad_value(grads, clip_value)`` clips each entry to ``[-clip_value, clip_value]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping

import numpy as np

from handgrad import validation as check

EPS = 1e-6  # added to the norm before dividing, as torch.nn.utils.clip_grad_norm_ does


class NonFiniteGradientError(ValueError):
    """A gradient holds NaN or inf; ``param`` names the first such array."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


def _sum_of_squares(g: np.ndarray) -> float:
    flat = g.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.dot(flat, flat))
    if not math.isfinite(total) and np.isfinite(flat).all():
        # Finite entries whose squares overflow the dtype (float32 past ~1.8e19): redo in float64.
        flat64 = flat.astype(np.float64)
        total = float(np.dot(flat64, flat64))
    return total


def _check_float(op: str, name: str, g: object) -> None:
    if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
        got = g.dtype if isinstance(g, np.ndarray) else type(g).__name__
        raise TypeError(f"{op}: gradient of {name!r} must be a float numpy array, got {got}")


def _check_grads(op: str, grads: Mapping[str, np.ndarray]) -> None:
    """Every gradient must be a float array; a NaN or inf raises naming its parameter."""
    for name, g in grads.items():
        _check_float(op, name, g)
        if not np.isfinite(g).all():
            bad = "NaN" if np.isnan(g).any() else "inf"
            raise NonFiniteGradientError(
                f"{op}: the gradient of {name!r} contains {bad}, so the global norm is not "
                f"finite", name)


def global_norm(grads: Mapping[str, np.ndarray], op: str = "global_norm") -> float:
    """Return the L2 norm of all gradients taken together, as a Python float.

    Raises :class:`NonFiniteGradientError` (a ``ValueError``) naming the first parameter whose
    gradient holds NaN or inf.
    """
    total = 0.0
    for name, g in grads.items():
        _check_float(op, name, g)
        sq = _sum_of_squares(g)
        if not math.isfinite(sq):
            _check_grads(op, {name: g})
        total += sq
    return math.sqrt(total)


def clip_grad_norm(grads: MutableMapping[str, np.ndarray], max_norm: float) -> float:
    """Rescale ``grads`` in place so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (a Python float). Gradients holding NaN or inf raise
    :class:`NonFiniteGradientError` naming the parameter, before anything is changed.
    """
    op = "clip_grad_norm"
    max_norm = check.number(op, "max_norm", max_norm, low=0.0, low_open=True)
    _check_grads(op, grads)
    # BEGIN SOLUTION hint: one norm over every array; rescale in place only when it is too large
    norm = math.sqrt(sum(_sum_of_squares(g) for g in grads.values()))
    scale = max_norm / (norm + EPS)
    if scale < 1.0:
        for g in grads.values():
            g *= scale
    # END SOLUTION
    return norm


def clip_grad_value(grads: MutableMapping[str, np.ndarray], clip_value: float) -> None:
    """Clip every gradient entry to ``[-clip_value, clip_value]``, in place.

    NaN entries stay NaN (as in ``torch.nn.utils.clip_grad_value_``).
    """
    op = "clip_grad_value"
    clip_value = check.number(op, "clip_value", clip_value, low=0.0, low_open=True)
    for name, g in grads.items():
        _check_float(op, name, g)
        np.clip(g, -clip_value, clip_value, out=g)
