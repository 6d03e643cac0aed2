"""Jupyter notebooks as plain data: nbformat 4 cells, the ``.ipynb`` text, and cells read from
a Python file in the "percent" format. No Jupyter package is needed to write one.

A notebook is a dict ``{"cells": [...], "metadata": {...}, "nbformat": 4,
"nbformat_minor": 5}``; a cell is ``{"cell_type": "markdown" | "code", "id", "metadata",
"source"}`` (code cells also hold ``"outputs": []`` and ``"execution_count": None``), its
source stored as a list of lines, as Jupyter writes it. Cell ids (required since minor 5) are
``cell-1``, ``cell-2``, ... in order, so the same cells always give the same file.

The percent format (as in jupytext, VS Code and Spyder)::

    # %% [markdown]
    # ## Train a small net
    # Markdown lines start with "# " (or are a lone "#").

    # %%
    solver.train()

A line ``# %%`` (optionally followed by a title) opens a code cell, ``# %% [markdown]`` a
Markdown cell. Anything before the first marker (a comment saying what the file is) is not a
cell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

NBFORMAT = 4
NBFORMAT_MINOR = 5

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

_MARKER = re.compile(r"#[ \t]*%%(?P<rest>.*)")


class CellFormatError(ValueError):
    """A percent-format file that cannot be read as cells; the message names the line."""


def markdown(text: str) -> dict[str, Any]:
    """A Markdown cell holding ``text``."""
    return {"cell_type": "markdown", "metadata": {}, "source": _lines(text)}


def code(text: str) -> dict[str, Any]:
    """A code cell holding ``text``, never run."""
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": _lines(text)}


def source(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string (nbformat allows a string or a list of lines)."""
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


def notebook(cells: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """An nbformat 4 notebook of ``cells`` for a Python 3 kernel, with ids ``cell-N``."""
    numbered = [{"id": f"cell-{i}", **cell} for i, cell in enumerate(cells, start=1)]
    return {"cells": numbered,
            "metadata": {"kernelspec": dict(KERNELSPEC),
                         "language_info": {"name": "python"}},
            "nbformat": NBFORMAT, "nbformat_minor": NBFORMAT_MINOR}


def dumps(nb: Mapping[str, Any]) -> str:
    """The ``.ipynb`` text of ``nb``: JSON, one-space indents and sorted keys, as Jupyter
    saves it."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def read_percent(text: str, path: str = "<cells>") -> list[dict[str, Any]]:
    """The cells of a percent-format file; errors name ``path`` and the line."""
    cells: list[dict[str, Any]] = []
    kind: str | None = None
    body: list[str] = []
    opened = 0

    def close() -> None:
        if kind == "code":
            cells.append(code(_trim("\n".join(body))))
        elif kind == "markdown":
            out = []
            for offset, line in enumerate(body, start=1):
                if not line.strip() or line.strip() == "#":
                    out.append("")
                elif line.startswith("# "):
                    out.append(line[2:])
                else:
                    raise CellFormatError(f"{path}:{opened + offset}: a Markdown cell's lines "
                                          f"start with '# ' (or are a lone '#'), got {line!r}")
            cells.append(markdown(_trim("\n".join(out))))

    for lineno, line in enumerate(text.splitlines(), start=1):
        marker = _MARKER.fullmatch(line.rstrip())
        if marker:
            close()
            rest = marker.group("rest").strip()
            kind = "markdown" if rest.startswith("[markdown]") or rest.startswith("[md]") \
                else "code"
            body, opened = [], lineno
        elif kind is not None:
            body.append(line)
    close()
    if not cells:
        raise CellFormatError(f"{path}: no cells; open each cell with a line '# %%' (code) or "
                              f"'# %% [markdown]'")
    return cells


def _trim(text: str) -> str:
    """Without blank lines at either end."""
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _lines(text: str) -> list[str]:
    parts = text.strip("\n").split("\n")
    return [line + "\n" for line in parts[:-1]] + [parts[-1]] if parts != [""] else []
