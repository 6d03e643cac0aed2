"""Argument checks shared by the whole package, so that every error reads the same way.

Each error names the function (``op``), the argument, what was expected and what came:
``affine.forward: w has shape (3000, 10) but x has 3072 features per example``,
``Solver: batch_size must be a positive integer, got 0``. Shape and range errors raise
``ValueError``; dtype and type errors raise ``TypeError``.

- arrays: :func:`float_array`, :func:`float_dtype`, :func:`same_dtype`, :func:`dtype_is`,
  :func:`shape_is`, :func:`labels`, :func:`scalar_dout` and the checks of whole argument
  lists (:func:`sequence_start`, :func:`gate_weights`, :func:`projections`,
  :func:`prediction_pair`, :func:`conv_arguments`, :func:`pool_arguments`);
- scalars: :func:`number`, :func:`integer`, :func:`seed`, :func:`choice` (and the shorthands
  :func:`positive_int`, :func:`positive_real`, :func:`real_in`, :func:`divisor`,
  :func:`int_pair`); a value of the wrong kind raises :class:`ScalarTypeError`;
- option dicts: :func:`param_dict`, :func:`bn_param`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, MutableMapping, Sequence
from numbers import Integral, Real
from typing import Literal, overload

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
    """Require ``value.dtype == dtype``, the dtype of the forward input ``source`` (for a
    backward whose cache keeps the dtype but not the array)."""
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


def sequence_start(op: str, x: object, h_name: str, h0: object) -> tuple[int, int, int, int]:
    """Require a batch-first sequence x (N, T, D) with T >= 1 and a starting state ``h0``
    (N, H) of float arrays; return ``(N, T, D, H)``."""
    x = float_array(op, "x", x, ndim=3)
    h0 = float_array(op, h_name, h0, ndim=2)
    n, t_steps, d = x.shape
    if t_steps == 0:
        raise ValueError(f"{op}: x must have at least one time step, got shape {x.shape}")
    shape_is(op, h_name, h0, (n, h0.shape[1]), f"= (N, H) with N = {n} to match x")
    return n, t_steps, d, h0.shape[1]


def gate_weights(op: str, x: np.ndarray, h_name: str, h: np.ndarray, Wx: object, Wh: object,
                 b: object, *, gates: int) -> None:
    """Require the weights of a recurrent cell with ``gates`` gates of H units each: Wx
    (D, gates*H), Wh (H, gates*H), b (gates*H,), all in the dtype of x and the hidden state
    ``h`` (N, H) named ``h_name``; D is the last dimension of x."""
    Wx = float_array(op, "Wx", Wx, ndim=2)
    Wh = float_array(op, "Wh", Wh, ndim=2)
    b = float_array(op, "b", b, ndim=1)
    same_dtype(op, x=x, **{h_name: h}, Wx=Wx, Wh=Wh, b=b)
    d, n_h = x.shape[-1], h.shape[1]
    width = f"{gates}H" if gates > 1 else "H"
    why = f"({gates} gates of H = {n_h} units, H from {h_name})" if gates > 1 \
        else f"(H = {n_h} from {h_name})"
    shape_is(op, "Wx", Wx, (d, gates * n_h), f"= (D, {width}) {why}")
    shape_is(op, "Wh", Wh, (n_h, gates * n_h), f"= (H, {width}) {why}")
    shape_is(op, "b", b, (gates * n_h,), f"= ({width},) {why}")


def projections(op: str, x: np.ndarray, weights: dict[str, object],
                biases: dict[str, object]) -> None:
    """Require square (D, D) ``weights`` and (D,) ``biases`` (by name) for x (..., D), all in
    x's dtype, as attention's query, key, value and output projections."""
    d = x.shape[-1]
    arrays = {}
    for name, w in weights.items():
        arrays[name] = float_array(op, name, w, ndim=2)
        shape_is(op, name, arrays[name], (d, d), "= (D, D) to match x")
    for name, b in biases.items():
        arrays[name] = float_array(op, name, b, ndim=1)
        shape_is(op, name, arrays[name], (d,), "= (D,) to match x")
    same_dtype(op, x=x, **arrays)


def prediction_pair(op: str, pred: object, target: object) -> tuple[np.ndarray, np.ndarray]:
    """Require a regression loss's ``pred`` and ``target``: non-empty float arrays of one shape
    and one dtype (no broadcasting: a broadcast target gives a wrong loss silently)."""
    pred = float_array(op, "pred", pred)
    target = float_array(op, "target", target)
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


# ------------------------------------------------------------------ scalars: numbers,
# integers, seeds and choices. Each check raises ScalarTypeError for a value of the wrong kind
# and ValueError for one out of range, both reading "{op}: {name} must be {expected}, got
# {got}" (``got`` is the type's name for the first, the value for the second). ``expected``
# defaults to a phrase made from the bounds; a caller may word it itself.

class ScalarTypeError(TypeError, ValueError):
    """A scalar option of the wrong kind (a str for a number, a float for an integer).

    A ``TypeError``, and a ``ValueError`` too, as the option checks of the Solver, the models
    and the callbacks raised before they shared this module (``except ValueError`` keeps
    working there).
    """


def interval(low: float | None, high: float | None, *, low_open: bool = False,
             high_open: bool = False) -> str:
    """The bounds as words: ``"> 0"``, ``">= 1"``, ``"< 1"``, ``"in [0, 1)"`` or ``""``."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def _number_phrase(low: float | None, high: float | None, low_open: bool, high_open: bool,
                   finite: bool) -> str:
    noun = "finite number" if finite else "real number"
    if low == 0 and low_open and high is None:
        return f"a positive {noun}"
    bounds = interval(low, high, low_open=low_open, high_open=high_open)
    return f"a {noun} {bounds}" if bounds else f"a {noun}"


def number(op: str, name: str, value: object, *, low: float | None = None,
           high: float | None = None, low_open: bool = False, high_open: bool = False,
           finite: bool = True, expected: str | None = None) -> float:
    """Require a real number (a Python or NumPy int or float, not a bool) within the bounds;
    return it as a Python float.

    ``low`` / ``high`` bound it (``low_open`` / ``high_open`` exclude an end); ``finite``
    refuses NaN and inf (NaN is never within a bound either). ``number(op, "lr", lr, low=0,
    low_open=True)`` reads ``op: lr must be a positive finite number, got -1``.
    """
    if expected is None:
        expected = _number_phrase(low, high, low_open, high_open, finite)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ScalarTypeError(f"{op}: {name} must be {expected}, got {type(value).__name__}")
    x = float(value)
    ok = not finite or math.isfinite(x)
    if low is not None:
        ok = ok and (low < x if low_open else low <= x)
    if high is not None:
        ok = ok and (x < high if high_open else x <= high)
    if not ok:
        raise ValueError(f"{op}: {name} must be {expected}, got {value}")
    return x


def integer(op: str, name: str, value: object, *, low: int | None = None,
            high: int | None = None, expected: str | None = None) -> int:
    """Require an integer (a Python or NumPy integer, not a bool) in ``[low, high]``; return it
    as a Python int. The default wording: ``a positive integer`` (low 1), ``an integer >= 2``,
    ``an integer from 1 to 100``, ``an integer``."""
    if expected is None:
        if low is not None and high is not None:
            expected = f"an integer from {low} to {high}"
        elif low == 1:
            expected = "a positive integer"
        elif low is not None:
            expected = f"an integer >= {low}"
        elif high is not None:
            expected = f"an integer <= {high}"
        else:
            expected = "an integer"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ScalarTypeError(f"{op}: {name} must be {expected}, got {type(value).__name__}")
    n = int(value)
    if (low is not None and n < low) or (high is not None and n > high):
        raise ValueError(f"{op}: {name} must be {expected}, got {n}")
    return n


@overload
def seed(op: str, name: str, value: object, *, allow_none: Literal[False] = ...) -> int: ...
@overload
def seed(op: str, name: str, value: object, *, allow_none: bool) -> int | None: ...
def seed(op: str, name: str, value: object, *, allow_none: bool = False) -> int | None:
    """Require a seed for ``np.random.default_rng``: an integer >= 0 (not a bool), or also
    None (fresh entropy) with ``allow_none``."""
    if value is None and allow_none:
        return None
    return integer(op, name, value, low=0,
                   expected="None or an integer >= 0" if allow_none else "an integer >= 0")


def choice(op: str, name: str, value: object, allowed: Sequence[str]) -> str:
    """Require ``value`` to be one of ``allowed`` strings."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{op}: {name} must be one of {', '.join(map(repr, allowed))}, "
                         f"got {value!r}")
    return value


def positive_int(op: str, name: str, value: object) -> int:
    """Require an integer >= 1 (a Python or NumPy integer, not a bool), such as a group count."""
    return integer(op, name, value, low=1)


def positive_real(op: str, name: str, value: object) -> float:
    """Require a real number > 0 (not a bool, inf allowed) for an option such as Huber's
    ``delta``; return it unchanged."""
    number(op, name, value, finite=False, expected="a positive real number")
    number(op, name, value, low=0, low_open=True, finite=False, expected="> 0")
    return value  # type: ignore[return-value]  # a Real, checked above


def real_in(op: str, name: str, value: object, low: float, high: float, *,
            low_open: bool = False, high_open: bool = False) -> float:
    """Require a real number (not a bool) in the interval from ``low`` to ``high``.

    ``low_open`` / ``high_open`` exclude an end: ``real_in(op, "keep_prob", p, 0, 1,
    low_open=True)`` accepts (0, 1]. NaN is never in range. Returns the value as a float.
    """
    x = number(op, name, value, finite=False, expected="a real number")
    return number(op, name, x, low=low, high=high, low_open=low_open, high_open=high_open,
                  finite=False, expected=interval(low, high, low_open=low_open,
                                                  high_open=high_open))


def divisor(op: str, name: str, value: object, total: int, what: str) -> int:
    """Require a :func:`positive_int` that divides ``total`` (``what`` names the total, e.g.
    'D, the features of x'), such as the number of attention heads."""
    value = positive_int(op, name, value)
    if total % value:
        raise ValueError(f"{op}: {name} = {value} must divide {what} = {total}")
    return value


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


def param_dict(op: str, name: str, value: object, allowed: Collection[str],
               required: Mapping[str, str]) -> MutableMapping:
    """Require a layer's param dict (``bn_param``, ``dropout_param``): a dict with no key
    outside ``allowed`` and every key of ``required``, whose value says what that key holds
    (``{"mode": "'train' or 'test'"}``). Returns the dict itself (layers may update it)."""
    if not isinstance(value, MutableMapping):
        raise TypeError(f"{op}: {name} must be a dict, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise ValueError(f"{op}: unknown {name} key(s) {', '.join(map(repr, unknown))}; "
                         f"allowed: {', '.join(map(repr, allowed))}")
    for key, what in required.items():
        if key not in value:
            raise ValueError(f"{op}: {name} must have a {key!r} key, {what}")
    return value


BN_MODES = ("train", "test")
BN_PARAM_KEYS = ("mode", "eps", "momentum", "running_mean", "running_var")


def bn_param(op: str, value: object, d: int, dtype: np.dtype, features: str = "x's features",
             *, default_eps: float = 1e-5, default_momentum: float = 0.9
             ) -> tuple[str, float, float, np.ndarray, np.ndarray]:
    """Check a batch normalization param dict (see :mod:`handgrad.layers.batchnorm`) for ``d``
    features of ``dtype``; return ``(mode, eps, momentum, running_mean, running_var)``.

    Absent running statistics are created as zeros of shape (d,) and stored in the dict (the
    only change made to it); ``features`` names what the d entries match (e.g. "x's channels").
    """
    value = param_dict(op, "bn_param", value, BN_PARAM_KEYS, {"mode": "'train' or 'test'"})
    mode = choice(op, "bn_param['mode']", value["mode"], BN_MODES)
    eps = real_in(op, "bn_param['eps']", value.get("eps", default_eps), 0.0, np.inf,
                  low_open=True)
    momentum = real_in(op, "bn_param['momentum']", value.get("momentum", default_momentum),
                       0.0, 1.0)
    running = []
    for key in ("running_mean", "running_var"):
        if key not in value:
            value[key] = np.zeros(d, dtype=dtype)
        arr = float_array(op, f"bn_param[{key!r}]", value[key], ndim=1)
        shape_is(op, f"bn_param[{key!r}]", arr, (d,), f"to match {features}")
        if arr.dtype != dtype:
            raise TypeError(f"{op}: bn_param[{key!r}] has dtype {arr.dtype} but x has dtype "
                            f"{dtype}; keep the running statistics in x's dtype")
        if mode == "train" and not arr.flags.writeable:
            raise ValueError(f"{op}: bn_param[{key!r}] is read-only, but train mode updates it "
                             f"in place")
        running.append(arr)
    if mode == "test" and np.any(running[1] < 0):
        raise ValueError(f"{op}: bn_param['running_var'] has negative entries; a variance "
                         f"cannot be negative")
    return mode, eps, momentum, running[0], running[1]

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
    x = float_array(op, "x", x, ndim=4)
    w = float_array(op, "w", w, ndim=4)
    b = float_array(op, "b", b, ndim=1)
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
    x = float_array(op, "x", x, ndim=4)
    size = int_pair(op, "size", size, minimum=1)
    stride = size if stride is None else int_pair(op, "stride", stride, minimum=1)
    out_hw = window_positions(op, x.shape[2:], size, stride, what="pool window",
                              names=("size", "size"))
    return size, stride, out_hw
