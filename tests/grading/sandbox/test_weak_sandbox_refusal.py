"""Where bubblewrap cannot run, ``handgrad grade`` refuses unless --allow-weak-sandbox; the
seed stays off the command line there; ``handgrad assign --package`` writes the student's
solution-free package."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from handgrad import cli
from handgrad.grading.judging import batch, runner

ROOT = Path(__file__).resolve().parents[3]
ASSIGNMENT = ROOT / "assignments" / "backprop-basics"


@pytest.fixture()
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "strong_sandbox_problem",
                        lambda: "bubblewrap (bwrap) is not installed")


def test_choose_sandbox_refuses_without_permission(no_bwrap: None) -> None:
    with pytest.raises(runner.SandboxError, match="--allow-weak-sandbox"):
        runner.choose_sandbox(False)
    assert runner.choose_sandbox(True) == "weak"


def test_grade_refuses_and_says_why(no_bwrap: None, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "subs").mkdir()
    code = batch.grade_batch(str(ASSIGNMENT), str(tmp_path / "subs"), str(tmp_path / "out"),
                             progress=False)
    assert code == 2
    err = capsys.readouterr().err
    assert "not installed" in err and "--allow-weak-sandbox" in err
    assert not (tmp_path / "out").exists()


def test_seed_on_the_command_line_is_refused_in_the_weak_sandbox(
        no_bwrap: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "subs").mkdir()
    code = cli.main(["grade", str(ASSIGNMENT), str(tmp_path / "subs"), "--out",
                     str(tmp_path / "out"), "--seed", "5", "--allow-weak-sandbox"])
    assert code == 2 and "--seed-file" in capsys.readouterr().err


def test_seed_file_is_read(tmp_path: Path) -> None:
    import argparse

    from handgrad.commands.grade import read_seed

    (tmp_path / "seed").write_text("12345\n")
    ns = argparse.Namespace(seed=None, seed_file=str(tmp_path / "seed"))
    assert read_seed(ns) == (12345, None)
    (tmp_path / "seed").write_text("twelve")
    assert read_seed(ns)[0] is None and "expected one integer" in read_seed(ns)[1]
    both = argparse.Namespace(seed=3, seed_file=str(tmp_path / "seed"))
    assert read_seed(both) == (None, "give --seed or --seed-file, not both")


def test_assign_writes_the_solution_free_package(tmp_path: Path) -> None:
    code = cli.main(["assign", str(ASSIGNMENT), "--out", str(tmp_path / "starter"),
                     "--package", str(tmp_path / "pkg")])
    assert code == 0
    pkg = tmp_path / "pkg"
    assert (pkg / "pyproject.toml").is_file()
    affine = (pkg / "handgrad" / "layers" / "affine.py").read_text()
    assert "NotImplementedError" in affine and "BEGIN SOLUTION" not in affine
    assert (pkg / "handgrad" / "grading" / "judging" / "runner.py").is_file()
    assert not (pkg / "handgrad" / "fast").exists()
    assert sys.version_info >= (3, 10)
