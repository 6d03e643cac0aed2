"""The adversarial corpus (tests/adversarial): grade every case plus correct submissions in one
batch, through the same code as ``handgrad grade``, and check each check's status and score.

Every case must end with its expected status (see tests/adversarial/cases.toml), the grader
must survive, the correct submissions must keep full marks, and nothing may be written
outside the grader's own folders.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
import sys
import zipfile
from pathlib import Path

import pytest
from grading_helpers import (
    CORPUS,
    FIXTURE,
    MODULES,
    copy_case,
    fixture,
    reference_source,
    reference_submission,
)

from handgrad.grading.judging import batch, results, runner
from handgrad.grading.sandbox.process import Limits

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the grading sandbox is tested on Linux")

CHECKS = ("affine_backward", "relu_backward", "clip_grad_norm")
POINTS = {"affine_backward": 2.0, "relu_backward": 1.0, "clip_grad_norm": 1.0}
OUTSIDE = ("/tmp/handgrad-adversarial-pwned.txt", "/autograder/results/results.json")
SECRET = "handgrad-secret-marker"
# where bubblewrap cannot run, grade with the weak sandbox and leave out the kernel cases
WEAK = runner.strong_sandbox_problem() is not None


def expected_parts(expect: dict[str, str]) -> dict[str, str]:
    out = {}
    for cid in CHECKS:
        out[cid] = expect.get(cid, "passed")
        out[cid + ".hidden"] = expect.get(cid + ".hidden", expect.get(cid, "passed"))
    return out


def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def build_corpus(root: Path) -> dict[str, dict[str, str]]:
    """Write every submission under ``root``; return ``{name: {check part: status}}``."""
    cases = tomllib.loads((CORPUS / "cases.toml").read_text())
    expected = {}
    for name, case in cases.items():
        if WEAK and case.get("kernel"):
            continue
        copy_case(CORPUS / name, root / name, tuple(case.get("omit", ())))
        expected[name] = expected_parts(case.get("expect", {}))
    good = {name: reference_source(name) for name in MODULES}
    everything_missing = {p: "missing" for p in expected_parts({})}
    # correct submissions: a folder, and a zip with one top-level folder
    reference_submission(root / "correct_a")
    expected["correct_a"] = expected_parts({})
    _zip(root / "correct_b.zip", [(f"correct_b/{n}", d) for n, d in good.items()])
    expected["correct_b"] = expected_parts({})
    # archive tricks (E7): all refused as a whole
    _zip(root / "zip_dotdot.zip", [*[(n, d) for n, d in good.items()],
                                    ("../evil_dotdot.py", b"x = 1\n")])
    _zip(root / "zip_absolute.zip", [*[(n, d) for n, d in good.items()],
                                      ("/tmp/handgrad-adversarial-abs.py", b"x = 1\n")])
    _zip(root / "zip_symlink.zip", [(n, d) for n, d in good.items() if n != "affine.py"]
         + [(_symlink_info("affine.py"), b"/etc/passwd")])
    _zip(root / "zip_bomb.zip", [(n, d) for n, d in good.items() if n != "affine.py"]
         + [("affine.py", b"\0" * (50 << 20))])
    for name in ("zip_dotdot", "zip_absolute", "zip_symlink", "zip_bomb"):
        expected[name] = dict(everything_missing)
    # a folder holding a secret that other submissions must not be able to read (A1)
    (root / "zz_secret").mkdir()
    (root / "zz_secret" / "secret.txt").write_text(SECRET)
    expected["zz_secret"] = dict(everything_missing)
    return expected


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) \
                else str(stat.S_IFMT(st.st_mode))
            out[str(p.relative_to(root))] = digest
    return out


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict, int]:
    for p in OUTSIDE:
        assert not os.path.exists(p), f"{p} exists before the test"
    base = tmp_path_factory.mktemp("corpus")
    subs, out = base / "submissions", base / "results"
    subs.mkdir()
    expected = build_corpus(subs)
    before = snapshot(subs)
    old = os.environ.get("HANDGRAD_TEST_SECRET")
    os.environ["HANDGRAD_TEST_SECRET"] = "swordfish"
    try:
        code = batch.grade_batch(
            str(FIXTURE), str(subs), str(out), workers=2, seed=1234, progress=False,
            limits=Limits(memory_mb=512, startup_seconds=5.0), allow_weak_sandbox=WEAK)
    finally:
        if old is None:
            os.environ.pop("HANDGRAD_TEST_SECRET", None)
        else:
            os.environ["HANDGRAD_TEST_SECRET"] = old
    after = snapshot(subs)
    return out, expected, {"before": before, "after": after}, code


def test_batch_survives_and_exits_cleanly(graded: tuple) -> None:
    out, expected, _, code = graded
    assert code == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(expected)


def test_every_case_gets_its_status_and_score(graded: tuple) -> None:
    out, expected, _, _ = graded
    problems = []
    for name, parts in sorted(expected.items()):
        obj = json.loads((out / name / "results.json").read_text())
        assert results.validate(obj, points=4.0) == [], name
        got = {t["extra_data"]["check_id"]: t["extra_data"]["handgrad_status"]
               for t in obj["tests"]}
        messages = {t["extra_data"]["check_id"]: t["output"].split("\n")[0]
                    for t in obj["tests"]}
        for part, status in parts.items():
            if got.get(part) != status:
                problems.append(f"{name}: {part} is {got.get(part)}, expected {status} "
                                f"({messages.get(part)})")
        want = sum(POINTS[p.split(".")[0]] / 2 for p, s in parts.items() if s == "passed")
        if abs(obj["score"] - want) > 1e-9:
            problems.append(f"{name}: score {obj['score']}, expected {want}")
        for t in obj["tests"]:
            passed = t["extra_data"]["handgrad_status"] == "passed"
            assert t["status"] == ("passed" if passed else "failed")
            assert t["score"] == (t["max_score"] if passed else 0)
    assert not problems, "\n".join(problems)


def test_correct_submissions_keep_full_marks(graded: tuple) -> None:
    out, _, _, _ = graded
    rows = {r["submission"]: r for r in csv.DictReader(io.StringIO(
        (out / "grades.csv").read_text()))}
    for name in ("correct_a", "correct_b", "kill_parent", "output_flood", "network"):
        assert float(rows[name]["score"]) == 4.0, rows[name]
        assert rows[name]["status"] == "ok"
    for name in ("zip_dotdot", "zip_absolute", "zip_symlink", "zip_bomb"):
        assert rows[name]["status"] == "invalid submission"
        assert float(rows[name]["score"]) == 0.0


def test_gradebook_has_one_row_per_submission_and_a_column_per_check(graded: tuple) -> None:
    out, expected, _, _ = graded
    reader = csv.DictReader(io.StringIO((out / "grades.csv").read_text()))
    assert reader.fieldnames == ["submission", "score", "max_score", *CHECKS, "status"]
    rows = list(reader)
    assert sorted(r["submission"] for r in rows) == sorted(expected)
    for r in rows:
        assert float(r["score"]) == pytest.approx(sum(float(r[c]) for c in CHECKS))
        assert float(r["max_score"]) == 4.0
    flagged = {r["submission"]: r["status"] for r in rows}
    assert "affine_backward=flagged" in flagged["imports_reference"]
    assert "affine_backward=timeout" in flagged["infinite_loop"]


def test_messages_say_what_happened(graded: tuple) -> None:
    out, _, _, _ = graded

    def first(name: str, part: str) -> str:
        obj = json.loads((out / name / "results.json").read_text())
        for t in obj["tests"]:
            if t["extra_data"]["check_id"] == part:
                return t["output"]
        raise AssertionError(part)

    assert "time limit exceeded" in first("infinite_loop", "affine_backward")
    assert "memory" in first("memory_bomb", "affine_backward")
    source = (CORPUS / "syntax_error" / "affine.py").read_text()
    with pytest.raises(SyntaxError) as info:
        compile(source, "affine.py", "exec")
    assert f"line {info.value.lineno}" in first("syntax_error", "affine_backward")
    assert "SyntaxError" in first("syntax_error", "affine_backward")
    assert "has no function backward" in first("missing_function", "affine_backward")
    assert "relu.py not found" in first("missing_file", "relu_backward")
    assert "handgrad.layers.affine" in first("imports_reference", "affine_backward")
    assert "forward" in first("numerical_gradient", "affine_backward")
    assert "dw has shape (5, 6), expected (6, 5)" in first("returns_transposed", "affine_backward")
    assert "subclass" in first("returns_subclass", "affine_backward")
    assert "object" in first("returns_object_array", "affine_backward")
    assert "a list" in first("returns_list", "relu_backward")
    assert "NaN" in first("returns_nan", "affine_backward")
    assert "dout in place" in first("mutates_inputs", "relu_backward")
    assert "exited with code 0" in first("os_exit_in_backward", "affine_backward")
    assert "SIGABRT" in first("abort", "affine_backward")
    assert "SystemExit" in first("sys_exit_in_backward", "affine_backward")
    assert "KeyboardInterrupt" in first("raise_keyboardinterrupt", "relu_backward")
    assert "malformed" in first("result_channel_forgery", "affine_backward")
    assert "not allowed" in first("fork_bomb", "affine_backward")
    flood = first("output_flood", "affine_backward.hidden")
    assert "skipped" in flood and len(flood) < 70 * 1024
    assert "zip bomb" in json.loads((out / "zip_bomb" / "results.json").read_text())["output"]
    obj = json.loads((out / "fake_all_passed" / "results.json").read_text())
    assert obj["score"] == 2.0  # only relu and clip_grad_norm, whatever it printed


def test_nothing_written_outside(graded: tuple) -> None:
    out, _, snaps, _ = graded
    assert snaps["before"] == snaps["after"], "a submission folder changed"
    for p in OUTSIDE:
        assert not os.path.exists(p), p
    base = out.parent
    assert not (base / "evil_dotdot.py").exists()
    assert not (base / "results.json").exists()
    assert not os.path.exists("/tmp/handgrad-adversarial-abs.py")
    names = {p.name for p in out.iterdir()}
    assert {"grades.csv", "manifest.json"} <= names
    for p in out.iterdir():
        if p.is_dir():
            assert sorted(q.name for q in p.iterdir()) == ["results.json"], p


def test_rerun_is_idempotent(graded: tuple) -> None:
    out, expected, _, _ = graded
    subs = out.parent / "submissions"
    before = {n: (out / n / "results.json").read_bytes() for n in expected}
    csv_before = (out / "grades.csv").read_text()
    code = batch.grade_batch(str(FIXTURE), str(subs), str(out), workers=2,
                             progress=False, allow_weak_sandbox=WEAK,
                             limits=Limits(memory_mb=512, startup_seconds=5.0))
    assert code == 0
    # the manifest's seed is reused, so every fingerprint matches: nothing is regraded
    after = {n: (out / n / "results.json").read_bytes() for n in expected}
    assert after == before
    assert (out / "grades.csv").read_text() == csv_before
    assert fixture().points == 4.0
