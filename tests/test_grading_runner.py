"""The runner's bars: the reference gets full marks, a stub gets zero ("not implemented"),
one wrong function loses exactly its points; public and hidden draws; seeds; progress."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from grading_helpers import fixture, reference_source, reference_submission

from handgrad.grading.authoring import spec, starter
from handgrad.grading.authoring.spec import student_files
from handgrad.grading.judging import runner
from handgrad.grading.judging.draws import hidden_seeds, plan
from handgrad.grading.sandbox.process import Limits

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the grading sandbox is tested on Linux")

LIMITS = Limits(memory_mb=512, startup_seconds=5.0)
ASSIGNMENTS = Path(__file__).resolve().parent.parent / "assignments"


@pytest.fixture(scope="module")
def grader() -> runner.Grader:
    g = runner.Grader(fixture(), which="all", secret_seed=7, limits=LIMITS)
    yield g
    g.close()


def stub(source: bytes, function: str) -> str:
    """Replace the body of ``function`` (a top-level def) with raise NotImplementedError."""
    lines = source.decode().split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"def {function}("))
    end = start
    while not lines[end].rstrip().endswith(":"):
        end += 1  # a signature spread over several lines
    body_end = end + 1
    while body_end < len(lines) and (lines[body_end].startswith(" ") or not lines[body_end]):
        body_end += 1
    new = lines[:end + 1] + ['    raise NotImplementedError("write this")', ""]
    return "\n".join(new + lines[body_end:])


def test_reference_solution_gets_full_marks(grader: runner.Grader, tmp_path: Path) -> None:
    res = grader.grade(reference_submission(tmp_path / "ref"))
    assert res.status == "ok", [(c.check_id, c.message) for c in res.checks]
    assert res.score == res.max_score == 4.0
    assert [c.check_id for c in res.checks] == [
        "affine_backward", "affine_backward.hidden", "relu_backward", "relu_backward.hidden",
        "clip_grad_norm", "clip_grad_norm.hidden"]
    for c in res.checks:
        assert c.passed and c.max_rel_error is not None
        for d in c.draws:   # float32 draws are compared to float32 accuracy
            assert d["max_rel_error"] <= (1e-4 if d["property"] == "float32" else 1e-12), d
        assert c.visibility == ("after_due_date" if c.hidden else "visible")


def test_stub_gets_zero_with_not_implemented(grader: runner.Grader, tmp_path: Path) -> None:
    files = {"affine.py": stub(reference_source("affine.py"), "backward"),
             "relu.py": stub(reference_source("relu.py"), "backward"),
             "clipping.py": stub(reference_source("clipping.py"), "clip_grad_norm")}
    res = grader.grade(reference_submission(tmp_path / "stub", files))
    assert res.score == 0.0
    assert {c.status for c in res.checks} == {"not_implemented"}
    assert all("not implemented" in c.message for c in res.checks)
    assert all("write this" in c.message for c in res.checks)


def test_untouched_starter_gets_zero_not_implemented(tmp_path: Path) -> None:
    assignment = spec.load(ASSIGNMENTS / "backprop-basics")
    files, _ = starter.build(assignment)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    res = runner.run_checks(assignment, tmp_path, which="all", secret_seed=3, limits=LIMITS)
    assert res.score == 0.0 and res.max_score == assignment.points
    assert {c.status for c in res.checks} == {"not_implemented"}


def test_reference_of_a_real_assignment_gets_full_marks(tmp_path: Path) -> None:
    assignment = spec.load(ASSIGNMENTS / "batchnorm-rnn")
    import importlib.util

    for module, filename in student_files(assignment).items():
        shutil.copy(importlib.util.find_spec(module).origin, tmp_path / filename)
    res = runner.run_checks(assignment, tmp_path, which="all", secret_seed=11, limits=LIMITS)
    assert res.status == "ok", [(c.check_id, c.message) for c in res.checks if not c.passed]
    assert res.score == assignment.points


@pytest.mark.parametrize("wrong", ["affine.py", "relu.py", "clipping.py"])
def test_one_wrong_function_loses_exactly_its_points(grader: runner.Grader, tmp_path: Path,
                                                     wrong: str) -> None:
    source = reference_source(wrong).decode()
    if wrong == "affine.py":
        source = source.replace("db = dout.sum(axis=0)", "db = dout.mean(axis=0)")
        lost = "affine_backward"
    elif wrong == "relu.py":
        source = re.sub(r"def backward\(", "def _reference_backward(", source)
        source += ("\n\ndef backward(dout, cache):\n    return dout * (cache >= 0)"
                   " * 1.5\n")
        lost = "relu_backward"
    else:
        source = source.replace("scale = max_norm / (norm + EPS)", "scale = max_norm / norm / 2")
        lost = "clip_grad_norm"
    assert source != reference_source(wrong).decode()
    res = grader.grade(reference_submission(tmp_path / "sub", {wrong: source}))
    points = {c.id: c.points for c in fixture().checks}
    assert res.score == pytest.approx(4.0 - points[lost])
    for c in res.checks:
        assert c.passed == (c.spec_id != lost), (c.check_id, c.message)
        if c.spec_id == lost:
            assert c.status == "failed" and c.score == 0.0


def test_failure_reports_error_worst_entry_and_hint(grader: runner.Grader, tmp_path: Path
                                                    ) -> None:
    source = reference_source("affine.py").decode().replace(
        "dw = x2d.T @ dout", "dw = 2 * (x2d.T @ dout)")
    res = grader.grade(reference_submission(tmp_path / "sub", {"affine.py": source}))
    c = res.checks[0]
    assert c.status == "failed"
    assert "dw is wrong" in c.message and "public draw 1" in c.message
    # a factor of 2 everywhere: relative error |2a - a| / (|2a| + |a|) = 1/3
    assert c.max_rel_error == pytest.approx(1 / 3, rel=1e-5)
    assert c.worst["gradient"] == "dw"
    assert c.worst["analytic"] == pytest.approx(2 * c.worst["expected"])
    assert c.worst["numeric"] == pytest.approx(c.worst["expected"], rel=1e-6)
    assert c.hint and "2" in c.hint


def test_public_only_run_has_one_result_per_check_with_full_points(tmp_path: Path) -> None:
    seen = []
    res = runner.run_checks(fixture(), reference_submission(tmp_path / "ref"), which="public",
                            limits=LIMITS, progress=lambda r, done, total: seen.append(
                                (r.check_id, done, total)))
    assert [c.check_id for c in res.checks] == ["affine_backward", "relu_backward",
                                                "clip_grad_norm"]
    assert [c.max_score for c in res.checks] == [2.0, 1.0, 1.0]
    assert res.secret_seed is None and res.status == "ok"
    assert seen == [("affine_backward", 1, 3), ("relu_backward", 2, 3), ("clip_grad_norm", 3, 3)]
    assert all(not d["hidden"] for c in res.checks for d in c.draws)


def test_hidden_draws_depend_on_the_secret_seed_and_are_recorded() -> None:
    check = fixture().checks[0]
    a = plan(check, which="all", secret_seed=1)
    b = plan(check, which="all", secret_seed=1)
    c = plan(check, which="all", secret_seed=2)
    hidden = [d for d in a if d.hidden]
    assert [d.seed for d in hidden] == [d.seed for d in b if d.hidden]
    assert [d.seed for d in hidden] != [d.seed for d in c if d.hidden]
    assert all(d.seed not in check.public_seeds for d in hidden)
    assert hidden[0].dims == {"N": 5, "d1": 2, "d2": 4, "M": 3}
    assert hidden_seeds(1, check) == [d.seed for d in hidden]
    assert plan(check, which="public", secret_seed=None) == [d for d in a if not d.hidden]


def test_hidden_inputs_differ_from_public_ones(grader: runner.Grader) -> None:
    p = grader.plans[0]
    public = [d for d in p.draws if not d.hidden][0]
    hidden = [d for d in p.draws if d.hidden][0]
    assert public.args[0].shape == (4, 3, 2) and hidden.args[0].shape == (5, 2, 4)
    # the reference gradients were checked against numerical ones in the grader
    for d in (public, hidden):
        for g, n in zip(d.grads, d.numeric, strict=True):
            np.testing.assert_allclose(g, n, rtol=1e-6, atol=1e-8)


def test_missing_submission_and_duplicate_file_names(tmp_path: Path) -> None:
    res = runner.run_checks(fixture(), tmp_path / "nope", limits=LIMITS)
    assert res.status == "invalid submission" and res.score == 0
    raw = {"name": "x", "handout": "h.md", "check": [
        {"id": "a", "target": "handgrad.layers.affine:backward", "kind": "backward",
         "op": "affine", "points": 1},
        {"id": "b", "target": "handgrad.optim.affine:backward", "kind": "backward",
         "op": "affine", "points": 1}]}
    with pytest.raises(spec.SpecError, match="affine.py"):
        student_files(spec.parse(raw, tmp_path))


def test_handgrad_grade_conv_lstm_reference_starter_and_one_wrong_function(tmp_path: Path
                                                                           ) -> None:
    """``handgrad grade`` over three submissions of the conv-lstm assignment: the reference
    gets full marks, the untouched starter zero, and a step_backward that forgets the path from
    next_h into next_c loses exactly the points of its check (the LSTM step has two upstream
    gradients, dnext_h and dnext_c)."""
    import csv
    import importlib.util
    import json

    from handgrad import cli

    assignment = spec.load(ASSIGNMENTS / "conv-lstm")
    subs = tmp_path / "submissions"
    reference = {filename: Path(importlib.util.find_spec(module).origin).read_text()
                 for module, filename in student_files(assignment).items()}
    starter_files, _ = starter.build(assignment)
    wrong = dict(reference)
    right_line = "dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)"
    assert wrong["lstm.py"].count(right_line) == 1
    wrong["lstm.py"] = wrong["lstm.py"].replace(right_line, "dc = dnext_c")
    for name, files in (("reference", reference), ("starter", starter_files),
                        ("wrong", wrong)):
        folder = subs / name
        folder.mkdir(parents=True)
        for filename in student_files(assignment).values():
            (folder / filename).write_text(files[filename])
    out = tmp_path / "results"
    code = cli.main(["grade", str(ASSIGNMENTS / "conv-lstm"), str(subs), "--out", str(out),
                     "--seed", "5", "--memory", "512"])
    assert code == 0
    with open(out / "grades.csv", newline="") as fh:
        scores = {row["submission"]: (float(row["score"]), float(row["max_score"]))
                  for row in csv.DictReader(fh)}
    total = assignment.points
    lost = next(c.points for c in assignment.checks if c.id == "lstm_step_backward")
    assert total == 25 and lost == 3
    assert scores == {"reference": (total, total), "starter": (0.0, total),
                      "wrong": (total - lost, total)}
    tests = json.loads((out / "wrong" / "results.json").read_text())["tests"]
    failed = {t["name"] for t in tests if t["score"] < t["max_score"]}
    assert failed and all("lstm_step_backward" in name for name in failed), failed
