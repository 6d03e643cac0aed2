"""Tuned twins of the readable layers and losses, for training: the same contract, faster kernels.

Each public module here has exactly the functions, arguments, results and error messages of the
op it twins (``handgrad.fast.conv`` of ``handgrad.layers.conv``), and is tested against it. The
readable modules are what the docs show and what assignments hand out; the models, the Solver's
nets and the benchmarks use the twin where one exists, through :func:`fastest`. :data:`TWINS`
is the one map of which readable op has which twin.

Kernels here take fewer passes over memory (algebra that folds several elementwise steps into
one, cache-sized blocks of rows, buffers reused within a call, results written in place), may
use memory layouts chosen for speed and return views into their own buffers. The speed helpers
live here too, and only here: :mod:`handgrad.fast._blocks` runs elementwise kernels on
cache-sized blocks spread over the CPU cores (relu, sigmoid, tanh, clipped_error_mse),
:mod:`handgrad.fast._tanh_kernel` is float64 tanh built from ``exp`` (tanh, rnn),
:mod:`handgrad.fast._rows` cuts the normalization twins' work into blocks of rows, and
:mod:`handgrad.fast._parts` runs the LSTM and attention twins one slice of the batch per thread
with BLAS on one thread meanwhile.

A twin's cache is its own: pass the cache of ``handgrad.fast.layernorm.forward`` to
``handgrad.fast.layernorm.backward``, never to the readable module's backward.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["TWINS", "fastest"]

# readable module -> its tuned twin (both as dotted module names)
TWINS: dict[str, str] = {
    "handgrad.layers.attention": "handgrad.fast.attention",
    "handgrad.layers.batchnorm": "handgrad.fast.batchnorm",
    "handgrad.layers.conv": "handgrad.fast.conv",
    "handgrad.layers.embedding": "handgrad.fast.embedding",
    "handgrad.layers.groupnorm": "handgrad.fast.groupnorm",
    "handgrad.layers.layernorm": "handgrad.fast.layernorm",
    "handgrad.layers.lstm": "handgrad.fast.lstm",
    "handgrad.layers.relu": "handgrad.fast.relu",
    "handgrad.layers.rnn": "handgrad.fast.rnn",
    "handgrad.layers.sigmoid": "handgrad.fast.sigmoid",
    "handgrad.layers.spatial_batchnorm": "handgrad.fast.spatial_batchnorm",
    "handgrad.layers.tanh": "handgrad.fast.tanh",
    "handgrad.losses.clipped_error_mse": "handgrad.fast.clipped_error_mse",
    "handgrad.losses.huber": "handgrad.fast.huber",
    "handgrad.losses.mse": "handgrad.fast.mse",
}


def fastest(op: str | ModuleType) -> ModuleType:
    """The module to compute ``op`` with: its tuned twin where :data:`TWINS` has one, else the
    readable module itself.

    ``op`` is a module or its dotted name (``"handgrad.layers.relu"``, or a twin's own name,
    which is returned as it is): ``fastest("handgrad.layers.relu")`` is
    :mod:`handgrad.fast.relu`, ``fastest("handgrad.layers.affine")`` is
    :mod:`handgrad.layers.affine`.
    """
    if isinstance(op, ModuleType):
        name = op.__name__
    elif isinstance(op, str):
        name = op
    else:
        raise TypeError(f"fastest: op must be a module or a dotted module name such as "
                        f"'handgrad.layers.relu', got {type(op).__name__}")
    return importlib.import_module(TWINS.get(name, name))
