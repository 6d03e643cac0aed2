"""Gradescope: the autograder zip, and grading inside Gradescope's ``/autograder`` layout.

:func:`build_autograder_zip` writes the zip to upload as the assignment's autograder::

    setup.sh          installs Python, NumPy and handgrad (from the source shipped in the zip)
    run_autograder    handgrad grade /autograder/source/assignment --gradescope
    assignment/       the assignment folder (assignment.toml with the hidden checks, handout)
    handgrad-src/     handgrad's source (pyproject.toml + the package), installed by setup.sh;
                      not named ``handgrad/`` so that, unzipped and tried locally, it cannot
                      shadow the installed handgrad as a namespace package

:func:`grade_gradescope` is what ``handgrad grade ASSIGNMENT --gradescope`` runs: it grades
``ROOT/submission`` with the public and hidden checks (a fresh secret seed per run, recorded in
the instructor-only ``ROOT/results/secrets.json``, never in results.json) and writes
``ROOT/results/results.json`` once, atomically, after every worker
has ended. If the grader itself fails, it writes a fallback results.json (score 0, saying it
is not the student's fault) instead. ``ROOT`` is ``/autograder`` unless ``--autograder-root``
or the environment variable ``HANDGRAD_AUTOGRADER_ROOT`` says otherwise (tests use this).
"""

from __future__ import annotations

import os
import stat
import time
import traceback
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from handgrad._files import atomic_write
from handgrad.grading.authoring.spec import Assignment

if TYPE_CHECKING:  # pragma: no cover - a name for the annotations only
    from handgrad.grading.sandbox import Limits

DEFAULT_ROOT = "/autograder"
SOURCE_DIR = "handgrad-src"    # handgrad's source in the zip (never "handgrad": see above)
ROOT_ENV = "HANDGRAD_AUTOGRADER_ROOT"

SETUP_SH = """#!/usr/bin/env bash
# Runs once, when Gradescope builds the autograder image: installs Python and handgrad.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq python3 python3-pip >/dev/null
fi
python3 -m pip install --no-cache-dir /autograder/source/handgrad-src \\
  || python3 -m pip install --no-cache-dir --break-system-packages /autograder/source/handgrad-src
python3 -c "import handgrad, numpy; print('handgrad', handgrad.__version__, \\
  'numpy', numpy.__version__)"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Grades /autograder/submission into /autograder/results/results.json.
cd /autograder/source
python3 -m handgrad.cli grade /autograder/source/assignment --gradescope
status=$?
if [ ! -s /autograder/results/results.json ]; then
  # handgrad could not even start: still give Gradescope a valid results file.
  mkdir -p /autograder/results
  cat > /autograder/results/results.json <<'JSON'
{"score": 0,
 "output": "The autograder could not start. This is not a problem with your code.",
 "stdout_visibility": "hidden",
 "tests": [{"name": "autograder", "number": "1", "score": 0, "max_score": @POINTS@,
            "status": "failed", "output": "grader error: handgrad did not start"}]}
JSON
fi
exit 0
"""

PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "handgrad"
version = "@VERSION@"
requires-python = ">=3.10"
dependencies = ["numpy>=1.24", "tqdm>=4.60", "tomli>=1.1; python_version < '3.11'"]

[project.scripts]
handgrad = "handgrad.cli:main"

[tool.setuptools.packages.find]
include = ["handgrad*"]

[tool.setuptools.package-data]
"handgrad.data" = ["*.gz", "*.txt", "*.md"]
"""


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    zf.writestr(info, data)


def _tree(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                continue
            p = Path(dirpath) / name
            if p.is_file() and not p.is_symlink():
                out.append(p)
    return out


def build_autograder_zip(assignment: Assignment, out_path: str | Path) -> Path:
    """Write the Gradescope autograder zip for ``assignment`` to ``out_path``; return it."""
    from handgrad import __version__
    from handgrad.grading.authoring.spec import student_files
    from handgrad.grading.sandbox.file_policy import installed_package

    student_files(assignment)  # the layout must be valid before anything is shipped
    out_path = Path(out_path)
    package = installed_package()
    points = assignment.points
    points_s = str(int(points)) if float(points).is_integer() else repr(float(points))

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w") as zf:
            _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
            _add(zf, "run_autograder", RUN_AUTOGRADER.replace("@POINTS@", points_s).encode(),
                 executable=True)
            for p in _tree(assignment.folder):
                _add(zf, "assignment/" + p.relative_to(assignment.folder).as_posix(),
                     p.read_bytes())
            _add(zf, f"{SOURCE_DIR}/pyproject.toml",
                 PYPROJECT.replace("@VERSION@", __version__).encode())
            for p in _tree(package):
                _add(zf, f"{SOURCE_DIR}/handgrad/" + p.relative_to(package).as_posix(),
                     p.read_bytes())

    return atomic_write(out_path, write, fsync=False)


def autograder_root(option: str | None = None) -> Path:
    return Path(option or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def grade_gradescope(assignment_path: str | Path, *, root: str | Path | None = None,
                     seed: int | None = None, limits: Limits | None = None,
                     log=print) -> int:  # noqa: ANN001
    """Grade ``ROOT/submission`` into ``ROOT/results/results.json``; see the module docstring.

    Returns 0 when the submission was graded, 1 when the fallback results were written.
    """
    from handgrad.grading.authoring import spec
    from handgrad.grading.judging import results, runner

    root = autograder_root(str(root) if root else None)
    out = root / "results" / "results.json"
    points = 0.0
    started = time.monotonic()
    try:
        assignment = spec.load(assignment_path)
        points = assignment.points
        with runner.Grader(assignment, which="all", secret_seed=seed, limits=limits,
                           deny_read=[root]) as grader:
            problems = grader.grader_errors()
            for p in problems:
                log(f"handgrad: grader error: {p}")
            grader.self_test()
            result = grader.grade(root / "submission", name="submission")
        obj = results.gradescope_json(result, assignment_name=assignment.name, points=points,
                                      execution_time=time.monotonic() - started)
        results.write_json(out, obj)
        results.write_json(out.with_name("secrets.json"), results.secrets_json(result),
                           mode=0o600)
        log(f"handgrad: {assignment.name}: score {result.score:g} / {result.max_score:g} "
            f"({result.status}); secret seed {result.secret_seed}")
        for c in result.checks:
            log(f"  {c.check_id:<32} {c.status:<16} {c.score:g}/{c.max_score:g}  {c.message}")
        return 0
    except BaseException as exc:  # noqa: BLE001 - always leave a valid results.json behind
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        log(f"handgrad: the grader failed: {detail}")
        log(traceback.format_exc())
        try:
            results.write_json(out, results.fallback_json(points or 1.0, detail))
        except OSError as write_exc:
            log(f"handgrad: cannot write {out}: {write_exc}")
        if isinstance(exc, KeyboardInterrupt):
            raise
        return 1
