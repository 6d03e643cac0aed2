"""Run an op on slices of its batch at the same time, one slice per thread, BLAS on one thread.

NumPy's BLAS (OpenBLAS, MKL) spreads each large matrix product over the cores by itself, and
OpenBLAS's worker threads keep spinning for about a tenth of a second after every product, so
NumPy work that follows on other threads of our own finds the cores taken. An op whose work is
independent across the examples of a batch (attention over sequences, a recurrent layer over
its batch rows) instead gives a contiguous slice of the batch to each thread and runs the whole
computation there, matrix products included, while BLAS is limited to one thread
(``threadpoolctl``): every core then runs its slice from start to end, and nothing spins.

The slices depend only on the batch size and the number of threads
(:func:`handgrad.fast._blocks.get_num_threads`, ``HANDGRAD_NUM_THREADS``); the same call gives the
same slices, so results are reproducible bit for bit. Sums over the batch (weight gradients)
are formed per slice and added in slice order by the caller. Without ``threadpoolctl``, or
inside a slice already, there is one slice and BLAS keeps its own threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from handgrad.fast._blocks import get_num_threads

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # optional: without it every op runs as one slice
    ThreadpoolController = None

R = TypeVar("R")

_lock = threading.Lock()
_local = threading.local()
_state: dict[str, Any] = {"pool": None, "key": None, "controller": None}


def _controller() -> Any:
    if ThreadpoolController is None:
        return None
    with _lock:
        if _state["controller"] is None:
            _state["controller"] = ThreadpoolController()
        return _state["controller"]


def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads, made again after a fork (threads do not survive it)."""
    key = (os.getpid(), workers)
    with _lock:
        if _state["key"] != key:
            old = _state["pool"]
            if old is not None and _state["key"][0] == key[0]:
                old.shutdown(wait=False)
            _state["pool"] = ThreadPoolExecutor(max_workers=workers,
                                                thread_name_prefix="handgrad-part")
            _state["key"] = key
        return _state["pool"]


def batch_slices(n: int, min_size: int) -> list[slice]:
    """Contiguous slices covering range(n), one per thread, each at least ``min_size`` long
    (a single slice when the batch is small, threads are off or threadpoolctl is missing)."""
    parts = min(get_num_threads(), n // max(min_size, 1))
    if parts < 2 or ThreadpoolController is None or getattr(_local, "busy", False):
        return [slice(0, n)]
    bounds = [n * k // parts for k in range(parts + 1)]
    return [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def map_slices(fn: Callable[[slice], R], slices: list[slice]) -> list[R]:
    """``[fn(s) for s in slices]``, the slices on separate threads with BLAS on one thread.

    ``fn`` must write only to its own slice of any shared array. Every thread has finished
    before this returns, also when one of them raised (the first error is raised again).
    """
    if len(slices) == 1:
        return [fn(slices[0])]
    controller = _controller()

    def run(s: slice) -> R:
        _local.busy = True                              # no slices within a slice
        try:
            return fn(s)
        finally:
            _local.busy = False

    with controller.limit(limits=1, user_api="blas"):
        pool = _pool(get_num_threads() - 1)
        futures: list[Future] = [pool.submit(run, s) for s in slices[1:]]
        try:
            first = run(slices[0])
        finally:
            errors = [f.exception() for f in futures]    # wait for every helper
    for error in errors:
        if error is not None:
            raise error
    return [first, *(f.result() for f in futures)]
