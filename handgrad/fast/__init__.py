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

The public API is the modules themselves (``from handgrad.fast import conv``); every public
module of this folder is listed in ``__all__`` and imported on first use.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports, public_submodules

# every public module of the folder, and the map of twins with its picker (from twins.py)
_WHERE = {**public_submodules(__path__), "TWINS": "twins", "fastest": "twins"}
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
