"""Dead ReLU units: units that output zero for every example of a data set.

A ReLU unit whose pre-activation is negative on every input passes no gradient to its
weights (``relu.backward`` multiplies by ``1[out > 0]``), so nothing can revive it: it is
dead for good. A large update (a learning rate that is too high) can push a unit's bias and
weights there in one step. *Nearly dead* units are active on at least one but fewer than
``NEARLY_DEAD = 1%`` of the examples: they learn from almost nothing.

The last axis of the activations indexes the units; every other axis (examples, and time
steps of a recurrent layer) counts as examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handgrad.diagnostics._plain import plain
from handgrad.diagnostics.activations import hidden_layers

NEARLY_DEAD = 0.01


@dataclass(frozen=True)
class DeadUnits:
    """Dead and nearly dead units of one ReLU layer over ``examples`` examples.

    ``dead`` and ``nearly_dead`` are fractions of the ``units`` (disjoint: a dead unit is
    not counted as nearly dead); ``dead_indices`` lists the dead units.
    """

    layer: str
    units: int
    examples: int
    dead: float
    nearly_dead: float
    dead_indices: list[int] = field(repr=False)

    def summary(self) -> str:
        name = self.layer or "layer"
        return (f"{name}: {100 * self.dead:.1f}% of {self.units} units dead (zero on all "
                f"{self.examples} examples), {100 * self.nearly_dead:.1f}% nearly dead "
                f"(active on < {100 * NEARLY_DEAD:g}%)")

    def to_dict(self) -> dict[str, Any]:
        return plain(self)

    def __str__(self) -> str:
        return self.summary()


def dead_units(out: np.ndarray, *, layer: str = "",
               nearly_dead: float = NEARLY_DEAD) -> DeadUnits:
    """Dead and nearly dead units of a ReLU layer's outputs ``out`` (..., units)."""
    out = np.asarray(out)
    if out.ndim < 2 or out.shape[-1] == 0 or out.size == 0:
        raise ValueError(f"dead_units: expected activations of shape (examples, ..., units), "
                         f"got {out.shape}")
    units = out.shape[-1]
    flat = out.reshape(-1, units)
    active = np.count_nonzero(flat > 0, axis=0)          # examples on which each unit fires
    rate = active / flat.shape[0]
    dead = active == 0
    nearly = ~dead & (rate < nearly_dead)
    return DeadUnits(layer=layer, units=units, examples=int(flat.shape[0]),
                     dead=float(dead.mean()), nearly_dead=float(nearly.mean()),
                     dead_indices=[int(i) for i in np.flatnonzero(dead)])


def model_dead_units(model: Any, X: np.ndarray, *,
                     nearly_dead: float = NEARLY_DEAD) -> list[DeadUnits]:
    """:func:`dead_units` of every ReLU hidden layer of ``model`` on the examples ``X``
    (an empty list for a net without ReLU layers)."""
    return [dead_units(out, layer=name, nearly_dead=nearly_dead)
            for name, act, out in hidden_layers(model, X) if act == "relu"]
