"""Solution markers: parsing, stubbing, errors and the leak check."""

from __future__ import annotations

import ast
import textwrap

import pytest

from handgrad.grading.authoring import markers
from handgrad.grading.authoring.markers import MarkerError


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


SIMPLE = src('''
    """A module."""

    import numpy as np


    def forward(x):
        out = np.tanh(x)
        return out, out


    def backward(dout, cache):
        h = cache
        # BEGIN SOLUTION hint: multiply the upstream gradient by 1 - h**2
        dx = dout * (1.0 - h * h)
        # END SOLUTION
        return dx
''')


def raises_of(code: str) -> list[str]:
    """The messages of every ``raise NotImplementedError("...")`` in ``code``."""
    out = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            assert node.exc.func.id == "NotImplementedError"
            out.append(ast.literal_eval(node.exc.args[0]))
    return out


def test_regions_finds_function_hint_and_body():
    (region,) = markers.regions(SIMPLE, "tanh.py")
    assert region.begin == 13 and region.end == 15
    assert region.function == "backward"
    assert region.hint == "multiply the upstream gradient by 1 - h**2"
    assert region.indent == "    "
    assert region.body == ("    dx = dout * (1.0 - h * h)",)
    assert region.solution_lines == ("    dx = dout * (1.0 - h * h)",)


def test_strip_replaces_region_with_raise_and_keeps_the_rest():
    out = markers.strip(SIMPLE, "pkg/tanh.py")
    assert "dx = dout * (1.0 - h * h)" not in out
    assert "BEGIN SOLUTION" not in out and "END SOLUTION" not in out
    expected = SIMPLE.replace(
        "    # BEGIN SOLUTION hint: multiply the upstream gradient by 1 - h**2\n"
        "    dx = dout * (1.0 - h * h)\n"
        "    # END SOLUTION\n",
        "    # YOUR CODE HERE\n"
        '    raise NotImplementedError("tanh.backward: multiply the upstream gradient by '
        '1 - h**2 -- see the handout")\n')
    assert out == expected
    compile(out, "tanh.py", "exec")
    namespace: dict = {}
    exec(compile(out, "tanh.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"tanh\.backward: multiply"):
        namespace["backward"](1.0, 0.5)


def test_default_message_and_deep_indentation_and_methods():
    code = src('''
        class Layer:
            def backward(self, dout):
                if dout is not None:
                        # BEGIN SOLUTION
                        dx = dout * 2
                        # END SOLUTION
                return dx
    ''')
    (region,) = markers.regions(code)
    assert region.function == "Layer.backward"
    assert region.hint is None
    out = markers.strip(code, "layer.py")
    assert "\n                # YOUR CODE HERE\n" in out
    assert raises_of(out) == [f"layer.Layer.backward: {markers.DEFAULT_HINT} -- see the handout"]


def test_nested_function_gets_innermost_name():
    code = src('''
        def outer():
            def inner(x):
                # BEGIN SOLUTION
                return x + 1
                # END SOLUTION
            return inner
    ''')
    assert markers.regions(code)[0].function == "outer.inner"


def test_trailing_whitespace_tabs_nbgrader_spelling_and_crlf():
    code = ("def f(x):\r\n"
            "\t### BEGIN SOLUTION   \r\n"
            "\ty = x * 3\r\n"
            "\t### END SOLUTION\t\r\n"
            "\treturn y\r\n")
    out = markers.strip(code, "m.py")
    assert out == ("def f(x):\r\n"
                   "\t# YOUR CODE HERE\r\n"
                   '\traise NotImplementedError("m.f: not implemented yet -- see the handout")\r\n'
                   "\treturn y\r\n")


def test_several_regions_and_stub_selection_keeps_other_regions_as_code():
    code = src('''
        def forward(x):
            # BEGIN SOLUTION
            out = x * 2
            # END SOLUTION
            return out, x


        def backward(dout, cache):
            # BEGIN SOLUTION hint: the local gradient is 2
            dx = dout * 2
            # END SOLUTION
            return dx
    ''')
    assert [r.function for r in markers.regions(code)] == ["forward", "backward"]
    out = markers.strip(code, "double.py", stub={"backward"})
    assert "    out = x * 2\n" in out           # forward kept as reference code
    assert "dx = dout * 2" not in out
    assert "SOLUTION" not in out
    assert raises_of(out) == ["double.backward: the local gradient is 2 -- see the handout"]
    both = markers.strip(code, "double.py")
    assert len(raises_of(both)) == 2
    hinted = markers.strip(code, "double.py", stub={"backward"}, hints={"backward": 'say "2"'})
    assert raises_of(hinted) == ['double.backward: say "2" -- see the handout']


def test_markers_inside_strings_are_not_markers():
    code = src('''
        DOC = """
        # BEGIN SOLUTION
        """


        def f(x):
            return x
    ''')
    assert markers.regions(code) == []
    assert markers.strip(code, "m.py") == code


@pytest.mark.parametrize("code, line, words", [
    (src('''
        def f(x):
            # BEGIN SOLUTION
            y = 1
            # BEGIN SOLUTION
            z = 2
            # END SOLUTION
            # END SOLUTION
            return y
    '''), 4, "cannot nest"),
    (src('''
        def f(x):
            y = 1
            # END SOLUTION
            return y
    '''), 3, "without a matching BEGIN"),
    (src('''
        def f(x):
            # BEGIN SOLUTION
            y = 1
            return y
    '''), 2, "never closed"),
    (src('''
        def f(x):
            # BEGIN SOLUTION: hint typo
            y = 1
            # END SOLUTION
            return y
    '''), 2, "malformed"),
    (src('''
        def f(x):
            # begin solution
            y = 1
            # END SOLUTION
            return y
    '''), 2, "malformed"),
    (src('''
        def f(x):
            y = 1  # BEGIN SOLUTION
            return y
    '''), 2, "alone on its line"),
])
def test_marker_errors_name_file_and_line(code, line, words):
    with pytest.raises(MarkerError, match=words) as info:
        markers.strip(code, "pkg/bad.py")
    assert info.value.path == "pkg/bad.py"
    assert info.value.line == line
    assert str(info.value).startswith(f"pkg/bad.py:{line}: ")


def test_stub_that_breaks_the_code_is_an_error_at_the_region():
    code = src('''
        def f(x):
            if x:
            # BEGIN SOLUTION
                y = 1
            # END SOLUTION
            return y
    ''')
    with pytest.raises(MarkerError, match="does not compile") as info:
        markers.strip(code, "m.py")
    assert info.value.line == 3


def test_hint_with_quotes_and_backslashes_is_a_valid_literal():
    code = src('''
        def f(x):
            # BEGIN SOLUTION hint: use "x" \\ not 'y' {braces}
            y = x
            # END SOLUTION
            return y
    ''')
    out = markers.strip(code, "m.py")
    assert raises_of(out) == ["""m.f: use "x" \\ not 'y' {braces} -- see the handout"""]


def test_solution_lines_skip_blank_comment_and_trivial_lines():
    code = src('''
        def f(x):
            # BEGIN SOLUTION
            # a comment

            y = (
                x + 1
            )
            if y:
                pass
            else:
                y = 2
            # END SOLUTION
            return y
    ''')
    (region,) = markers.regions(code)
    assert [line.strip() for line in region.solution_lines] == [
        "y = (", "x + 1", "if y:", "y = 2"]


def test_leaks_finds_solution_lines_and_quoted_hints_but_not_public_code():
    (region,) = markers.regions(SIMPLE)
    assert markers.leaks([region], "nothing here\n") == []
    assert markers.leaks([region], "a\n  dx  =  dout * (1.0 - h * h)\n") == [
        (2, "  dx  =  dout * (1.0 - h * h)")]
    quoted = 'raise NotImplementedError("f: dx = dout * (1.0 - h * h) -- see the handout")\n'
    assert markers.leaks([region], quoted) == [(1, quoted.rstrip("\n"))]
    # The same line in code that students see anyway is not a secret.
    public = "def g():\n    dx = dout * (1.0 - h * h)\n"
    assert markers.leaks([region], "dx = dout * (1.0 - h * h)\n", public=public) == []
    stubbed = markers.strip(SIMPLE, "tanh.py")
    assert markers.leaks([region], stubbed, public=markers.outside(SIMPLE, [region])) == []


def test_leak_check_catches_a_hint_that_gives_the_answer():
    code = SIMPLE.replace("hint: multiply the upstream gradient by 1 - h**2",
                          "hint: dx = dout * (1.0 - h * h)")
    regions = markers.regions(code)
    out = markers.strip(code, "tanh.py")
    assert [n for n, _ in markers.leaks(regions, out)] == [14]


def test_region_at_module_level_has_no_function():
    code = src('''
        # BEGIN SOLUTION
        TABLE = [1, 2, 3]
        # END SOLUTION
    ''')
    (region,) = markers.regions(code)
    assert region.function is None
    assert raises_of(markers.strip(code, "m.py")) == [
        f"this code: {markers.DEFAULT_HINT} -- see the handout"]


# ------------------------------------------------------------ the reference hints themselves

def _hinted_regions() -> list[tuple[str, markers.Region]]:
    from pathlib import Path

    import handgrad

    root = Path(handgrad.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for region in markers.regions(path.read_text(encoding="utf-8"), path):
            if region.hint is not None:
                found.append((f"{path.relative_to(root.parent).as_posix()}:{region.begin}",
                              region))
    return found


def _hint_leaks(region: markers.Region, module: str) -> list[tuple[int, str]]:
    """The region's solution lines that its stub (the hint a student sees) would quote."""
    return markers.leaks([region], markers.stub_statement(region.function, region.hint, module))


HINTED = [pytest.param(region, id=where) for where, region in _hinted_regions()]


def test_the_reference_has_hints_to_check():
    assert len(HINTED) >= 15


@pytest.mark.parametrize("region", HINTED)
def test_no_reference_hint_quotes_a_solution_line_of_its_region(region):
    assert _hint_leaks(region, "module") == []


def test_the_hint_check_catches_a_quoting_hint():
    leaky = markers.regions(src('''
        def backward(dout, cache):
            x, w = cache
            # BEGIN SOLUTION hint: dw = x.T @ dout
            dw = x.T @ dout
            # END SOLUTION
            return dw
        '''))[0]
    assert _hint_leaks(leaky, "m") == [(1, markers.stub_statement("backward", leaky.hint, "m"))]
