"""Stratified splits: every class keeps its share in every part."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def stratified_split(y: np.ndarray, fractions: Sequence[float],
                     seed: int | None = 0) -> list[np.ndarray]:
    """Split the indices of ``y`` into ``len(fractions)`` disjoint parts, class by class.

    Within each class the examples are shuffled with ``np.random.default_rng(seed)`` and cut
    at the cumulative ``fractions`` (which must sum to 1), rounded to whole examples, so each
    part holds about ``fraction`` of every class. Returns sorted index arrays that together
    cover every example exactly once. The same ``y`` and seed give the same split.
    """
    y = np.asarray(y)
    fractions = [float(f) for f in fractions]
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"stratified_split: fractions must be >= 0 and sum to 1, "
                         f"got {fractions}")
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(fractions)[:-1]
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        bounds = np.rint(cuts * members.size).astype(int)
        for part, chunk in zip(parts, np.split(members, bounds), strict=True):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]
