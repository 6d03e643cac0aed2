"""Inverted dropout, elementwise: in train mode each unit is kept with probability ``keep_prob``
and scaled by ``1 / keep_prob``, so the expected output equals the input and test mode needs no
rescaling.

Train mode, with ``keep`` a boolean array of x's shape (True where the unit is kept) and
``mask`` its scaled version, ``1 / keep_prob`` where a unit is kept and 0 where it is dropped::

    mask = keep / keep_prob               # in x's dtype
    out  = x * mask                       # E[out] = x
    out  = x                              # test mode: the identity (out is a copy of x)

Shapes: x of any shape (N, ...); out and dx have x's shape and dtype.

``dropout_param`` is a dict with the keys

- ``"mode"``: ``"train"`` or ``"test"`` (required);
- ``"keep_prob"``: the probability of KEEPING a unit, in (0, 1] (required; 1 keeps every unit).
  CS231n's ``p`` was this keep probability; PyTorch's ``p`` (``nn.Dropout(p)``) is the DROP
  probability, ``1 - keep_prob``. handgrad names it ``keep_prob`` so that neither reading is
  possible, and rejects a key ``"p"``;
- ``"seed"``: an integer >= 0 for a reproducible mask (optional);
- ``"rng"``: a ``numpy.random.Generator`` to draw the mask from (optional; not with ``seed``).

Any other key is an error. How the mask is drawn, in train mode (test mode draws nothing)::

    rng  = np.random.default_rng(seed)          # when "seed" is given: the SAME mask every call
         = dropout_param["rng"]                 # else the caller's generator, which advances
         = np.random.default_rng()              # else fresh entropy from the OS: a new mask
    keep = rng.random(x.shape) < keep_prob      # float64 uniforms in [0, 1), whatever x's dtype

so a seed keeps the same units for float32 and float64 inputs of one shape. A fixed seed is what
gradient checking needs (every forward call sees the same mask); for training pass ``rng``
(e.g. ``np.random.default_rng(0)``, reproducible over a whole run) or nothing, or every step
drops the same units.

Local gradient:

    BEGIN DERIVATION
    dx = dout * mask                      (train mode: the kept units pass the scaled gradient)
    dx = dout                             (test mode)
    END DERIVATION

The cache holds the mode, ``keep_prob`` and the scaled mask (``cache.mask``, CS231n's
convention; ``cache.mask != 0`` is ``keep``; None in test mode), and ``backward`` uses that
cached mask: it never draws again.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, NamedTuple

import numpy as np

from handgrad import _validation as check

MODES = ("train", "test")
PARAM_KEYS = ("mode", "keep_prob", "seed", "rng")
REQUIRED = {"mode": "'train' or 'test'",
            "keep_prob": "the probability of keeping a unit, in (0, 1]"}


class Cache(NamedTuple):
    """What ``backward`` needs: the mode, the keep probability and the mask of forward."""

    mode: str
    keep_prob: float
    mask: np.ndarray | None       # x's shape and dtype: 1 / keep_prob where kept, else 0
    shape: tuple[int, ...]        # x's shape and dtype, to check dout against
    dtype: np.dtype


def _mask_generator(op: str, dropout_param: MutableMapping[str, Any]) -> np.random.Generator:
    """The generator the mask is drawn from: see the module docstring."""
    seed = dropout_param.get("seed")
    rng = dropout_param.get("rng")
    if seed is not None and rng is not None:
        raise ValueError(f"{op}: dropout_param has both 'seed' and 'rng'; give one: a seed for "
                         f"the same mask every call, or a generator for a new mask every call")
    if seed is not None:
        return np.random.default_rng(check.seed(op, "dropout_param['seed']", seed))
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{op}: dropout_param['rng'] must be a numpy.random.Generator "
                            f"(np.random.default_rng(...)), got {type(rng).__name__}")
        return rng
    return np.random.default_rng()


def forward(x: np.ndarray, dropout_param: MutableMapping[str, Any]) -> tuple[np.ndarray, Cache]:
    """Drop units of ``x`` at random in train mode (keeping each with probability
    ``dropout_param["keep_prob"]``, scaling the kept ones by ``1 / keep_prob``); pass ``x``
    through in test mode. Returns ``(out, cache)``, out of x's shape and dtype (a new array)."""
    op = "dropout.forward"
    check.float_array(op, "x", x)
    if isinstance(dropout_param, MutableMapping) and "p" in dropout_param:
        raise ValueError(f"{op}: dropout_param has a key 'p', which is ambiguous (CS231n's p is "
                         f"the keep probability, PyTorch's p the drop probability); use "
                         f"'keep_prob', the probability of keeping a unit")
    check.param_dict(op, "dropout_param", dropout_param, PARAM_KEYS, REQUIRED)
    mode = check.choice(op, "dropout_param['mode']", dropout_param["mode"], MODES)
    keep_prob = check.real_in(op, "dropout_param['keep_prob']", dropout_param["keep_prob"],
                              0.0, 1.0, low_open=True)
    rng = _mask_generator(op, dropout_param)
    # BEGIN SOLUTION hint: train: draw the mask as the docstring says, keep, rescale; test: copy x
    if mode == "train":
        keep = rng.random(x.shape) < keep_prob
        mask = keep * x.dtype.type(1 / keep_prob)       # a scalar of x's dtype keeps the dtype
        out = x * mask
    else:
        mask = None
        out = x.copy()
    # END SOLUTION
    return out, Cache(mode, keep_prob, mask, x.shape, x.dtype)


def backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Return ``dx`` for an upstream gradient ``dout`` of the forward output's shape, using the
    mask cached by ``forward``."""
    op = "dropout.backward"
    mode, keep_prob, mask, shape, dtype = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, shape, "to match the forward output")
    check.dtype_is(op, "dout", dout, dtype, "x")
    # BEGIN SOLUTION hint: which units did the cached mask keep, and by what were they scaled?
    if mode == "train":
        dx = dout * mask
    else:
        dx = dout.copy()
    # END SOLUTION
    return dx
