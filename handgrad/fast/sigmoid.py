"""Tuned twin of :mod:`handgrad.layers.sigmoid`: the same functions, arguments, results (bit for
bit) and errors. Read that module for the math and its stable form ``e / (1 + e)`` with
``e = exp(min(x, CAP))``.

Both passes run through :func:`handgrad.fast._blocks.elementwise`: cache-sized blocks of the
flattened arrays, spread over the CPU cores, each step written in place into the block of the
output or of one scratch array, so the four steps of the forward read memory once.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check
from handgrad.fast._blocks import constant, elementwise
from handgrad.layers.sigmoid import CAP

Cache = np.ndarray  # out = sigmoid(x)


def forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """:func:`handgrad.layers.sigmoid.forward`, tuned: ``(out, cache)``."""
    check.float_array("sigmoid.forward", "x", x)
    out = np.empty(x.shape, x.dtype)
    cap = constant(CAP[x.dtype], x.dtype)

    def kernel(out: np.ndarray, x: np.ndarray, one_plus_e: np.ndarray) -> None:
        np.minimum(x, cap[: x.size], out=out)
        np.exp(out, out=out)
        np.add(out, 1.0, out=one_plus_e)
        np.divide(out, one_plus_e, out=out)

    with np.errstate(under="ignore"):  # exp(-1000) = 0 is the right answer, not an error
        elementwise(kernel, out, x, scratch=1)
    return out, out


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """:func:`handgrad.layers.sigmoid.backward`, tuned: dx of the forward input's shape."""
    out = cache
    op = "sigmoid.backward"
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, out.shape, "to match the forward output")
    check.same_dtype(op, out=out, dout=dout)
    dx = np.empty(out.shape, out.dtype)

    def kernel(dx: np.ndarray, dout: np.ndarray, s: np.ndarray) -> None:
        np.subtract(1.0, s, out=dx)
        dx *= s
        dx *= dout

    elementwise(kernel, dx, dout, out)
    return dx
