"""Logistic sigmoid, elementwise: ``out = 1 / (1 + exp(-x))``.

Shapes: x of any shape; out and dx have x's shape and dtype.

BEGIN DERIVATION
Local gradient, from the cached output::

    dx = dout * out * (1 - out)

It is at most 1/4 (at x = 0) and vanishes as |x| grows: a saturated sigmoid stops learning.
END DERIVATION

Stability: the forward evaluates ``e / (1 + e)`` with ``e = exp(min(x, CAP))``, which never
overflows (CAP = 80 in float32, 700 in float64, where the exact result already rounds to 1).
For very negative x, e underflows to the correctly rounded tiny result, down to 0: x = -1000
gives 0, x = +1000 gives 1, and neither raises a warning.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = np.ndarray  # out = sigmoid(x)

CAP = {np.dtype(np.float32): 80.0, np.dtype(np.float64): 700.0}


def forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Return ``(out, cache)`` with ``out = 1 / (1 + exp(-x))`` elementwise, in x's dtype."""
    check.float_array("sigmoid.forward", "x", x)
    with np.errstate(under="ignore"):  # exp(-1000) = 0 is the right answer, not an error
        e = np.exp(np.minimum(x, CAP[x.dtype]))     # capped: exp never overflows
    out = np.asarray(e / (1 + e))       # a 0-d x gives a 0-d array, not a NumPy scalar
    return out, out


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dx`` (x's shape and dtype) for an upstream gradient shaped like the output."""
    out = cache
    op = "sigmoid.backward"
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, out.shape, "to match the forward output")
    check.same_dtype(op, out=out, dout=dout)
    # BEGIN SOLUTION hint: differentiate the sigmoid, then write the result with the cached output
    dx = dout * out * (1 - out)
    # END SOLUTION
    return np.asarray(dx)               # a 0-d dx stays an array, not a NumPy scalar
