"""Derivation regions in docstrings: found, replaced by a pointer, malformed ones refused."""

from __future__ import annotations

import textwrap

import pytest

from handgrad.grading.authoring import derivations
from handgrad.grading.authoring.markers import MarkerError

SOURCE = textwrap.dedent('''
    """An op: out = f(x).

    Shapes: x (N, D).

        BEGIN DERIVATION
        Local gradient::

            dx = dout * g(x)
        END DERIVATION

    The cache holds x.
    """


    def backward(dout, cache):
        """Return dx.

        BEGIN DERIVATION
        dx has x's shape and is dout times g.
        END DERIVATION
        """
        return dout
''').lstrip()


def test_regions_are_found_with_their_lines_and_indentation():
    found = derivations.find(SOURCE)
    assert [(d.begin, d.end, d.indent) for d in found] == [(5, 9, "    "), (18, 20, "    ")]
    assert found[0].body == ("    Local gradient::", "", "        dx = dout * g(x)")
    assert found[1].body == ("    dx has x's shape and is dout times g.",)


def test_strip_replaces_each_region_by_the_pointer_and_keeps_the_rest():
    out = derivations.strip(SOURCE)
    assert "DERIVATION" not in out and "g(x)" not in out and "times g" not in out
    assert out.count(derivations.POINTER) == 2
    assert f"    {derivations.POINTER}\n\nThe cache holds x." in out
    assert "Shapes: x (N, D)." in out and "return dout" in out
    compile(out, "op.py", "exec")
    # two regions, of 5 and 3 lines, become one line each
    assert len(out.splitlines()) == len(SOURCE.splitlines()) - 5 - 3 + 2


def test_crlf_line_endings_are_kept():
    out = derivations.strip(SOURCE.replace("\n", "\r\n"))
    assert "\r\n" in out and "\n" not in out.replace("\r\n", "")
    assert derivations.POINTER in out


def test_a_source_without_regions_is_unchanged():
    plain = 'def f():\n    """Return 1."""\n    return 1\n'
    assert derivations.find(plain) == [] and derivations.strip(plain) == plain


@pytest.mark.parametrize("text, line, message", [
    (SOURCE.replace("    END DERIVATION\n\nThe", "\nThe", 1), 5, "never closed"),
    (SOURCE.replace("    BEGIN DERIVATION\n    Local", "    Local", 1), 8, "without a matching"),
    (SOURCE.replace("    Local gradient::", "    BEGIN DERIVATION", 1), 6, "cannot nest"),
    (SOURCE.replace("    END DERIVATION\n\nThe", "    END DERIVATION.\n\nThe", 1), 9,
     "malformed derivation marker"),
    (SOURCE.replace("    BEGIN DERIVATION\n    Local", "    begin derivations\n    Local", 1), 5,
     "malformed derivation marker"),
])
def test_malformed_or_unbalanced_markers_are_errors_naming_the_line(text, line, message):
    with pytest.raises(MarkerError, match=message) as info:
        derivations.find(text, "op.py")
    assert info.value.line == line and info.value.path == "op.py"


def test_a_marker_outside_any_string_is_an_error():
    code = "x = 1\nBEGIN DERIVATION\n"
    with pytest.raises(MarkerError, match="outside a docstring"):
        derivations.find(code, "op.py")


def test_a_region_cannot_span_two_strings():
    text = '"""\nBEGIN DERIVATION\n"""\nx = """\nEND DERIVATION\n"""\n'
    with pytest.raises(MarkerError, match="not in the string that opened"):
        derivations.find(text, "op.py")


def test_comments_and_code_that_mention_the_markers_are_not_markers():
    text = '# BEGIN DERIVATION regions are described elsewhere\nNAME = "BEGIN DERIVATION"\n'
    assert derivations.find(text) == []
