"""Seeded draws that give the same problems on every machine and every Python version.

Python promises that ``random.Random(seed).random()`` produces the same sequence for an integer
seed across versions and platforms; it does not promise that for ``randint``, ``choice`` or
``uniform``. So :class:`Draw` takes nothing from ``random`` but ``random()`` and maps it to
integers itself (float arithmetic is IEEE 754 everywhere). NumPy's generators are not used: NumPy
allows their streams to change between releases. The seed of a problem is derived from a key
(the set's seed, the kind, the position) with SHA-256, so problem ``i`` of a set does not depend
on how many problems come after it.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_ATTEMPTS = 10_000


class Draw:
    """A reproducible stream of choices keyed by ``parts`` (e.g. ``(7, "neuron", 0)``)."""

    def __init__(self, *parts: object) -> None:
        key = "handgrad.practice/" + "/".join(str(p) for p in parts)
        seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        self._random = random.Random(seed)

    def uniform(self) -> float:
        """A float in [0, 1): the one draw every other draw is made from."""
        return self._random.random()

    def integer(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``, both ends included, each equally likely."""
        if high < low:
            raise ValueError(f"Draw.integer: high ({high}) is below low ({low})")
        return min(high, low + int(self.uniform() * (high - low + 1)))

    def choice(self, options: Sequence[T]) -> T:
        return options[self.integer(0, len(options) - 1)]

    def chance(self, probability: float) -> bool:
        return self.uniform() < probability

    def tenths(self, low: int, high: int, nonzero: bool = False) -> float:
        """A number with one decimal, ``k / 10`` for an integer ``k`` in ``[low, high]``."""
        for _ in range(MAX_ATTEMPTS):
            k = self.integer(low, high)
            if k or not nonzero:
                return k / 10
        raise exhausted("Draw.tenths")

    def distinct_integers(self, count: int, low: int, high: int) -> list[int]:
        """``count`` different integers in ``[low, high]``, in the order drawn."""
        if high - low + 1 < count:
            raise ValueError(f"Draw.distinct_integers: [{low}, {high}] has fewer than {count} "
                             f"integers")
        chosen: list[int] = []
        for _ in range(MAX_ATTEMPTS):
            if len(chosen) >= count:
                return chosen
            k = self.integer(low, high)
            if k not in chosen:
                chosen.append(k)
        raise exhausted("Draw.distinct_integers")

    def distinct_tenths(self, count: int, low: int, high: int) -> list[float]:
        """``count`` different numbers ``k / 10``, ``k`` an integer in ``[low, high]``."""
        return [k / 10 for k in self.distinct_integers(count, low, high)]


def exhausted(where: str) -> RuntimeError:
    """The error for a draw that found no acceptable numbers (a bug in the draw's constraints)."""
    return RuntimeError(f"{where}: no acceptable numbers in {MAX_ATTEMPTS} draws")
