"""The spiral toy set: ``n_classes`` interleaved arms in the plane, not linearly separable."""

from __future__ import annotations

import numpy as np


def spiral(n_per_class: int = 100, n_classes: int = 3, seed: int | None = 0,
           dtype: type | np.dtype = np.float64,
           noise: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, y)``: X (n_per_class * n_classes, 2) points, y int64 class of each point.

    Class ``k`` is the arm ``r * (sin t, cos t)`` with radius ``r`` from 0 to 1 and angle
    ``t`` from ``4k`` to ``4(k + 1)`` plus Gaussian noise of standard deviation ``noise``
    (the CS231n construction). Examples are ordered class by class; the same seed gives
    the same points.
    """
    if int(n_per_class) != n_per_class or n_per_class < 1:
        raise ValueError(f"spiral: n_per_class must be a positive integer, got {n_per_class!r}")
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"spiral: n_classes must be an integer >= 2, got {n_classes!r}")
    if noise < 0:
        raise ValueError(f"spiral: noise must be >= 0, got {noise!r}")
    n_per_class, n_classes = int(n_per_class), int(n_classes)
    rng = np.random.default_rng(seed)
    radius = np.linspace(0.0, 1.0, n_per_class)
    X = np.empty((n_per_class * n_classes, 2))
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    for k in range(n_classes):
        theta = np.linspace(4.0 * k, 4.0 * (k + 1), n_per_class)
        theta += noise * rng.standard_normal(n_per_class)
        rows = slice(k * n_per_class, (k + 1) * n_per_class)
        X[rows, 0] = radius * np.sin(theta)
        X[rows, 1] = radius * np.cos(theta)
    return X.astype(dtype, copy=False), y
