"""The kernel wall: what a worker inside the bubblewrap sandbox can see and do.

A probe submission first switches the Python-level guard off (as a determined student can:
it lives in the worker's own interpreter), then reports what it observes; each assertion is
something the sandbox must make true by itself. Skipped where bubblewrap cannot run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from handgrad.grading.authoring import solution_free
from handgrad.grading.judging import runner
from handgrad.grading.sandbox import process, uids, wire

pytestmark = pytest.mark.skipif(
    runner.strong_sandbox_problem() is not None,
    reason=f"bubblewrap sandbox unavailable: {runner.strong_sandbox_problem()}")

PROBE = r'''
import errno, os, socket, sys

def _guard_off():
    # what a student can do to the in-process guard: empty its tables, drop its finder
    from handgrad.grading.sandbox import guard
    guard.FORBIDDEN_EVENTS.clear()
    guard.PATH_EVENTS.clear()
    for g in [f for f in sys.meta_path if type(f).__name__ == "Guard"]:
        g.audit = lambda *a: None
        g.check_import = lambda *a: None
        g.check_open = lambda *a: None
        g.check_listing = lambda *a: None

def _err(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    except Exception as exc:
        return type(exc).__name__

def probe(step):
    _guard_off()
    out = {}
    if step == 0:
        out["root"] = sorted(os.listdir("/"))
        out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        out["cmdlines"] = [open(f"/proc/{p}/cmdline", "rb").read().decode("latin-1")
                           for p in out["pids"]]
        out["fds"] = sorted(int(f) for f in os.listdir("/proc/self/fd"))
        status = open("/proc/self/status").read()
        out["status"] = {k: v.strip() for k, v in
                         (line.split(":", 1) for line in status.splitlines() if ":" in line)
                         if k in ("Uid", "CapEff", "CapPrm", "NoNewPrivs", "Seccomp")}
        out["hostname"] = socket.gethostname()
        out["inet"] = _err(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        out["unix"] = _err(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        out["fork"] = _err(os.fork)
        out["mkfifo"] = _err(lambda: os.mkfifo("/tmp/fifo"))
        out["mknod"] = _err(lambda: os.mknod("/tmp/node"))
        def fill():
            with open("big.bin", "wb") as f:
                for _ in range(4096):
                    f.write(b"\0" * (1 << 20))
        out["fill"] = _err(fill)
        os.remove("big.bin")
        with open("/tmp/left.txt", "w") as f:
            f.write("left for the next worker")
        with open("/dev/shm/left.txt", "w") as f:
            f.write("left for the next worker")
        with open("left.txt", "w") as f:
            f.write("left for the next worker")
        import handgrad.layers.affine as ref
        import numpy as np
        x, w, b = np.ones((2, 3)), np.ones((3, 4)), np.ones(4)
        try:
            _, cache = ref.forward(x, w, b)
            ref.backward(np.ones((2, 4)), cache)
            out["reference"] = "answered"
        except NotImplementedError:
            out["reference"] = "stub"
        except Exception as exc:
            out["reference"] = type(exc).__name__
        out["write_lib"] = _err(lambda: open(ref.__file__, "a"))
        out["files_here"] = sorted(os.listdir("."))
    else:
        out["tmp"] = sorted(os.listdir("/tmp"))
        out["shm"] = sorted(os.listdir("/dev/shm"))
        out["here"] = sorted(os.listdir("."))
    return out
'''


def run_probe(session: process.Session, workspace: process.Workspace, step: int) -> dict:
    draws, blobs = wire.encode([{"args": [step], "kwargs": {}}])
    header = {"type": "request", "kind": "function", "module": "probe", "function": "probe",
              "limits": {"memory_bytes": 1 << 30, "cpu_seconds": 60, "open_files": 64,
                         "file_size_bytes": 1 << 30, "processes": 1},
              "parent_pid": os.getpid(), "seccomp": "required", "draws": draws["items"]}
    run = process.run_worker(wire.frame(header, blobs), {}, workspace=workspace,
                             limits=process.Limits(), first_deadline=60, step_timeout=30,
                             draws=1, session=session)
    for h, b in run.frames:
        if h.get("type") == "draw":
            assert h.get("status") == "ok", (h.get("message"), run.output)
            return wire.to_python(wire.decode(h["data"], b))["value"]
    raise AssertionError(f"no result: {run} {session.errors()}")


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("iso")
    lib = solution_free.build_sandbox(base / "lib" / "handgrad")
    workspace = process.Workspace(base)
    session = process.Session({"probe.py": PROBE.encode()}, lib=lib,
                              limits=process.Limits(file_size_mb=8))
    uid = session.uid
    try:
        first = run_probe(session, workspace, 0)
        second = run_probe(session, workspace, 1)
    finally:
        session.close()
        workspace.cleanup()
    return {"first": first, "second": second, "uid": uid, "base": str(base)}


def test_the_host_is_out_of_sight(observed: dict) -> None:
    first = observed["first"]
    # only the runtime, the sandbox's own folders and the solution-free library
    assert set(first["root"]) <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32",
                                  "proc", "dev", "tmp", "w", "hg", "etc", "root"}, first["root"]
    for private in ("work", "home", "var", "srv", "opt", "mnt", "autograder"):
        assert private not in first["root"]
    assert first["hostname"] == "handgrad-sandbox"


def test_proc_shows_only_the_sandbox_and_no_secret(observed: dict) -> None:
    first = observed["first"]
    assert len(first["pids"]) <= 3, first["pids"]   # bwrap's pid 1, the fork server, us
    assert str(os.getpid()) not in first["pids"]
    for cmd in first["cmdlines"]:
        assert "seed" not in cmd and str(os.getpid()) not in cmd.split("\0")


def test_worker_holds_no_grader_pipe(observed: dict) -> None:
    # stdin (/dev/null), the output pipe, stderr, its pipe to the fork server: nothing else
    assert observed["first"]["fds"][:4] == [0, 1, 2, 3]
    assert len(observed["first"]["fds"]) <= 5   # + the descriptor listdir itself opens


def test_privileges_are_gone(observed: dict) -> None:
    status = observed["first"]["status"]
    if uids.running_as_root():
        assert status["Uid"].split()[0] == str(observed["uid"]) != "0"
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"


def test_kernel_refuses_what_a_gradient_never_needs(observed: dict) -> None:
    first = observed["first"]
    for what in ("inet", "unix", "fork", "mkfifo", "mknod"):
        assert first[what] == "EPERM", (what, first[what])


def test_disk_is_capped(observed: dict) -> None:
    # 4 GB asked; the tmpfs of the worker's folder holds 16 MB (twice the file size limit)
    assert observed["first"]["fill"] in ("ENOSPC", "EFBIG")


def test_no_reference_inside(observed: dict) -> None:
    assert observed["first"]["reference"] == "stub"
    assert observed["first"]["write_lib"] in ("EROFS", "EACCES")


def test_nothing_outlives_a_worker(observed: dict) -> None:
    second = observed["second"]
    assert second["tmp"] == [] and second["shm"] == []
    assert second["here"] == ["probe.py"]
    assert "left.txt" in observed["first"]["files_here"]   # it was written, then removed


def test_nothing_of_the_uid_is_left_on_the_host(observed: dict) -> None:
    uid = observed["uid"]
    if uid is None:
        pytest.skip("workers keep the grader's uid when it is not root")
    assert uids.processes_of(uid) == []
    found = []
    for top in ("/tmp", "/dev/shm"):
        for entry in os.scandir(top):
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    found.append(entry.path)
            except OSError:
                pass
    assert found == []


def test_grading_in_the_sandbox_keeps_full_marks(tmp_path: Path) -> None:
    from handgrad.grading.authoring import spec, starter

    a = spec.load(Path(__file__).resolve().parents[3] / "assignments" / "backprop-basics")
    for module, name in spec.student_files(a).items():
        (tmp_path / name).write_bytes(starter.module_source(module)[0].read_bytes())
    with runner.Grader(a, which="public", sandbox="bwrap") as grader:
        result = grader.grade(tmp_path)
    assert result.score == result.max_score > 0, result.status
    assert np.isfinite(result.score) and sys.platform.startswith("linux")
