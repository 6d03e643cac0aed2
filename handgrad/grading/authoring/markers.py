"""Solution markers: find the reference regions of a module and replace them with stubs.

A solution region is delimited by two whole comment lines (any indentation, trailing
whitespace allowed)::

    # BEGIN SOLUTION
    # BEGIN SOLUTION hint: multiply the upstream gradient by 1 - h**2
    ...reference code...
    # END SOLUTION

nbgrader's spelling ``### BEGIN SOLUTION`` is accepted too. A comment line that mentions
``BEGIN SOLUTION`` or ``END SOLUTION`` but is not exactly a marker, a nested BEGIN, an END
without a BEGIN and a BEGIN without an END are all errors (:class:`MarkerError`, naming the
file and the line), so a typo can never leave a solution in a student's starter.

:func:`strip` replaces each region, at the indentation of its BEGIN line, by::

    # YOUR CODE HERE
    raise NotImplementedError("affine.backward: <hint> -- see the handout")

Regions of functions that are not to be stubbed (see ``stub=``) are kept as reference code with
their marker lines removed. The stubbed source is compiled before it is returned, and
:func:`leaks` lists every solution line that still appears in a text.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath

_BEGIN = re.compile(r"#+[ \t]*BEGIN SOLUTION(?:[ \t]+hint:[ \t]*(?P<hint>\S.*?))?[ \t]*")
_END = re.compile(r"#+[ \t]*END SOLUTION[ \t]*")
_MENTION = re.compile(r"\b(BEGIN|END)[ \t_-]*SOLUTION", re.IGNORECASE)

DEFAULT_HINT = "not implemented yet"

# Lines that say nothing about a solution: keywords alone, or only brackets and punctuation.
_TRIVIAL = {"else:", "try:", "finally:", "pass", "break", "continue", "return", "return None",
            "...", "except Exception:", "else", "None"}


class MarkerError(ValueError):
    """A malformed, unbalanced or nested solution marker, or a stub that does not compile."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True)
class Region:
    """One solution region. Line numbers are 1-based and refer to the marker lines."""

    begin: int
    end: int
    indent: str
    hint: str | None
    function: str | None          # qualified name of the enclosing def, None at module level
    body: tuple[str, ...]         # the source lines between the markers, without newlines

    @property
    def solution_lines(self) -> tuple[str, ...]:
        """The region's code lines that reveal something: see :func:`is_solution_line`."""
        return tuple(line for line in self.body if is_solution_line(line))


def is_solution_line(line: str) -> bool:
    """A non-blank, non-comment line that is more than a keyword or a lone bracket."""
    text = normalize(line)
    if not text or text.startswith("#"):
        return False
    if text in _TRIVIAL or not re.search(r"[A-Za-z0-9]", text):
        return False
    return True


def normalize(line: str) -> str:
    """Collapse runs of whitespace and strip the ends, so re-indented copies still match."""
    return " ".join(line.split())


def regions(source: str, path: str | PurePath = "<source>") -> list[Region]:
    """Parse the solution regions of ``source`` (Python code); errors name ``path`` and a line."""
    path = str(path)
    lines = source.splitlines()
    comment_lines = _comment_lines(source, path)
    found: list[tuple[int, int, str, str | None]] = []
    open_at: tuple[int, str, str | None] | None = None
    for lineno in sorted(comment_lines):
        text = lines[lineno - 1]
        stripped = text.strip()
        begin_match = _BEGIN.fullmatch(stripped)
        end_match = _END.fullmatch(stripped)
        if begin_match:
            if open_at is not None:
                raise MarkerError(path, lineno, f"BEGIN SOLUTION inside the region opened at "
                                  f"line {open_at[0]}; regions cannot nest (close it first "
                                  f"with # END SOLUTION)")
            indent = text[: len(text) - len(text.lstrip())]
            open_at = (lineno, indent, begin_match.group("hint"))
        elif end_match:
            if open_at is None:
                raise MarkerError(path, lineno, "END SOLUTION without a matching "
                                  "BEGIN SOLUTION")
            found.append((open_at[0], lineno, open_at[1], open_at[2]))
            open_at = None
        elif _MENTION.search(stripped):
            raise MarkerError(path, lineno, f"malformed solution marker {stripped!r}; write "
                              f"'# BEGIN SOLUTION', '# BEGIN SOLUTION hint: ...' or "
                              f"'# END SOLUTION' alone on the line")
    if open_at is not None:
        raise MarkerError(path, open_at[0], "BEGIN SOLUTION is never closed with "
                          "# END SOLUTION")
    if not found:
        return []
    functions = _functions(source, path)
    out = []
    for begin, end, indent, hint in found:
        # The region belongs to the innermost def holding its first code line (a def's
        # end_lineno is its last statement, so a closing marker may lie beyond it).
        code = [n for n in range(begin + 1, end) if n not in comment_lines
                and lines[n - 1].strip()]
        anchor = code[0] if code else begin
        enclosing = [f for f in functions if f[0] < anchor <= f[1]]
        # innermost: the latest start among those enclosing the region
        name = max(enclosing, key=lambda f: f[0])[2] if enclosing else None
        out.append(Region(begin=begin, end=end, indent=indent, hint=hint, function=name,
                          body=tuple(lines[begin:end - 1])))
    return out


def strip(source: str, path: str | PurePath = "<source>", *,
          stub: Collection[str] | None = None,
          hints: Mapping[str, str] | None = None) -> str:
    """Return ``source`` with solution regions replaced by ``raise NotImplementedError(...)``.

    ``stub`` names the functions (qualified names, e.g. ``"backward"``) whose regions are
    stubbed; regions of other functions keep their reference code and lose only their marker
    lines. ``None`` stubs every region. ``hints`` overrides the BEGIN line's hint per function.
    Everything outside the regions is preserved byte for byte (line endings included). The
    result is compiled; a stub that breaks the code raises :class:`MarkerError`.
    """
    path = str(path)
    found = regions(source, path)
    hints = dict(hints or {})
    module = PurePath(path).stem if path != "<source>" else None
    lines = source.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    origin: list[int] = []  # for each output line, the reference line it comes from
    pos = 0  # index into lines of the next line to copy
    for region in found:
        out.extend(lines[pos: region.begin - 1])
        origin.extend(range(pos + 1, region.begin))
        if stub is None or region.function in stub:
            hint = hints.get(region.function or "", region.hint) or DEFAULT_HINT
            out.append(f"{region.indent}# YOUR CODE HERE{newline}")
            out.append(f"{region.indent}{stub_statement(region.function, hint, module)}"
                       f"{newline}")
            origin.extend((region.begin, region.begin))
        else:
            out.extend(lines[region.begin: region.end - 1])
            origin.extend(range(region.begin + 1, region.end))
        pos = region.end
    out.extend(lines[pos:])
    origin.extend(range(pos + 1, len(lines) + 1))
    result = "".join(out)
    try:
        compile(result, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = origin[min(max((exc.lineno or 1) - 1, 0), len(origin) - 1)] if origin else 1
        raise MarkerError(path, line, f"the stubbed code does not compile ({exc.msg}); a "
                          f"region must be a whole block of statements at the indentation "
                          f"of its BEGIN line") from None
    return result


def stub_statement(function: str | None, hint: str, module: str | None = None) -> str:
    """The ``raise NotImplementedError("...")`` line that replaces a region."""
    name = function or "this code"
    if module and function:
        name = f"{module}.{function}"
    message = f"{name}: {' '.join(hint.split())} -- see the handout"
    literal = '"' + message.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert ast.literal_eval(literal) == message
    return f"raise NotImplementedError({literal})"


def leaks(found: Iterable[Region], text: str, *, public: str = "") -> list[tuple[int, str]]:
    """Solution lines of ``found`` that appear in ``text``, as ``(line number in text, line)``.

    A line matches when it equals a solution line after :func:`normalize`, or when a stub
    message in it quotes a solution line. Solution lines that also occur in ``public`` (the
    code that is shown anyway, e.g. the reference module outside the stubbed regions) are not
    secrets and are ignored.
    """
    shown = {normalize(line) for line in public.splitlines()}
    secrets = {normalize(line) for region in found for line in region.solution_lines}
    secrets -= shown
    hits = []
    for i, line in enumerate(text.splitlines(), start=1):
        norm = normalize(line)
        if norm in secrets:
            hits.append((i, line))
        elif "NotImplementedError(" in norm and any(s in norm for s in secrets):
            hits.append((i, line))
    return hits


def outside(source: str, found: Iterable[Region]) -> str:
    """The lines of ``source`` outside the given regions (marker lines excluded)."""
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for region in found:
        drop.update(range(region.begin, region.end + 1))
    return "".join(line for i, line in enumerate(lines, start=1) if i not in drop)


def _comment_lines(source: str, path: str) -> set[int]:
    """Line numbers whose only token is a comment (so markers inside strings are ignored)."""
    lines: set[int] = set()
    code_lines: set[int] = set()
    comments: list[tuple[int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                lines.add(tok.start[0])
                comments.append((tok.start[0], tok.string))
            elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                  tokenize.DEDENT, tokenize.ENDMARKER):
                code_lines.update(range(tok.start[0], tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError) as exc:
        line = exc.args[1][0] if len(exc.args) > 1 and isinstance(exc.args[1], tuple) else 1
        raise MarkerError(path, line, f"cannot read the source: {exc.args[0]}") from None
    for lineno, text in comments:
        if lineno in code_lines and _MENTION.search(text):
            raise MarkerError(path, lineno, "a solution marker must be alone on its line, "
                              "not a comment after code")
    return lines - code_lines


def _functions(source: str, path: str) -> list[tuple[int, int, str]]:
    """``(first line of the body's def, last line, qualified name)`` of every def."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise MarkerError(path, exc.lineno or 1, f"not valid Python: {exc.msg}") from None
    out: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                out.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out

