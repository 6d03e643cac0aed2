"""Argument checks shared by every op, so that every error reads the same way.

Each error names the function (``op``), the argument, what was expected and what came:
``affine.forward: w has shape (3000, 10) but x has 3072 features per example``.
Shape errors raise ``ValueError``; dtype and type errors raise ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_array(op: str, name: str, value: object, *, ndim: int | None = None,
                min_ndim: int | None = None) -> np.ndarray:
    """Return ``value`` if it is a float32 or float64 ``ndarray`` of the required rank.

    Raises ``TypeError`` for anything that is not an ``ndarray`` of float32/float64 and
    ``ValueError`` for a wrong number of dimensions. Never copies.
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy array of float32 or float64, "
                        f"got {type(value).__name__}")
    if value.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must have dtype float32 or float64, got {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{op}: {name} must be {ndim}-D, got shape {value.shape}")
    if min_ndim is not None and value.ndim < min_ndim:
        raise ValueError(f"{op}: {name} must have at least {min_ndim} dimensions, "
                         f"got shape {value.shape}")
    return value


def float_dtype(op: str, value: object) -> np.dtype:
    """float32 or float64 as an ``np.dtype`` from the type, the dtype or its name."""
    try:
        dt = np.dtype(value)  # type: ignore[call-overload]
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{op}: dtype must be float32 or float64, got {value!r}")
    return dt


def same_dtype(op: str, **arrays: np.ndarray) -> np.dtype:
    """Require every array to share one dtype (no silent float32/float64 mixing); return it."""
    items = list(arrays.items())
    first_name, first = items[0]
    for name, arr in items[1:]:
        if arr.dtype != first.dtype:
            raise TypeError(f"{op}: {name} has dtype {arr.dtype} but {first_name} has dtype "
                            f"{first.dtype}; pass all float inputs in one dtype")
    return first.dtype


def dtype_is(op: str, name: str, value: np.ndarray, dtype: np.dtype, source: str) -> None:
    """Require ``value`` to have ``dtype``, the dtype of the forward input ``source``."""
    if value.dtype != dtype:
        raise TypeError(f"{op}: {name} has dtype {value.dtype} but {source} has dtype {dtype}; "
                        f"pass all float inputs in one dtype")


def shape_is(op: str, name: str, value: np.ndarray, expected: Sequence[int],
             why: str = "") -> None:
    """Require ``value.shape == expected``; ``why`` completes the message (e.g. 'to match x')."""
    expected = tuple(int(e) for e in expected)
    if value.shape != expected:
        suffix = f" {why}" if why else ""
        raise ValueError(f"{op}: {name} must have shape {expected}{suffix}, got {value.shape}")


def prediction_pair(op: str, pred: object, target: object) -> tuple[np.ndarray, np.ndarray]:
    """Require a regression loss's ``pred`` and ``target``: non-empty float arrays of one shape
    and one dtype (no broadcasting: a broadcast target gives a wrong loss silently)."""
    float_array(op, "pred", pred)
    float_array(op, "target", target)
    same_dtype(op, pred=pred, target=target)
    shape_is(op, "target", target, pred.shape, "to match pred")
    if pred.size == 0:
        raise ValueError(f"{op}: pred must have at least one element, got shape {pred.shape}")
    return pred, target


def labels(op: str, name: str, value: object, n: int, num_classes: int) -> np.ndarray:
    """Require integer labels of shape (n,) with every value in [0, num_classes)."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
        got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise TypeError(f"{op}: {name} must be an integer numpy array of class indices, got {got}")
    if value.shape != (n,):
        raise ValueError(f"{op}: {name} must have shape ({n},), one label per example, "
                         f"got {value.shape}")
    if n and (value.min() < 0 or value.max() >= num_classes):
        bad = value[(value < 0) | (value >= num_classes)][0]
        raise ValueError(f"{op}: {name} must hold class indices in [0, {num_classes}), "
                         f"found {int(bad)}")
    return value


def choice(op: str, name: str, value: object, allowed: Sequence[str]) -> str:
    """Require ``value`` to be one of ``allowed`` strings."""
    if value not in allowed:
        raise ValueError(f"{op}: {name} must be one of {', '.join(map(repr, allowed))}, "
                         f"got {value!r}")
    return value  # type: ignore[return-value]


def positive_real(op: str, name: str, value: object) -> float:
    """Require a real number > 0 (not a bool) for an option such as Huber's ``delta``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{op}: {name} must be a positive real number, "
                        f"got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{op}: {name} must be > 0, got {value}")
    return value  # type: ignore[return-value]


def scalar_dout(op: str, dout: object, dtype: np.dtype) -> np.floating:
    """The upstream gradient of a scalar loss as a scalar of the loss dtype.

    Accepts a Python real number, or a NumPy scalar or 0-d array of the loss dtype; anything
    else is a ``TypeError`` (a bool, a string, another dtype) or a ``ValueError`` (a shape).
    """
    if isinstance(dout, (np.ndarray, np.generic)):
        if dout.shape != ():
            raise ValueError(f"{op}: dout must be a scalar like the loss, got shape {dout.shape}")
        if dout.dtype != dtype:
            raise TypeError(f"{op}: dout has dtype {dout.dtype} but the loss has dtype {dtype}; "
                            f"pass a Python float or a scalar of dtype {dtype}")
        return dtype.type(dout)
    if isinstance(dout, bool) or not isinstance(dout, Real):
        raise TypeError(f"{op}: dout must be a real number (the upstream gradient of the loss), "
                        f"got {type(dout).__name__}")
    return dtype.type(dout)


Pair = tuple[int, int]


def int_pair(op: str, name: str, value: object, *, minimum: int) -> Pair:
    """An image option given as one int or a (height, width) pair of ints (a tuple or a list),
    each >= minimum, as a pair: ``stride=2`` is ``(2, 2)``."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                  for v in items):
        raise TypeError(f"{op}: {name} must be an int or a (height, width) pair of ints, "
                        f"got {value!r}")
    if min(items) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def window_positions(op: str, image: Sequence[int], window: Pair, stride: Pair,
                     pad: Pair = (0, 0), *, what: str = "filter",
                     names: Pair | tuple[str, str] = ("HH", "WW")) -> Pair:
    """Positions ``(Ho, Wo)`` of a ``window`` sliding over an ``image`` of (H, W) pixels with
    ``stride`` after zero-padding by ``pad``: ``Ho = (H + 2 * pad - HH) // stride + 1``.

    The window must fit the padded image and the stride must tile it exactly (no pixel left
    over at the bottom or the right), else a ``ValueError`` says which, with the numbers.
    ``what`` names the window ("filter", "pool window"), ``names`` its two sizes.
    """
    where = "padded input" if any(pad) else "input"
    positions = []
    for axis, dim, n, k, k_name, s, p in zip(("height", "width"), ("H", "W"), image, window,
                                             names, stride, pad, strict=True):
        padded = n + 2 * p
        span = f"{dim} + 2*pad = {n} + 2*{p} = {padded}" if any(pad) else f"{dim} = {n}"
        if k > padded:
            raise ValueError(f"{op}: the {what} does not fit the {where}: its {axis} {k} "
                             f"({k_name}) exceeds {span}")
        if (padded - k) % s:
            left = (f"{dim} + 2*pad - {k_name} = {n} + 2*{p} - {k}" if any(pad)
                    else f"{dim} - {k_name} = {n} - {k}")
            raise ValueError(f"{op}: stride {s} does not tile the {where}'s {axis}: {left} = "
                             f"{padded - k} is not a multiple of {s}; change the stride, the "
                             f"padding or the input size")
        positions.append((padded - k) // s + 1)
    return positions[0], positions[1]


def conv_arguments(op: str, x: object, w: object, b: object, stride: object,
                   pad: object) -> tuple[Pair, Pair, Pair]:
    """Check a 2-D convolution's x (N, C, H, W), w (F, C, HH, WW), b (F,), ``stride`` (>= 1)
    and ``pad`` (>= 0); return ``(stride, pad, (Ho, Wo))`` with the options as pairs."""
    float_array(op, "x", x, ndim=4)
    float_array(op, "w", w, ndim=4)
    float_array(op, "b", b, ndim=1)
    same_dtype(op, x=x, w=w, b=b)
    stride = int_pair(op, "stride", stride, minimum=1)
    pad = int_pair(op, "pad", pad, minimum=0)
    n_filters, channels, hh, ww = w.shape
    if channels != x.shape[1]:
        raise ValueError(f"{op}: w has {channels} input channels but x has {x.shape[1]} "
                         f"(x shape {x.shape}, w shape {w.shape}); w must be "
                         f"(F, {x.shape[1]}, HH, WW)")
    if b.shape != (n_filters,):
        raise ValueError(f"{op}: b must have shape (F,) = ({n_filters},) to match w "
                         f"{w.shape}, got {b.shape}")
    out_hw = window_positions(op, x.shape[2:], (hh, ww), stride, pad)
    return stride, pad, out_hw


def pool_arguments(op: str, x: object, size: object, stride: object
                   ) -> tuple[Pair, Pair, Pair]:
    """Check a pooling layer's x (N, C, H, W), window ``size`` and ``stride`` (None: the size,
    i.e. windows side by side); return ``(size, stride, (Ho, Wo))`` with the options as pairs."""
    float_array(op, "x", x, ndim=4)
    size = int_pair(op, "size", size, minimum=1)
    stride = size if stride is None else int_pair(op, "stride", stride, minimum=1)
    out_hw = window_positions(op, x.shape[2:], size, stride, what="pool window",
                              names=("size", "size"))
    return size, stride, out_hw
