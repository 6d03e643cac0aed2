"""Assignment specs: what an assignment stubs, how each stub is checked, and its points.

An assignment is a folder ``assignments/NAME/`` holding ``assignment.toml`` and a Markdown
handout. The TOML looks like this::

    name = "backprop-basics"
    title = "Backpropagation basics"
    handout = "handout.md"

    [defaults]            # optional; these are the built-in defaults
    timeout = 20.0        # wall-clock seconds per check, in the worker
    tolerance = 1e-6      # max relative error that passes
    hidden_seeds = 3      # hidden checks drawn per function from the run's secret seed

    [[check]]
    id = "affine_backward"                     # gradebook column, unique
    target = "handgrad.layers.affine:backward" # the stubbed function, module:name
    kind = "backward"                          # "backward": gradient check of a registry op
    op = "affine"                              # registry op (kind = "backward")
    points = 2
    public_seeds = [0, 1]                      # public checks: fixed seeds ...
    public_dims = [{N = 4, D = 5, M = 3}]      # ... at these sizes (registry defaults if absent)
    hidden_dims = [{N = 7, D = 2, M = 6}]      # hidden checks: sizes the public ones do not use

    [[check]]
    id = "clip_grad_norm"
    target = "handgrad.optim.clipping:clip_grad_norm"
    kind = "function"                          # outputs compared with the reference's
    inputs = "handgrad.grading.authoring.inputs:clip_grad_norm"  # maker(rng, dims) -> args, kwargs
    points = 1

A check's ``module`` (the part of ``target`` before the colon) is the reference file that the
starter stubs. Every function of that module with solution markers must be accounted for, so
that no region is stubbed or kept by accident: either it is the target of a check (its regions
become ``raise NotImplementedError(...)``) or it is listed in the top-level ``keep`` list (its
regions stay as reference code in the starter, marker lines removed)::

    keep = [                                    # functions given to students as reference code
        "handgrad.losses.huber:forward",        # "package.module:function", module of a target
    ]

A check may also carry ``hint = "..."``: the one-line hint of its stub in the starter, replacing
the hint on the function's ``# BEGIN SOLUTION hint: ...`` line for this assignment. Two checks
of one function (e.g. train and test mode of batchnorm) may both target it; give its hint once.

The starter also gets ``handout.ipynb``, a notebook made from the handout (see
:mod:`handgrad.grading.authoring.handout_notebook`): the handout's sections as Markdown cells and,
after the section whose heading names a stubbed function's file or the function in backticks
(``### 3.2 ReLU (`relu.py`, 1 point)``, ``### 2.2 One step backward (`step_backward`)``), cells
that check that function, run the gradient checker on the student's module and draw what the
op is known for (a saturated sigmoid or tanh, a dead ReLU). A function no heading names gets
its cells at the end. An optional ``[notebook]`` table adds the assignment's own cells::

    [notebook]
    cells = "notebook.py"       # extra cells, in the "percent" format: a line "# %%" opens a
                                # code cell, "# %% [markdown]" a Markdown cell whose lines
                                # start with "# "; anything before the first "# %%" is ignored
    after = "4"                 # the handout section they follow: its number or its title
                                # (default: the end, before the final check of everything)
    install = "handgrad==0.1.0" # what the notebook pip-installs where handgrad is missing
                                # (Colab); default: this handgrad's version

The ``assignment.toml`` that ``handgrad assign`` writes into a student starter is this file's
public part only: no ``hidden_dims``, ``hidden_seeds``, ``keep`` or ``hint``, with each check's
values written out (see :func:`handgrad.grading.authoring.starter.student_toml`).

The student file of a check's module is its last component (:func:`student_filename`:
``handgrad.layers.affine`` -> ``affine.py``, never a package path, so it cannot shadow the
installed ``handgrad``); :func:`student_files` maps every module of an assignment to its file
and raises :class:`SpecError` when two would share a name.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KINDS = ("backward", "function")


class SpecError(ValueError):
    """An assignment.toml that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Check:
    id: str
    target: str                       # "package.module:function"
    kind: str                         # one of KINDS
    points: float
    op: str | None = None             # registry op name, for kind == "backward"
    inputs: str | None = None         # "package.module:maker", for kind == "function"
    public_seeds: tuple[int, ...] = (0,)
    public_dims: tuple[Mapping[str, int], ...] = ()
    hidden_dims: tuple[Mapping[str, int], ...] = ()
    hidden_seeds: int = 3
    tolerance: float = 1e-6
    timeout: float = 20.0
    hint: str | None = None           # overrides the marker's hint in the starter

    @property
    def module(self) -> str:
        return self.target.split(":", 1)[0]

    @property
    def function(self) -> str:
        return self.target.split(":", 1)[1]


@dataclass(frozen=True)
class NotebookSpec:
    """The ``[notebook]`` table: the assignment's own cells and where they go."""

    cells: Path | None = None         # the percent-format file of extra cells
    after: str | None = None          # the handout section they follow (None: the end)
    install: str | None = None        # the pip requirement for handgrad (None: this version)


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    folder: Path
    handout: Path
    checks: tuple[Check, ...] = field(default_factory=tuple)
    keep: tuple[str, ...] = ()        # "module:function" whose regions stay as reference code
    notebook: NotebookSpec = field(default_factory=NotebookSpec)

    @property
    def points(self) -> float:
        return float(sum(c.points for c in self.checks))

    @property
    def modules(self) -> tuple[str, ...]:
        """Reference modules that the starter stubs, in first-use order."""
        return tuple(dict.fromkeys(c.module for c in self.checks))


def load(folder: str | Path) -> Assignment:
    """Read and validate ``folder/assignment.toml``."""
    folder = Path(folder)
    path = folder / "assignment.toml"
    if not path.is_file():
        raise SpecError(f"assignment: {path} not found; an assignment folder holds "
                        f"assignment.toml and its handout")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, folder, source=str(path))


def parse(raw: Mapping[str, Any], folder: Path, source: str = "assignment.toml") -> Assignment:
    def need(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
        if key not in table:
            raise SpecError(f"{source}: {where} is missing the key {key!r}")
        value = table[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise SpecError(f"{source}: {where}.{key} must be {_kind_name(kind)}, "
                            f"got {value!r}")
        return value

    name = need(raw, "name", str, "the top level")
    title = raw.get("title", name)
    handout = folder / need(raw, "handout", str, "the top level")
    defaults = raw.get("defaults", {})
    unknown = set(defaults) - {"timeout", "tolerance", "hidden_seeds"}
    if unknown:
        raise SpecError(f"{source}: [defaults] has unknown keys {sorted(unknown)}")
    checks = []
    for i, table in enumerate(raw.get("check", [])):
        where = f"check #{i + 1}"
        cid = need(table, "id", str, where)
        where = f"check {cid!r}"
        target = need(table, "target", str, where)
        if target.count(":") != 1:
            raise SpecError(f"{source}: {where}.target must look like 'package.module:function', "
                            f"got {target!r}")
        kind = need(table, "kind", str, where)
        if kind not in KINDS:
            raise SpecError(f"{source}: {where}.kind must be one of {KINDS}, got {kind!r}")
        known = {"id", "target", "kind", "points", "op", "inputs", "public_seeds",
                 "public_dims", "hidden_dims", "hidden_seeds", "tolerance", "timeout", "hint"}
        if set(table) - known:
            raise SpecError(f"{source}: {where} has unknown keys {sorted(set(table) - known)}")
        checks.append(Check(
            id=cid, target=target, kind=kind,
            points=float(need(table, "points", (int, float), where)),
            op=need(table, "op", str, where) if kind == "backward" else None,
            inputs=need(table, "inputs", str, where) if kind == "function" else None,
            public_seeds=tuple(table.get("public_seeds", (0,))),
            public_dims=tuple(table.get("public_dims", ())),
            hidden_dims=tuple(table.get("hidden_dims", ())),
            hidden_seeds=int(table.get("hidden_seeds", defaults.get("hidden_seeds", 3))),
            tolerance=float(table.get("tolerance", defaults.get("tolerance", 1e-6))),
            timeout=float(table.get("timeout", defaults.get("timeout", 20.0))),
            hint=need(table, "hint", str, where) if "hint" in table else None,
        ))
    if not checks:
        raise SpecError(f"{source}: no [[check]] tables; an assignment needs at least one")
    ids = [c.id for c in checks]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SpecError(f"{source}: check ids must be unique, repeated: {dupes}")
    keep = raw.get("keep", [])
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        raise SpecError(f"{source}: keep must be a list of 'package.module:function' strings, "
                        f"got {keep!r}")
    modules = {c.module for c in checks}
    targets = {c.target for c in checks}
    for entry in keep:
        if entry.count(":") != 1:
            raise SpecError(f"{source}: keep entry {entry!r} must look like "
                            f"'package.module:function'")
        if entry.split(":", 1)[0] not in modules:
            raise SpecError(f"{source}: keep entry {entry!r} names a module that no check "
                            f"targets; keep only applies to the modules the starter stubs")
        if entry in targets:
            raise SpecError(f"{source}: {entry!r} is both a check target and in keep")
    unknown = set(raw) - {"name", "title", "handout", "defaults", "check", "keep", "notebook"}
    if unknown:
        raise SpecError(f"{source}: unknown top-level keys {sorted(unknown)}")
    return Assignment(name=name, title=title, folder=folder, handout=handout,
                      checks=tuple(checks), keep=tuple(keep),
                      notebook=_notebook(raw.get("notebook", {}), folder, source, need))


def _notebook(table: Any, folder: Path, source: str, need: Any) -> NotebookSpec:
    if not isinstance(table, Mapping):
        raise SpecError(f"{source}: notebook must be a table ([notebook]), got {table!r}")
    unknown = set(table) - {"cells", "after", "install"}
    if unknown:
        raise SpecError(f"{source}: [notebook] has unknown keys {sorted(unknown)}; it takes "
                        f"cells, after and install")
    values = {key: need(table, key, str, "[notebook]") for key in table}
    cells = folder / values["cells"] if "cells" in values else None
    if cells is not None and not cells.is_file():
        raise SpecError(f"{source}: [notebook].cells names {cells}, which is not a file")
    return NotebookSpec(cells=cells, after=values.get("after"), install=values.get("install"))


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({"str": "a string", "int": "an integer", "float": "a number"}
                       .get(k.__name__, k.__name__) for k in kinds)


def student_filename(module: str) -> str:
    """The student's file for a reference module: ``handgrad.layers.affine`` -> ``affine.py``."""
    return module.rsplit(".", 1)[-1] + ".py"


def student_files(assignment: Assignment) -> dict[str, str]:
    """``{module: filename}`` for every module of the assignment; names must be unique."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for module in assignment.modules:
        name = student_filename(module)
        if name in seen:
            raise SpecError(f"{assignment.name}: {seen[name]} and {module} would both be {name} "
                            f"in a submission; an assignment's modules need distinct last "
                            f"components")
        seen[name] = module
        out[module] = name
    return out
