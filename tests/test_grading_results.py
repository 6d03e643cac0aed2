"""results.json in Gradescope's format (validated), the gradebook CSV, atomic writes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from handgrad._files import atomic_write_bytes
from handgrad.grading.judging import results
from handgrad.grading.judging.runner import CheckResult, SubmissionResult


def result(statuses: dict[str, str]) -> SubmissionResult:
    checks = []
    for cid, status in statuses.items():
        hidden = cid.endswith(".hidden")
        checks.append(CheckResult(
            check_id=cid, name=cid, status=status, score=1.0 if status == "passed" else 0.0,
            max_score=1.0, max_rel_error=1e-12 if status == "passed" else 0.5,
            worst={"gradient": "dx", "index": [1, 2], "analytic": 2.0, "expected": 1.0,
                   "numeric": 1.0, "draw": "public draw 1"},
            message=f"{status} message", hint="a hint" if status == "failed" else None,
            output="printed\n", visibility="after_due_date" if hidden else "visible",
            spec_id=cid.split(".")[0], hidden=hidden,
            draws=[{"label": "public draw 1", "status": status, "max_rel_error": 0.5}]))
    score = sum(c.score for c in checks)
    bad = [f"{c.check_id}={c.status}" for c in checks if c.status != "passed"]
    return SubmissionResult(submission="alice", checks=checks, score=score,
                            max_score=float(len(checks)), status="; ".join(bad) or "ok",
                            which="all", secret_seed=42, fingerprint="f" * 64,
                            versions={"handgrad": "0.1.0"})


def test_gradescope_json_is_valid_and_complete() -> None:
    res = result({"a": "passed", "a.hidden": "failed", "b": "timeout", "b.hidden": "passed"})
    obj = results.gradescope_json(res, assignment_name="hw", points=4.0, execution_time=1.5)
    assert results.validate(obj, points=4.0) == []
    json.dumps(obj, allow_nan=False)
    assert obj["score"] == 2 and obj["stdout_visibility"] == "hidden"
    assert "secret_seed" not in obj["extra_data"] and "draws" not in obj["extra_data"]
    assert "42" not in json.dumps(obj)
    assert results.secrets_json(res)["secret_seed"] == 42
    t = obj["tests"]
    assert [x["status"] for x in t] == ["passed", "failed", "failed", "passed"]
    assert [x["visibility"] for x in t] == ["visible", "after_due_date", "visible",
                                            "after_due_date"]
    assert all(isinstance(x["score"], (int, float)) and isinstance(x["number"], str) for x in t)
    assert "hint: a hint" in t[1]["output"] and "worst entry dx[1, 2]" in t[1]["output"]
    assert "printed" in t[0]["output"]


def test_validator_catches_what_gradescope_rejects() -> None:
    good = {"score": 1, "tests": [{"name": "a", "score": 1, "max_score": 1, "status": "passed"},
                                  {"name": "b", "score": 0, "max_score": 1}]}
    assert results.validate(good, points=2) == []
    assert any("max_score add up" in p for p in results.validate(good, points=3))
    bad = json.loads(json.dumps(good))
    bad["tests"][0]["score"] = "1"
    assert any("must be a number" in p for p in results.validate(bad))
    bad = json.loads(json.dumps(good))
    bad["tests"][0]["status"] = "ok"
    assert any("status" in p for p in results.validate(bad))
    bad = json.loads(json.dumps(good))
    bad["score"] = 5
    assert any("not the sum" in p for p in results.validate(bad))
    bad = json.loads(json.dumps(good))
    bad["tests"][1]["score"] = 2
    assert any("not in [0, max_score]" in p for p in results.validate(bad))
    assert any("visibility" in p for p in results.validate(dict(good, visibility="public")))
    assert any("strict JSON" in p for p in results.validate({"score": float("nan")}))
    assert any("unknown" in p for p in results.validate(dict(good, scores=1)))
    assert results.validate([]) == ["results must be a JSON object"]


def test_fallback_is_valid() -> None:
    obj = results.fallback_json(10, "KeyError: 'x'")
    assert results.validate(obj, points=10) == []
    assert obj["score"] == 0 and "not with your code" in obj["output"]


def test_csv_rows_from_results_and_formula_quoting(tmp_path: Path) -> None:
    res = result({"a": "passed", "a.hidden": "failed", "b": "passed", "b.hidden": "passed"})
    obj = results.gradescope_json(res, points=4.0)
    row = results.csv_row(obj, ["a", "b"])
    assert row == {"submission": "alice", "score": 3, "max_score": 4, "a": 1, "b": 2,
                   "status": "a.hidden=failed"}
    results.write_csv(tmp_path / "g.csv", [row, dict(row, submission="=HYPERLINK(1)")],
                      ["a", "b"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "g.csv").read_text())))
    assert [r["submission"] for r in rows] == ["'=HYPERLINK(1)", "alice"]


def test_write_atomic_replaces_and_leaves_no_temporaries(tmp_path: Path) -> None:
    p = tmp_path / "d" / "results.json"
    results.write_json(p, {"a": 1})
    results.write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert [q.name for q in p.parent.iterdir()] == ["results.json"]
    atomic_write_bytes(tmp_path / "m.json", b"{}", mode=0o600)
    assert (tmp_path / "m.json").stat().st_mode & 0o777 == 0o600
