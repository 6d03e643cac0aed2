"""float64 tanh without ``np.tanh``, shared by the tanh layer and the RNN.

On CPUs without AVX-512, ``np.tanh`` in float64 is several times slower than ``np.exp``, so
:func:`tanh64` computes ``tanh(|x|) = (1 - e) / (1 + e)`` with ``e = exp(-2|x|)`` in (0, 1]
(nothing overflows), a Taylor polynomial where ``|x| < SMALL`` (there ``1 - e`` would cancel),
and puts the sign of x back: within a few units in the last place of the exact value.
"""

from __future__ import annotations

import numpy as np

SMALL = 0.02  # below it, x - x^3/3 + 2x^5/15 - 17x^7/315 is exact to float64 precision


def tanh64(out: np.ndarray, x: np.ndarray, one_plus_e: np.ndarray,
           work: np.ndarray | None = None) -> None:
    """``out = tanh(x)`` for float64 arrays of one shape, ``out`` may be ``x`` itself.

    ``one_plus_e`` and ``work`` are C-contiguous scratch arrays shaped like x. Without ``work``
    the result is built in ``out``, which must then be C-contiguous and not ``x``. Call it under
    ``np.errstate(under="ignore", over="ignore")``: ``exp(-2|x|)`` underflows to 0 where tanh
    is +-1, and ``-2|x|`` overflows to -inf for |x| beyond half the largest float (exp then
    gives 0, and tanh +-1 again).
    """
    w = out if work is None else work
    np.abs(x, out=w)
    small = np.flatnonzero(w < SMALL)
    if small.size:
        xs = w.reshape(-1)[small]
        x2 = xs * xs
        xs += xs * x2 * (-1 / 3 + x2 * (2 / 15 - x2 * (17 / 315)))
    w *= -2.0
    np.exp(w, out=w)
    np.add(w, 1.0, out=one_plus_e)
    np.subtract(1.0, w, out=w)
    w /= one_plus_e
    if small.size:
        w.reshape(-1)[small] = xs
    np.copysign(w, x, out=out)
