"""The ``handgrad`` subcommands, one module each: ``gradcheck``, ``diagnose``, ``assign``,
``check``, ``grade`` and ``practice`` (``train`` still lives in :mod:`handgrad.models.command`).

A command module is a thin layer over the library's public API: ``add_arguments(parser)``
declares its options, ``run(args) -> int`` calls the library, prints and returns the exit
code. :mod:`handgrad.cli` imports every command module to build its parser, so each keeps its
heavy imports (the registry, the Solver, the grader, matplotlib) inside ``run``. The library
packages never import from here.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports, public_submodules

_WHERE = public_submodules(__path__)
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
