"""What a starter must not hand over: how lines are compared, and which hints state a formula."""

from __future__ import annotations

import pytest

from handgrad.grading.authoring import leakcheck


def test_without_comment_keeps_hashes_inside_quotes():
    assert leakcheck.without_comment("dx = dout  # mask") == "dx = dout  "
    assert leakcheck.without_comment('s = "#1"  # x') == 's = "#1"  '
    assert leakcheck.without_comment("no comment") == "no comment"


def test_code_keys_drop_comments_and_whitespace():
    assert leakcheck.code_keys("a = b  # c\n  x=1\n") == ["a=b", "x=1"]


def secrets(*lines, code=True):
    s = leakcheck.Secrets()
    for i, line in enumerate(lines):
        s.add(line, f"ref:{i}", code=code)
    return s


def test_a_solution_line_matches_respaced_recommented_and_quoted_inline():
    s = secrets("dx = dout * (out > 0)  # the mask")
    text = "\n".join([
        "nothing here",
        "dx=dout*(out>0)",
        "        dx = dout *  (out > 0)   # mine",
        "The answer is `dx = dout * (out > 0)` as you see.",
        "dx = dout * (out >= 0)",
    ])
    assert [(n, where) for n, _, where in s.find(text)] == [(2, "ref:0"), (3, "ref:0"),
                                                           (4, "ref:0")]


def test_short_or_non_computing_secrets_match_whole_lines_only():
    s = secrets("return dx", "dx=d*x")
    assert [n for n, _, _ in s.find("return dx\nreturn dx with x's shape\ndx = d*x\n"
                                    "so dx=d*x here\n")] == [1, 3]


def test_lines_shown_anyway_are_not_secrets():
    s = secrets("n = x.shape[0]", "db = dout.sum(axis=0)")
    s.publish("def f(x):\n    n = x.shape[0]  # also in the forward\n")
    assert [where for _, _, where in s.find("n = x.shape[0]\ndb = dout.sum(axis=0)\n")] == \
        ["ref:1"]


def test_trivial_lines_are_never_secrets():
    s = secrets("else:", "x", "::", "  ", code=False)
    assert s.find("else:\nx\n::\n") == []


def test_a_docstring_line_matches_with_or_without_its_comment():
    s = secrets("    dx = 3 * dout   # scales by three", code=False)
    assert [n for n, _, _ in s.find("dx = 3 * dout\ndx = 3 * dout # scales by three\n")] == [1, 2]


@pytest.mark.parametrize("hint", [
    "write out one entry of out; dx goes back to x's shape, dw is (D, M), db (M,)",
    "differentiate tanh, then write the result with the cached output h",
    "stack the N*T positions as rows (N*T, D), as forward did",
    "loop from the last step to the first; what else reaches h_t but dh?",
])
def test_hints_that_guide_pass(hint):
    assert leakcheck.formula_in_hint(hint, ["dx = dout * (1 - h * h)"]) is None


@pytest.mark.parametrize("hint, why", [
    ("dx = dout where the output is positive", "writes an assignment"),
    ("g = dout / n is computed above", "writes an assignment"),
    ("with s the cached output, s * (1 - s)", "writes an arithmetic expression"),
    ("use 1 - h**2", "writes an arithmetic expression"),
    ("dout w^T in x's shape", "writes an arithmetic expression"),
    ("x @ Wx for every step", "writes an arithmetic expression"),
    ("it is dout.sum(axis=0) over the batch", "quotes the solution"),
])
def test_hints_that_state_a_formula_are_named(hint, why):
    problem = leakcheck.formula_in_hint(hint, ["db = dout.sum(axis=0)"])
    assert problem is not None and problem.startswith(why)
