"""Which files a worker may read, for handgrad installed in different places.

A submission that walks the file system looking for other people's ``affine.py`` must find
neither other submissions nor the repository holding the reference, wherever that repository
was cloned and wherever the interpreter lives (a ``.venv`` inside a fresh clone included);
one that opens the installed reference by name must be flagged in every layout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import venv
from pathlib import Path

import numpy as np
import pytest
from grading_helpers import CORPUS, FIXTURE, copy_case

import handgrad
from handgrad.grading.sandbox import file_policy
from handgrad.grading.sandbox.worker import Guard


def make_tree(root: Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n")


def guarded_walk(guard: Guard, root: Path, depth: int = 3) -> list[str]:
    """The ``affine.py`` files a submission walking ``root`` could open, as the worker's guard
    allows listing and opening (what ``os.walk`` plus ``open`` would hit in a worker)."""
    found: list[str] = []

    def visit(folder: str, level: int) -> None:
        try:
            guard.check_listing((folder,))
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if level < depth:
                    visit(entry.path, level + 1)
            elif entry.name == "affine.py":
                try:
                    guard.check_open((entry.path, "r"))
                    found.append(os.path.realpath(entry.path))
                except PermissionError:
                    pass

    visit(str(root), 0)
    return found


def guard_for(policy: file_policy.FilePolicy, protected: list[Path]) -> Guard:
    return Guard({"protected_files": [str(p) for p in protected],
                  "deny_read": list(policy.deny), "allow_read": list(policy.allow)})


# ------------------------------------------------------------------------------- the policy


def test_repository_is_refused_even_with_the_interpreter_inside_it(tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    site = repo / ".venv" / "lib" / "python3" / "site-packages"
    make_tree(repo, ["pyproject.toml", "handgrad/layers/affine.py", "tests/adversarial/x.py",
                     ".venv/lib/python3/site-packages/numpy/core.py"])
    policy = file_policy.policy((), package=repo / "handgrad",
                                needed=[repo / ".venv", site, Path("/usr/lib/python3")])
    assert str(repo.resolve()) in policy.deny
    assert str((repo / "handgrad").resolve()) in policy.allow
    assert str((repo / ".venv").resolve()) in policy.allow
    assert str(repo.resolve()) not in policy.allow
    assert "/usr/lib/python3" not in policy.allow   # outside the repository: nothing to allow


def test_interpreter_at_the_repository_root_does_not_reopen_it(tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    site = repo / "lib" / "python3" / "site-packages"
    make_tree(repo, [".git/HEAD", "handgrad/__init__.py", "lib/python3/site-packages/a.py"])
    policy = file_policy.policy((), package=repo / "handgrad", needed=[repo, site])
    assert str(repo.resolve()) in policy.deny
    assert str(repo.resolve()) not in policy.allow
    assert str(site.resolve()) in policy.allow


def test_regular_install_refuses_only_the_graders_folders(tmp_path: Path) -> None:
    site = tmp_path / "venv" / "lib" / "python3" / "site-packages"
    make_tree(site, ["handgrad/__init__.py", "numpy/__init__.py"])
    grader = tmp_path / "submissions"
    policy = file_policy.policy((), package=site / "handgrad", deny=[grader],
                                needed=[tmp_path / "venv", site])
    assert policy.deny == (str(grader.resolve()),)
    assert policy.allow == (str((site / "handgrad").resolve()),)


def test_protected_files_are_the_installed_sources() -> None:
    import handgrad.layers.affine as affine

    policy = file_policy.policy(["handgrad.layers.affine", "handgrad.no_such_module"])
    assert policy.protected == (os.path.realpath(affine.__file__),)
    assert file_policy.installed_package() == Path(handgrad.__file__).resolve().parent


@pytest.mark.parametrize("layout", ["venv inside the clone", "venv at the clone's root",
                                    "venv outside the clone"])
def test_a_walk_never_reaches_the_reference_but_opening_it_is_flagged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    root = tmp_path / "tmp"
    repo = root / "clone"
    prefix = {"venv inside the clone": repo / ".venv", "venv at the clone's root": repo,
              "venv outside the clone": root / "venv"}[layout]
    site = prefix / "lib" / "python3" / "site-packages"
    make_tree(repo, ["pyproject.toml", "handgrad/__init__.py", "handgrad/layers/affine.py",
                     "tests/adversarial/case/affine.py"])
    make_tree(site, ["numpy/__init__.py"])
    make_tree(root, ["other_submission/affine.py"])
    work = root / "workspace" / "w1"
    make_tree(work, ["affine.py"])
    reference = repo / "handgrad" / "layers" / "affine.py"
    policy = file_policy.policy((), package=repo / "handgrad",
                                deny=[root / "workspace", root / "other_submission"],
                                needed=[prefix, site])
    monkeypatch.chdir(work)
    guard = guard_for(policy, [reference])
    for depth in (3, 6):
        found = guarded_walk(guard, root, depth)
        assert found == [], found
    assert guard.flags == []
    guard.check_open((str(site / "numpy" / "__init__.py"), "rb"))      # the interpreter reads
    with pytest.raises(PermissionError, match="reference implementation"):
        guard.check_open((str(reference), "r"))
    assert guard.flags == ["tries to read the reference source affine.py"]


# ------------------------------------------------------------------------------- end to end

GRADE = textwrap.dedent("""
    import json, sys
    from pathlib import Path

    import handgrad
    from handgrad.grading.authoring import spec
    from handgrad.grading.judging import runner

    fixture, subs = Path(sys.argv[1]), Path(sys.argv[2])
    out = {"handgrad": handgrad.__file__, "results": {}}
    with runner.Grader(spec.load(fixture), which="public", deny_read=[subs]) as grader:
        out["protected"] = grader.protected
        for sub in sorted(subs.iterdir()):
            res = grader.grade(sub)
            out["results"][sub.name] = {c.check_id: [c.status, c.message] for c in res.checks}
    print(json.dumps(out))
""")


def site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.run([str(python), "-I", "-c", code], check=True,
                               capture_output=True, text=True).stdout.strip())


def install_copy(layout: str, base: Path) -> Path:
    """A copy of the installed handgrad at a new path, run by a new interpreter; its python."""
    package = Path(handgrad.__file__).resolve().parent
    ignore = shutil.ignore_patterns("__pycache__")
    deps = str(Path(np.__file__).resolve().parent.parent)     # numpy, tqdm, matplotlib
    if layout == "editable, venv inside the clone":
        repo = base
        shutil.copytree(package, repo / "handgrad", ignore=ignore)
        (repo / "pyproject.toml").write_text("[project]\nname = 'handgrad'\n")
        env = repo / ".venv"
        venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
        lines = [str(repo), deps]
    else:  # a regular install into site-packages
        env = base / "venv"
        venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
        shutil.copytree(package, site_packages(env / "bin" / "python") / "handgrad",
                        ignore=ignore)
        lines = [deps]
    (site_packages(env / "bin" / "python") / "handgrad-test-paths.pth").write_text(
        "\n".join(lines) + "\n")
    return env / "bin" / "python"


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the grading sandbox is tested on Linux")
@pytest.mark.parametrize("layout", ["editable, venv inside the clone",
                                    "regular install into site-packages"])
def test_reference_elsewhere(tmp_path: Path, layout: str) -> None:
    subs = tmp_path / "submissions"
    for name in ("read_other_submissions", "reads_reference_source"):
        copy_case(CORPUS / name, subs / name)
    # a clone right under the temporary folder, where workers' folders live: a worker walking
    # the folders around it reaches TMP/clone/handgrad/layers/affine.py unless the clone is
    # refused to workers
    base = Path(tempfile.mkdtemp())
    try:
        os.chmod(base, 0o755)          # workers run as another user when grading as root
        python = install_copy(layout, base)
        run = subprocess.run([str(python), "-I", "-c", GRADE, str(FIXTURE), str(subs)],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        out = json.loads(run.stdout)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    real_base = str(base.resolve()) + os.sep
    assert out["handgrad"].startswith(real_base)
    # affine, relu and clipping as installed, and relu's tuned twin (the same answers)
    assert [p.startswith(real_base) for p in out["protected"]] == [True] * 4
    assert any(p.endswith(os.path.join("handgrad", "fast", "relu.py")) for p in out["protected"])
    other = out["results"]["read_other_submissions"]
    assert {cid: s for cid, (s, _) in other.items()} == {
        "affine_backward": "passed", "relu_backward": "passed", "clip_grad_norm": "passed"
    }, other
    status, message = out["results"]["reads_reference_source"]["affine_backward"]
    assert status == "flagged"
    assert "tries to read the reference source affine.py" in message
