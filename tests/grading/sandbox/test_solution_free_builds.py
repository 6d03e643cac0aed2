"""The solution-free builds: the sandbox's handgrad and the student's package hold no line of
any reference solution, and still work for what they are for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from handgrad.grading.authoring import markers, solution_free


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("builds")
    return {"sandbox": solution_free.build_sandbox(base / "sandbox" / "handgrad"),
            "student": solution_free.build_student(base / "student" / "handgrad")}


def test_no_solution_line_survives(builds: dict[str, Path]) -> None:
    root = solution_free.package_root()
    affine = (root / "layers" / "affine.py").read_text()
    lines = [markers.normalize(s) for r in markers.regions(affine) for s in r.solution_lines]
    assert lines, "the reference affine.py has solution regions"
    for build in builds.values():
        text = (build / "layers" / "affine.py").read_text()
        assert "NotImplementedError" in text
        assert "BEGIN SOLUTION" not in text
        for line in lines:
            if len(line) >= 12 and line not in markers.outside(affine, markers.regions(affine)):
                assert line not in text, line
        assert solution_free.leaks(build, solution_free.solution_lines()) == []


def test_a_leak_is_found(tmp_path: Path) -> None:
    secret = solution_free.solution_lines()
    some = sorted(secret)[0]
    (tmp_path / "copy.py").write_text(f"x = 1\n    {some}\n")
    assert solution_free.leaks(tmp_path, secret) == ["copy.py:2"]


def test_sandbox_build_is_small(builds: dict[str, Path]) -> None:
    top = sorted(p.name for p in builds["sandbox"].iterdir())
    for absent in ("fast", "gradcheck", "practice", "commands", "models"):
        assert absent not in top
    assert not (builds["sandbox"] / "grading" / "judging").exists()
    assert (builds["sandbox"] / "grading" / "sandbox" / "worker.py").is_file()


def test_student_build_runs_check_but_not_the_answers(builds: dict[str, Path]) -> None:
    pkg = builds["student"]
    assert not (pkg / "fast").exists() and not (pkg / "practice").exists()
    code = ("import numpy as np, handgrad.layers.affine as a\n"
            "from handgrad.grading.judging import runner\n"
            "out, cache = a.forward(np.ones((2, 3)), np.ones((3, 4)), np.ones(4))\n"
            "try:\n    a.backward(np.ones((2, 4)), cache)\n"
            "except NotImplementedError:\n    print('stub')\n"
            "print(a.__file__)\n")
    done = subprocess.run([sys.executable, "-I", "-c",
                           f"import sys; sys.path.insert(0, {str(pkg.parent)!r})\n" + code],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout.split()
    assert out[0] == "stub" and out[1].startswith(str(pkg))
