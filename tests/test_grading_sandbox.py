"""The sandbox seen from inside: a probe submission returns the right gradient only if the
worker really runs with the limits, identity, environment and folder it should have."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from grading_helpers import fixture, reference_source, reference_submission

from handgrad.grading.judging import runner
from handgrad.grading.sandbox import process, uids
from handgrad.grading.sandbox.process import Limits

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the grading sandbox is tested on Linux")

PROBE = '''

import os as _os
import resource as _resource
import threading as _threading

_reference_backward = backward


def backward(dout, cache):
    problems = []
    r = _resource
    if _os.environ.get("HANDGRAD_PROBE_SECRET"):
        problems.append("environment leaked")
    if set(_os.listdir(".")) != {"affine.py", "relu.py", "clipping.py"}:
        problems.append(f"folder holds {sorted(_os.listdir('.'))}")
    if _os.environ.get("HOME") != _os.getcwd():
        problems.append("HOME is not the folder")
    if _os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        problems.append("BLAS threads not pinned")
    if r.getrlimit(r.RLIMIT_AS)[1] != 512 << 20:
        problems.append(f"address space {r.getrlimit(r.RLIMIT_AS)}")
    if r.getrlimit(r.RLIMIT_FSIZE)[1] != 16 << 20:
        problems.append("file size")
    if r.getrlimit(r.RLIMIT_NOFILE)[1] > 64 or r.getrlimit(r.RLIMIT_CORE)[1] != 0:
        problems.append("open files or core")
    if r.getrlimit(r.RLIMIT_CPU)[1] == r.RLIM_INFINITY:
        problems.append("cpu")
    if _os.getsid(0) != _os.getpid():
        problems.append("not a session leader")
    if EXPECT_ROOT_DROPPED:
        if _os.getuid() == 0 or _os.geteuid() == 0 or _os.getgroups():
            problems.append("still root")
        if r.getrlimit(r.RLIMIT_NPROC)[1] != 1:
            problems.append("processes")
        try:
            _threading.Thread(target=lambda: None).start()
            problems.append("a thread started")
        except RuntimeError:
            pass
        try:
            _os.setuid(0)
            problems.append("regained root")
        except (PermissionError, OSError):
            pass
    if problems:
        raise AssertionError("; ".join(problems))
    return _reference_backward(dout, cache)
'''


@pytest.mark.parametrize("zygote", ["1", "0"])
def test_worker_runs_confined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              zygote: str) -> None:
    monkeypatch.setenv("HANDGRAD_SANDBOX_ZYGOTE", zygote)
    monkeypatch.setenv("HANDGRAD_PROBE_SECRET", "swordfish")
    probe = reference_source("affine.py").decode() + PROBE.replace(
        "EXPECT_ROOT_DROPPED", str(uids.running_as_root()))
    sub = reference_submission(tmp_path / "probe", {"affine.py": probe})
    res = runner.run_checks(fixture(), sub, limits=Limits(memory_mb=512))
    check = res.checks[0]
    assert check.status == "passed", check.message


def test_uid_pool_reserves_distinct_uids() -> None:
    if not uids.running_as_root():
        pytest.skip("dedicated uids need root")
    pool = uids.uid_pool()
    a, b = pool.acquire(), pool.acquire()
    try:
        assert a != b and a != 0 and b != 0
        assert uids.processes_of(a) == []
    finally:
        pool.release(a)
        pool.release(b)


def test_timeout_kills_the_whole_group_and_returns_quickly(tmp_path: Path) -> None:
    src = reference_source("affine.py").decode() + (
        "\n\ndef backward(dout, cache):\n    import signal\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    import time\n"
        "    end = time.monotonic() + 120\n    while time.monotonic() < end:\n        pass\n")
    sub = reference_submission(tmp_path / "loop", {"affine.py": src})
    res = runner.run_checks(fixture(), sub, limits=Limits(timeout=1.0, startup_seconds=5.0))
    assert res.checks[0].status == "timeout"
    assert "time limit exceeded (1 s)" in res.checks[0].message
    assert [c.status for c in res.checks[1:]] == ["passed", "passed"]
    assert not [p for p in process._live]  # no worker left running
    if uids.running_as_root():
        assert os.getuid() == 0
