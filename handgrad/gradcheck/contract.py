"""The op contract, checked on one forward and backward call before any value is compared.

:func:`run_contract` runs forward, then backward on an upstream gradient drawn from N(0, 1),
and records every broken rule as a :class:`~handgrad.gradcheck.report.ContractError` named by a
key of ``CONTRACT_CHECKS``: forward returns ``(out, cache)`` with a float ``out`` of the inputs'
dtype and leaves its inputs alone; backward returns one gradient per float array input (bare
when there is one) of exactly that input's shape and dtype, leaves ``dout`` and the cache
alone, gives bitwise the same gradients when called twice and zero gradients for a zero
``dout``. Exceptions from the op become findings, never propagate.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from handgrad.gradcheck.report import ContractError
from handgrad.gradcheck.resolve import Op, exception_text, fresh

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
        shape: tuple[int, ...] = out.shape
        return rng.standard_normal(shape).astype(out.dtype, copy=False)
    return out.dtype.type(rng.standard_normal())


def _zero_like(dout: Any) -> Any:
    return np.zeros_like(dout) if isinstance(dout, np.ndarray) else dout.dtype.type(0)


def _copy_dout(dout: Any) -> Any:
    return dout.copy() if isinstance(dout, np.ndarray) else dout


def _fmt_names(names: Iterable[str]) -> str:
    return ", ".join(names)


@dataclass
class Run:
    """One forward + backward at one dtype, with the contract findings it produced."""

    out: Any = None
    cache: Any = None
    dout: Any = None
    grads: list[np.ndarray | None] | None = None  # aligned with the float inputs
    errors: list[ContractError] | None = None
    failed: bool = False  # forward or backward raised: nothing to compare


def run_contract(op: Op, args: list[Any], options: Mapping[str, Any], names: list[str],
                 float_pos: list[int], dtype: np.dtype, rng: np.random.Generator,
                 label: str, deep: bool) -> Run:
    """Run forward and backward once (twice with ``deep``) and check the contract."""
    errors: list[ContractError] = []
    run = Run(errors=errors)
    where = f" ({label})" if label else ""

    def error(check: str, message: str) -> None:
        errors.append(ContractError(check, message + where))

    before = {i: a.copy() for i, a in enumerate(args) if isinstance(a, np.ndarray)}
    try:
        result = op.forward(*fresh(args), **options)
    except Exception as exc:  # noqa: BLE001 - any failure of the op is a finding
        error("forward-error", f"forward raised {exception_text(exc)}")
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
    except Exception as exc:  # noqa: BLE001
        error("backward-error", f"backward raised {exception_text(exc)}")
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
                                  f"{exception_text(exc)}")
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
        error("not-linear", f"backward raised for a zero dout: {exception_text(exc)}")
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
