"""``check_op``: prove an op's hand-written backward against numerical gradients.

For one op and one set of inputs it

1. works on private float64 copies of every float input (the caller's arrays are never
   touched; a float32 input is cast, and the report says so);
2. checks the op contract before any value (see ``CONTRACT_CHECKS``): forward returns
   ``(out, cache)`` and leaves its inputs alone; backward returns one gradient per float array
   input (a bare array when there is one) with exactly that input's shape and dtype, leaves
   ``dout`` and the cache alone, returns bitwise the same gradients when called twice, and
   returns zero gradients for a zero ``dout``; float32 inputs give a float32 output and float32
   gradients;
3. draws an upstream gradient ``dout ~ N(0, 1)`` (never all ones: a uniform ``dout`` cancels in
   batchnorm and softmax) from its own generator, and compares each input's analytic gradient
   with the centred-difference one, in one of three modes:

   - ``full``: every coordinate (2 forward calls per coordinate);
   - ``sparse``: ``num_checks`` random coordinates per input, seeded, listed in the report;
   - ``fast``: one random unit direction ``v`` per input, comparing ``u . (J v)`` (``u`` is
     ``dout``) from two forward calls with ``grad . v``; when that fails the input is
     re-checked in full automatically, and the report says so.

An entry passes when its relative error ``|a - n| / max(|a| + |n|, floor)`` is at most ``tol``
(1e-7, CS231n's bar in float64) and ``|a - n| <= atol + noise + rtol |n|`` (an ``allclose``
check). ``noise`` is the round-off of that numerical entry, estimated from the two forward
outputs: ``8 eps ||(|f(x+h)| + |f(x-h)|) * dout|| / 2h`` over the outputs that moved. The floor
is the largest of 1e-8, ``1e-3`` of the gradient's largest numerical entry, and ``noise / tol``,
so an entry that is exactly zero (a ReLU gate) or small by chance is judged by its absolute
error against what round-off can explain, instead of failing on round-off (a loss of 7 carries
an absolute error near 1e-10 in every numerical entry, which is 1e-6 of an entry of 1e-4).

Kinks: an op's registry entry (or the ``kink_distance`` argument) gives every input
coordinate's distance to the nearest point where the op is not differentiable. A mismatch at a
coordinate within ``kink_band * h`` of a kink is reported as a kink entry, not as a failure:
there the centred difference straddles two slopes and no backward can match it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from handgrad.gradcheck import registry
from handgrad.gradcheck.numerical import REL_ERROR_FLOOR, central_differences, relative_errors
from handgrad.gradcheck.registry import KinkDistance, OpSpec
from handgrad.gradcheck.report import (
    ContractError,
    GradCheckReport,
    InputReport,
    WorstEntry,
    hint_for,
)

MODES = ("full", "sparse", "fast")

#: The contract findings ``check_op`` can report, by name.
CONTRACT_CHECKS: dict[str, str] = {
    "import": "the op's module, forward or backward could not be loaded",
    "no-inputs": "forward has no floating-point array argument to differentiate",
    "forward-error": "forward raised an exception",
    "forward-output": "forward must return (out, cache) with out a NumPy float array or scalar",
    "out-dtype": "out must have the dtype of the float inputs (float32 in, float32 out)",
    "nonfinite": "forward gave NaN or inf on generic inputs",
    "input-mutated": "forward must not modify its array arguments",
    "backward-error": "backward raised an exception",
    "grad-count": "backward returns one gradient per float array input (bare when one)",
    "grad-type": "each gradient is a NumPy array",
    "grad-shape": "each gradient has exactly its input's shape",
    "grad-dtype": "each gradient has exactly its input's dtype",
    "dout-mutated": "backward must not modify dout",
    "cache-mutated": "backward must not modify the cache",
    "nondeterministic": "backward called twice gives bitwise the same gradients",
    "not-linear": "a zero dout gives zero gradients (backward multiplies by dout)",
}

SCALE_FLOOR = 1e-3      # relative-error floor, as a fraction of the gradient's largest entry
NOISE_FACTOR = 8.0      # safety factor on the estimated round-off of a numerical entry
_EPS = float(np.finfo(np.float64).eps)
DEFAULT_TOL = 1e-7
DEFAULT_RTOL = 1e-5     # allclose part, numpy's defaults
DEFAULT_ATOL = 1e-8
DEFAULT_H = 1e-5
DEFAULT_KINK_BAND = 4.0


@dataclass
class _Op:
    name: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    spec: OpSpec | None
    arg_names: Sequence[str] | None


class _OpLoadError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _spec_for_module(module_name: str | None) -> OpSpec | None:
    if not module_name:
        return None
    for spec in registry.REGISTRY.values():
        if spec.module == module_name and spec.forward == "forward":
            return spec
    return None


def _resolve(op: Any) -> _Op:
    """Turn a registry name, an OpSpec, a module (or any object with forward/backward) or a
    ``(forward, backward)`` pair into callables, plus the registry entry when there is one."""
    if isinstance(op, str):
        op = registry.get(op)
    if isinstance(op, OpSpec):
        try:
            forward, backward = op.functions()
        except (ImportError, AttributeError) as exc:
            raise _OpLoadError(op.name, f"cannot load {op.module}.{op.forward}/{op.backward}: "
                                        f"{type(exc).__name__}: {exc}") from exc
        return _Op(op.name, forward, backward, op, op.arg_names)
    if isinstance(op, tuple) and len(op) == 2 and all(map(callable, op)):
        forward, backward = op
        name = getattr(forward, "__module__", None) or "op"
        return _Op(name.rsplit(".", 1)[-1], forward, backward, None, None)
    forward, backward = getattr(op, "forward", None), getattr(op, "backward", None)
    if not (callable(forward) and callable(backward)):
        raise TypeError(f"check_op: op must be a registry name, an OpSpec, a module with "
                        f"forward and backward, or a (forward, backward) pair; got {op!r}")
    module_name = getattr(op, "__name__", None)
    spec = _spec_for_module(module_name)
    name = spec.name if spec else (getattr(op, "name", None) or module_name or "op")
    return _Op(str(name).rsplit(".", 1)[-1], forward, backward, spec,
               spec.arg_names if spec else None)


def _arg_names(op: _Op, n_args: int) -> list[str]:
    if op.arg_names is not None and len(op.arg_names) >= n_args:
        return list(op.arg_names[:n_args])
    names: list[str] = []
    try:
        params = inspect.signature(op.forward).parameters.values()
        names = [p.name for p in params
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        pass
    return [names[i] if i < len(names) else f"arg{i}" for i in range(n_args)]


# --- copying, casting and comparing -------------------------------------------------------

def _is_float_array(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _private_copy(obj: Any, dtype: np.dtype, path: str, cast: list[str]) -> Any:
    """Deep copy of an argument with every float array cast to ``dtype`` (recorded in cast)."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            if obj.dtype != dtype:
                cast.append(f"{path} ({obj.dtype})")
            return np.array(obj, dtype=dtype, copy=True)
        return obj.copy()
    if isinstance(obj, Mapping):
        return {k: _private_copy(v, dtype, f"{path}[{k!r}]", cast) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_private_copy(v, dtype, f"{path}[{i}]", cast) for i, v in enumerate(obj)]
    return copy.deepcopy(obj)


def _fresh(args: Sequence[Any]) -> list[Any]:
    """Arguments for one forward call: arrays as they are, containers (bn_param) copied, so
    that in-place updates of running statistics never leak from one call into the next."""
    return [copy.deepcopy(a) if isinstance(a, (Mapping, list)) else a for a in args]


def _snapshot(obj: Any, depth: int = 0) -> Any:
    """A deep copy of the arrays inside ``obj`` (tuples, lists, dicts, simple objects)."""
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if depth > 8:
        return None
    if isinstance(obj, (tuple, list)):
        return [_snapshot(v, depth + 1) for v in obj]
    if isinstance(obj, Mapping):
        return {k: _snapshot(v, depth + 1) for k, v in obj.items()}
    if hasattr(obj, "__dict__") and not inspect.ismodule(obj) and not callable(obj):
        return {k: _snapshot(v, depth + 1) for k, v in vars(obj).items()}
    return None


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _changed_paths(before: Any, after: Any, path: str, depth: int = 0) -> list[str]:
    """Where the arrays of ``after`` differ from the snapshot ``before``."""
    if isinstance(before, np.ndarray):
        ok = isinstance(after, np.ndarray) and _same_bits(before, after)
        return [] if ok else [path]
    if before is None or depth > 8:
        return []
    if isinstance(before, list):
        items = list(after) if isinstance(after, (tuple, list)) else None
        if items is None or len(items) != len(before):
            return [path]
        return [p for i, (b, a) in enumerate(zip(before, items, strict=True))
                for p in _changed_paths(b, a, f"{path}[{i}]", depth + 1)]
    if isinstance(before, dict):
        mapping = after if isinstance(after, Mapping) else getattr(after, "__dict__", None)
        if mapping is None:
            return [path]
        return [p for k, b in before.items()
                for p in _changed_paths(b, mapping.get(k), f"{path}[{k!r}]", depth + 1)]
    return []


def _random_like(out: Any, rng: np.random.Generator) -> Any:
    """An upstream gradient of out's shape and dtype, drawn from N(0, 1)."""
    if isinstance(out, np.ndarray):
        return rng.standard_normal(out.shape).astype(out.dtype, copy=False)
    return out.dtype.type(rng.standard_normal())


def _zero_like(dout: Any) -> Any:
    return np.zeros_like(dout) if isinstance(dout, np.ndarray) else dout.dtype.type(0)


def _copy_dout(dout: Any) -> Any:
    return dout.copy() if isinstance(dout, np.ndarray) else dout


def _exception_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _fmt_names(names: Iterable[str]) -> str:
    return ", ".join(names)


# --- the contract -------------------------------------------------------------------------

@dataclass
class _Run:
    """One forward + backward at one dtype, with the contract findings it produced."""

    out: Any = None
    cache: Any = None
    dout: Any = None
    grads: list[np.ndarray | None] | None = None  # aligned with the float inputs
    errors: list[ContractError] | None = None
    failed: bool = False  # forward or backward raised: nothing to compare


def _run_contract(op: _Op, args: list[Any], options: Mapping[str, Any], names: list[str],
                  float_pos: list[int], dtype: np.dtype, rng: np.random.Generator,
                  label: str, deep: bool) -> _Run:
    """Run forward and backward once (twice with ``deep``) and check the contract."""
    run = _Run(errors=[])
    errors = run.errors
    where = f" ({label})" if label else ""

    def error(check: str, message: str) -> None:
        errors.append(ContractError(check, message + where))

    before = {i: a.copy() for i, a in enumerate(args) if isinstance(a, np.ndarray)}
    try:
        result = op.forward(*_fresh(args), **options)
    except Exception as exc:  # noqa: BLE001 - any failure of the op is a finding
        error("forward-error", f"forward raised {_exception_text(exc)}")
        run.failed = True
        return run
    mutated = [names[i] for i, a in before.items() if not _same_bits(a, args[i])]
    if mutated:
        error("input-mutated", f"forward modified its argument(s) {_fmt_names(mutated)}; "
                               f"work on a copy (e.g. np.maximum(x, 0), not x[x < 0] = 0)")
    if not (isinstance(result, tuple) and len(result) == 2):
        got = (f"a tuple of {len(result)}" if isinstance(result, tuple)
               else type(result).__name__)
        error("forward-output", f"forward must return (out, cache), got {got}")
        run.failed = True
        return run
    out, cache = result
    if isinstance(out, np.ndarray) or isinstance(out, np.generic):
        if out.dtype.kind != "f":
            error("forward-output", f"out must be a float array or scalar, got dtype {out.dtype}")
            run.failed = True
            return run
        if out.dtype != dtype:
            error("out-dtype", f"out has dtype {out.dtype} but the inputs are {dtype}")
    elif isinstance(out, float):
        error("out-dtype", f"out is a Python float; return a NumPy scalar of dtype {dtype} "
                           f"(e.g. x.dtype.type(loss)) so that float32 stays float32")
        out = np.asarray(out, dtype=dtype)[()]
    else:
        error("forward-output", f"out must be a NumPy array or scalar, got "
                                f"{type(out).__name__}")
        run.failed = True
        return run
    if not np.all(np.isfinite(out)):
        error("nonfinite", "forward returned NaN or inf")
    run.out, run.cache = out, cache

    dout = _random_like(out, rng)
    dout_before = _copy_dout(dout)
    run.dout = dout_before  # pristine, for the numerical side, even if backward writes to dout
    cache_before = _snapshot(cache)
    try:
        grads = op.backward(dout, cache)
    except NotImplementedError as exc:
        error("backward-error", f"backward is not implemented yet ({_exception_text(exc)})")
        run.failed = True
        return run
    except Exception as exc:  # noqa: BLE001
        error("backward-error", f"backward raised {_exception_text(exc)}")
        run.failed = True
        return run
    if isinstance(dout, np.ndarray) and not _same_bits(dout_before, dout):
        error("dout-mutated", "backward modified dout; compute into a new array "
                              "(e.g. dx = dout * mask, not dout[mask] = 0)")
    changed = _changed_paths(cache_before, cache, "cache")
    if changed:
        error("cache-mutated", f"backward modified {_fmt_names(changed)}; the cache must stay "
                               f"as forward left it")
    run.grads = _normalize_grads(grads, args, names, float_pos, error)
    if run.grads is None:
        return run
    for k, i in enumerate(float_pos):
        g = run.grads[k]
        if g is None:
            continue
        if g.shape != args[i].shape:
            transposed = " (the transposed shape)" if (
                g.ndim >= 2 and g.shape == args[i].shape[::-1]) else ""
            error("grad-shape", f"d{names[i]} has shape {g.shape}{transposed} but "
                                f"{names[i]} has shape {args[i].shape}")
        if g.dtype != args[i].dtype:
            error("grad-dtype", f"d{names[i]} has dtype {g.dtype} but {names[i]} has dtype "
                                f"{args[i].dtype}")
    if not deep:
        return run

    # A second call with the same cache and an equal dout must give bitwise the same result.
    try:
        again = op.backward(_copy_dout(dout_before), cache)
    except Exception as exc:  # noqa: BLE001
        error("nondeterministic", f"backward raised on a second call with the same cache: "
                                  f"{_exception_text(exc)}")
        again = None
    if again is not None:
        second = _normalize_grads(again, args, names, float_pos, lambda *_: None)
        differ = [names[i] for k, i in enumerate(float_pos)
                  if second is None or not _same_bits_or_none(run.grads[k], second[k])]
        if differ:
            error("nondeterministic", f"a second backward call with the same dout and cache "
                                      f"gave different d{', d'.join(differ)}")
    # Linear in dout: zero upstream gradient, zero gradients.
    try:
        zeros = op.backward(_zero_like(dout_before), cache)
    except Exception as exc:  # noqa: BLE001
        error("not-linear", f"backward raised for a zero dout: {_exception_text(exc)}")
        zeros = None
    if zeros is not None:
        zero_grads = _normalize_grads(zeros, args, names, float_pos, lambda *_: None) or []
        nonzero = [f"d{names[i]} (max |value| {float(np.max(np.abs(g))):.3g})"
                   for g, i in zip(zero_grads, float_pos, strict=False)
                   if isinstance(g, np.ndarray) and g.size and not np.all(g == 0)]
        if nonzero:
            error("not-linear", f"with dout = 0 backward returned nonzero {_fmt_names(nonzero)}:"
                                f" every gradient must be multiplied by dout")
    return run


def _same_bits_or_none(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return _same_bits(a, np.asarray(b))


def _normalize_grads(grads: Any, args: list[Any], names: list[str], float_pos: list[int],
                     error: Callable[[str, str], None]) -> list[np.ndarray | None] | None:
    """Align backward's return value with the float inputs; None when impossible."""
    wanted = [names[i] for i in float_pos]
    k = len(float_pos)
    if k == 1:
        if isinstance(grads, (tuple, list)):
            error("grad-count", f"backward returned a {type(grads).__name__} of {len(grads)}; "
                                f"with one float input ({wanted[0]}) return the bare array")
            if len(grads) != 1:
                return None
            grads = grads[0]
        items = [grads]
    else:
        if not isinstance(grads, (tuple, list)):
            error("grad-count", f"backward returned a single {type(grads).__name__}; expected a "
                                f"tuple of {k} gradients (d{', d'.join(wanted)})")
            return None
        if len(grads) != k:
            error("grad-count", f"backward returned {len(grads)} gradients; expected {k}, one "
                                f"per float array input (d{', d'.join(wanted)})")
            return None
        items = list(grads)
    out: list[np.ndarray | None] = []
    for name, g in zip(wanted, items, strict=True):
        if isinstance(g, np.ndarray):
            out.append(np.array(g, copy=True))
        else:
            error("grad-type", f"d{name} is {type(g).__name__}, not a NumPy array")
            out.append(None)
    return out


# --- values -------------------------------------------------------------------------------

@dataclass
class _Settings:
    h: float
    tol: float
    rtol: float
    atol: float
    kink_band: float
    worst_k: int
    batch_size: int | None


def _roundoff(plus: np.ndarray, minus: np.ndarray, weights: np.ndarray, h: float) -> float:
    """Estimated round-off of a dout-weighted centred difference, from its two outputs."""
    with np.errstate(invalid="ignore", over="ignore"):
        moved = plus != minus
        size = np.linalg.norm(((np.abs(plus) + np.abs(minus)) * weights)[moved])
    return NOISE_FACTOR * _EPS * float(size) / (2 * h)


def _numeric(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: Any, h: float,
             indices: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """The dout-weighted numerical gradient at ``indices`` and its round-off, both flat."""
    weights = np.asarray(dout, dtype=np.float64)
    noise: list[float] = []

    def reduce(plus: np.ndarray, minus: np.ndarray) -> float:
        if plus.shape != weights.shape or minus.shape != weights.shape:
            raise ValueError(f"forward returned shape {plus.shape} for a perturbed input but "
                             f"{weights.shape} before")
        noise.append(_roundoff(plus, minus, weights, h))
        return float(np.vdot(plus - minus, weights))

    values = central_differences(f, x, indices, h, reduce=reduce)
    return values, np.asarray(noise)


def _compare(name: str, shape: tuple[int, ...], index: list[tuple[int, ...]],
             x_values: np.ndarray, analytic: np.ndarray, numeric: np.ndarray,
             noise: np.ndarray, distance: np.ndarray | None, s: _Settings, mode: str,
             hint_arrays: tuple[np.ndarray, np.ndarray] | None = None) -> InputReport:
    """Judge flat arrays of analytic and numerical values at the listed coordinates."""
    finite_n = numeric[np.isfinite(numeric)]
    scale = float(np.max(np.abs(finite_n))) if finite_n.size else 0.0
    floor = np.maximum(max(REL_ERROR_FLOOR, SCALE_FLOOR * scale), noise / s.tol)
    rel = relative_errors(analytic, numeric, floor)
    with np.errstate(invalid="ignore"):
        abs_err = np.abs(analytic - numeric)
    abs_err[~np.isfinite(abs_err)] = np.inf
    bad = (rel > s.tol) | ~(abs_err <= s.atol + noise + s.rtol * np.abs(numeric))
    near = (distance <= s.kink_band * s.h) if distance is not None else np.zeros_like(bad)
    at_kink = bad & near
    counted = ~at_kink

    def entry(j: int) -> WorstEntry:
        return WorstEntry(index[j], float(x_values[j]), float(analytic[j]), float(numeric[j]),
                          float(abs_err[j]), float(rel[j]),
                          None if distance is None else float(distance[j]))

    order = np.argsort(-rel, kind="stable")
    worst = [entry(j) for j in order if counted[j]][:s.worst_k]
    kinks = [entry(j) for j in order if at_kink[j]]
    passed = not bool((bad & counted).any())
    notes = []
    if near.any():
        notes.append(f"{int(near.sum())} of {len(index)} checked entries lie within "
                     f"{s.kink_band:g}h of a kink"
                     + (f"; {len(kinks)} mismatch there (not counted as failures)"
                        if kinks else ""))
    hint = None
    if not passed:
        a_full, n_full = hint_arrays if hint_arrays is not None else (analytic, numeric)
        hint = hint_for(a_full, n_full, batch_size=s.batch_size)
    return InputReport(
        name=name, shape=shape,
        max_rel_error=float(rel[counted].max()) if counted.any() else 0.0,
        passed=passed, worst=worst, checked=len(index), kink_entries=kinks,
        note="; ".join(notes), hint=hint, mode=mode,
        max_abs_error=float(abs_err[counted].max()) if counted.any() else 0.0)


def _output_of(forward: Callable[..., Any], work: list[Any],
               options: Mapping[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """``f(x)``: forward's output in float64, reading the (perturbed in place) ``work``."""
    def f(_: np.ndarray) -> np.ndarray:
        return np.array(forward(*_fresh(work), **options)[0], dtype=np.float64, copy=True)
    return f


def _misshapen(name: str, x: np.ndarray, g: np.ndarray | None, forward: Callable[..., Any],
               work: list[Any], options: Mapping[str, Any], dout: Any, h: float
               ) -> InputReport:
    """The report of an input whose gradient cannot be compared (wrong type or shape)."""
    hint = None
    if isinstance(g, np.ndarray):
        reference = np.zeros(x.shape)
        if g.size == x.size and x.size <= 4096:  # worth telling a transpose from a reshape
            try:
                values, _ = _numeric(_output_of(forward, work, options), x, dout, h,
                                     list(np.ndindex(x.shape)))
                reference = values.reshape(x.shape)
            except Exception:  # noqa: BLE001 - only a hint is lost
                pass
        hint = hint_for(g, reference)
    got = f"shape {g.shape}" if isinstance(g, np.ndarray) else type(g).__name__
    return InputReport(name=name, shape=x.shape, max_rel_error=float("inf"), passed=False,
                       note=f"not compared: the gradient is {got}", hint=hint)


def _check_input(name: str, i: int, work: list[Any], options: Mapping[str, Any],
                 forward: Callable[..., Any], analytic: np.ndarray, dout: Any,
                 distance: np.ndarray | None, mode: str, num_checks: int,
                 rng: np.random.Generator, s: _Settings) -> InputReport:
    x = work[i]
    x0 = x.copy()
    a64 = np.asarray(analytic, dtype=np.float64)
    f = _output_of(forward, work, options)

    def full(label: str) -> InputReport:
        index = list(np.ndindex(x.shape))
        numeric, noise = _numeric(f, x, dout, s.h, index)
        return _compare(name, x.shape, index, x0.ravel(), a64.ravel(), numeric, noise,
                        None if distance is None else distance.ravel(), s, label,
                        hint_arrays=(a64, numeric.reshape(x.shape)))

    if mode == "full" or x.size == 0:
        return full("full")
    if mode == "sparse":
        picks = np.sort(rng.choice(x.size, size=min(num_checks, x.size), replace=False))
        index = [tuple(int(c) for c in np.unravel_index(p, x.shape)) for p in picks]
        numeric, noise = _numeric(f, x, dout, s.h, index)
        report = _compare(name, x.shape, index, x0.ravel()[picks], a64.ravel()[picks], numeric,
                          noise, None if distance is None else distance.ravel()[picks], s,
                          "sparse")
        report.indices = index
        return report

    # fast: one directional derivative along a random unit vector v.
    v = rng.standard_normal(x.shape)
    v /= np.linalg.norm(v)
    try:
        x += s.h * v
        x_plus = x.copy()
        plus = f(x)
        np.copyto(x, x0)
        x -= s.h * v
        x_minus = x.copy()
        minus = f(x)
    finally:
        np.copyto(x, x0)
    step = x_plus - x_minus  # the displacement actually applied, ~ 2 h v
    weights = np.asarray(dout, dtype=np.float64)
    numeric_dd = float(np.vdot(plus - minus, weights)) / (2 * s.h)
    analytic_dd = float(np.vdot(a64, step)) / (2 * s.h)
    noise = _roundoff(plus, minus, weights, s.h)
    scale = max(float(np.linalg.norm(a64)), abs(numeric_dd))
    floor = max(REL_ERROR_FLOOR, SCALE_FLOOR * scale, noise / s.tol)
    rel = float(relative_errors(analytic_dd, numeric_dd, floor))
    abs_err = abs(analytic_dd - numeric_dd)
    ok = rel <= s.tol and abs_err <= s.atol + noise + s.rtol * abs(numeric_dd)
    if ok:
        return InputReport(name=name, shape=x.shape, max_rel_error=rel, passed=True, checked=1,
                           mode="fast", max_abs_error=abs_err,
                           note="" if distance is None or not (
                               distance <= s.kink_band * s.h).any()
                           else "some entries lie near a kink")
    report = full("fast->full")
    if not report.passed:
        verdict = "fails too"
    elif report.kink_entries:
        verdict = "passes apart from entries at a kink"
    else:
        verdict = "passes (the directional mismatch was round-off)"
    report.note = "; ".join(filter(None, [
        f"the directional check failed (u.(Jv) analytic {analytic_dd:.10g}, numeric "
        f"{numeric_dd:.10g}, rel error {rel:.2e}); the full check {verdict}", report.note]))
    return report


# --- the public entry points --------------------------------------------------------------

def check_op(op: Any, *inputs: Any, mode: str = "full", seed: int = 0, h: float = DEFAULT_H,
             tol: float = DEFAULT_TOL, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
             num_checks: int = 10, dims: Mapping[str, int] | None = None,
             dtype: np.dtype | type | str | None = None,
             kink_distance: KinkDistance | None = None, kink_band: float = DEFAULT_KINK_BAND,
             worst_k: int = 5, check_float32: bool = True,
             **options: Any) -> GradCheckReport:
    """Check ``op``'s backward against numerical gradients; return a :class:`GradCheckReport`.

    ``op`` is a registry name (``"affine"``), an :class:`OpSpec`, a module (or object) with
    ``forward`` and ``backward``, or a ``(forward, backward)`` pair. ``inputs`` are forward's
    positional arguments; when none are given they are drawn from the op's registry entry with
    ``seed``, at the entry's default sizes updated by ``dims``, in ``dtype`` (float64 unless
    given). ``options`` are forward's keyword options (``delta=0.5``, ``activation="relu"``).

    ``mode`` is ``"full"``, ``"sparse"`` (``num_checks`` coordinates per input) or ``"fast"``
    (one random direction per input, full check on failure). ``h`` is the centred-difference
    step; an entry passes when its relative error is at most ``tol`` and it is within
    ``atol + rtol * |numeric|``. ``kink_distance`` overrides the registry's kink declaration;
    mismatches within ``kink_band * h`` of a kink are reported as kinks. With ``check_float32``
    the op is also run once on float32 copies to check float32 in, float32 out.

    Nothing here raises because the op misbehaves: exceptions from forward or backward become
    findings in the report. Call ``report.raise_if_failed()`` in tests.
    """
    if mode not in MODES:
        raise ValueError(f"check_op: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if num_checks < 1:
        raise ValueError(f"check_op: num_checks must be at least 1, got {num_checks}")
    settings = _Settings(h=h, tol=tol, rtol=rtol, atol=atol, kink_band=kink_band,
                         worst_k=worst_k, batch_size=None)
    report = GradCheckReport(op=_display_name(op), mode=mode, passed=False, seed=seed, h=h,
                             tol=tol)
    try:
        resolved = _resolve(op)
    except _OpLoadError as exc:
        report.contract_errors.append(ContractError("import", str(exc)))
        return report
    report.op = resolved.name

    if inputs:
        if dims is not None or dtype is not None:
            raise ValueError("check_op: dims and dtype only apply when inputs are drawn from the "
                             "registry; pass either inputs or dims/dtype")
        args = list(inputs)
    else:
        if resolved.spec is None:
            raise ValueError(f"check_op: no inputs given and {report.op!r} has no registry "
                             f"entry to draw them from")
        drawn, drawn_options = resolved.spec.inputs(seed, dims, np.dtype(dtype or np.float64))
        args = list(drawn)
        options = {**drawn_options, **options}
    names = _arg_names(resolved, len(args))
    float_pos = [i for i, a in enumerate(args) if _is_float_array(a)]
    if not float_pos:
        report.contract_errors.append(ContractError(
            "no-inputs", "no floating-point array argument to differentiate"))
        return report
    settings.batch_size = next((int(args[i].shape[0]) for i in float_pos if args[i].ndim), None)

    cast: list[str] = []
    work = [_private_copy(a, np.dtype(np.float64), names[i], cast) for i, a in enumerate(args)]
    if cast:
        report.notes.append(f"checked in float64: cast {', '.join(cast)}")
    rng = np.random.default_rng([seed, 0x67726164])  # own stream, distinct from the inputs'

    run = _run_contract(resolved, work, options, names, float_pos, np.dtype(np.float64), rng,
                        label="", deep=True)
    report.contract_errors.extend(run.errors or [])
    if check_float32 and not run.failed:
        rng32 = np.random.default_rng([seed, 0x66333200])
        f32 = [_private_copy(a, np.dtype(np.float32), names[i], []) for i, a in enumerate(args)]
        run32 = _run_contract(resolved, f32, options, names, float_pos, np.dtype(np.float32),
                              rng32, label="float32 inputs", deep=False)
        # Only what float32 adds: dtype findings, and failures float64 did not show.
        seen = {e.check for e in report.contract_errors}
        report.contract_errors.extend(
            e for e in run32.errors or []
            if e.check in ("out-dtype", "grad-dtype") or e.check not in seen)
    if run.failed or run.grads is None:
        report.passed = False
        return report

    distances = _kink_distances(resolved, kink_distance, work, options, report)
    for k, i in enumerate(float_pos):
        g = run.grads[k]
        name = names[i]
        if g is None or g.shape != work[i].shape:
            report.inputs.append(_misshapen(name, work[i], g, resolved.forward, work, options,
                                            run.dout, h))
            continue
        try:
            item = _check_input(name, i, work, options, resolved.forward, g, run.dout,
                                distances.get(i), mode, num_checks, rng, settings)
        except Exception as exc:  # noqa: BLE001 - a forward that fails when perturbed
            note = f"forward raised while computing the numerical gradient: " \
                   f"{_exception_text(exc)}"
            item = InputReport(name=name, shape=work[i].shape, max_rel_error=float("inf"),
                               passed=False, mode=mode, note=note)
        report.inputs.append(item)
    report.passed = not report.contract_errors and all(r.passed for r in report.inputs)
    return report


def _display_name(op: Any) -> str:
    if isinstance(op, str):
        return op
    if isinstance(op, OpSpec):
        return op.name
    return str(getattr(op, "name", None) or getattr(op, "__name__", None) or "op")


def _kink_distances(op: _Op, override: KinkDistance | None, work: list[Any],
                    options: Mapping[str, Any], report: GradCheckReport) -> dict[int, np.ndarray]:
    fn = override or (op.spec.kink_distance if op.spec else None)
    if fn is None:
        return {}
    try:
        found = fn(tuple(_fresh(work)), dict(options))
    except Exception as exc:  # noqa: BLE001
        report.notes.append(f"kink distances unavailable: {_exception_text(exc)}")
        return {}
    distances = {}
    for i, d in found.items():
        d = np.asarray(d, dtype=np.float64)
        if isinstance(work[i], np.ndarray) and d.shape == work[i].shape:
            distances[i] = d
        else:
            report.notes.append(f"ignored kink distances for argument {i}: shape {d.shape}")
    return distances


def check_registry(names: Iterable[str] | None = None, **kwargs: Any) -> list[GradCheckReport]:
    """Run :func:`check_op` on every registered op (or the named ones), inputs from the registry.

    Unknown names raise ``KeyError`` before anything runs; ``kwargs`` go to :func:`check_op`
    (``mode``, ``seed``, ``tol``, ``dims``, ...).
    """
    if isinstance(names, str):
        names = [names]
    specs = [registry.get(n) for n in names] if names is not None else list(
        registry.REGISTRY.values())
    return [check_op(spec, **kwargs) for spec in specs]
