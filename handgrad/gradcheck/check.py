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
   - ``sparse``: ``num_checks`` random coordinates per input, seeded, listed in the report,
     plus the directional check of ``fast`` over all entries; when only the directional check
     fails the input is re-checked in full. So a bug confined to entries outside the sample is
     still caught (unless the random weights of those entries are vanishingly small);
   - ``fast``: one random unit direction ``v`` per input, comparing ``u . (J v)`` (``u`` is
     ``dout``) from two forward calls with ``grad . v``; every entry enters with its own random
     weight, so a wrong entry fails it in practice; when it fails the input is re-checked in
     full automatically, and the report says so.

   ``full`` (the default) is the only mode that compares every coordinate by itself. The
   grader needs no numerical sampling at all: it compares every entry of a returned gradient
   with the reference gradient of the same draw.

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
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from handgrad.gradcheck import registry
from handgrad.gradcheck.compare import NOISE_FACTOR as NOISE_FACTOR
from handgrad.gradcheck.compare import SCALE_FLOOR as SCALE_FLOOR
from handgrad.gradcheck.compare import Settings, check_input, misshapen
from handgrad.gradcheck.contract import CONTRACT_CHECKS as CONTRACT_CHECKS
from handgrad.gradcheck.contract import run_contract
from handgrad.gradcheck.registry import KinkDistance
from handgrad.gradcheck.report import ContractError, GradCheckReport, InputReport
from handgrad.gradcheck.resolve import (
    Op,
    OpLoadError,
    arg_names,
    display_name,
    exception_text,
    fresh,
    resolve,
)

MODES = ("full", "sparse", "fast")

DEFAULT_TOL = 1e-7
DEFAULT_RTOL = 1e-5     # allclose part, numpy's defaults
DEFAULT_ATOL = 1e-8
DEFAULT_H = 1e-5
DEFAULT_KINK_BAND = 4.0


# --- private copies of the inputs ---------------------------------------------------------

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
    settings = Settings(h=h, tol=tol, rtol=rtol, atol=atol, kink_band=kink_band,
                        worst_k=worst_k, batch_size=None)
    report = GradCheckReport(op=display_name(op), mode=mode, passed=False, seed=seed, h=h,
                             tol=tol)
    try:
        resolved = resolve(op)
    except OpLoadError as exc:
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
    names = arg_names(resolved, len(args))
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

    run = run_contract(resolved, work, options, names, float_pos, np.dtype(np.float64), rng,
                       label="", deep=True)
    report.contract_errors.extend(run.errors or [])
    if check_float32 and not run.failed:
        rng32 = np.random.default_rng([seed, 0x66333200])
        f32 = [_private_copy(a, np.dtype(np.float32), names[i], []) for i, a in enumerate(args)]
        run32 = run_contract(resolved, f32, options, names, float_pos, np.dtype(np.float32),
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
            report.inputs.append(misshapen(name, work[i], g, resolved.forward, work, options,
                                           run.dout, h))
            continue
        try:
            item = check_input(name, i, work, options, resolved.forward, g, run.dout,
                               distances.get(i), mode, num_checks, rng, settings)
        except Exception as exc:  # noqa: BLE001 - a forward that fails when perturbed
            note = f"forward raised while computing the numerical gradient: " \
                   f"{exception_text(exc)}"
            item = InputReport(name=name, shape=work[i].shape, max_rel_error=float("inf"),
                               passed=False, mode=mode, note=note)
        report.inputs.append(item)
    report.passed = not report.contract_errors and all(r.passed for r in report.inputs)
    return report


def _kink_distances(op: Op, override: KinkDistance | None, work: list[Any],
                    options: Mapping[str, Any], report: GradCheckReport) -> dict[int, np.ndarray]:
    fn = override or (op.spec.kink_distance if op.spec else None)
    if fn is None:
        return {}
    try:
        found = fn(tuple(fresh(work)), dict(options))
    except Exception as exc:  # noqa: BLE001
        report.notes.append(f"kink distances unavailable: {exception_text(exc)}")
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
