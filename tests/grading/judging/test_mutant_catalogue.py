"""The bar of the grader: every student-style mutant of the catalogue (``mutants.py``) loses
points in the checks it breaks and only there, the reference and a student-style correct
solution keep full marks, and no hint is wrong (each mutant's hint is the one it declares, or
none). All mutants go through one Grader per assignment, two at a time."""

from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mutants import CORRECT, MUTANTS, Mutant, apply  # noqa: E402

from handgrad.grading.authoring import spec  # noqa: E402
from handgrad.grading.authoring.spec import student_files  # noqa: E402
from handgrad.grading.judging import runner  # noqa: E402
from handgrad.grading.sandbox.process import Limits  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the grading sandbox is tested on Linux")

ASSIGNMENTS = Path(__file__).resolve().parents[3] / "assignments"
LIMITS = Limits(memory_mb=512, startup_seconds=5.0)


def _submission(folder: Path, assignment: spec.Assignment, mutant: Mutant | None) -> Path:
    folder.mkdir(parents=True)
    for module, filename in student_files(assignment).items():
        if mutant is not None and module == mutant.module:
            text = apply(mutant)
        else:
            text = Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")
        (folder / filename).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, runner.SubmissionResult]:
    root = tmp_path_factory.mktemp("mutants")
    out: dict[str, runner.SubmissionResult] = {}
    for name in sorted({m.assignment for m in MUTANTS}):
        assignment = spec.load(ASSIGNMENTS / name)
        jobs = [("reference", None)] + [(m.id, m) for m in MUTANTS + CORRECT
                                        if m.assignment == name]
        with runner.Grader(assignment, which="all", secret_seed=20261203,
                           limits=LIMITS) as grader:
            assert grader.grader_errors() == []
            folders = {job: _submission(root / name / job, assignment, m) for job, m in jobs}
            with ThreadPoolExecutor(max_workers=2) as pool:
                results = pool.map(lambda item: (item[0], grader.grade(item[1], name=item[0])),
                                   folders.items())
                for job, res in results:
                    out[f"{name}:{job}" if job == "reference" else job] = res
    return out


def test_catalogue_is_large_and_covers_every_graded_function() -> None:
    assert len(MUTANTS) >= 60
    assert len({m.id for m in MUTANTS}) == len(MUTANTS)
    for name in ("backprop-basics", "batchnorm-rnn"):
        ids = {c.id for c in spec.load(ASSIGNMENTS / name).checks}
        covered = {c for m in MUTANTS for c in m.checks if m.assignment == name}
        assert covered == ids


def test_every_mutant_is_a_real_change() -> None:
    for m in MUTANTS:
        assert apply(m) != Path(importlib.util.find_spec(m.module).origin).read_text(), m.id


@pytest.mark.parametrize("name", ["backprop-basics", "batchnorm-rnn"])
def test_reference_keeps_full_marks(graded: dict, name: str) -> None:
    res = graded[f"{name}:reference"]
    assert res.status == "ok", [(c.check_id, c.message) for c in res.checks if not c.passed]
    assert res.score == res.max_score


@pytest.mark.parametrize("mutant", CORRECT, ids=[m.id for m in CORRECT])
def test_student_style_correct_answers_keep_full_marks(graded: dict, mutant: Mutant) -> None:
    res = graded[mutant.id]
    assert res.status == "ok", [(c.check_id, c.message) for c in res.checks if not c.passed]


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_loses_points_where_it_is_wrong_and_hints_are_right(graded: dict,
                                                                  mutant: Mutant) -> None:
    res = graded[mutant.id]
    lost = {c.spec_id for c in res.checks if c.score < c.max_score}
    assert lost == set(mutant.checks), [(c.check_id, c.message) for c in res.checks
                                        if not c.passed]
    hints = [c.hint for c in res.checks if not c.passed]
    if mutant.hint is None:
        assert hints == [None] * len(hints), hints
    else:
        assert all(h is None or mutant.hint in h for h in hints), hints
        assert any(h is not None for h in hints), hints
