"""Layers: one module per layer, each with ``forward(...) -> (out, cache)`` and
``backward(dout, cache) -> grads`` (one gradient per float array argument of ``forward``).

The public API is the modules themselves: ``from handgrad.layers import affine``, then
``affine.forward(x, w, b)``. Every public module of this folder is listed in ``__all__`` and
imported on first use.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports, public_submodules

_WHERE = public_submodules(__path__)
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
