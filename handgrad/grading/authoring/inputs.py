"""Input makers for ``kind = "function"`` checks: ``maker(rng, dims) -> (args, kwargs)``.

A check names its maker as ``inputs = "handgrad.grading.authoring.inputs:clip_grad_norm"``. The
grader calls it with ``np.random.default_rng(seed)`` and the draw's ``dims`` (empty when the spec
gives none, so every maker has defaults), then sends the same inputs, as data, to the student's
function and to the reference. Inputs may be arrays, numbers, strings, None, and tuples, lists
and dicts (with string keys) of those. A maker holds no expected values; it only draws inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

PARAM_SHAPES = (("W1", ("D", "H")), ("b1", ("H",)), ("W2", ("H", "C")), ("b2", ("C",)))


def clip_grad_norm(rng: np.random.Generator, dims: Mapping[str, int]
                   ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``clip_grad_norm(grads, max_norm)`` inputs: a two-layer net's gradients and a norm.

    ``dims``: ``D``, ``H``, ``C`` (sizes, default 5, 4, 3) and ``clip`` (1 to draw a
    ``max_norm`` below the global norm, so clipping happens; 0 for one above it, so nothing
    may change; default 1). Entries are drawn at different scales per array, so an answer that
    clips each array by its own norm instead of the global one is caught.
    """
    sizes = {"D": 5, "H": 4, "C": 3, **{k: int(v) for k, v in dims.items()}}
    grads = {}
    for i, (name, shape) in enumerate(PARAM_SHAPES):
        scale = 10.0 ** (i % 3 - 1)
        grads[name] = rng.standard_normal(tuple(sizes[s] for s in shape)) * scale
    norm = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
    if sizes.get("clip", 1):
        max_norm = float(norm * rng.uniform(0.2, 0.8))
    else:
        max_norm = float(norm * rng.uniform(1.5, 3.0))
    return (grads, max_norm), {}
