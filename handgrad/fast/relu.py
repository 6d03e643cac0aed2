"""Tuned twin of :mod:`handgrad.layers.relu`: the same functions, arguments, results (bit for
bit) and errors. Read that module for the math.

Both passes run through :func:`handgrad.fast._blocks.elementwise`: cache-sized blocks of the
flattened arrays, spread over the CPU cores, with the maximum taken against a zero array (NumPy
runs ``maximum`` several times faster against an array than against a scalar). The cache is the
output, as in the readable module.
"""

from __future__ import annotations

import numpy as np

from handgrad import _validation as check
from handgrad.fast._blocks import constant, elementwise

Cache = np.ndarray  # out: out > 0 exactly where x > 0


def forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """:func:`handgrad.layers.relu.forward`, tuned: ``(out, cache)``."""
    check.float_array("relu.forward", "x", x)
    out = np.empty(x.shape, x.dtype)
    zeros = constant(0.0, x.dtype)

    def kernel(out: np.ndarray, x: np.ndarray) -> None:
        np.maximum(x, zeros[: x.size], out=out)

    elementwise(kernel, out, x)
    return out, out


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """:func:`handgrad.layers.relu.backward`, tuned: dx of the forward input's shape."""
    out = cache
    op = "relu.backward"
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, out.shape, "to match the forward output")
    check.same_dtype(op, out=out, dout=dout)
    dx = np.empty(out.shape, out.dtype)

    def kernel(dx: np.ndarray, dout: np.ndarray, out: np.ndarray) -> None:
        np.multiply(dout, out > 0, out=dx)

    elementwise(kernel, dx, dout, out)
    return dx
