"""Numerical gradients by centred differences, and the relative error that compares them.

For a coordinate ``x_i`` and step ``h``::

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)          # error O(h^2)

``numerical_gradient`` is for a scalar ``f``; ``numerical_gradient_array`` is for an ``f``
returning an array and gives the ``dout``-weighted gradient ``sum(dout * df/dx_i)``, which is
what a hand-written ``backward(dout, cache)`` must return for that input.

``x`` is perturbed in place, so ``f`` may ignore its argument and read ``x`` through a closure
(``f = lambda _: model.loss(X, y)[0]``); it is restored bitwise afterwards, also when ``f``
raises. The denominator is the step actually stored in ``x`` (``x_plus - x_minus``), which
matters for float32 inputs, though checks belong in float64: the round-off of ``f`` is
divided by ``2h``, so float32 values carry errors near 1e-3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

Index = tuple[int, ...]

#: Default floor of the denominator in :func:`rel_error` (CS231n's convention).
REL_ERROR_FLOOR = 1e-8


def _writable_float_array(name: str, x: object) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{name}: x must be a floating-point numpy array, got {got}")
    if not x.flags.writeable:
        raise ValueError(f"{name}: x must be writeable (it is perturbed in place and restored)")
    return x


def _indices(x: np.ndarray, indices: Iterable[Sequence[int]] | None) -> list[Index]:
    if indices is None:
        return list(np.ndindex(x.shape))
    return [tuple(int(i) for i in idx) for idx in indices]


def _detached(value: Any) -> Any:
    """A copy of an array output: f may return a view of x (a reshape), which moves with x."""
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def central_differences(f: Callable[[np.ndarray], Any], x: np.ndarray,
                        indices: Iterable[Sequence[int]] | None = None, h: float = 1e-5,
                        *, reduce: Callable[[Any, Any], float]) -> np.ndarray:
    """Return ``reduce(f(x + h e_i), f(x - h e_i)) / (actual step)`` for each index ``i``.

    The shared loop behind :func:`numerical_gradient` and :func:`numerical_gradient_array`:
    ``reduce(plus, minus)`` turns the two outputs into one number (their difference, or the
    ``dout``-weighted difference). Returns a float64 array, one value per index, in order.
    ``x`` is restored bitwise before returning or raising.
    """
    if not h > 0:
        raise ValueError(f"numerical gradient: h must be positive, got {h!r}")
    idx_list = _indices(x, indices)
    values = np.empty(len(idx_list), dtype=np.float64)
    saved = x.copy()
    try:
        for k, idx in enumerate(idx_list):
            old = x[idx]
            x[idx] = old + h
            x_plus = float(x[idx])
            plus = _detached(f(x))
            x[idx] = old - h
            x_minus = float(x[idx])
            minus = _detached(f(x))
            x[idx] = old
            if x_plus == x_minus:
                raise ValueError(f"numerical gradient: step h={h!r} vanishes at x{list(idx)} = "
                                 f"{float(old)!r}; use a larger h")
            values[k] = reduce(plus, minus) / (x_plus - x_minus)
    finally:
        np.copyto(x, saved)
    return values


def numerical_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray, h: float = 1e-5, *,
                       indices: Iterable[Sequence[int]] | None = None) -> np.ndarray:
    """Numerical gradient of a scalar function ``f`` at ``x`` by centred differences.

    Returns a float64 array of ``x.shape`` (every coordinate), or, when ``indices`` is given,
    a 1-D float64 array with one value per index (a sparse check).
    """
    x = _writable_float_array("numerical_gradient", x)

    def difference(plus: Any, minus: Any) -> float:
        plus, minus = np.asarray(plus), np.asarray(minus)
        if plus.size != 1 or minus.size != 1:
            raise ValueError(f"numerical_gradient: f must return a scalar, got an output of "
                             f"shape {plus.shape}; use numerical_gradient_array for arrays")
        return float(plus.reshape(())) - float(minus.reshape(()))

    values = central_differences(f, x, indices, h, reduce=difference)
    return values.reshape(x.shape) if indices is None else values


def numerical_gradient_array(f: Callable[[np.ndarray], Any], x: np.ndarray, dout: Any,
                             h: float = 1e-5, *,
                             indices: Iterable[Sequence[int]] | None = None) -> np.ndarray:
    """Numerical ``dout``-weighted gradient ``sum(dout * d f(x) / d x_i)`` of an array function.

    ``f(x)`` must return an array of ``dout``'s shape. Returns a float64 array of ``x.shape``
    (or one value per index when ``indices`` is given).
    """
    x = _writable_float_array("numerical_gradient_array", x)
    weights = np.asarray(dout, dtype=np.float64)

    def weighted_difference(plus: Any, minus: Any) -> float:
        plus = np.asarray(plus, dtype=np.float64)
        minus = np.asarray(minus, dtype=np.float64)
        if plus.shape != weights.shape or minus.shape != weights.shape:
            raise ValueError(f"numerical_gradient_array: f returned shape {plus.shape} but dout "
                             f"has shape {weights.shape}")
        return float(np.vdot(plus - minus, weights))

    values = central_differences(f, x, indices, h, reduce=weighted_difference)
    return values.reshape(x.shape) if indices is None else values


def relative_errors(a: Any, b: Any, floor: Any = REL_ERROR_FLOOR) -> np.ndarray:
    """Elementwise ``|a - b| / max(|a| + |b|, floor)``; ``inf`` wherever either is NaN or inf.

    ``a`` and ``b`` must have the same shape (no broadcasting); ``floor`` is a positive number
    or an array of floors, one per element. Two exact zeros give 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    if not np.all(np.asarray(floor) > 0):
        raise ValueError(f"rel_error: floor must be positive, got {floor!r}")
    finite = np.isfinite(a) & np.isfinite(b)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.asarray(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor))
    err[~finite | ~np.isfinite(err)] = np.inf
    return err


def rel_error(a: Any, b: Any, floor: float = REL_ERROR_FLOOR) -> float:
    """Maximum relative error ``max |a - b| / max(|a| + |b|, floor)`` (CS231n's measure).

    ``floor`` (1e-8 by default) guards 0/0: where both are exactly zero the error is 0. A NaN or
    inf anywhere in ``a`` or ``b`` gives ``inf``, so it can never pass a threshold. Empty arrays
    give 0. Shapes must match exactly (a broadcast would hide a wrong-shaped gradient).
    """
    err = relative_errors(a, b, floor)
    return float(err.max()) if err.size else 0.0
