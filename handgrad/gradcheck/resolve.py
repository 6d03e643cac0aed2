"""The op under check: what ``check_op`` was given, as callables, and how to call them.

:func:`resolve` turns a registry name, an :class:`~handgrad.gradcheck.registry.OpSpec`, a
module (or any object with ``forward`` and ``backward``) or a ``(forward, backward)`` pair into
an :class:`Op`; :func:`arg_names` names forward's positional arguments for the report;
:func:`fresh` gives each forward call its own copy of container arguments.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handgrad.gradcheck import registry
from handgrad.gradcheck.registry import OpSpec


@dataclass
class Op:
    name: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    spec: OpSpec | None
    arg_names: Sequence[str] | None


class OpLoadError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _spec_for_module(module_name: str | None) -> OpSpec | None:
    if not module_name:
        return None
    for spec in registry.REGISTRY.values():
        if spec.module == module_name and spec.forward == "forward":
            return spec
    return None


def resolve(op: Any) -> Op:
    """Turn a registry name, an OpSpec, a module (or any object with forward/backward) or a
    ``(forward, backward)`` pair into callables, plus the registry entry when there is one."""
    if isinstance(op, str):
        op = registry.get(op)
    if isinstance(op, OpSpec):
        try:
            forward, backward = op.functions()
        except (ImportError, AttributeError) as exc:
            raise OpLoadError(op.name, f"cannot load {op.module}.{op.forward}/{op.backward}: "
                                       f"{type(exc).__name__}: {exc}") from exc
        return Op(op.name, forward, backward, op, op.arg_names)
    if isinstance(op, tuple) and len(op) == 2 and all(map(callable, op)):
        forward, backward = op
        name = getattr(forward, "__module__", None) or "op"
        return Op(name.rsplit(".", 1)[-1], forward, backward, None, None)
    fwd, bwd = getattr(op, "forward", None), getattr(op, "backward", None)
    if not (callable(fwd) and callable(bwd)):
        raise TypeError(f"check_op: op must be a registry name, an OpSpec, a module with "
                        f"forward and backward, or a (forward, backward) pair; got {op!r}")
    module_name = getattr(op, "__name__", None)
    spec = _spec_for_module(module_name)
    name = spec.name if spec else (getattr(op, "name", None) or module_name or "op")
    return Op(str(name).rsplit(".", 1)[-1], fwd, bwd, spec,
              spec.arg_names if spec else None)


def arg_names(op: Op, n_args: int) -> list[str]:
    if op.arg_names is not None and len(op.arg_names) >= n_args:
        return list(op.arg_names[:n_args])
    names: list[str] = []
    try:
        params = inspect.signature(op.forward).parameters.values()
        names = [p.name for p in params
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        pass
    return [names[i] if i < len(names) else f"arg{i}" for i in range(n_args)]


def fresh(args: Sequence[Any]) -> list[Any]:
    """Arguments for one forward call: arrays as they are, containers (bn_param) copied, so
    that in-place updates of running statistics never leak from one call into the next."""
    return [copy.deepcopy(a) if isinstance(a, (Mapping, list)) else a for a in args]


def exception_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def display_name(op: Any) -> str:
    if isinstance(op, str):
        return op
    if isinstance(op, OpSpec):
        return op.name
    return str(getattr(op, "name", None) or getattr(op, "__name__", None) or "op")
