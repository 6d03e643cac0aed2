"""Cache-sized blocks of rows, shared by the tuned normalization twins.

NumPy runs every expression as one pass over the whole array. On blocks of rows that fit in
the CPU's L2 cache, the passes after the first read their operands from the cache instead of
main memory, and scratch arrays stay small (one block, reused), which also spares the page
faults of allocating a fresh full-size temporary for every step. The blocks run one after the
other in the calling thread: on 2 cores, handing small blocks to a second thread cost more
than it gained at the sizes these layers see (see benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Iterator

BLOCK_BYTES = 256 * 1024   # per array and block: a few arrays of a block share the L2 cache


def row_blocks(n_rows: int, row_bytes: int, multiple: int = 1) -> Iterator[slice]:
    """Consecutive slices of rows covering ``range(n_rows)``, each about ``BLOCK_BYTES`` for
    rows of ``row_bytes`` bytes, and each a multiple of ``multiple`` rows (but the last)."""
    rows = max(1, BLOCK_BYTES // max(row_bytes, 1))
    rows = max(multiple, rows // multiple * multiple)
    for lo in range(0, n_rows, rows):
        yield slice(lo, min(n_rows, lo + rows))


def block_rows(n_rows: int, row_bytes: int, multiple: int = 1) -> int:
    """The number of rows in the first block of :func:`row_blocks` (for sizing scratch)."""
    return next(row_blocks(n_rows, row_bytes, multiple)).stop if n_rows else 0
