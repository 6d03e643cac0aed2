"""Tuned twins of the readable layers, for training: the same contract, faster kernels.

Each module here has exactly the functions, arguments, results and error messages of the layer
it twins (``handgrad.fast.conv`` of ``handgrad.layers.conv``), and is tested against it. The
readable layers are what the docs show and what assignments hand out; the models and the
Solver use the twin where one exists. Kernels here take fewer passes over memory (algebra that
folds several elementwise steps into one, cache-sized blocks of rows, buffers reused within a
call), may use memory layouts chosen for speed and return views into their own buffers. The
LSTM and attention twins run one slice of the batch per thread with BLAS on one thread
meanwhile (:mod:`handgrad.fast._parts`).

A twin's cache is its own: pass the cache of ``handgrad.fast.layernorm.forward`` to
``handgrad.fast.layernorm.backward``, never to the readable module's backward.

The public API is the modules themselves (``from handgrad.fast import conv``); every public
module of this folder is listed in ``__all__`` and imported on first use.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports, public_submodules

_WHERE = public_submodules(__path__)
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
