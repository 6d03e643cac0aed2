"""Comparing an input's analytic gradient with the numerical one: modes full, sparse and fast.

:func:`check_input` checks one float input of the op in the chosen mode (see
:mod:`handgrad.gradcheck.check` for the modes and the pass criterion) and returns its
:class:`~handgrad.gradcheck.report.InputReport`; mismatches within ``kink_band * h`` of a
declared kink are reported as kink entries, not failures. :func:`misshapen` reports an input
whose gradient cannot be compared at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from handgrad.gradcheck.numerical import REL_ERROR_FLOOR, central_differences, relative_errors
from handgrad.gradcheck.report import InputReport, WorstEntry, hint_for
from handgrad.gradcheck.resolve import fresh

SCALE_FLOOR = 1e-3      # relative-error floor, as a fraction of the gradient's largest entry
NOISE_FACTOR = 8.0      # safety factor on the estimated round-off of a numerical entry
_EPS = float(np.finfo(np.float64).eps)


@dataclass
class Settings:
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
             noise: np.ndarray, distance: np.ndarray | None, s: Settings, mode: str,
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
        return np.array(forward(*fresh(work), **options)[0], dtype=np.float64, copy=True)
    return f


def misshapen(name: str, x: np.ndarray, g: np.ndarray | None, forward: Callable[..., Any],
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


def check_input(name: str, i: int, work: list[Any], options: Mapping[str, Any],
                forward: Callable[..., Any], analytic: np.ndarray, dout: Any,
                distance: np.ndarray | None, mode: str, num_checks: int,
                rng: np.random.Generator, s: Settings) -> InputReport:
    """Compare the analytic gradient of float input ``i`` with the numerical one in ``mode``
    (``fast`` falls back to a full check when the directional one fails)."""
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
        if not report.passed:
            return report
        # The sample alone misses a bug confined to entries it did not pick: one directional
        # check along a random v weighs every entry, and a failure there re-checks in full.
        ok, detail = _directional(f, x, x0, a64, dout, rng, s)
        if ok:
            return report
        checked = full("sparse->full")
        checked.note = "; ".join(filter(None, [
            f"the sampled entries pass but the directional check over all entries failed "
            f"({detail}); the full check {_verdict(checked)}", checked.note]))
        return checked

    ok, detail = _directional(f, x, x0, a64, dout, rng, s)
    if ok:
        return InputReport(name=name, shape=x.shape, max_rel_error=detail.rel,
                           passed=True, checked=1, mode="fast",
                           max_abs_error=detail.abs_err,
                           note="" if distance is None or not (
                               distance <= s.kink_band * s.h).any()
                           else "some entries lie near a kink")
    report = full("fast->full")
    report.note = "; ".join(filter(None, [
        f"the directional check failed ({detail}); the full check {_verdict(report)}",
        report.note]))
    return report


def _verdict(report: InputReport) -> str:
    if not report.passed:
        return "fails too"
    if report.kink_entries:
        return "passes apart from entries at a kink"
    return "passes (the directional mismatch was round-off)"


@dataclass
class _Directional:
    analytic: float
    numeric: float
    rel: float
    abs_err: float

    def __str__(self) -> str:
        return (f"u.(Jv) analytic {self.analytic:.10g}, numeric {self.numeric:.10g}, rel "
                f"error {self.rel:.2e}")


def _directional(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, x0: np.ndarray,
                 a64: np.ndarray, dout: Any, rng: np.random.Generator, s: Settings
                 ) -> tuple[bool, _Directional]:
    """One directional derivative along a random unit vector v: ``u . (J v)`` from two
    forward calls against ``grad . v``. Every entry of the gradient counts (each with its
    random weight v_i), so a wrong entry fails it unless v_i is vanishingly small."""
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
    noise_dd = _roundoff(plus, minus, weights, s.h)
    scale = max(float(np.linalg.norm(a64)), abs(numeric_dd))
    floor = max(REL_ERROR_FLOOR, SCALE_FLOOR * scale, noise_dd / s.tol)
    rel = float(relative_errors(analytic_dd, numeric_dd, floor))
    abs_err = abs(analytic_dd - numeric_dd)
    ok = rel <= s.tol and abs_err <= s.atol + noise_dd + s.rtol * abs(numeric_dd)
    return ok, _Directional(analytic_dd, numeric_dd, rel, abs_err)
