"""What a sandboxed worker may read, and which reads count as reading the reference.

The grader sends every worker three lists of real paths
(:class:`handgrad.grading.sandbox.guard.Guard` enforces them):

- ``protected``: the source files of the assignment's reference modules *as installed*
  (``importlib`` finds them, wherever handgrad lives). Opening one, or its bytecode, is
  refused and flagged for review. Other files that merely share a name (``affine.py`` in a
  submission or a stray copy) are not.
- ``deny``: folders a worker may neither list nor read: the grader's own folders (its
  workspace, the submissions, the results, the assignment), and, when handgrad is installed
  in editable mode, the whole repository it was installed from (tests, history, any copy of
  a reference). The repository is refused even when the interpreter lives inside it (a
  ``.venv`` in the checkout, as in a fresh clone): only the paths a worker needs are allowed
  back, never the repository itself.
- ``allow``: exceptions inside ``deny``: the installed package (a submission may import
  ``handgrad.validation``), and the interpreter's folders (standard library,
  ``site-packages``) that lie inside the repository.

So a submission that lists folders to find other people's files cannot wander into the
repository holding the reference, wherever it was cloned, while one that opens the installed
reference by name is flagged in every layout.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPOSITORY_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


@dataclass(frozen=True)
class FilePolicy:
    """Real paths: reference files to flag, folders to refuse, exceptions to the refusal."""

    protected: tuple[str, ...]
    deny: tuple[str, ...]
    allow: tuple[str, ...]


def reference_files(modules: Iterable[str]) -> list[str]:
    """The real paths of the installed sources of ``modules`` (those that are ``.py`` files)."""
    out = []
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            out.append(os.path.realpath(spec.origin))
    return out


def installed_package() -> Path:
    """The folder of the handgrad package this process imports."""
    spec = importlib.util.find_spec("handgrad")
    if spec is None or spec.origin is None:  # pragma: no cover - this module is part of it
        raise ImportError("cannot find the installed handgrad package")
    return Path(spec.origin).resolve().parent


def interpreter_paths() -> list[Path]:
    """Folders a worker's interpreter reads from: prefixes, standard library, site-packages."""
    scheme = sysconfig.get_paths()
    paths = [sys.prefix, sys.base_prefix, os.path.dirname(np.__file__)]
    paths += [scheme[n] for n in ("stdlib", "platstdlib", "purelib", "platlib") if n in scheme]
    return _unique(Path(p).resolve() for p in paths if p)


def repository_of(package: Path) -> Path | None:
    """The checkout an editable install runs from (the package's parent, if it is one)."""
    parent = package.parent
    if any((parent / marker).exists() for marker in REPOSITORY_MARKERS):
        return parent
    return None


def policy(modules: Iterable[str], *, deny: Sequence[str | Path] = (),
           package: Path | None = None, needed: Sequence[Path] | None = None) -> FilePolicy:
    """The worker's file policy for an assignment's reference ``modules``.

    ``deny`` are the grader's folders; ``package`` (default: the installed handgrad) and
    ``needed`` (default: :func:`interpreter_paths`) describe the installation.
    """
    package = (package or installed_package()).resolve()
    needed = interpreter_paths() if needed is None else [Path(p).resolve() for p in needed]
    refused = [Path(p).resolve() for p in deny]
    allowed = [package]
    repo = repository_of(package)
    if repo is not None:
        refused.append(repo)
        # what the interpreter needs from inside the checkout, never the checkout itself
        allowed += [p for p in needed if repo in p.parents]
    return FilePolicy(protected=tuple(reference_files(modules)),
                      deny=tuple(str(p) for p in _unique(refused)),
                      allow=tuple(str(p) for p in _unique(allowed)))


def _unique(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p not in out:
            out.append(p)
    return out
