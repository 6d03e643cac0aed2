"""Find what a starter must not hand over: solution lines, derivations, formulas in hints.

Text is compared after dropping every comment and all whitespace, so a solution line that was
re-indented, re-spaced or given a comment still matches, and so does one quoted inline in a
handout's Markdown or in a notebook cell: a secret that computes something (it holds an
operator, an ``=`` or a call) and has :data:`MIN_QUOTED` characters or more matches anywhere
inside a line; any other secret (``return dx``, a line of prose) only the whole line.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable

MIN_QUOTED = 8    # shorter formulas ("dx=d*x") match only whole lines, never inside prose
MIN_SECRET = 6    # shorter lines ("::", "x") say nothing

_ASSIGNMENT = re.compile(r"[A-Za-z_][\w\].]*\s*[-+*/@]?=(?!=)")
_OPERATION = re.compile(r"[\w)\]]\s*(\*\*|[*/@^])\s*[\w(\[]")
_SHAPE = re.compile(r"\([^()]*,[^()]*\)")   # "(N*T, M)" is a shape, not a formula
_DIMENSIONS = re.compile(r"\b[A-Z]\w?(?:\s*[*/]\s*[A-Z]\w?)+\b")   # "N*T", "C/G": sizes


def without_comment(line: str) -> str:
    """``line`` without a trailing ``#`` comment (a ``#`` inside quotes is kept)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:i]
    return line


def key(text: str) -> str:
    """``text`` with all whitespace removed: the form in which lines are compared."""
    return "".join(text.split())


def code_keys(source: str) -> list[str]:
    """The comparison key of each line of a Python source, comments dropped by the tokenizer."""
    lines = source.splitlines()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                row, col = tok.start
                lines[row - 1] = lines[row - 1][:col]
    except (tokenize.TokenError, SyntaxError):
        lines = [without_comment(line) for line in lines]
    return [key(line) for line in lines]


class Secrets:
    """Lines that must not appear in a starter, each with where it comes from."""

    def __init__(self) -> None:
        self._where: dict[str, str] = {}
        self._public: set[str] = set()

    def add(self, line: str, where: str, *, code: bool = False) -> None:
        """Add one line: a solution line (``code=True``) without its comment, a docstring's
        line both as it is and without what follows a ``#`` in it."""
        forms = {key(without_comment(line))} if code else {key(line), key(without_comment(line))}
        for k in forms:
            if len(k) >= MIN_SECRET and re.search(r"[A-Za-z0-9]", k):
                self._where.setdefault(k, where)

    def publish(self, shown: str) -> None:
        """Lines of ``shown`` are given to students anyway: they are no secret."""
        self._public.update(code_keys(shown))
        self._public.update(key(line) for line in shown.splitlines())

    def find(self, text: str) -> list[tuple[int, str, str]]:
        """``(line number, line, where the secret comes from)`` for each hit in ``text``."""
        secrets = {k: w for k, w in self._where.items() if k not in self._public}
        long = [k for k in secrets if len(k) >= MIN_QUOTED and _computes(k)]
        hits = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            forms = {key(line), key(without_comment(line))}
            where = next((secrets[f] for f in forms if f in secrets), None)
            if where is None:
                where = next((secrets[k] for k in long if any(k in f for f in forms)), None)
            if where is not None:
                hits.append((lineno, line, where))
        return hits


def formula_in_hint(hint: str, solution_lines: Iterable[str] = ()) -> str | None:
    """Why ``hint`` states a formula (a piece of the solution, an assignment or an arithmetic
    expression), or None when it only guides. Shapes such as ``(N*T, D)`` and products of
    dimension names such as ``N*T`` are not formulas."""
    hint_key = key(hint)
    for line in solution_lines:
        code = without_comment(line)
        right = code.split("=", 1)[1] if "=" in code and "==" not in code else code
        right_key = key(right)
        if _computes(right_key) and len(right_key) >= MIN_SECRET and right_key in hint_key:
            return f"quotes the solution ({right.strip()!r})"
    text = _DIMENSIONS.sub("N", _SHAPE.sub("(shape)", hint))
    match = _ASSIGNMENT.search(text)
    if match:
        return f"writes an assignment ({match.group(0).strip()} ...)"
    match = _OPERATION.search(text)
    if match:
        return f"writes an arithmetic expression ({match.group(0).strip()!r})"
    return None


def _computes(text: str) -> bool:
    """Whether ``text`` holds an operator, an ``=`` or a call: a formula, not a bare name."""
    return any(char in text for char in "=*/@+-(")
