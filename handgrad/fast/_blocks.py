"""Run a NumPy kernel over cache-sized blocks of rows, spread over the CPU cores.

NumPy evaluates every expression as one pass over the whole array, so an activation made of five
ufunc calls reads and writes an 8 MB array five times from main memory. Run on a
block of rows at a time, the same five calls work on slices that stay in the CPU's caches, and
only the first read and the last write go to memory. NumPy releases the GIL inside its ufunc
loops and reductions, so the blocks can also run on several threads at once::

    def kernel(out, x):                 # the same rows of every array
        np.tanh(x, out=out)

    blockwise(kernel, out, x)           # out, x: same first dimension

``blockwise`` cuts the arrays along their first axis into blocks of about ``BLOCK_BYTES``; the
calling thread and the pool's threads each take the next block until none is left, and the
kernels' return values come back in block order, so a reduction that sums them is deterministic
and does not depend on the number of threads. ``elementwise`` does the same for arrays of one shape,
flattened. A kernel may write only to its own block of each array and to its scratch arrays.

The number of threads is the number of CPUs this process may run on, or the environment
variable ``HANDGRAD_NUM_THREADS``; ``set_num_threads(1)`` turns threading off.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

BLOCK_BYTES = 256 * 1024         # per array and block: a few arrays stay in L2/L3 cache, and
                                 # each ufunc call is long enough to amortize handing over the GIL
MIN_PARALLEL_BYTES = 512 * 1024  # below this, waking a thread costs more than it saves

_lock = threading.Lock()
_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None   # (pid, workers) the pool was made for


def _default_threads() -> int:
    env = os.environ.get("HANDGRAD_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_threads = _default_threads()


def get_num_threads() -> int:
    """Number of threads ``blockwise`` uses (1 means everything runs in the caller)."""
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (at least 1) from now on."""
    global _threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    _threads = n


def _get_pool(workers: int) -> ThreadPoolExecutor:
    """The shared pool of ``workers`` threads; a fresh one after a fork (threads do not survive
    it) or a change of size. Its threads start on the first ``submit``."""
    global _pool, _pool_key
    key = (os.getpid(), workers)
    with _lock:
        if _pool_key != key:
            if _pool is not None and _pool_key is not None and _pool_key[0] == key[0]:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="handgrad")
            _pool_key = key
        assert _pool is not None  # made above when the key changed, which it did first
        return _pool


def blockwise(kernel: Callable[..., Any], *arrays: np.ndarray, scratch: int = 0) -> list[Any]:
    """Call ``kernel(*blocks, *scratch_blocks)`` on every block of rows; return its results.

    ``arrays`` share their first dimension; each call gets the same rows of each of them, plus
    ``scratch`` work arrays shaped like the first array's block (same dtype; contents undefined).
    """
    first = arrays[0]
    n = first.shape[0]
    row_bytes = max(first.itemsize * math.prod(first.shape[1:]), 1)
    rows = max(1, BLOCK_BYTES // row_bytes)
    n_blocks = -(-n // rows)
    workers = min(_threads, n_blocks) if n * row_bytes >= MIN_PARALLEL_BYTES else 1
    if getattr(_local, "busy", False):
        workers = 1  # a kernel that itself calls blockwise: no waiting on the pool from inside
    results: list[Any] = [None] * n_blocks
    # Threads take the next block as they get free (next() on a count is atomic under the GIL),
    # so a core that runs slower, or is shared with another process, simply does fewer blocks.
    next_block = itertools.count()

    def run() -> None:
        outer, _local.busy = getattr(_local, "busy", False), True
        try:
            work = [np.empty((min(rows, n),) + first.shape[1:], first.dtype)
                    for _ in range(scratch)]
            while (block := next(next_block)) < n_blocks:
                lo, hi = block * rows, min(block * rows + rows, n)
                views = [a[lo:hi] for a in arrays] + [w[: hi - lo] for w in work]
                results[block] = kernel(*views)
        finally:
            _local.busy = outer

    futures: list[Future] = []
    if workers > 1:
        pool = _get_pool(_threads - 1)
        for _ in range(workers - 1):
            try:
                futures.append(pool.submit(contextvars.copy_context().run, run))
            except RuntimeError:  # no thread can be started (process limits): fewer helpers
                break
    try:
        run()
    finally:
        # Every helper must finish before the caller sees its arrays, even when one failed.
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return results


def elementwise(kernel: Callable[..., Any], *arrays: np.ndarray, n_out: int = 1,
                scratch: int = 0) -> list[Any]:
    """``blockwise`` over flattened arrays of one shape: ``kernel(*arrays, *scratch)``.

    The first ``n_out`` arrays are the ones the kernel writes: they must be C-contiguous (arrays
    the op allocated), so that their flat views share memory with them. An input that is not
    C-contiguous is copied.
    """
    for a in arrays[:n_out]:
        if not a.flags.c_contiguous:
            raise ValueError("elementwise: output arrays must be C-contiguous")
    flat = [np.reshape(a, -1) for a in arrays]
    return blockwise(kernel, *flat, scratch=scratch)


@functools.lru_cache(maxsize=64)
def constant(value: float, dtype: np.dtype) -> np.ndarray:
    """A read-only 1-D array filled with ``value``, long enough for any 1-D block of ``dtype``.

    NumPy's minimum/maximum/clip run several times faster against an array than against a
    scalar, so elementwise kernels slice this instead: ``np.maximum(x, zeros[:x.size], out=o)``.
    """
    dtype = np.dtype(dtype)
    arr = np.full(max(1, BLOCK_BYTES // dtype.itemsize), value, dtype=dtype)
    arr.flags.writeable = False
    return arr
