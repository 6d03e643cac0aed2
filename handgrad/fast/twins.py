"""The one map of which readable op has which tuned twin, and :func:`fastest`, which picks one.

The models, the Solver's nets and the benchmarks compute an op with ``fastest(module)``: the
tuned twin under :mod:`handgrad.fast` where :data:`TWINS` names one, else the readable module.
"""

from __future__ import annotations

import importlib
from types import ModuleType

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
