"""Gradescope: the autograder zip, and ``handgrad grade --gradescope`` in an /autograder
layout (the root is overridden for the test), including the fallback results."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from grading_helpers import FIXTURE, fixture, reference_submission

from handgrad.grading.judging import results
from handgrad.grading.judging.gradescope import build_autograder_zip

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the grading sandbox is tested on Linux")

HANDGRAD = [sys.executable, "-m", "handgrad.cli"]


def autograder_root(tmp_path: Path) -> Path:
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    shutil.copytree(FIXTURE, root / "source" / "assignment")
    return root


def test_autograder_zip_has_setup_run_assignment_and_handgrad(tmp_path: Path) -> None:
    out = build_autograder_zip(fixture(), tmp_path / "autograder.zip")
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "assignment/assignment.toml",
                "assignment/handout.md", "handgrad-src/pyproject.toml",
                "handgrad-src/handgrad/__init__.py",
                "handgrad-src/handgrad/grading/sandbox/worker.py",
                "handgrad-src/handgrad/layers/affine.py"} <= names
        # nothing at the top of the unzipped folder can be imported as "handgrad"
        assert not any(n.split("/")[0] == "handgrad" for n in names)
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        for name in ("setup.sh", "run_autograder"):
            mode = zf.getinfo(name).external_attr >> 16
            assert mode & stat.S_IXUSR and zf.read(name).startswith(b"#!/usr/bin/env bash")
        run = zf.read("run_autograder").decode()
        assert "handgrad.cli grade /autograder/source/assignment --gradescope" in run
        assert '"max_score": 4,' in run  # the fallback written by the script itself
        fallback = run.split("<<'JSON'\n")[1].split("\nJSON")[0]
        assert results.validate(json.loads(fallback), points=4) == []
        assert b"pip install" in zf.read("setup.sh")


def test_gradescope_mode_grades_the_submission(tmp_path: Path) -> None:
    root = autograder_root(tmp_path)
    reference_submission(root / "submission")
    done = subprocess.run([*HANDGRAD, "grade", str(root / "source" / "assignment"),
                           "--gradescope", "--autograder-root", str(root), "--timeout", "5"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    obj = json.loads((root / "results" / "results.json").read_text())
    assert results.validate(obj, points=4.0) == []
    assert obj["score"] == 4 and obj["stdout_visibility"] == "hidden"
    assert {t["visibility"] for t in obj["tests"]} == {"visible", "after_due_date"}
    assert "secret_seed" not in obj["extra_data"]
    secrets = json.loads((root / "results" / "secrets.json").read_text())
    assert isinstance(secrets["secret_seed"], int) and secrets["draws"]
    assert str(secrets["secret_seed"]) not in json.dumps(obj)
    assert "score 4 / 4" in done.stdout


def test_gradescope_mode_one_broken_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    root = autograder_root(tmp_path)
    reference_submission(root / "submission", {"relu.py": "def forward(x):\n    return x, x\n"
                                                          "def backward(dout, cache):\n"
                                                          "    import time\n"
                                                          "    end = time.monotonic() + 120\n"
                                                          "    while time.monotonic() < end:\n"
                                                          "        pass\n"})
    monkeypatch.setenv("HANDGRAD_AUTOGRADER_ROOT", str(root))
    done = subprocess.run([*HANDGRAD, "grade", str(root / "source" / "assignment"),
                           "--gradescope", "--timeout", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    obj = json.loads((root / "results" / "results.json").read_text())
    assert obj["score"] == 3
    status = {t["extra_data"]["check_id"]: t["extra_data"]["handgrad_status"]
              for t in obj["tests"]}
    assert status["relu_backward"] == status["relu_backward.hidden"] == "timeout"


def test_gradescope_fallback_when_the_grader_fails(tmp_path: Path) -> None:
    root = autograder_root(tmp_path)
    (root / "submission").mkdir()
    done = subprocess.run([*HANDGRAD, "grade", str(root / "source" / "no-such-assignment"),
                           "--gradescope", "--autograder-root", str(root)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    obj = json.loads((root / "results" / "results.json").read_text())
    assert results.validate(obj) == []
    assert obj["score"] == 0 and "not with your code" in obj["output"]
    assert "assignment.toml" in obj["extra_data"]["grader_error"]


def test_batch_command_line(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    reference_submission(subs / "alice")
    reference_submission(subs / "bob", {"affine.py": "syntax error here(\n"})
    out = tmp_path / "out"
    cmd = [*HANDGRAD, "grade", str(FIXTURE), str(subs), "--out", str(out), "--workers", "2",
           "--seed", "5", "--memory", "512"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 submissions (2 graded" in done.stdout and "submissions/minute" in done.stdout
    lines = (out / "grades.csv").read_text().splitlines()
    assert lines[0] == "submission,score,max_score,affine_backward,relu_backward," \
                       "clip_grad_norm,status"
    assert lines[1] == "alice,4,4,2,1,1,ok"
    assert lines[2].startswith("bob,2,4,0,1,1,affine_backward=error")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["secret_seed"] == 5 and manifest["seed_source"] == "--seed"
    assert (out / "manifest.json").stat().st_mode & 0o777 == 0o600
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "0 graded, 2 unchanged and skipped" in again.stdout
