"""Hyperbolic tangent, elementwise: ``out = tanh(x)``.

Shapes: x of any shape; out and dx have x's shape and dtype.

BEGIN DERIVATION
Local gradient, from the cached output::

    dx = dout * (1 - out ** 2)

It is 1 at x = 0 and vanishes as |x| grows: a saturated tanh stops learning.
END DERIVATION

The forward is ``np.tanh``, which saturates to exactly +-1 for large |x| without overflow or
warning. :mod:`handgrad.fast.tanh` is a tuned twin with the same contract.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check

Cache = np.ndarray  # out = tanh(x)


def forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Return ``(out, cache)`` with ``out = tanh(x)`` elementwise, in x's dtype."""
    check.float_array("tanh.forward", "x", x)
    out = np.asarray(np.tanh(x))        # a 0-d x gives a 0-d array, not a NumPy scalar
    return out, out


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dx`` (x's shape and dtype) for an upstream gradient shaped like the output."""
    out = cache
    op = "tanh.backward"
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, out.shape, "to match the forward output")
    check.same_dtype(op, out=out, dout=dout)
    # BEGIN SOLUTION hint: differentiate tanh, then write the result with the cached output h
    dx = dout * (1 - out ** 2)
    # END SOLUTION
    return np.asarray(dx)               # a 0-d dx stays an array, not a NumPy scalar
