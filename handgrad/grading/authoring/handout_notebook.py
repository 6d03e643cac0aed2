"""``handout.ipynb``: the notebook ``handgrad assign`` writes into every starter.

It is made from the assignment spec and its handout, so that a new assignment gets a sensible
notebook without code of its own:

1. an introduction (how to work, Jupyter and Colab, what to hand in) and a setup cell that
   installs handgrad where it is missing (Colab), turns on inline plots and says whether the
   starter's files are there;
2. the handout, one Markdown cell per section (a heading and the text under it);
3. after the section that asks for a function, cells for it: ``check("relu.backward")`` (its
   public checks, the table of ``handgrad check``), for each registry op it is checked as,
   the gradient checker on the student's module (:func:`handgrad.grading.notebook.
   check_gradients`), and a picture where the op has one (:data:`PICTURES`: a saturated
   sigmoid or tanh, a dead ReLU). A section asks for a function when its heading names the
   function's file (``relu.py``), module or the function itself in backticks; the most
   specific heading wins and the cells go after that section and its subsections. Functions
   that no heading names get theirs at the end;
4. the assignment's own cells (``[notebook]`` in ``assignment.toml``, see
   :mod:`handgrad.grading.authoring.spec`), after the section it names or at the end;
5. ``check()`` over everything, and what to hand in.

No cell raises on an untouched starter: every helper reports a stub as "not implemented yet".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from handgrad import __version__
from handgrad.grading.authoring import ipynb
from handgrad.grading.authoring.spec import Assignment, Check

_HEADING = re.compile(r"(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)[ \t#]*")
_FENCE = re.compile(r"[ \t]{0,3}(?P<fence>`{3,}|~{3,})")
_NUMBER = re.compile(r"(?P<number>\d+(?:\.\d+)*)\.?(?:[ \t]|$)")


class NotebookError(ValueError):
    """The notebook cannot be made from this assignment; the message says why."""


@dataclass(frozen=True)
class Picture:
    """A figure drawn with the student's module of an op, and the text above it."""

    helper: str        # a function of handgrad.grading.notebook taking the module
    text: str          # Markdown, with {module} and {file}


SATURATION = Picture("saturation_figure", (
    "**A saturated unit.** The picture below is drawn with your `{file}`: on the left the "
    "forward output, on the right the local gradient that your `backward` returns for "
    "`dout = 1` at each input, next to the numerical derivative of your forward. Where the "
    "shading is, the unit is *saturated*: whatever gradient arrives from above, almost none "
    "passes through. It appears once your backward is implemented."))
DEAD_RELU = Picture("dead_relu_figure", (
    "**A dead ReLU.** A layer of 32 ReLUs sees 500 inputs; the bias of 8 of them has been "
    "pushed far below zero, as one too-large update can do. The bars count, per unit, the "
    "examples for which your `backward` (from `{file}`) passes a non-zero gradient. A unit "
    "that passes none for every input never changes again: it is dead. It appears once your "
    "backward is implemented."))

GRADIENT_FLOW = Picture("gradient_flow_figure", (
    "**Gradients through time.** The picture below runs your `{file}` on sequences of 51 "
    "steps, with a gradient on the last hidden state only, and draws how much of it your "
    "`backward` sends back to each earlier state, for recurrent matrices `Wh` of spectral "
    "radius 1.5, 1 and 0.5 (ReLU solid, tanh dashed; log scale). Section 2.4 says what to "
    "expect. It appears once your backward is implemented, `return_hidden_grads` included."))

PICTURES: dict[str, Picture] = {"sigmoid": SATURATION, "tanh": SATURATION, "relu": DEAD_RELU,
                                "rnn": GRADIENT_FLOW, "rnn_relu": GRADIENT_FLOW}
"""The picture drawn after the cells of a function checked as this registry op."""


@dataclass(frozen=True)
class Section:
    """A heading of the handout and the text under it, up to the next heading."""

    level: int
    title: str
    text: str

    @property
    def number(self) -> str | None:
        match = _NUMBER.match(self.title)
        return match.group("number") if match else None


def sections(markdown: str) -> list[Section]:
    """The handout split at its ATX headings (``#`` to ``######``), fenced code left whole.

    Text before the first heading is a section of level 0 with an empty title.
    """
    out: list[Section] = []
    level, title = 0, ""
    lines: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        opener = _FENCE.match(line)
        if opener:
            mark = opener.group("fence")
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence):
                fence = None
        heading = _HEADING.fullmatch(line) if fence is None and not opener else None
        if heading:
            if lines or title:
                out.append(Section(level, title, "\n".join(lines).strip("\n")))
            level, title, lines = len(heading.group("hashes")), heading.group("title"), [line]
        else:
            lines.append(line)
    if lines or title:
        out.append(Section(level, title, "\n".join(lines).strip("\n")))
    return [s for s in out if s.text.strip()]


def subtree_end(found: Sequence[Section], i: int) -> int:
    """The index of the last section under section ``i`` (its subsections), or ``i``."""
    j = i
    while j + 1 < len(found) and found[j + 1].level > found[i].level:
        j += 1
    return j


def claims(found: Sequence[Section], modules: Sequence[Any]) -> dict[tuple[str, str], int]:
    """``{(module, function): section index}`` for every stubbed function a heading names.

    ``modules`` are :class:`~handgrad.grading.authoring.starter.StubbedModule`s. A heading names a
    module with its file (```relu.py```) or its short name, a function with
    ```module.function``` or, under a heading of its module (or when no other module has a
    function of that name), with ```function``` alone. A function named by a heading of its
    own is placed there; the others of a module named by a heading go after that heading's
    section.
    """
    specific: dict[tuple[str, str], int] = {}
    by_module: dict[str, int] = {}
    owners: dict[str, list[str]] = {}
    for m in modules:
        for function in m.stubbed_functions:
            owners.setdefault(function, []).append(m.module)
    stack: list[tuple[int, str]] = []     # (heading level, module) of the enclosing headings
    for i, section in enumerate(found):
        while stack and stack[-1][0] >= section.level:
            stack.pop()
        ticks = re.findall(r"`([^`]+)`", section.title)
        named = [m for m in modules
                 if any(t in (m.filename, _short(m.module)) for t in ticks)]
        for m in named:
            by_module.setdefault(m.module, i)
            stack.append((section.level, m.module))
        context = stack[-1][1] if stack else None
        for m in modules:
            for function in m.stubbed_functions:
                key = (m.module, function)
                dotted = f"{_short(m.module)}.{function}"
                alone = function in ticks and (context == m.module or (
                    context is None and owners[function] == [m.module]))
                if dotted in ticks or alone:
                    specific.setdefault(key, i)
    out: dict[tuple[str, str], int] = {}
    for m in modules:
        for function in m.stubbed_functions:
            key = (m.module, function)
            if key in specific:
                out[key] = specific[key]
            elif m.module in by_module:
                out[key] = by_module[m.module]
    return out


def function_cells(module: Any, function: str,
                   checks: Sequence[Check]) -> list[dict[str, Any]]:
    """The cells of one stubbed function: its checks, the gradient checker, its pictures."""
    short = _short(module.module)
    name = f"{short}.{function}"
    ops = list(dict.fromkeys(c.op for c in checks if c.kind == "backward" and c.op))
    what = ("the first runs its public checks (the table of `handgrad check`), the others run "
            "the gradient checker on your module, every entry against a numerical gradient"
            if ops else "it runs the public checks of this function (the table of "
            "`handgrad check`)")
    cells = [ipynb.markdown(f"**Check `{name}`.** Save `{module.filename}` after each edit and "
                            f"run the cell{'s' if ops else ''} below: {what}."),
             ipynb.code(f'check("{name}")')]
    for op in ops:
        lines = []
        if len(ops) > 1:
            lines.append(f"# {_describe(op)}")
        lines += [f'{short} = student_module("{short}")  # your {module.filename}, read again',
                  f'report = check_gradients({short}, "{op}")']
        cells.append(ipynb.code("\n".join(lines)))
    drawn: set[str] = set()
    for op in ops:
        picture = PICTURES.get(op)
        if picture is None or picture.helper in drawn:
            continue
        drawn.add(picture.helper)
        cells.append(ipynb.markdown(picture.text.format(module=short, file=module.filename)))
        cells.append(ipynb.code(f'{picture.helper}(student_module("{short}"))'))
    return cells


def build(assignment: Assignment, modules: Sequence[Any], handout: str) -> dict[str, Any]:
    """The notebook of a starter, as nbformat 4 data (see
    :func:`handgrad.grading.authoring.ipynb.dumps`).

    ``modules`` are the starter's :class:`~handgrad.grading.authoring.starter.StubbedModule`s and
    ``handout`` the handout's Markdown.
    """
    found = sections(handout)
    placed = claims(found, modules)
    after: dict[int, list[dict[str, Any]]] = {}
    tail: list[dict[str, Any]] = []
    helpers = {"check_gradients", "starter_status", "student_module"}
    for m in modules:
        for function in m.stubbed_functions:
            checks = [c for c in assignment.checks
                      if c.module == m.module and c.function == function]
            cells = function_cells(m, function, checks)
            helpers.update(PICTURES[c.op].helper for c in checks if c.op in PICTURES)
            key = (m.module, function)
            if key in placed:
                after.setdefault(subtree_end(found, placed[key]), []).extend(cells)
            else:
                if not tail:
                    tail.append(ipynb.markdown("## Checks of the other functions\n\nThe "
                                               "handout asks for these too."))
                tail.extend(cells)
    extra = _extra_cells(assignment)
    if extra:
        where = assignment.notebook.after
        if where is None:
            tail.extend(extra)
        else:
            after.setdefault(subtree_end(found, _section_index(found, where, assignment)),
                             []).extend(extra)
    opening = [ipynb.markdown(_introduction(assignment, modules)),
               ipynb.code(_setup(assignment, sorted(helpers)))]
    titled = bool(found) and found[0].level <= 1   # the handout's title and its opening text
    cells = [] if titled else list(opening)
    for i, section in enumerate(found):
        cells.append(ipynb.markdown(section.text))
        if i == 0 and titled:
            cells.extend(opening)
        cells.extend(after.get(i, []))
    cells.extend(tail)
    cells += [ipynb.markdown(_hand_in(modules)), ipynb.code("check()")]
    return ipynb.notebook(cells)


def cell_texts(nb: dict[str, Any], name: str = "handout.ipynb") -> dict[str, str]:
    """``{"handout.ipynb cell N": source}``: the notebook as texts, for the leak scan."""
    return {f"{name} cell {i}": ipynb.source(cell)
            for i, cell in enumerate(nb["cells"], start=1)}


def _extra_cells(assignment: Assignment) -> list[dict[str, Any]]:
    path = assignment.notebook.cells
    if path is None:
        return []
    try:
        return ipynb.read_percent(path.read_text(encoding="utf-8"), str(path))
    except ipynb.CellFormatError as exc:
        raise NotebookError(str(exc)) from None


def _section_index(found: Sequence[Section], where: str, assignment: Assignment) -> int:
    key = where.strip().lower()
    for i, section in enumerate(found):
        if key in ((section.number or "").lower(), section.title.strip().lower()):
            return i
    known = ", ".join(repr(s.number or s.title) for s in found if s.title)
    raise NotebookError(f"{assignment.folder / 'assignment.toml'}: [notebook].after = "
                        f"{where!r} names no section of {assignment.handout.name}; its "
                        f"sections: {known}")


def _introduction(assignment: Assignment, modules: Sequence[Any]) -> str:
    files = ", ".join(f"`{m.filename}`" for m in modules)
    return "\n".join([
        "## How to use this notebook",
        "",
        "This notebook goes with the starter folder it sits in. It holds the handout "
        "(`handout.md`), one section per cell, and after each section that asks you for a "
        "function, cells that check it: its public checks (the table `handgrad check` "
        "prints), the gradient checker on your module and, where it helps, a picture drawn "
        "with your code. Until you have written a function, its cells say *not implemented "
        "yet*.",
        "",
        f"You write your code in the `.py` files ({files}), not in this notebook: open a file "
        "(in Jupyter: double-click it in the file browser; in Colab: in the Files panel), "
        "write, **save**, and run the cells again. Every cell reads your files anew. "
        "**You hand in the `.py` files, not this notebook.**",
        "",
        "**In Jupyter:** start Jupyter in the starter folder (`jupyter lab`), with handgrad "
        "installed in the same environment, and open `handout.ipynb`.",
        "",
        "**In Colab:** open this notebook (File, Upload notebook), then upload the starter's "
        "other files (`assignment.toml` and the `.py` files) with the Files panel on the "
        "left, into `/content`; or keep the starter folder on Google Drive, mount it "
        "(`from google.colab import drive; drive.mount('/content/drive')`) and `%cd` into "
        "it. The setup cell below installs handgrad when it is missing. A Colab runtime "
        "forgets uploaded files when it is recycled: download your `.py` files when you stop, "
        "or work on Drive.",
    ])


def _setup(assignment: Assignment, helpers: Sequence[str]) -> str:
    install = assignment.notebook.install or f"handgrad=={__version__}"
    if any(ch in install for ch in "\"'\n\\`$"):
        raise NotebookError(f"{assignment.folder / 'assignment.toml'}: [notebook].install "
                            f"must be a plain pip requirement, got {install!r}")
    imports = "".join(f"    {h},\n" for h in helpers)
    return "\n".join([
        "# Setup: run this cell first, and again after a restart of the kernel.",
        "import importlib.util",
        "",
        'if importlib.util.find_spec("handgrad") is None:  # a fresh Colab runtime, say',
        f'    %pip install --quiet "{install}"',
        "",
        "%matplotlib inline",
        "from handgrad.grading import check",
        "from handgrad.grading.notebook import (",
        imports + ")",
        "",
        "starter_status()  # is this the starter folder, and are your files here?",
    ])


def _hand_in(modules: Sequence[Any]) -> str:
    files = ", ".join(f"`{m.filename}`" for m in modules)
    return "\n".join([
        "## Before you hand in",
        "",
        "The cell below runs every public check at once, as `handgrad check` does in a "
        "terminal; the grader runs these and hidden ones at other sizes and seeds. Then hand "
        f"in {files}, with these names, as they are in the starter folder (the folder, or a "
        "`.zip` of the files). Not this notebook: the grader reads only the `.py` files.",
    ])


def _describe(op: str) -> str:
    from handgrad.gradcheck import registry

    try:
        return registry.get(op).description or op
    except KeyError:
        return op


def _short(module: str) -> str:
    return module.rsplit(".", 1)[-1]
