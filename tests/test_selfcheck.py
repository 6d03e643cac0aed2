"""``check(...)`` from Python and ``handgrad check [DIR] [NAME ...]``: selection, unknown names,
the same table as the command, and a re-run after an edit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from handgrad import cli
from handgrad.grading import CheckReport, check
from handgrad.grading.authoring import spec, starter
from handgrad.grading.judging.selection import UnknownCheckError, select

ROOT = Path(__file__).resolve().parents[1] / "assignments"


def basics():
    return spec.load(ROOT / "backprop-basics")


def rnn_assignment():
    return spec.load(ROOT / "batchnorm-rnn")


# ------------------------------------------------------------------------- selection alone


@pytest.mark.parametrize("name, expected", [
    ("relu_backward", ["relu_backward"]),
    ("relu", ["relu_backward"]),
    ("relu.py", ["relu_backward"]),
    ("relu.backward", ["relu_backward"]),
    ("RELU", ["relu_backward"]),
    ("handgrad.layers.relu:backward", ["relu_backward"]),
    ("softmax_cross_entropy", ["softmax_cross_entropy_backward"]),
])
def test_a_name_selects_by_id_file_module_or_function(name, expected):
    assert [c.id for c in select(basics().checks, [name])] == expected


def test_names_of_a_function_with_several_checks_select_all_of_them():
    checks = rnn_assignment().checks
    assert [c.id for c in select(checks, ["rnn.step_backward"])] == [
        "rnn_step_backward", "rnn_step_backward_relu"]
    assert [c.id for c in select(checks, ["rnn"])] == [
        "rnn_step_backward", "rnn_step_backward_relu", "rnn_backward", "rnn_backward_relu"]
    # a registry op picks one check of the function
    assert [c.id for c in select(checks, ["rnn_step_relu"])] == ["rnn_step_backward_relu"]
    assert [c.id for c in select(checks, ["batchnorm_test"])] == [
        "batchnorm_backward_test_mode"]


def test_several_names_give_the_union_in_the_assignments_order():
    chosen = select(basics().checks, ["huber", "relu", "relu_backward"])
    assert [c.id for c in chosen] == ["relu_backward", "huber_backward"]
    assert len(select(basics().checks, [])) == 6


def test_an_unknown_name_suggests_the_nearest():
    with pytest.raises(UnknownCheckError) as info:
        select(basics().checks, ["relu_bakward"], caller="check")
    message = str(info.value)
    assert message.startswith("check: no check matches 'relu_bakward'")
    assert "did you mean 'relu_backward'" in message
    assert "affine_backward" in message          # the list of checks follows
    with pytest.raises(UnknownCheckError, match="no check matches 'zzz'") as info:
        select(basics().checks, ["zzz"])
    assert "did you mean" not in str(info.value)
    with pytest.raises(TypeError, match="check names must be strings"):
        select(basics().checks, [3])


# ----------------------------------------------------------------------- with the engine


@pytest.fixture(scope="module")
def untouched(tmp_path_factory):
    pytest.importorskip("handgrad.grading.judging.runner")
    folder = tmp_path_factory.mktemp("selfcheck") / "starter"
    starter.write(basics(), folder)
    return folder


# A student's relu.py, written from the math: out = max(x, 0), dx = dout where out > 0.
STUDENT_RELU = """import numpy as np


def forward(x):
    out = np.maximum(x, 0)
    return out, out


def backward(dout, cache):
    return dout * (cache > 0)
"""


def test_check_returns_the_rows_and_prints_the_commands_table(untouched, capsys):
    report = check(folder=untouched)
    printed = capsys.readouterr().out
    assert isinstance(report, CheckReport)
    assert [c.id for c in report] == [c.id for c in basics().checks]
    assert all(c.status == "not_implemented" for c in report)
    assert report.score == 0 and report.max_score == 10 and not report.passed
    assert report["relu.backward"] is report["relu_backward"]
    assert "NotImplementedError" in report["relu_backward"].message
    assert report["relu_backward"].hint
    assert printed == report.text + "\n"
    assert "total: 0/10 points (0 passed, 6 not implemented)" in printed
    # the command prints exactly the same (no terminal: no colors, no progress line)
    assert cli.main(["check", str(untouched)]) == 1
    assert capsys.readouterr().out == printed
    assert repr(report).startswith("<CheckReport 0/10 points: affine_backward: not implemented")


def test_check_runs_only_the_named_checks_like_the_command(untouched, capsys, monkeypatch):
    report = check("relu", "tanh.backward", folder=untouched)
    printed = capsys.readouterr().out
    assert [c.id for c in report] == ["relu_backward", "tanh_backward"]
    assert report.max_score == 2
    assert "sigmoid.backward" not in printed and "total: 0/2 points" in printed
    assert cli.main(["check", str(untouched), "relu", "tanh.backward"]) == 1
    assert capsys.readouterr().out == printed
    # inside the folder the first name is a name, not a folder
    monkeypatch.chdir(untouched)
    assert cli.main(["check", "relu", "tanh.backward"]) == 1
    assert capsys.readouterr().out == printed


def test_unknown_names_are_errors_that_suggest(untouched, capsys):
    with pytest.raises(UnknownCheckError, match="did you mean 'relu_backward'"):
        check("relu_bakward", folder=untouched)
    assert cli.main(["check", str(untouched), "relu_bakward"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("handgrad check: no check matches 'relu_bakward'; did you "
                                   "mean 'relu_backward'?")


def test_a_folder_without_assignment_toml(tmp_path, capsys, monkeypatch):
    with pytest.raises(FileNotFoundError, match="check: no assignment.toml in"):
        check(folder=tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "no/such/folder"]) == 2
    assert "no/such/folder is not a folder" in capsys.readouterr().err


def test_a_rerun_sees_an_edit_saved_in_the_same_second(untouched, tmp_path, capsys):
    folder = tmp_path / "edited"
    shutil.copytree(untouched, folder)
    path = folder / "relu.py"
    path.write_text(STUDENT_RELU)
    assert check("relu", folder=folder, show=False)["relu_backward"].status == "passed"
    # An edit of the same size with the same modification time: a cached bytecode check
    # (size and mtime) could not tell the two files apart.
    text = path.read_text()
    stat = path.stat()
    wrong = text.replace("(cache > 0)", "(cache < 0)")
    assert wrong != text and len(wrong) == len(text)
    path.write_text(wrong)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = check("relu", folder=folder, show=False)
    assert again["relu_backward"].status == "failed", again.text
    assert capsys.readouterr().out == ""          # show=False prints nothing
