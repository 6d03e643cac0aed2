"""Ops with several outputs, seen by the checker as ops with one.

``lstm.step_forward`` returns ``(next_h, next_c, cache)`` and ``lstm.step_backward`` takes
``(dnext_h, dnext_c, cache)``, as in CS231n. A registry entry that names its outputs
(``outputs=("next_h", "next_c")``) is checked through :func:`packed`: the outputs side by side
along their last axis form the single output ``out``, and the upstream gradient of ``out`` is
cut back into one piece per output before it reaches the op's backward. The batch stays the
first axis, so every check that slices examples works unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np


class PackedCache(NamedTuple):
    cache: Any                 # the op's own cache
    widths: tuple[int, ...]    # last-axis size of each output, in order


def packed(forward: Callable[..., Any], backward: Callable[..., Any], count: int
           ) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(forward, backward)`` of an op with ``count`` outputs, as an op with one."""

    @functools.wraps(forward)
    def forward_packed(*args: Any, **kwargs: Any) -> tuple[np.ndarray, PackedCache]:
        result = forward(*args, **kwargs)
        if not isinstance(result, tuple) or len(result) != count + 1:
            raise TypeError(f"{getattr(forward, '__name__', 'forward')} must return {count} "
                            f"outputs and a cache, got "
                            f"{len(result) if isinstance(result, tuple) else type(result).__name__}"
                            f"{' values' if isinstance(result, tuple) else ''}")
        *outs, cache = result
        widths = tuple(int(np.shape(o)[-1]) for o in outs)
        return np.concatenate(outs, axis=-1), PackedCache(cache, widths)

    @functools.wraps(backward)
    def backward_packed(dout: np.ndarray, cache: PackedCache) -> Any:
        pieces = np.split(dout, np.cumsum(cache.widths)[:-1], axis=-1)
        return backward(*pieces, cache.cache)

    return forward_packed, backward_packed
