"""Derivation regions: the local gradient a docstring states, kept out of students' starters.

The docstring of a layer states its math, its shapes and its local gradient. The local
gradient of anything an assignment can stub is exactly what the student is asked to derive, so
it sits in a marked region of the docstring: a line that reads ``BEGIN DERIVATION`` alone,
the derivation, and a line that reads ``END DERIVATION`` alone (any indentation)::

    Shapes: x of any shape; out and dx have x's shape.

    BEGIN DERIVATION
    Local gradient ...
    END DERIVATION

Both marker lines must lie inside the same string literal (a docstring); a marker in code or in
a comment, a nested or unbalanced marker, and a line that mentions the markers but is not
exactly one (``BEGIN DERIVATION:``) are errors
(:class:`~handgrad.grading.authoring.markers.MarkerError`), so a typo cannot leave a derivation in
a starter. :func:`strip` replaces each region, markers included, by one line at the indentation of
its BEGIN line that points to the handout.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import PurePath

from handgrad.grading.authoring.markers import MarkerError

BEGIN = "BEGIN DERIVATION"
END = "END DERIVATION"
POINTER = "Local gradient: yours to derive; the handout says how."

_MENTION = re.compile(r"\b(BEGIN|END)[ \t_-]*DERIVATIONS?\b", re.IGNORECASE)


@dataclass(frozen=True)
class Derivation:
    """One derivation region. Line numbers are 1-based and refer to the marker lines."""

    begin: int
    end: int
    indent: str
    body: tuple[str, ...]       # the lines between the markers, without newlines


def find(source: str, path: str | PurePath = "<source>") -> list[Derivation]:
    """The derivation regions of ``source`` (Python code), in order."""
    path = str(path)
    lines = source.splitlines()
    string_of_line = _string_lines(source, path)
    found: list[Derivation] = []
    open_at: tuple[int, str] | None = None
    for lineno, text in enumerate(lines, start=1):
        stripped = text.strip()
        if not _MENTION.search(stripped):
            continue
        in_string = string_of_line.get(lineno)
        if stripped not in (BEGIN, END):
            if in_string is None:
                continue  # code or comments that talk about the markers are not markers
            raise MarkerError(path, lineno, f"malformed derivation marker {stripped!r}; write "
                              f"{BEGIN!r} or {END!r} alone on the line")
        if in_string is None:
            raise MarkerError(path, lineno, f"{stripped} outside a docstring; derivation "
                              f"markers belong inside the docstring that states the gradient")
        if stripped == BEGIN:
            if open_at is not None and string_of_line.get(open_at[0]) != in_string:
                raise MarkerError(path, open_at[0], f"{BEGIN} is never closed with {END} "
                                  f"in its docstring")
            if open_at is not None:
                raise MarkerError(path, lineno, f"{BEGIN} inside the region opened at line "
                                  f"{open_at[0]}; regions cannot nest")
            open_at = (lineno, text[: len(text) - len(text.lstrip())])
            continue
        if open_at is None:
            raise MarkerError(path, lineno, f"{END} without a matching {BEGIN}")
        if string_of_line.get(open_at[0]) != in_string:
            raise MarkerError(path, lineno, f"{END} is not in the string that opened the "
                              f"region at line {open_at[0]}")
        found.append(Derivation(begin=open_at[0], end=lineno, indent=open_at[1],
                                body=tuple(lines[open_at[0]: lineno - 1])))
        open_at = None
    if open_at is not None:
        raise MarkerError(path, open_at[0], f"{BEGIN} is never closed with {END}")
    return found


def strip(source: str, path: str | PurePath = "<source>") -> str:
    """``source`` with every derivation region replaced by the one-line :data:`POINTER`."""
    found = find(source, path)
    lines = source.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    pos = 0
    for region in found:
        out.extend(lines[pos: region.begin - 1])
        out.append(f"{region.indent}{POINTER}{newline}")
        pos = region.end
    out.extend(lines[pos:])
    return "".join(out)


def outside(source: str, found: list[Derivation]) -> str:
    """The lines of ``source`` outside the given regions (marker lines excluded)."""
    drop = {n for region in found for n in range(region.begin, region.end + 1)}
    return "".join(line for i, line in enumerate(source.splitlines(keepends=True), start=1)
                   if i not in drop)


def _string_lines(source: str, path: str) -> dict[int, int]:
    """Map each line strictly inside a multi-line string literal to an id of that literal."""
    out: dict[int, int] = {}
    try:
        for index, tok in enumerate(tokenize.generate_tokens(io.StringIO(source).readline)):
            # Only the inner lines of a multi-line literal: a marker is a whole line of text.
            if tok.type == tokenize.STRING:
                for line in range(tok.start[0] + 1, tok.end[0]):
                    out[line] = index
    except (tokenize.TokenError, SyntaxError) as exc:
        line = exc.args[1][0] if len(exc.args) > 1 and isinstance(exc.args[1], tuple) else 1
        raise MarkerError(path, line, f"cannot read the source: {exc.args[0]}") from None
    return out
