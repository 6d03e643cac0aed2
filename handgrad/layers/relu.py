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
from handgrad._blocks import constant, elementwise

Cache = np.ndarray  # out: out > 0 exactly where x > 0


def forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Return ``(out, cache)`` with ``out = max(x, 0)`` elementwise (NaN stays NaN)."""
    check.float_array("relu.forward", "x", x)
    out = np.empty(x.shape, x.dtype)
    zeros = constant(0.0, x.dtype)

    def kernel(out: np.ndarray, x: np.ndarray) -> None:
        np.maximum(x, zeros[: x.size], out=out)

    elementwise(kernel, out, x)
    return out, out


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dx`` (x's shape and dtype) for an upstream gradient of the output's shape."""
    out = cache
    op = "relu.backward"
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, out.shape, "to match the forward output")
    check.same_dtype(op, out=out, dout=dout)
    # BEGIN SOLUTION hint: where does max(x, 0) change with x? the cached output tells you
    dx = np.empty(out.shape, out.dtype)

    def kernel(dx: np.ndarray, dout: np.ndarray, out: np.ndarray) -> None:
        np.multiply(dout, out > 0, out=dx)

    elementwise(kernel, dx, dout, out)
    # END SOLUTION
    return dx
