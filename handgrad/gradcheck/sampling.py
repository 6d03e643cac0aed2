"""Drawing generic random inputs for the registry's entries.

Generic means: no ones, no zeros, distinct values, balanced signs where a sign matters, labels
that are not all equal, and coordinates kept at least :data:`KINK_MARGIN` from any kink, so
that a wrong gradient cannot hide behind a special value and a centred difference never
straddles a point where the op is not differentiable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: Inputs drawn by the registry keep every coordinate at least this far from a kink (100 h for
#: the default step h = 1e-5), so a centred difference never straddles one.
KINK_MARGIN = 1e-3


def normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype,
           scale: float = 1.0) -> np.ndarray:
    """Standard normal entries times ``scale``, in ``dtype``."""
    return (scale * rng.standard_normal(shape)).astype(dtype)


def balanced_signs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """+1 and -1 in equal numbers (one more +1 when the size is odd), in random places."""
    size = int(np.prod(shape))
    signs = np.where(np.arange(size) % 2 == 0, 1.0, -1.0)
    rng.shuffle(signs)
    return signs.reshape(shape)


def signed_away_from_zero(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype,
                          low: float, high: float) -> np.ndarray:
    """Magnitudes in [low, high] with as many negative as positive entries (in random places)."""
    return (balanced_signs(rng, shape) * rng.uniform(low, high, shape)).astype(dtype)


def class_labels(rng: np.random.Generator, shape: tuple[int, ...], num_classes: int) -> np.ndarray:
    """Integer labels in [0, num_classes), not all equal when there are two or more."""
    y = rng.integers(0, num_classes, size=shape, dtype=np.int64)
    if y.size > 1 and num_classes > 1 and np.all(y == y.flat[0]):
        y.flat[0] = (y.flat[0] + 1) % num_classes
    return y


def residuals_around(rng: np.random.Generator, dims: Mapping[str, int], dtype: np.dtype,
                     threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, target)`` of shape (N, D) whose residuals ``pred - target`` have magnitudes in
    [0.1, 0.8] or [1.25, 3] times ``threshold``, half of each, with balanced signs: both sides
    of a kink at ``|r| = threshold``, well away from it."""
    n, d = dims["N"], dims["D"]
    target = rng.standard_normal((n, d))
    small = rng.uniform(0.1, 0.8, (n, d)) * threshold
    large = rng.uniform(1.25, 3.0, (n, d)) * threshold
    below = balanced_signs(rng, (n, d)) > 0
    residual = balanced_signs(rng, (n, d)) * np.where(below, small, large)
    return (target + residual).astype(dtype), target.astype(dtype)


Drawn = tuple[tuple[Any, ...], dict[str, Any]]  # (args, kwargs) of forward


def redraw_until_clear(draw: Callable[[], Drawn],
                       kinks: Callable[[tuple[Any, ...], dict[str, Any]], dict[int, np.ndarray]],
                       tries: int = 50) -> Drawn:
    """Draw inputs until every coordinate is at least KINK_MARGIN from a kink.

    After ``tries`` draws the last one is returned as it is; the checker then reports any
    mismatch near a kink as a kink, so nothing is silently hidden.
    """
    for attempt in range(tries):
        args, kwargs = draw()
        if attempt == tries - 1:
            break
        distances = kinks(args, kwargs)
        if all(np.min(d, initial=np.inf) >= KINK_MARGIN for d in distances.values()):
            break
    return args, kwargs


def well_separated(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype,
                   spacing: float = 0.01) -> np.ndarray:
    """Distinct values at least ``0.8 * spacing`` apart, in random places: a shuffled grid
    ``spacing`` apart, centred on 0, each value jittered by at most ``0.1 * spacing``. No value
    is 0 or +-1 (the grid is offset by a non-integer multiple of ``spacing``). For ops whose
    kinks are ties between inputs, as max pooling's."""
    size = int(np.prod(shape))
    grid = np.arange(size) - size / 2 + 0.37     # fractional part 0.37 or 0.87: never an integer
    values = (grid + rng.uniform(-0.1, 0.1, size)) * spacing
    rng.shuffle(values)
    return values.reshape(shape).astype(dtype)
