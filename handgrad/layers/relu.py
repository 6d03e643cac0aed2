"""Rectified linear unit, elementwise: ``out = max(x, 0)``.

Shapes: x of any shape; out and dx have x's shape and dtype.

BEGIN DERIVATION
Local gradient: 1 where x > 0 and 0 elsewhere (0 at the kink x = 0, as in PyTorch)::

    dx = dout * (out > 0)

A unit whose input stays negative passes no gradient at all: it is dead and stops learning.
END DERIVATION

The gradient at the kink x = 0 is taken to be 0, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = np.ndarray  # out: out > 0 exactly where x > 0


def forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Return ``(out, cache)`` with ``out = max(x, 0)`` elementwise (NaN stays NaN)."""
    check.float_array("relu.forward", "x", x)
    out = np.asarray(np.maximum(x, 0))  # a 0-d x gives a 0-d array, not a NumPy scalar
    return out, out


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dx`` (x's shape and dtype) for an upstream gradient of the output's shape."""
    out = cache
    op = "relu.backward"
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, out.shape, "to match the forward output")
    check.same_dtype(op, out=out, dout=dout)
    # BEGIN SOLUTION hint: where does max(x, 0) change with x? the cached output tells you
    dx = dout * (out > 0)
    # END SOLUTION
    return np.asarray(dx)               # a 0-d dx stays an array, not a NumPy scalar
