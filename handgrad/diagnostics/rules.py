"""Turn a diagnostics record into findings: what is wrong, where, and what to do about it.

A record is the JSON-serializable dict :func:`handgrad.diagnostics.record.snapshot` makes
(the Monitor stores one every N steps). :func:`findings` applies the thresholds below and
returns one :class:`Finding` per problem, each with an actionable message such as::

    layer 1 (sigmoid): 97% of units saturated; gradient reaching W1 is 2e-4 of its size;
    lower weight_scale or use init="xavier"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handgrad.diagnostics._plain import plain
from handgrad.diagnostics.recurrent import EXPLODING_RATIO, VANISHING_RATIO


@dataclass(frozen=True)
class Thresholds:
    """When a statistic counts as a problem (defaults in parentheses).

    - ``saturated`` (0.5): fraction of a sigmoid/tanh layer's outputs that are saturated;
    - ``dead`` (0.25): fraction of a ReLU layer's units that are dead;
    - ``update_high`` (0.1) / ``update_low`` (1e-5): update-to-weight ratio of a weight
      matrix per step (healthy is about 1e-3);
    - ``exploding`` (1e2) / ``vanishing`` (1e-2): ``||dL/dh_0|| / ||dL/dh_T||`` of an RNN;
    - ``zero_examples`` (0.5): fraction of examples with an exactly-zero loss gradient
      (regression losses; a perfectly fit softmax example legitimately has one);
    - ``zero_entries`` (0.5): fraction of a weight matrix's gradient entries that are 0.
    """

    saturated: float = 0.5
    dead: float = 0.25
    update_high: float = 1e-1
    update_low: float = 1e-5
    exploding: float = EXPLODING_RATIO
    vanishing: float = VANISHING_RATIO
    zero_examples: float = 0.5
    zero_entries: float = 0.5

    def to_dict(self) -> dict[str, float]:
        return plain(self)


@dataclass(frozen=True)
class Finding:
    """One problem: its ``kind`` (saturated, dead, update_high, update_low, exploding,
    vanishing, zero_examples, zero_entries), where (``layer``) and the advice."""

    kind: str
    layer: str
    message: str

    @property
    def key(self) -> str:
        """Identifies the problem for "warn once per kind and layer"."""
        return f"{self.kind}|{self.layer}"

    def __str__(self) -> str:
        return self.message


def sci(x: float) -> str:
    """A number as a short power of ten: 2e-4, 1e12, 0.3 (for numbers near 1)."""
    if x == 0:
        return "0"
    if 1e-2 <= abs(x) < 1e3:
        return f"{x:.2g}"
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _pct(x: float) -> str:
    """A fraction as a percentage that never rounds to 0% or 100% unless it is."""
    if x <= 0 or x >= 1:
        return f"{100 * x:.0f}%"
    if x < 0.01:
        return f"{100 * x:.1g}%"
    return f"{100 * x:.1f}%" if x > 0.99 else f"{100 * x:.0f}%"


def findings(record: dict[str, Any], thresholds: Thresholds | None = None, *,
             learning_rate: float | None = None) -> list[Finding]:
    """The problems in ``record``, in a fixed order (layers first, then updates, recurrence,
    zeroed gradients). ``learning_rate`` is quoted in the advice when given."""
    th = thresholds or Thresholds()
    out: list[Finding] = []
    lr = f"learning rate {sci(learning_rate)}" if learning_rate else "the learning rate"
    weights = record.get("weights", [])
    relative = record.get("relative", {})
    where = (f" at step {record['step']} (epoch {record['epoch'] + 1})"
             if record.get("epoch") is not None and record.get("step") else "")

    saturated_weights = set()
    for i, layer in enumerate(record.get("layers", [])):
        name, act = layer["layer"], layer["activation"]
        weight = weights[i] if i < len(weights) else None
        saturated = layer.get("saturated")
        if saturated is not None and saturated > th.saturated:
            saturated_weights.add(weight)
            rel = relative.get(weight) if weight else None
            reach = (f"; gradient reaching {weight} is {sci(rel)} of its size"
                     if rel is not None else "")
            fix = ('lower weight_scale or use init="xavier"' if act == "sigmoid" or
                   act == "tanh" else "lower the weight scale")
            out.append(Finding("saturated", name, f"{name} ({act}): {_pct(saturated)} of units "
                                                  f"saturated{reach}; {fix}"))
        dead = layer.get("dead")
        if dead is not None and dead > th.dead:
            out.append(Finding("dead", name, f"{name} ({act}): {_pct(dead)} of units dead"
                                             f"{where}; {lr} may be too high"))

    for name, ratio in (record.get("update_ratios") or {}).items():
        if name not in weights or ratio is None:
            continue
        if ratio > th.update_high:
            out.append(Finding("update_high", name, f"{name}: each update changes it by "
                                                    f"{sci(ratio)} of its size (healthy: about "
                                                    f"1e-3); {lr} may be too high"))
        elif ratio < th.update_low and name not in saturated_weights:
            out.append(Finding("update_low", name, f"{name}: each update changes it by only "
                                                   f"{sci(ratio)} of its size (healthy: about "
                                                   f"1e-3); {lr} may be too low, or the "
                                                   f"gradient does not reach it"))

    rec = record.get("recurrent")
    if rec is not None:
        last = len(rec["norms"]) - 1
        rho = rec["spectral_radius"]
        rho_text = "not finite" if rho is None else f"{rho:.2f}"
        ratio = rec["ratio"]
        if ratio is None or ratio > th.exploding:
            size = "not finite" if ratio is None else f"{sci(ratio)} times dL/dh_{last}"
            out.append(Finding("exploding", "rnn", f"rnn: dL/dh_0 is {size}; clip gradients "
                                                   f"(clip_norm) or lower the spectral radius "
                                                   f"of Wh (now {rho_text})"))
        elif ratio < th.vanishing:
            if rho is not None and rho < 1:
                why = (f"the spectral radius of Wh is {rho:.2f} < 1: initialize Wh nearer 1 "
                       f"(orthogonal or identity)")
            else:
                why = (f"the spectral radius of Wh is {rho_text}, so saturated "
                       f"{rec['activation']} units block the gradient: lower it toward 1")
            out.append(Finding("vanishing", "rnn", f"rnn: dL/dh_0 is {sci(ratio)} of "
                                                   f"dL/dh_{last}, so early steps learn "
                                                   f"nothing from late ones; {why}, or use "
                                                   f"shorter sequences"))

    zero_ex = record.get("zero_examples")
    if (zero_ex is not None and record.get("task") == "regression"
            and zero_ex > th.zero_examples):
        out.append(Finding("zero_examples", "loss", f"loss: {_pct(zero_ex)} of examples get an "
                                                     f"exactly-zero gradient; a loss that clips "
                                                     f"the error before squaring ignores every "
                                                     f"large error: use the Huber loss (it "
                                                     f"clips the gradient instead)"))
    explained = any(f.kind == "dead" for f in out)  # dead units zero whole rows and columns
    for name, frac in (record.get("zero_fraction") or {}).items():
        if name in weights and frac > th.zero_entries and not explained:
            out.append(Finding("zero_entries", name, f"{name}: {_pct(frac)} of its gradient "
                                                     f"entries are exactly zero (dead units or "
                                                     f"a clipped loss pass no gradient)"))
    return out
