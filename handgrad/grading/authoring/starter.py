"""Build a student starter from an assignment: stubbed modules, handout, spec and README.

For every module that a check targets, the reference source is read from the installed
``handgrad`` and its solution regions are handled one function at a time: the regions of a
check's target become ``raise NotImplementedError(...)``, the regions of a function listed in
the assignment's ``keep`` stay as reference code, and any other marked function is an error
(a region nobody listed would otherwise be stubbed, or kept, silently). The starter folder
holds::

    <module>.py        one per stubbed module, named by the module's last component
    handout.md         the assignment's handout
    handout.ipynb      the handout as a notebook, with cells that check each function
                       (see :mod:`handgrad.grading.authoring.handout_notebook`)
    assignment.toml    the spec with the public checks only (no hidden sizes or seed counts)
    README.md          how to check your work and what to hand in

The docstrings' derivation regions (:mod:`handgrad.grading.authoring.derivations`) become a pointer
to the handout. Before anything is written, every file is scanned for the stubbed functions'
solution lines and the derivations, and every stub's hint for a formula
(:mod:`handgrad.grading.authoring.leakcheck`); one hit aborts the build, naming the file and the
line.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from handgrad.grading.authoring import derivations, handout_notebook, ipynb, leakcheck, markers
from handgrad.grading.authoring.spec import (
    Assignment,
    Check,
    SpecError,
    student_filename,
    student_files,
)


class StarterError(ValueError):
    """The assignment cannot be turned into a starter; the message says why and where."""


@dataclass(frozen=True)
class StubbedModule:
    module: str                  # dotted name, e.g. "handgrad.layers.affine"
    origin: Path                 # the reference source file
    filename: str                # name in the starter, e.g. "affine.py"
    source: str                  # the reference source
    stubbed: str                 # the starter's version
    stubbed_functions: tuple[str, ...]
    kept_functions: tuple[str, ...]
    regions: tuple[markers.Region, ...]   # the stubbed regions only
    derivations: tuple[derivations.Derivation, ...]   # the docstrings' derivation regions
    hints: dict[str, str]        # function -> the hint its stub shows


def module_source(module: str) -> tuple[Path, str]:
    """Locate and read the reference source of ``module`` without importing it."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise StarterError(f"cannot locate module {module!r}: {exc}") from None
    if found is None or not found.origin or not found.origin.endswith(".py"):
        raise StarterError(f"cannot locate the source of module {module!r}; check targets "
                           f"must name modules of the installed handgrad")
    origin = Path(found.origin)
    return origin, origin.read_text(encoding="utf-8")


def stub_module(module: str, checks: list[Check], keep: list[str]) -> StubbedModule:
    """Stub the targets of ``checks`` (all in ``module``); keep the functions in ``keep``."""
    origin, source = module_source(module)
    regions = markers.regions(source, origin)
    targets = {c.function: c for c in checks}
    by_function: dict[str | None, list[markers.Region]] = {}
    for region in regions:
        by_function.setdefault(region.function, []).append(region)
    if None in by_function:
        line = by_function[None][0].begin
        raise StarterError(f"{origin}:{line}: a solution region outside any function; "
                           f"regions must sit inside the function they implement")
    for function, found in by_function.items():
        if function not in targets and function not in keep:
            raise StarterError(
                f"{origin}:{found[0].begin}: {module}:{function} has a solution region but is "
                f"neither a check target nor listed in keep; add a [[check]] for it, or add "
                f"\"{module}:{function}\" to keep to give students the reference code")
    for function, check in targets.items():
        if function not in by_function:
            raise StarterError(f"check {check.id!r}: {module}:{function} has no solution "
                               f"region in {origin}; there is nothing to stub")
    for function in keep:
        if function not in by_function:
            raise StarterError(f"keep entry \"{module}:{function}\": the function has no "
                               f"solution region in {origin}; remove it from keep")
    hints: dict[str, str] = {}
    for c in checks:
        if c.hint and hints.setdefault(c.function, c.hint) != c.hint:
            raise StarterError(f"checks of {module}:{c.function} give different hints; give "
                               f"the hint once, on one of them")
    stubbed_regions = [r for r in regions if r.function in targets]
    shown = {r.function: hints.get(r.function or "", r.hint) or markers.DEFAULT_HINT
             for r in stubbed_regions if r.function}
    hinted = {c.function: c.id for c in checks if c.hint}
    problems = []
    for region in stubbed_regions:
        problem = leakcheck.formula_in_hint(shown[region.function or ""], region.solution_lines)
        if problem:
            where = (f"assignment.toml, check {hinted[region.function]!r}"
                     if region.function in hints else f"{origin}:{region.begin}")
            problems.append(f"{where}: the hint for {module}:{region.function} {problem}")
    if problems:
        raise StarterError("\n".join(problems) + "\n(a hint says what to differentiate, which "
                           "cached value to use or what shape to return, and leaves the "
                           "formula to the student)")
    derivation_regions = derivations.find(source, origin)
    stubbed = markers.strip(source, origin, stub=set(targets), hints=hints)
    stubbed = derivations.strip(stubbed, origin)
    tree = ast.parse(stubbed)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise StarterError(f"{origin}:{node.lineno}: a relative import cannot work in the "
                               f"student's folder; import from handgrad by absolute name")
    return StubbedModule(
        module=module, origin=origin, filename=student_filename(module), source=source,
        stubbed=stubbed, stubbed_functions=tuple(targets), kept_functions=tuple(keep),
        regions=tuple(stubbed_regions), derivations=tuple(derivation_regions), hints=shown)


def stub_modules(assignment: Assignment) -> list[StubbedModule]:
    """Stub every module of the assignment, checking that file names are unique."""
    try:
        student_files(assignment)
    except SpecError as exc:
        raise StarterError(str(exc)) from None
    out = []
    for module in assignment.modules:
        checks = [c for c in assignment.checks if c.module == module]
        keep = [k.split(":", 1)[1] for k in assignment.keep if k.split(":", 1)[0] == module]
        out.append(stub_module(module, checks, keep))
    return out


def student_toml(assignment: Assignment) -> str:
    """The spec students receive: public checks only, no hidden sizes or seed counts."""
    lines = [
        "# The public checks that `handgrad check` runs on this folder.",
        "# The grader also runs hidden checks at other sizes and seeds.",
        f"name = {_toml(assignment.name)}",
        f"title = {_toml(assignment.title)}",
        'handout = "handout.md"',
    ]
    for c in assignment.checks:
        lines += ["", "[[check]]", f"id = {_toml(c.id)}", f"target = {_toml(c.target)}",
                  f"kind = {_toml(c.kind)}", f"points = {_toml(c.points)}"]
        if c.op is not None:
            lines.append(f"op = {_toml(c.op)}")
        if c.inputs is not None:
            lines.append(f"inputs = {_toml(c.inputs)}")
        lines.append(f"public_seeds = {_toml(list(c.public_seeds))}")
        if c.public_dims:
            lines.append(f"public_dims = {_toml(list(c.public_dims))}")
        lines += [f"tolerance = {_toml(c.tolerance)}", f"timeout = {_toml(c.timeout)}"]
    return "\n".join(lines) + "\n"


# How a check's points are earned (the README says it under the table; so do the handouts).
POINTS_RULE = (
    "How points are earned: each check's points are split in two halves, one for its public",
    "draws (the ones `handgrad check` runs) and one for the grader's hidden draws. A half is",
    "earned only when every one of its draws passes, and a draw of a backward pass checks",
    "everything at once: the values of every gradient, float32 inputs giving float32",
    "gradients, a size of 1 on each axis, a zero `dout` giving zero gradients, the same",
    "answer when backward runs again, and nothing modified in place (`dout`, the inputs, the",
    "cache). There is no partial credit within a half.",
)


def readme(assignment: Assignment, modules: list[StubbedModule]) -> str:
    """A short README for the starter folder."""
    example = modules[0].filename[:-3] if modules else "NAME"
    rows = []
    for m in modules:
        for function in m.stubbed_functions:
            points = sum(c.points for c in assignment.checks
                         if c.module == m.module and c.function == function)
            rows.append(f"| `{m.filename}` | `{function}` | {points_text(points)} |")
    return "\n".join([
        f"# {assignment.title}",
        "",
        "Read `handout.md` first: it has the math and the order to work in.",
        "",
        "## What to write",
        "",
        "Each function below raises `NotImplementedError` where your code goes. Replace the",
        "`# YOUR CODE HERE` line and the `raise` under it with your code; leave the rest of",
        "the file (argument checks, unpacking the cache, the `return`) as it is.",
        "",
        "| file | function | points |",
        "|---|---|---|",
        *rows,
        f"| | **total** | **{points_text(assignment.points)}** |",
        "",
        *POINTS_RULE,
        "",
        "## Check your work",
        "",
        "From this folder run",
        "",
        "```",
        "handgrad check",
        "```",
        "",
        "(or `handgrad check PATH/TO/THIS/FOLDER` from elsewhere; add names to check only",
        f"some functions: `handgrad check {example}` checks `{example}.py`). It runs the",
        "public checks:",
        "for each function, whether it passes, the largest relative error against a numerical",
        "gradient, the worst entry, a hint when something is off, and the points. It exits",
        "with status 0 only when everything passes. The grader runs the same checks plus",
        "hidden ones at other sizes and seeds, so a gradient that only works for the public",
        "shapes will lose points.",
        "",
        "## Work in a notebook (Jupyter or Colab)",
        "",
        "`handout.ipynb` is the handout as a notebook, with cells after each section that",
        "check the function it asks for (`check(\"...\")` prints the same table as",
        "`handgrad check`), run the gradient checker on your module and draw what goes",
        "wrong when gradients leak. You still write and hand in the `.py` files; every cell",
        "reads them again, so save a file and re-run its cells.",
        "",
        "- Jupyter: run `jupyter lab` in this folder (with handgrad installed in the same",
        "  environment) and open `handout.ipynb`.",
        "- Colab: upload `handout.ipynb` (File, Upload notebook), then this folder's other",
        "  files with the Files panel (or mount Google Drive and `%cd` into the folder); the",
        "  notebook's first cell installs handgrad if it is missing. Download your `.py`",
        "  files before the runtime is recycled.",
        "",
        "## What to hand in",
        "",
        "These files, with these names, as they are in this folder (the folder itself, or a",
        "`.zip` of the files):",
        "",
        *[f"- `{m.filename}`" for m in modules],
        "",
        "Do not import handgrad's reference implementation of a function you write: the",
        "grader flags that and gives zero for the function. NumPy and the helpers that each",
        "file already imports are fine.",
        "",
    ])


def build(assignment: Assignment) -> tuple[dict[str, str], list[StubbedModule]]:
    """Every file of the starter as ``{name: text}``, verified free of solution lines."""
    modules = stub_modules(assignment)
    if not assignment.handout.is_file():
        raise StarterError(f"handout {assignment.handout} not found")
    files = {m.filename: m.stubbed for m in modules}
    reserved = {"handout.md", "handout.ipynb", "assignment.toml", "README.md"} & set(files)
    if reserved:
        raise StarterError(f"a stubbed module would overwrite {sorted(reserved)}")
    files["handout.md"] = assignment.handout.read_text(encoding="utf-8")
    files["assignment.toml"] = student_toml(assignment)
    files["README.md"] = readme(assignment, modules)
    try:
        notebook = handout_notebook.build(assignment, modules, files["handout.md"])
    except handout_notebook.NotebookError as exc:
        raise StarterError(str(exc)) from None
    files["handout.ipynb"] = ipynb.dumps(notebook)
    problems = find_leaks(modules, {**files, **handout_notebook.cell_texts(notebook)})
    if problems:
        raise StarterError("the starter would hand students what they are asked to write:\n" +
                           "\n".join(f"  {p}" for p in problems))
    return files, modules


def find_leaks(modules: list[StubbedModule], files: Mapping[str, str]) -> list[str]:
    """``"file:line: ..."`` for every secret of the stubbed modules found in ``files``.

    The secrets are the code lines of the stubbed solution regions and the lines of the
    docstrings' derivation regions (see :mod:`handgrad.grading.authoring.leakcheck` for how text is
    compared). A line the reference also has outside those regions (a kept function, the
    validation code, the forward math) is shown to students anyway and is not counted.
    """
    secrets = leakcheck.Secrets()
    for m in modules:
        name = m.origin.name
        for region in m.regions:
            for lineno, line in enumerate(region.body, start=region.begin + 1):
                if markers.is_solution_line(line):
                    secrets.add(line, f"{name}:{lineno}, reference code of "
                                      f"{m.module}:{region.function}", code=True)
        for derivation in m.derivations:
            for lineno, line in enumerate(derivation.body, start=derivation.begin + 1):
                secrets.add(line, f"{name}:{lineno}, the derivation in {m.module}'s docstring")
        shown = derivations.outside(markers.outside(m.source, m.regions), list(m.derivations))
        secrets.publish(shown)
    out = []
    for file, text in files.items():
        for lineno, line, where in secrets.find(text):
            out.append(f"{file}:{lineno}: {line.strip()}  (from {where})")
    return out


def write(assignment: Assignment, out: str | Path, *, force: bool = False) -> list[StubbedModule]:
    """Write the starter to ``out`` atomically (a temporary folder renamed into place).

    An existing non-empty ``out`` is replaced only with ``force=True``, and never when it is
    the filesystem root, the home folder, the current folder or one of their ancestors, or
    holds the assignment itself.
    """
    files, modules = build(assignment)
    out = Path(out).absolute()
    exists = out.exists()
    if exists and not out.is_dir():
        raise StarterError(f"{out} exists and is not a folder")
    if exists and any(out.iterdir()):
        if not force:
            raise StarterError(f"{out} is not empty; pass --force to replace it")
        _refuse_dangerous(out, assignment.folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o755)
        if exists:
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.rename(out, old / "x")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return modules


def _refuse_dangerous(out: Path, assignment_folder: Path) -> None:
    resolved = out.resolve()
    protected = [Path("/"), Path.home(), Path.cwd(), assignment_folder.absolute()]
    for p in protected:
        p = p.resolve()
        if resolved == p or resolved in p.parents:
            raise StarterError(f"refusing to replace {out}: it is or contains {p}")


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        if any(ord(ch) < 32 for ch in escaped):
            raise StarterError(f"cannot write {value!r} to TOML: control characters")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise StarterError(f"cannot write {value!r} to TOML")


def _toml_key(key: object) -> str:
    key = str(key)
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml(key)


def points_text(value: float) -> str:
    """Points as the handout and the commands print them: ``2``, ``0.5``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
