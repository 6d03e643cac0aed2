"""Judge one draw: compare what a worker sent with what the grader computed. Fail closed.

A draw passes only when every one of these is positively observed here, in the grader:

- the worker reported the call as completed, with no flag (a blocked import of the
  reference, of ``handgrad.gradcheck`` or of an autodiff library, an attempt to read the
  reference source, or -- for ``backward`` -- more than ``FORWARD_CALL_LIMIT`` calls of forward
  during one backward call, the signature of a numerical gradient);
- the value has the expected structure (a bare array for one gradient, a tuple or list of
  them otherwise) and every array is a plain ``ndarray`` (no subclass, list, object or
  complex array) of exactly the expected shape and dtype, with finite entries;
- the maximum relative error to the reference, ``max |a-b| / max(|a|+|b|, 1e-8)`` over *every*
  entry (so a bug confined to one entry fails), is at most the check's tolerance (written as
  ``err <= tol``, so NaN can never pass); float32 draws need float32 gradients and use a floor
  of ``FLOAT32_FLOOR`` times the gradient's largest entry and the tolerance
  ``max(tol, FLOAT32_TOL, FLOAT32_MARGIN * e)``, capped at ``FLOAT32_CAP``, where ``e`` is the
  error of the reference's own float32 run on the same draw: a student whose arithmetic is as
  good as the reference's, in a different order, passes; a wrong formula (errors of order 1)
  does not;
- the inputs were not modified in place: the op contract says
  forward never mutates its inputs and backward never mutates ``dout`` or the cache, and a
  ``dx = dout; dx[mask] = 0`` corrupts gradients that flow elsewhere in a network, so a
  mutation *fails* the draw with a message saying what was modified, even when the returned
  values are right. For ``kind = "function"`` the arguments after the call are compared with
  the reference's arguments after the call, so a function whose contract is to work in place
  (``clip_grad_norm``) must do exactly that, and no more.

A failing draw carries the first failing gradient's own error and worst entry, and a hint
only when :mod:`handgrad.gradcheck.hints` recognizes the whole wrong gradient.

Flagged draws score zero and say why; the instructor reviews them (the flag is evidence,
e.g. "imports the reference implementation handgrad.layers.affine").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handgrad.gradcheck.hints import whole_gradient_hint
from handgrad.gradcheck.numerical import relative_errors
from handgrad.grading.judging.draws import FLOAT32, Draw
from handgrad.grading.sandbox import wire

FORWARD_CALL_LIMIT = 4
FLOAT32_TOL = 1e-4       # float32 draws: relative error bound ...
FLOAT32_FLOOR = 1e-3     # ... with a floor of this times the gradient's largest entry ...
FLOAT32_MARGIN = 10.0    # ... raised to this times the reference's own float32 error ...
FLOAT32_CAP = 1e-2       # ... but never above this

STATUSES = ("passed", "failed", "not_implemented", "error", "timeout", "memory", "crashed",
            "flagged", "grader_error", "missing")


@dataclass
class DrawVerdict:
    status: str
    message: str
    hint: str | None = None
    max_rel_error: float | None = None
    worst: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """One draw as the worker reported it (already decoded; still untrusted)."""

    status: str                      # ok / not_implemented / error / memory
    message: str = ""
    where: str = ""
    data: Any = None
    flags: list[str] = field(default_factory=list)
    forward_calls: int = 0
    cache_mutated: list[str] = field(default_factory=list)


def describe(value: Any) -> str:
    """What a decoded value is, for messages."""
    if isinstance(value, wire.Bad):
        return value.why
    if isinstance(value, wire.Scalar):
        return f"a scalar ({value.py})"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a dict"
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in idx) + "]"


@dataclass
class _ArrayCheck:
    problem: str | None = None
    rel: float | None = None
    worst: dict[str, Any] | None = None


def check_array(name: str, got: Any, expected: np.ndarray, tol: float,
                numeric: np.ndarray | None = None, floor: float = 1e-8) -> _ArrayCheck:
    """Compare one returned array with the expected one (relative errors with ``floor``)."""
    exp = np.asarray(expected)
    if not isinstance(got, np.ndarray):
        what = describe(got)
        if isinstance(got, list):
            what = "a list"
        return _ArrayCheck(f"{name} is {what}; it must be a numpy array of shape {exp.shape} "
                           f"and dtype {exp.dtype}")
    if got.shape != exp.shape:
        return _ArrayCheck(f"{name} has shape {got.shape}, expected {exp.shape}")
    if got.dtype != exp.dtype:
        return _ArrayCheck(f"{name} has dtype {got.dtype}, expected {exp.dtype}")
    errs = relative_errors(got, exp, floor=floor)
    rel = float(errs.max()) if errs.size else 0.0
    worst: dict[str, Any] | None = None
    if errs.size:
        flat = int(np.argmax(errs))
        idx = tuple(int(i) for i in np.unravel_index(flat, errs.shape))
        worst = {"gradient": name, "index": list(idx),
                 "analytic": float(got[idx]), "expected": float(exp[idx])}
        if numeric is not None:
            worst["numeric"] = float(np.asarray(numeric)[idx])
    if got.dtype.kind == "f" and not np.isfinite(got).all():
        nan = int(np.isnan(got).sum())
        inf = int(np.isinf(got).sum())
        what = " and ".join(p for p in (f"{nan} NaN" if nan else "", f"{inf} inf" if inf else "")
                            if p)
        return _ArrayCheck(f"{name} contains {what} of {got.size} entries", rel=float("inf"),
                           worst=worst)
    if rel <= tol:
        return _ArrayCheck(None, rel, worst)
    where = ""
    if worst is not None:
        where = (f"; worst {name}{_index(tuple(worst['index']))}: yours "
                 f"{_fmt(worst['analytic'])}, expected {_fmt(worst['expected'])}")
    return _ArrayCheck(f"{name} is wrong: max relative error {rel:.3g} > tolerance {tol:g}"
                       f"{where}", rel, worst)


def _reference_error(ref32: np.ndarray | None, expected: np.ndarray, floor: float) -> float:
    """The reference's own float32 error on a draw (0 when it was not measured)."""
    if ref32 is None or np.shape(ref32) != np.shape(expected):
        return 0.0
    errs = relative_errors(ref32, expected, floor=floor)
    return float(errs.max()) if errs.size and np.isfinite(errs).all() else 0.0


def _hint(name: str, got: Any, expected: np.ndarray, draw: Draw) -> str | None:
    """A hint from the whole gradient (:mod:`handgrad.gradcheck.hints`), or None."""
    try:
        hint = whole_gradient_hint(got, expected, name=name, op=draw.op, args=draw.args,
                                   kwargs=draw.kwargs, dout=draw.dout, dims=draw.dims,
                                   match=1e-3 if draw.prop == FLOAT32 else 1e-4)
    except Exception:
        return None
    return hint if isinstance(hint, str) and hint else None


def _same(a: Any, b: Any) -> bool:
    """Exact equality of two input values (arrays bitwise, NaN equal)."""
    if isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
                and np.array_equal(a, b, equal_nan=b.dtype.kind == "f"))
    return True  # only arrays are checked for mutation (dicts such as bn_param may change)


def _status_of(report: Report, what: str) -> DrawVerdict:
    where = report.where or "the call"
    if report.status == "not_implemented":
        detail = report.message.removeprefix("NotImplementedError").lstrip(": ")
        detail = f" ({detail})" if detail else ""
        if where == "forward":
            v = DrawVerdict("not_implemented", f"not implemented: forward raises "
                            f"NotImplementedError{detail}, and backward is checked through it")
        else:
            v = DrawVerdict("not_implemented", f"not implemented: {what} raises "
                            f"NotImplementedError{detail}")
        v.notes.append("general")
        return v
    if report.status == "memory":
        return DrawVerdict("memory", f"memory limit exceeded in {where} ({report.message})")
    msg = report.message or "an error"
    return DrawVerdict("error", f"{where} raised {msg}")


def flagged(flags: list[str]) -> DrawVerdict:
    return DrawVerdict("flagged", "flagged for review, scored 0: " + "; ".join(flags))


def judge_backward(draw: Draw, report: Report, tol: float, function: str) -> DrawVerdict:
    if report.flags:
        return flagged(report.flags)
    if report.status != "ok":
        return _status_of(report, function)
    data = report.data
    if not isinstance(data, dict) or not {"value", "args_after", "dout_after"} <= set(data):
        return DrawVerdict("error", "the worker sent incomplete data")
    if report.forward_calls > FORWARD_CALL_LIMIT:
        return flagged([f"backward called forward {report.forward_calls} times in one call "
                        f"(a numerical gradient instead of the analytic one?)"])
    value = data["value"]
    k = len(draw.grads)
    if k == 1:
        if isinstance(value, (tuple, list)):
            return DrawVerdict("failed", f"{function} returned {describe(value)}; with one "
                               f"array input it must return the gradient itself, a bare array")
        items = [value]
    else:
        if not isinstance(value, (tuple, list)) or len(value) != k:
            names = ", ".join(draw.grad_names)
            return DrawVerdict("failed", f"{function} returned {describe(value)}; it must "
                               f"return {k} gradients ({names}), one per array input")
        items = list(value)
    problems: list[str] = []
    worst: dict[str, Any] | None = None
    rel_max: float | None = None
    hint: str | None = None
    bad_rel: float | None = None
    bad_worst: dict[str, Any] | None = None
    single = draw.prop == FLOAT32
    own = (draw.reference_float32 if single and len(draw.reference_float32) == k
           else (None,) * k)
    for name, got, exp, num, ref32 in zip(draw.grad_names, items, draw.grads, draw.numeric,
                                          own, strict=True):
        floor, limit = 1e-8, tol
        if single:
            floor = max(floor, FLOAT32_FLOOR * float(np.max(np.abs(exp), initial=0.0)))
            limit = max(tol, FLOAT32_TOL, FLOAT32_MARGIN * _reference_error(ref32, exp, floor))
            limit = min(limit, max(tol, FLOAT32_CAP))
        res = check_array(name, got, exp, limit, num, floor=floor)
        if res.rel is not None:
            if rel_max is None or res.rel > rel_max:
                rel_max = res.rel
                worst = res.worst
        if res.problem:
            if not problems:   # the row shows the first failing gradient's own numbers
                bad_rel, bad_worst = res.rel, res.worst
                hint = _hint(name, got, exp, draw)
            problems.append(res.problem)
    if problems:
        return DrawVerdict("failed", problems[0] + (f" (and {len(problems) - 1} more)"
                                                     if len(problems) > 1 else ""),
                           hint, bad_rel, bad_worst)
    mutated = _mutations(draw, data, report)
    if mutated:
        return DrawVerdict("failed", mutated, "copy before modifying: dx = dout.copy(), and "
                           "never write into dout, the inputs or the cache", rel_max, worst)
    return DrawVerdict("passed", "passed", None, rel_max, worst)


def _mutations(draw: Draw, data: dict, report: Report) -> str | None:
    dout_after = data.get("dout_after")
    dout = draw.dout
    if isinstance(dout, tuple):  # one upstream gradient per output
        if not isinstance(dout_after, (tuple, list)) or len(dout_after) != len(dout):
            return "the worker sent incomplete data about the upstream gradients"
        for i, (before, after) in enumerate(zip(dout, dout_after, strict=True)):
            if not _same(after, before):
                return (f"the gradient values are right, but backward modified its upstream "
                        f"gradient argument {i + 1} in place")
    elif isinstance(dout, np.ndarray):
        if not _same(dout_after, dout):
            return "the gradient values are right, but backward modified dout in place"
    elif isinstance(dout_after, wire.Scalar):
        if float(dout_after) != float(dout):  # pragma: no cover - scalars are immutable
            return "backward modified dout"
    args_after = data.get("args_after")
    if not isinstance(args_after, (list, tuple)) or len(args_after) != len(draw.args):
        return "the worker sent incomplete data about the inputs"
    for i, (before, after) in enumerate(zip(draw.args, args_after, strict=True)):
        if isinstance(before, np.ndarray) and not _same(after, before):
            return f"forward or backward modified its input argument {i + 1} in place"
    if report.cache_mutated:
        return f"backward modified the cache in place ({report.cache_mutated[0]})"
    return None


# ------------------------------------------------------------------------------- functions


class _Compare:
    def __init__(self, tol: float) -> None:
        self.tol = tol
        self.problems: list[str] = []
        self.rel: float | None = None
        self.worst: dict[str, Any] | None = None

    def note_rel(self, rel: float | None, worst: dict[str, Any] | None) -> None:
        if rel is not None and (self.rel is None or rel > self.rel):
            self.rel, self.worst = rel, worst

    def tree(self, path: str, expected: Any, got: Any) -> None:
        if len(self.problems) > 5:
            return
        if isinstance(expected, np.ndarray) and expected.shape != () or \
                isinstance(expected, np.ndarray) and isinstance(got, np.ndarray):
            res = check_array(path, got, expected, self.tol)
            self.note_rel(res.rel, res.worst)
            if res.problem:
                self.problems.append(res.problem)
            return
        if isinstance(expected, (bool, np.bool_)):
            ok = isinstance(got, wire.Scalar) and got.value.dtype.kind == "b" and \
                bool(got.value) == bool(expected)
            if not ok:
                self.problems.append(f"{path} is {describe(got)}, expected {bool(expected)}")
            return
        if isinstance(expected, (int, float, np.integer, np.floating, np.ndarray)):
            if isinstance(got, np.ndarray) and got.shape == ():
                got = wire.Scalar(got, "np")
            if not isinstance(got, wire.Scalar) or got.value.dtype.kind not in "iuf":
                self.problems.append(f"{path} is {describe(got)}; expected a number")
                return
            e = float(np.asarray(expected))
            g = float(got.value)
            if not np.isfinite(g):
                self.problems.append(f"{path} is {g}")
                self.note_rel(float("inf"), None)
                return
            rel = abs(g - e) / max(abs(g) + abs(e), 1e-8)
            self.note_rel(rel, {"gradient": path, "index": [], "analytic": g, "expected": e})
            if not rel <= self.tol:
                self.problems.append(f"{path} is {_fmt(g)}, expected {_fmt(e)} (relative error "
                                     f"{rel:.3g} > tolerance {self.tol:g})")
            return
        if isinstance(expected, dict):
            if not isinstance(got, dict):
                self.problems.append(f"{path} is {describe(got)}, expected a dict")
                return
            if set(got) != set(expected):
                missing = sorted(set(expected) - set(got))
                extra = sorted(set(got) - set(expected))
                self.problems.append(f"{path} has keys {sorted(got)}, expected "
                                     f"{sorted(expected)} (missing {missing}, extra {extra})")
                return
            for key in expected:
                self.tree(f"{path}[{key!r}]", expected[key], got[key])
            return
        if isinstance(expected, (tuple, list)):
            if not isinstance(got, (tuple, list)) or len(got) != len(expected):
                self.problems.append(f"{path} is {describe(got)}, expected a sequence of "
                                     f"{len(expected)}")
                return
            for i, (e, g) in enumerate(zip(expected, got, strict=True)):
                self.tree(f"{path}[{i}]", e, g)
            return
        if expected is None:
            if got is not None:
                self.problems.append(f"{path} is {describe(got)}, expected None")
            return
        if isinstance(expected, str):
            if got != expected:
                self.problems.append(f"{path} is {describe(got)}, expected {expected!r}")
            return
        raise TypeError(f"cannot compare a reference value of type {type(expected).__name__}")


def judge_function(draw: Draw, report: Report, tol: float, function: str) -> DrawVerdict:
    if report.flags:
        return flagged(report.flags)
    if report.status != "ok":
        return _status_of(report, function)
    data = report.data
    if not isinstance(data, dict) or not {"value", "args_after"} <= set(data):
        return DrawVerdict("error", "the worker sent incomplete data")
    cmp = _Compare(tol)
    try:
        cmp.tree("the return value", draw.result, data["value"])
        after = data["args_after"]
        if not isinstance(after, (list, tuple)) or len(after) != len(draw.args_after):
            cmp.problems.append("the worker sent incomplete data about the arguments")
        else:
            for i, (e, g) in enumerate(zip(draw.args_after, after, strict=True)):
                cmp.tree(f"argument {i + 1} after the call", e, g)
        if draw.kwargs_after:
            cmp.tree("the keyword arguments after the call", draw.kwargs_after,
                     data.get("kwargs_after"))
    except TypeError as exc:
        return DrawVerdict("grader_error", f"grader error: {exc}")
    if cmp.problems:
        more = f" (and {len(cmp.problems) - 1} more)" if len(cmp.problems) > 1 else ""
        return DrawVerdict("failed", cmp.problems[0] + more, None, cmp.rel, cmp.worst)
    return DrawVerdict("passed", "passed", None, cmp.rel, cmp.worst)
