"""Builds of handgrad that hold no reference solution.

Two builds, from the installed package's sources:

- :func:`build_sandbox` (``handgrad grade``): what a sandboxed worker imports, mounted
  read-only at ``/hg/lib/handgrad`` (see :mod:`handgrad.grading.sandbox.bwrap`): the
  package's top, the validation helpers a student module may import, ``grading/sandbox``,
  and the ``layers``, ``losses`` and ``optim/clipping.py`` modules a student module may build
  on, with every solution region stubbed (a layer that builds on a library layer gets a
  ``NotImplementedError`` there, as it would be flagged for importing a reference anyway). Nothing
  else of handgrad is in the sandbox (not the fast kernels, ``gradcheck``, the practice
  answers or the grader), so no route, Python or native, reaches the assignment's answers.
- :func:`build_student` (``handgrad assign``, the student's ``handgrad check``): the whole
  package with every solution region of every module stubbed (``raise
  NotImplementedError``), every derivation region replaced by its pointer to the handout,
  and without the folders that compute answers outside any region (:data:`ANSWER_FOLDERS`:
  the fast kernels, the practice answers). ``handgrad check``, the notebook helpers and the
  data loaders keep working; a layer that is not stubbed in an assignment but needs a
  stubbed function raises ``NotImplementedError`` where it is used.

Both refuse to finish if a line of a solution region is still anywhere in the build
(:func:`leaks`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Iterable
from pathlib import Path

from handgrad.grading.authoring import derivations, markers

SANDBOX_FILES = ("__init__.py", "_exports.py", "_validation.py", "validation.py", "_blocks.py",
                 "grading/__init__.py", "grading/sandbox", "layers", "losses",
                 "optim/clipping.py")
ANSWER_FOLDERS = ("fast", "practice")
SKIP_NAMES = ("__pycache__",)
TOOLING = ("grading", "commands")   # they document the markers; they hold no answers


class SolutionFreeError(RuntimeError):
    """A build would hold a reference solution."""


def package_root() -> Path:
    """The folder of the installed handgrad package (the sources both builds start from)."""
    import handgrad

    return Path(handgrad.__file__).resolve().parent


def _python_files(root: Path) -> Iterable[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_NAMES)
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(folder) / name


def solution_lines(root: Path | None = None, only: Collection[Path] | None = None) -> set[str]:
    """Every line (normalized) of a solution region in the package's sources (in the files
    ``only``, if given) that is not also code outside every region (a line the package shows
    anyway is no secret)."""
    root = root or package_root()
    inside: set[str] = set()
    shown: set[str] = set()
    for path in _python_files(root):
        source = path.read_text(encoding="utf-8")
        found = markers.regions(source, path) if "BEGIN SOLUTION" in source else []
        for region in found:
            if only is None or path in only:
                inside.update(markers.normalize(s) for s in region.solution_lines)
        shown.update(markers.normalize(s) for s in markers.outside(source, found).splitlines())
    return {line for line in inside - shown if len(line) >= 12}


def leaks(build: Path, secret: set[str]) -> list[str]:
    """``file:line`` of each line of ``build`` that is a solution line."""
    found = []
    for path in _python_files(build):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if markers.normalize(line) in secret:
                found.append(f"{path.relative_to(build)}:{i}")
    return found


def _stripped(path: Path, stub: Collection[Path] | None) -> str:
    source = path.read_text(encoding="utf-8")
    if "BEGIN SOLUTION" in source and (stub is None or path in stub):
        source = markers.strip(source, path)
    if derivations.BEGIN in source:
        source = derivations.strip(source, path)
    return source


def _copy_stripped(src: Path, dst: Path, root: Path,
                   stub: Collection[Path] | None = None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tooling = src.relative_to(root).parts[0] in TOOLING
    if src.suffix == ".py" and not tooling:
        dst.write_text(_stripped(src, stub), encoding="utf-8")
    else:
        shutil.copyfile(src, dst)


def _check(build: Path, root: Path, only: Collection[Path] | None = None) -> Path:
    found = leaks(build, solution_lines(root, only))
    if found:
        raise SolutionFreeError("the solution-free build still holds reference code at "
                                + ", ".join(found[:5]))
    return build


def build_sandbox(dest: str | Path, root: Path | None = None) -> Path:
    """Write the sandbox's handgrad into ``dest`` (created; must not exist) with every
    solution region stubbed; its path."""
    root = (root or package_root()).resolve()
    dest = Path(dest)
    dest.mkdir(parents=True)
    for entry in SANDBOX_FILES:
        src = root / entry
        if src.is_dir():
            for path in _python_files(src):
                _copy_stripped(path, dest / path.relative_to(root), root)
        elif src.is_file():
            _copy_stripped(src, dest / entry, root)
    for folder, _dirs, _files in os.walk(dest):
        init = Path(folder) / "__init__.py"
        if not init.exists():
            init.write_text("")
    return _check(dest, root)


def build_student(dest: str | Path, root: Path | None = None) -> Path:
    """Write the student's solution-free handgrad package into ``dest`` (must not exist)."""
    root = (root or package_root()).resolve()
    dest = Path(dest)
    dest.mkdir(parents=True)
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_NAMES
                         and not (rel == Path(".") and d in ANSWER_FOLDERS))
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            _copy_stripped(Path(folder) / name, dest / rel / name, root)
    return _check(dest, root)


STUDENT_PYPROJECT = """\
# The solution-free handgrad of an assignment (written by `handgrad assign --package`):
# `pip install .` here gives `handgrad check`, the notebook helpers and the data, without
# any reference solution.
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "handgrad"
version = "{version}"
description = "handgrad for students: the library without its reference solutions"
requires-python = ">=3.10"
dependencies = [
    "numpy>=1.24",
    "matplotlib>=3.6",
    "tqdm>=4.60",
    "threadpoolctl>=3.1",
    "tomli>=1.1; python_version < '3.11'",
]

[project.scripts]
handgrad = "handgrad.cli:main"

[tool.setuptools.packages.find]
include = ["handgrad*"]

[tool.setuptools.package-data]
"handgrad" = ["**/*.gz", "**/*.txt", "**/*.md", "**/*.json", "**/*.toml"]
"""


def write_student_package(out: str | Path, root: Path | None = None) -> Path:
    """Write an installable source tree of the student's build into ``out`` (must not exist
    or be empty): ``out/pyproject.toml`` and ``out/handgrad/``; its path."""
    from handgrad import __version__

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SolutionFreeError(f"write_student_package: {out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    build_student(out / "handgrad", root)
    (out / "pyproject.toml").write_text(STUDENT_PYPROJECT.format(version=__version__),
                                        encoding="utf-8")
    return out
