"""What a gradient check found: contract findings, per-input errors, worst entries and hints.

:class:`GradCheckReport` is the structured result of :func:`handgrad.gradcheck.check_op`;
``str(report)`` renders it as a table. :func:`hint_for` recognizes the usual mistakes in a
hand-written gradient (a missing ``1/N``, a factor of 2, a flipped sign, a transpose, a
gradient never written, NaN) and says what to look for; the student-facing tools reuse it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

VERDICT_OK = "ok"
VERDICT_FAIL = "FAIL"
VERDICT_KINK = "kink"


class GradCheckError(AssertionError):
    """Raised by :meth:`GradCheckReport.raise_if_failed`; the message is the report's table."""

    def __init__(self, report: GradCheckReport) -> None:
        super().__init__(str(report))
        self.report = report


@dataclass(frozen=True)
class ContractError:
    """One broken rule of the op contract, e.g. ``ContractError("dout-mutated", "...")``.

    ``check`` is a short stable name (see ``handgrad.gradcheck.CONTRACT_CHECKS``);
    ``message`` says what was expected and what came.
    """

    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.message}"


@dataclass(frozen=True)
class WorstEntry:
    """One compared coordinate: where it is, the input value there, and both gradients."""

    index: tuple[int, ...]
    input_value: float
    analytic: float
    numeric: float
    abs_err: float
    rel_err: float
    kink_distance: float | None = None  # distance to the nearest declared kink, if any


@dataclass
class InputReport:
    """The comparison for one differentiable input of the op."""

    name: str
    shape: tuple[int, ...]
    max_rel_error: float            # over the compared entries that are not at a kink
    passed: bool
    worst: list[WorstEntry] = field(default_factory=list)        # largest errors first
    checked: int = 0                # entries compared (1 for a passing directional check)
    kink_entries: list[WorstEntry] = field(default_factory=list)  # mismatches at a kink
    note: str = ""
    hint: str | None = None
    mode: str = "full"              # how it was checked: full, sparse, fast or fast->full
    max_abs_error: float = 0.0
    indices: list[tuple[int, ...]] | None = None  # the coordinates a sparse check sampled

    @property
    def verdict(self) -> str:
        """``"ok"``, ``"FAIL"``, or ``"kink"`` (passed, with mismatches only at kinks)."""
        if not self.passed:
            return VERDICT_FAIL
        return VERDICT_KINK if self.kink_entries else VERDICT_OK


@dataclass
class GradCheckReport:
    """Everything :func:`check_op` found for one op.

    ``passed`` is true when no contract rule is broken and every input passed.
    """

    op: str
    mode: str
    passed: bool
    contract_errors: list[ContractError] = field(default_factory=list)
    inputs: list[InputReport] = field(default_factory=list)
    seed: int = 0
    h: float = 1e-5
    tol: float = 1e-7
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if not self.passed:
            return VERDICT_FAIL
        return VERDICT_KINK if any(r.kink_entries for r in self.inputs) else VERDICT_OK

    @property
    def hint(self) -> str | None:
        """The first hint of a failing input, if a known pattern was recognized."""
        return next((r.hint for r in self.inputs if not r.passed and r.hint), None)

    @property
    def max_rel_error(self) -> float:
        errors = [r.max_rel_error for r in self.inputs]
        return max(errors) if errors else 0.0

    def failures(self) -> list[str]:
        """Short names of what failed: contract checks and input names."""
        return ([e.check for e in self.contract_errors]
                + [r.name for r in self.inputs if not r.passed])

    def has_error(self, check: str) -> bool:
        """True when a contract finding named ``check`` (e.g. ``"dout-mutated"``) is present."""
        return any(e.check == check for e in self.contract_errors)

    def input(self, name: str) -> InputReport:
        for r in self.inputs:
            if r.name == name:
                return r
        raise KeyError(f"report for {self.op}: no input named {name!r}")

    def raise_if_failed(self) -> GradCheckReport:
        """Raise :class:`GradCheckError` (an ``AssertionError``) unless the check passed."""
        if not self.passed:
            raise GradCheckError(self)
        return self

    def render(self, verbose: bool = False) -> str:
        """The report as text; worst entries are shown for failing inputs (all if verbose)."""
        status = {VERDICT_OK: "PASS", VERDICT_KINK: "PASS (kinks)"}.get(self.verdict, "FAIL")
        lines = [f"gradcheck {self.op}: {status}  (mode {self.mode}, seed {self.seed}, "
                 f"h {self.h:g}, tol {self.tol:g})"]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  contract {e}" for e in self.contract_errors]
        if self.inputs:
            rows = [(r.name, str(r.shape), str(r.checked), format_error(r.max_rel_error),
                     r.verdict, r.mode if r.mode != self.mode else "") for r in self.inputs]
            table = format_table(("input", "shape", "checked", "max rel error", "verdict", ""),
                                 rows, right=(2, 3))
            lines += ["  " + line for line in table]
        for r in self.inputs:
            if r.note:
                lines.append(f"  {r.name}: {r.note}")
            if r.worst and (verbose or not r.passed):
                lines.append(f"  {r.name}: worst entries")
                lines += ["    " + line for line in format_entries(r.worst)]
            if r.kink_entries:
                lines.append(f"  {r.name}: entries at a kink (not counted as failures)")
                lines += ["    " + line for line in format_entries(r.kink_entries[:5])]
            if r.hint and not r.passed:
                lines.append(f"  hint ({r.name}): {r.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def format_error(value: float) -> str:
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf"
    return f"{value:.2e}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
                 right: Sequence[int] = ()) -> list[str]:
    """Align ``rows`` under ``headers``; columns whose position is in ``right`` align right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return [line(headers)] + [line(row) for row in rows]


def format_entries(entries: Sequence[WorstEntry]) -> list[str]:
    rows = [(str(e.index), f"{e.input_value:.6g}", f"{e.analytic:.10g}", f"{e.numeric:.10g}",
             format_error(e.abs_err), format_error(e.rel_err)) for e in entries]
    return format_table(("index", "input", "analytic", "numeric", "abs err", "rel err"),
                        rows, right=(4, 5))


# --- hints -------------------------------------------------------------------------------

_LOOSE = 1e-4  # how closely a pattern must fit: diagnosing, not verifying


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    return float(np.linalg.norm(a - b)) <= _LOOSE * scale


def _near(value: float, target: float) -> bool:
    return abs(value - target) <= 1e-3 * abs(target)


def _factor_hint(c: float, batch_size: int | None) -> str | None:
    if batch_size and batch_size > 1 and _near(c, batch_size):
        return (f"the analytic gradient is N = {batch_size} times the numerical one: a missing "
                f"division by N (the loss is a mean over the batch)")
    if batch_size and batch_size > 1 and _near(c, 1.0 / batch_size):
        return (f"the analytic gradient is 1/N = 1/{batch_size} of the numerical one: an extra "
                f"division by N (divide once, by the batch size, where the mean is taken)")
    if _near(c, 2.0):
        return ("the analytic gradient is 2x the numerical one: a factor of 2 too many (a term "
                "counted twice, or a 1/2 in the forward pass forgotten in the backward)")
    if _near(c, 0.5):
        return ("the analytic gradient is half the numerical one: a factor of 2 missing "
                "(d(x**2)/dx = 2x, or a term that appears twice in the forward pass)")
    k = round(c)
    if k >= 3 and _near(c, k):
        return (f"the analytic gradient is {k}x the numerical one: a missing division by {k}? "
                f"(a mean written as a sum)")
    if c > 0 and round(1.0 / c) >= 3 and _near(1.0 / c, round(1.0 / c)):
        k = round(1.0 / c)
        return (f"the analytic gradient is 1/{k} of the numerical one: an extra division by {k}? "
                f"(a sum written as a mean)")
    return None   # another factor has too many causes (a missing dout, a scale) to name one


def hint_for(analytic: object, numeric: object, *, batch_size: int | None = None) -> str | None:
    """Recognize a common mistake from an analytic and a numerical gradient; ``None`` if none.

    Patterns: NaN/inf; wrong or transposed shape; all zeros; flipped sign; transposed values
    (square matrices); a constant factor (N or 1/N when ``batch_size`` is given, 2, 1/2, an
    integer k or 1/k; no hint for any other factor); a mismatch on only part of the entries.
    Returns ``None`` when the two agree or no pattern fits.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        return ("the analytic gradient contains NaN or inf: look for exp of a large number, "
                "a division by zero or log(0) in backward (or values it reuses from forward)")
    if not np.all(np.isfinite(n)):
        return ("the numerical gradient contains NaN or inf: the forward pass is not finite "
                "near these inputs (an overflow, log(0) or a division by zero)")
    if a.shape != n.shape:
        if a.ndim >= 2 and a.shape == n.shape[::-1]:
            if _close(a.T, n):
                return (f"the gradient is the transpose of the right one: shape {a.shape} "
                        f"instead of {n.shape}; swap the operands of the product (x.T @ dout, "
                        f"not dout.T @ x)")
            return (f"the gradient has the transposed shape {a.shape} instead of {n.shape}: "
                    f"check the order of the operands in the product")
        if a.size == n.size and _close(a.reshape(n.shape), n):
            return (f"right values, wrong shape: {a.shape} instead of {n.shape}; reshape the "
                    f"gradient to its input's shape")
        return (f"the gradient has shape {a.shape} but its input has shape {n.shape}: a "
                f"gradient always has exactly its input's shape (check sums and reshapes)")
    norm_a, norm_n = float(np.linalg.norm(a)), float(np.linalg.norm(n))
    if norm_a == 0.0 and norm_n == 0.0:
        return None
    if _close(a, n):
        return None
    if norm_a == 0.0:
        return ("the analytic gradient is all zeros: it is never written (still the zeros it "
                "was initialized with), or a mask or branch zeroes everything")
    if norm_n == 0.0:
        return ("the output does not depend on this input (the numerical gradient is zero), "
                "but the analytic gradient is not zero")
    if _close(a, -n):
        return ("the sign is flipped: the analytic gradient is minus the numerical one (e.g. "
                "x - y where y - x is meant, or a subtraction of the upstream gradient)")
    if a.ndim == 2 and a.shape[0] == a.shape[1] and _close(a, n.T):
        return ("the gradient is transposed (same shape because the matrix is square): swap "
                "the operands of the product (x.T @ dout, not dout.T @ x)")
    c = float(np.vdot(a, n) / np.vdot(n, n))
    if c != 0.0 and _close(a, c * n):
        return _factor_hint(c, batch_size)
    errors = np.abs(a - n) > _LOOSE * np.maximum(np.abs(a), np.abs(n)).max()
    wrong, total = int(errors.sum()), errors.size
    if 0 < wrong <= total // 2:
        zeroed = bool(np.all(a[errors] == 0))
        what = "the analytic gradient is 0 there" if zeroed else "the rest agree"
        return (f"only {wrong} of {total} entries disagree ({what}): a wrong mask or branch "
                f"(e.g. x > 0 vs x >= 0, |r| <= delta), or one term of the sum missing; "
                f"look at the worst entries")
    return None
