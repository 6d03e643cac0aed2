"""``handgrad check``: the student's table, hints and exit code."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from handgrad import cli
from handgrad.grading.authoring import spec, starter
from handgrad.grading.judging import table

ROOT = Path(__file__).resolve().parents[1] / "assignments"
ANSI = re.compile(r"\033\[")


def result(check_id, status, score, max_score, **kw):
    base = dict(check_id=check_id, name=check_id, status=status, score=score,
                max_score=max_score, max_rel_error=None, worst=None, message="", hint=None,
                output="")
    base.update(kw)
    return SimpleNamespace(**base)


def checks_by_id():
    a = spec.load(ROOT / "backprop-basics")
    return {c.id: c for c in a.checks}


# ---------------------------------------------------------------------- rendering (no engine)


def test_render_table_statuses_points_and_total():
    by_id = checks_by_id()
    res = SimpleNamespace(score=3.0, max_score=10.0, checks=[
        result("affine_backward", "passed", 2.0, 2.0, max_rel_error=3.2e-11,
               worst={"gradient": "dw", "index": [1, 2], "analytic": 0.5, "expected": 0.5}),
        result("relu_backward", "not_implemented", 0.0, 1.0,
               message="not implemented: backward raises NotImplementedError"),
        result("sigmoid_backward", "failed", 0.0, 1.0, max_rel_error=0.333,
               worst={"gradient": "dx", "index": [2, 0], "analytic": 0.5, "expected": 0.25},
               message="dx is wrong: max relative error 0.333 > tolerance 1e-06"),
        result("tanh_backward", "timeout", 0.0, 1.0, message="time limit exceeded (20 s)"),
        result("softmax_cross_entropy_backward", "error", 0.0, 3.0,
               message="backward raised ValueError: operands could not be broadcast"),
        result("huber_backward", "passed", 1.0, 1.0, max_rel_error=1e-12),
    ])
    text = table.render(res, by_id, color=False)
    assert not ANSI.search(text)
    lines = text.splitlines()
    row = {name: next(line for line in lines if line.strip().startswith(name + " "))
           for name in ("affine.backward", "relu.backward", "sigmoid.backward",
                        "tanh.backward", "softmax_cross_entropy.backward")}
    assert "passed" in row["affine.backward"] and row["affine.backward"].endswith("2/2")
    assert "3.2e-11" in row["affine.backward"]
    assert "not implemented" in row["relu.backward"] and row["relu.backward"].endswith("0/1")
    assert "failed" in row["sigmoid.backward"] and "dx[2, 0]: 0.5 vs 0.25" in \
        row["sigmoid.backward"]
    assert "timed out" in row["tanh.backward"]
    assert "error" in row["softmax_cross_entropy.backward"]
    # one hint line under every row that did not pass, none under the passing ones
    after = {name: lines[lines.index(line) + 1] for name, line in row.items()}
    assert after["affine.backward"].strip().startswith("relu.backward")
    assert "raises NotImplementedError" in after["relu.backward"]
    relu = lines[lines.index(row["relu.backward"]) + 1:lines.index(row["sigmoid.backward"])]
    assert any("YOUR CODE HERE" in s for s in relu)
    assert "operands could not be broadcast" in after["softmax_cross_entropy.backward"]
    sig = lines[lines.index(row["sigmoid.backward"]) + 1:lines.index(row["tanh.backward"])]
    assert not any("hint:" in s for s in sig)   # no guess from one entry's ratio
    assert "total: 3/10 points (2 passed, 1 not implemented, 1 failed, 1 timed out, 1 error)" \
        in text
    assert "Traceback" not in text


def test_render_with_color_only_when_asked():
    res = SimpleNamespace(score=2.0, max_score=2.0, checks=[
        result("affine_backward", "passed", 2.0, 2.0, max_rel_error=1e-10)])
    assert ANSI.search(table.render(res, checks_by_id(), color=True))
    plain = table.render(res, checks_by_id(), color=False)
    assert not ANSI.search(plain) and "All public checks pass" in plain


def test_engine_hint_wins_over_pattern_hint():
    r = result("x", "failed", 0, 1, hint="your dx is transposed",
               worst={"gradient": "dx", "index": [0], "analytic": 2.0, "expected": 1.0})
    assert table.explain(r)[-1] == "hint: your dx is transposed"


@pytest.mark.parametrize("yours, expected", [(4.0, 1.0), (0.2, 1.0), (-0.7, 0.7), (0.0, 0.3),
                                              (535.0, 1.0)])
def test_no_hint_from_one_entrys_ratio(yours, expected):
    # one entry says nothing about the whole gradient: only the runner names patterns
    r = result("x", "failed", 0, 1, message="dx is wrong",
               worst={"gradient": "dx", "index": [1, 1], "analytic": yours,
                      "expected": expected})
    assert table.pattern_hint(r) is None


@pytest.mark.parametrize("yours", [math.nan, math.inf])
def test_a_nan_or_inf_in_the_message_is_named(yours):
    r = result("x", "failed", 0, 1, message=f"dx contains 1 {'NaN' if yours != yours else 'inf'}"
               " of 6 entries", max_rel_error=math.inf)
    assert "NaN" in table.pattern_hint(r)


def test_pattern_hints_from_the_message():
    shape = result("x", "failed", 0, 1, message="dw has shape (3, 5), expected shape (5, 3)")
    assert "wrong shape" in table.pattern_hint(shape)
    nan = result("x", "failed", 0, 1, message="dx has NaN entries", max_rel_error=math.nan)
    assert "NaN" in table.pattern_hint(nan)
    unrelated = result("x", "failed", 0, 1, message="dx is wrong",
                       worst={"gradient": "dx", "index": [0], "analytic": 0.31,
                              "expected": 0.27})
    assert table.pattern_hint(unrelated) is None


def test_check_without_assignment_toml_says_where_to_run(tmp_path, capsys):
    assert cli.main(["check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no assignment.toml" in err and "Traceback" not in err


# ------------------------------------------------------------------ with the grading engine


def _engine():
    pytest.importorskip("handgrad.grading.judging.runner")


@pytest.fixture(scope="module")
def basics_starter(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check") / "starter"
    starter.write(spec.load(ROOT / "backprop-basics"), folder)
    return folder


@pytest.fixture(scope="module")
def basics_solved(tmp_path_factory, basics_starter):
    """The starter with the reference modules copied in: a perfect submission."""
    folder = tmp_path_factory.mktemp("check") / "solved"
    shutil.copytree(basics_starter, folder)
    for module in spec.load(ROOT / "backprop-basics").modules:
        origin, _ = starter.module_source(module)
        shutil.copyfile(origin, folder / starter.student_filename(module))
    return folder


def _rows(text: str) -> dict[str, str]:
    return {line.split()[0]: line for line in text.splitlines()
            if line.startswith("  ") and line.split() and line.split()[0].endswith(".backward")}


def test_untouched_starter_is_all_not_implemented(basics_starter, capsys):
    _engine()
    assert cli.main(["check", str(basics_starter)]) == 1
    out = capsys.readouterr().out
    rows = _rows(out)
    assert len(rows) == 6
    for line in rows.values():
        assert "not implemented" in line, line
        assert re.search(r"0/\d+$", line), line
    assert "total: 0/10 points (0 passed, 6 not implemented)" in out
    assert "Traceback" not in out


def test_reference_solution_passes_everything(basics_solved, capsys):
    _engine()
    assert cli.main(["check", str(basics_solved)]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert len(rows) == 6 and all(" passed " in line for line in rows.values()), out
    assert "total: 10/10 points (6 passed)" in out


def test_one_wrong_function_fails_alone_with_a_hint(basics_solved, tmp_path, capsys):
    _engine()
    folder = tmp_path / "one-wrong"
    shutil.copytree(basics_solved, folder)
    path = folder / "sigmoid.py"
    text = path.read_text()
    # the local gradient doubled: off by a factor of 2 (the last such line: the code, not the
    # docstring)
    head, found, tail = text.rpartition("    dx = dout * out * (1 - out)\n")
    assert found
    wrong = head + "    dx = 2.0 * dout * out * (1 - out)\n" + tail
    path.write_text(wrong)
    assert cli.main(["check", str(folder)]) == 1
    out = capsys.readouterr().out
    rows = _rows(out)
    assert "failed" in rows["sigmoid.backward"] and rows["sigmoid.backward"].endswith("0/1")
    others = [line for name, line in rows.items() if name != "sigmoid.backward"]
    assert len(others) == 5 and all(" passed " in line for line in others), out
    lines = out.splitlines()
    below = lines[lines.index(rows["sigmoid.backward"]) + 1:]
    hints = [line for line in below[:3] if "hint:" in line]
    assert hints and "twice the expected" in hints[0], out
    assert "total: 9/10 points (5 passed, 1 failed)" in out
