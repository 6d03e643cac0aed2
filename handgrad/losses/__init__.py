"""Losses: one module per loss, same contract as the layers, with a scalar output
(a 0-d array of the input dtype) reduced as the mean over the batch.

The public API is the modules themselves: ``from handgrad.losses import softmax_cross_entropy``.
Every public module of this folder is listed in ``__all__`` and imported on first use.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports, public_submodules

_WHERE = public_submodules(__path__)
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
