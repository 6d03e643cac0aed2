"""A fast, shallow ``dataclasses.asdict`` for the detectors' flat result classes."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def plain(obj: Any) -> dict[str, Any]:
    """``{field: value}`` with list and dict values copied one level deep (the results hold
    only numbers, strings, and flat lists and dicts of them, so this is a full copy)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, list):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        out[f.name] = value
    return out
