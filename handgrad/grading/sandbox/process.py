"""Run one worker process in a sandbox and collect its data, its output and how it ended.

With bubblewrap (``handgrad grade``'s default), each submission gets a :class:`Session`: its
own kernel sandbox (:mod:`handgrad.grading.sandbox.bwrap`) holding a fork server that starts
the submission's workers one at a time and cleans up after each; see docs/grading-security.md.
Without it (the weak sandbox), the walls are those below.

Isolation, per worker process (one per checked function per submission, see the runner):

- a new process in its own session and process group, with a scrubbed environment (minimal
  ``PATH``, ``HOME`` and ``TMPDIR`` in its folder, BLAS/OpenMP/handgrad threads pinned to 1)
  and ``cwd`` = a fresh temporary folder holding only a copy of that submission's files.
  On Linux it is forked from a pristine fork server (:mod:`handgrad.grading.sandbox.zygote`, ~30 ms)
  instead of starting an interpreter and NumPy (~0.2-0.5 s of CPU); the fork server never
  runs student code or holds expected values, so each child is as fresh as an exec'd
  ``python -I -B -m handgrad.grading.sandbox.worker FD UID``, which is the fallback (and what
  ``HANDGRAD_SANDBOX_ZYGOTE=0`` forces);
- resource limits (address space, CPU time, file size, open files, processes, no core
  dumps), applied by the worker before any student code runs;
- when the grader runs as root, the worker becomes a dedicated unprivileged uid (and gid, no
  supplementary groups) before any student code runs (it drops root itself, after loading
  the interpreter, so a Python installed where only root can read still works), one uid per
  concurrently running worker, reserved with a lock file so that two graders on one machine
  never share one. ``RLIMIT_NPROC`` = 1 on that uid makes the kernel refuse any fork or
  thread; the worker cannot signal or read the grader (different uid); other workers'
  folders are private (mode 0700, other uids); and after the worker ends every process still
  owned by that uid is killed;
- without root, the worker runs as the grader's own user: ``RLIMIT_NPROC`` can only bound the
  user's total process count (it is set to the current count plus 16); process creation,
  signals, ``ctypes``, sockets, and file access outside the worker's folder are refused by the
  worker's audit hook, which is not a kernel boundary: grade untrusted submissions as root
  (e.g. in a container), as Gradescope does;
- the wall-clock limit is enforced here: when a deadline passes, the whole process group is
  killed with SIGKILL (no cooperative interrupt). The first deadline allows for start-up,
  the student's import and the first draw; only the result of the next expected draw
  restarts the clock, and the whole run is bounded by ``first + (draws - 1) * step``;
- every worker adds a seccomp filter (:mod:`handgrad.grading.sandbox.seccomp`) before student
  code runs; files its uid left in ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are removed after
  it, and a uid whose files could not be removed is never used again.

Student stdout and stderr go to one pipe, read here and capped (head and tail kept); results
come back on a separate inherited pipe and are parsed by
:class:`handgrad.grading.sandbox.wire.FrameReader`. The dedicated uids are managed by
:mod:`handgrad.grading.sandbox.uids`, the fork server is reached through
:mod:`handgrad.grading.sandbox.zygote_client`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from handgrad.grading.sandbox import bwrap, seccomp, wire, zygote_client
from handgrad.grading.sandbox.uids import kill_uid, remove_files_of, running_as_root, uid_pool

BOOT = ("import sys; sys.path.insert(0, {lib!r}); "
        "from handgrad.grading.sandbox import zygote; sys.exit(zygote.main(sys.argv))")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker process.

    ``timeout`` (wall-clock seconds per draw) defaults to each check's ``timeout`` in the
    spec; ``cpu_seconds`` (per worker process) defaults to ``timeout * (draws + 1) + 5``, a
    backstop for a worker orphaned by a dead grader. ``startup_seconds`` is added to the first
    deadline, for interpreter start-up and importing the student's module. ``processes`` is
    ``RLIMIT_NPROC`` for the worker's dedicated uid when the grader runs as root: 1 means the
    worker can neither fork nor start threads (a backward pass needs neither); without root it
    is added to the user's current process count.
    """

    timeout: float | None = None
    cpu_seconds: float | None = None
    memory_mb: int = 1024
    file_size_mb: int = 16
    open_files: int = 64
    processes: int = 1
    output_bytes: int = 64 * 1024
    startup_seconds: float = 10.0


@dataclass
class WorkerRun:
    """What one worker process did, as observed by the grader."""

    frames: list[tuple[dict, list[bytes]]] = field(default_factory=list)
    output: str = ""
    output_bytes: int = 0
    returncode: int | None = None
    timed_out: bool = False
    protocol_error: str | None = None
    spawn_error: str | None = None
    elapsed: float = 0.0
    uid: int | None = None

    @property
    def killed_by(self) -> int | None:
        """The signal that ended the worker, if any."""
        if self.returncode is not None and self.returncode < 0:
            return -self.returncode
        return None


# ------------------------------------------------------------------------------- live workers

_live: set[int] = set()
_live_lock = threading.Lock()


def kill_all_workers() -> None:
    """SIGKILL the process group of every worker still running (used on grader exit)."""
    with _live_lock:
        pids = list(_live)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


atexit.register(kill_all_workers)


# ------------------------------------------------------------------------------- running


class Workspace:
    """A root folder for worker folders: private to the grader, traversable by workers only
    into their own subfolder (0711 root, subfolders 0700 owned by the worker's uid)."""

    def __init__(self, base: str | Path | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="handgrad-sandbox-", dir=base))
        os.chmod(self.path, 0o711)
        # removed when this object goes away or the grader exits, even without cleanup()
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def make(self, files: dict[str, bytes], uid: int | None) -> Path:
        d = Path(tempfile.mkdtemp(prefix="w", dir=self.path))
        for name, data in files.items():
            p = d / name
            with open(p, "wb") as f:
                f.write(data)
            if uid is not None:
                os.chown(p, uid, uid)
                os.chmod(p, 0o600)
        if uid is not None:
            os.chown(d, uid, uid)
        os.chmod(d, 0o700)
        return d

    def cleanup(self) -> None:
        self._finalizer()


def worker_env(workdir: Path) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS",
                "HANDGRAD_NUM_THREADS"):
        env[var] = "1"
    if os.name == "nt":  # pragma: no cover
        env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
    return env


class _Output:
    """Head and tail of a byte stream, capped."""

    def __init__(self, cap: int) -> None:
        self.tail_cap = min(8192, cap // 4)
        self.head_cap = cap - self.tail_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_cap:
                del self.tail[:len(self.tail) - self.tail_cap]

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        if self.total > len(self.head) + len(self.tail):
            skipped = self.total - len(self.head) - len(self.tail)
            head += f"\n[... {skipped} bytes of output skipped ...]\n"
        text = head + self.tail.decode("utf-8", "replace")
        return "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class Session:
    """One bubblewrap sandbox for one submission (see :mod:`handgrad.grading.sandbox.bwrap`):
    a fork server inside it forks one worker per checked function, one at a time, each in a
    freshly emptied ``/w`` holding a copy of the submission, as the sandbox's own uid (root
    only). ``close`` ends the sandbox; its tmpfs (everything any worker wrote) goes with it.
    A uid whose files could not be cleaned between two workers is never handed out again.
    """

    def __init__(self, files: dict[str, bytes], *, lib: Path, limits: Limits) -> None:
        self.uid: int | None = None
        self._pool = uid_pool() if running_as_root() else None
        if self._pool is not None:
            self.uid = self._pool.acquire()
        names = sorted(files)
        self._files = wire.frame({"names": names}, [files[n] for n in names])
        fds: list[int] = []
        try:
            prog = seccomp.program(seccomp.machine(), seccomp.SANDBOX_DENY)
            sfd = _memfd("seccomp", prog)
            fds.append(sfd)
            env = worker_env(Path(bwrap.WORKDIR))
            tmp_bytes = max(int(limits.file_size_mb) << 20, 1 << 20) * 2

            def command(ctrl_fd: int) -> list[str]:
                argv = [bwrap.interpreter(), "-I", "-B", "-S", "-c",
                        BOOT.format(lib=bwrap.LIB), str(ctrl_fd), "session"]
                return bwrap.command(lib=lib, seccomp_fd=sfd, env=env, tmp_bytes=tmp_bytes,
                                     argv=argv)

            self._stderr = tempfile.TemporaryFile()
            self.zygote = zygote_client.Zygote(bwrap.interpreter(), False, env,
                                               command=command, pass_fds=fds,
                                               stderr=self._stderr)
        except BaseException:
            self._release(dirty=False)
            raise
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def files_fd(self) -> int:
        """A new descriptor holding the submission's files, for the next worker."""
        return _memfd("files", self._files)

    def errors(self) -> str:
        """The end of what bubblewrap and the fork server printed (for grader errors)."""
        f = getattr(self, "_stderr", None)
        if f is None:
            return ""
        try:
            f.seek(0)
            return f.read()[-600:].decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def _release(self, dirty: bool) -> None:
        if self.uid is not None and self._pool is not None:
            kill_uid(self.uid)
            if dirty:
                self._pool.retire(self.uid)
            else:
                self._pool.release(self.uid)
            self.uid = None

    def close(self) -> None:
        """End the sandbox and hand its uid back (or retire it)."""
        zygote = getattr(self, "zygote", None)
        if zygote is not None:
            zygote.close()
            self._release(zygote.dirty)
        f = getattr(self, "_stderr", None)
        if f is not None:
            f.close()


def run_worker(request: bytes, files: dict[str, bytes], *, workspace: Workspace,
               limits: Limits, first_deadline: float, step_timeout: float,
               python: str | None = None, draws: int | None = None,
               session: Session | None = None) -> WorkerRun:
    """Start a worker on ``files`` with ``request`` on its stdin; return what happened.

    ``first_deadline`` is the wall-clock budget until the worker is ready (start-up and the
    student's import) and its first draw, ``step_timeout`` the budget of each later draw: the
    clock restarts only when the result of the next expected draw arrives, never on any other
    frame, and ``draws`` (when given) bounds the whole run at ``first_deadline + draws *
    step_timeout`` however the frames arrive. With a ``session`` the worker runs in that
    submission's bubblewrap sandbox (``files`` are already in it). Never raises for anything
    the worker does; ``spawn_error`` is set when the process could not be started or its end
    could not be observed (a grader-side problem).
    """
    run = WorkerRun()
    python = python or sys.executable
    root = running_as_root()
    pool = uid_pool() if root and session is None else None
    uid = pool.acquire() if pool else (session.uid if session is not None else None)
    run.uid = uid
    workdir = workspace.make(files if session is None else {}, uid)
    fds: dict[str, int] = {}
    started = time.monotonic()
    proc: subprocess.Popen | None = None
    if session is not None:
        zygote: zygote_client.Zygote | None = session.zygote
    else:
        zygote = (zygote_client.get_zygote(python, uid is not None,
                                           worker_env(Path("/nonexistent")))
                  if zygote_client.use_zygote() else None)
    total = None if draws is None else first_deadline + max(draws - 1, 0) * step_timeout + 1.0
    pid = None
    try:
        fds["result_r"], fds["result_w"] = os.pipe()
        fds["out_r"], fds["out_w"] = os.pipe()
        fds["in_r"], fds["in_w"] = os.pipe()
        if zygote is not None:
            spawn_fds = [fds["in_r"], fds["out_w"], fds["result_w"]]
            if session is not None:
                fds["files"] = session.files_fd()
                spawn_fds.append(fds["files"])
            pid = zygote.spawn(workdir if session is None else Path(bwrap.WORKDIR), uid,
                               spawn_fds, worker_env(workdir if session is None
                                                     else Path(bwrap.WORKDIR)))
            if pid is None and session is not None:
                run.spawn_error = ("the submission's sandbox did not start a worker: "
                                   + (session.errors() or "no message"))
                return run
            if pid is None:  # the fork server is gone: start this worker the slow way
                zygote = None
        if zygote is None:
            try:
                proc = subprocess.Popen(
                    [python, "-I", "-B", "-m", "handgrad.grading.sandbox.worker",
                     str(fds["result_w"]), "-" if uid is None else str(uid)],
                    stdin=fds["in_r"], stdout=fds["out_w"], stderr=fds["out_w"],
                    pass_fds=(fds["result_w"],), cwd=workdir, env=worker_env(workdir),
                    start_new_session=True, close_fds=True)
            except (OSError, subprocess.SubprocessError, ValueError) as exc:
                run.spawn_error = f"cannot start the worker: {exc}"
                return run
            pid = proc.pid
        assert pid is not None  # one of the two ways above started the worker
        with _live_lock:
            _live.add(pid)
        for key in ("in_r", "out_w", "result_w", "files"):
            if key in fds:
                os.close(fds.pop(key))

        def close_stdin() -> None:
            fd = fds.pop("in_w", None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)

        _communicate(pid, fds["in_w"], close_stdin, request, fds["result_r"], fds["out_r"],
                     run, limits, first_deadline, step_timeout, total)
    finally:
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        if pid is not None:
            grace = 0.0 if run.timed_out or run.protocol_error else 2.0
            if zygote is not None:
                status = zygote.finish(pid, grace)
                if status is None:
                    run.spawn_error = "the worker host died; this worker's end is unknown"
                else:
                    run.returncode = os.waitstatus_to_exitcode(status) if status >= 0 else None
            elif proc is not None:
                _finish(proc, grace)
                run.returncode = proc.returncode
            if uid is not None and session is None:
                kill_uid(uid)
            with _live_lock:
                _live.discard(pid)
        if pool is not None and uid is not None:
            # a uid whose files outside the workspace could not all be removed is retired
            if remove_files_of(uid):
                pool.release(uid)
            else:
                pool.retire(uid)
        shutil.rmtree(workdir, ignore_errors=True)
        run.elapsed = time.monotonic() - started
    return run


def _communicate(pid: int, stdin_fd: int, close_stdin: Callable[[], None], request: bytes,
                 result_r: int, out_r: int, run: WorkerRun, limits: Limits,
                 first_deadline: float, step_timeout: float, total: float | None) -> None:
    output = _Output(limits.output_bytes)
    reader = wire.FrameReader()
    sel = selectors.DefaultSelector()
    os.set_blocking(stdin_fd, False)
    os.set_blocking(result_r, False)
    os.set_blocking(out_r, False)
    pending = memoryview(request)
    sel.register(stdin_fd, selectors.EVENT_WRITE, "in")
    sel.register(result_r, selectors.EVENT_READ, "result")
    sel.register(out_r, selectors.EVENT_READ, "out")
    open_reads = 2
    finished = False
    begun = time.monotonic()
    deadline = begun + first_deadline
    hard_end = begun + total if total is not None else float("inf")
    next_draw = 0
    try:
        while open_reads:
            now = time.monotonic()
            if now >= min(deadline, hard_end):
                if not finished:
                    run.timed_out = True
                _kill_group(pid)
                break
            for key, _ in sel.select(timeout=min(0.5, min(deadline, hard_end) - now)):
                if key.data == "in":
                    try:
                        n = os.write(stdin_fd, pending[:1 << 16])
                        pending = pending[n:]
                    except BlockingIOError:
                        continue
                    except OSError:  # the worker died before reading its request
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(stdin_fd)
                        close_stdin()
                    continue
                try:
                    data = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fd)
                    open_reads -= 1
                    continue
                if key.data == "out":
                    output.add(data)
                elif run.protocol_error is None:
                    try:
                        frames = reader.feed(data)
                    except wire.WireError as exc:
                        run.protocol_error = str(exc)
                        _kill_group(pid)
                        continue
                    if frames:
                        run.frames.extend(frames)
                        for h, _ in frames:
                            # only the next expected draw restarts the clock
                            if h.get("type") == "draw" and h.get("index") == next_draw:
                                next_draw += 1
                                deadline = time.monotonic() + step_timeout
                        if any(h.get("type") == "done" for h, _ in frames):
                            # all results are in: leave a moment for the last output only
                            finished = True
                            deadline = time.monotonic() + 1.0
    finally:
        sel.close()
        close_stdin()
        if run.timed_out or run.protocol_error or finished:
            _drain(out_r, output)
        run.output = output.text()
        run.output_bytes = output.total


def _drain(fd: int, output: _Output, budget: float = 0.2) -> None:
    end = time.monotonic() + budget
    while time.monotonic() < end:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            time.sleep(0.01)
            continue
        except OSError:
            return
        if not data:
            return
        output.add(data)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _finish(proc: subprocess.Popen, grace: float) -> None:
    """Let an exec'd worker end (up to ``grace`` s), kill its group, then reap it."""
    # Wait without reaping, so that the process group id cannot be reused before the kill.
    end = time.monotonic() + grace
    if not hasattr(os, "waitid"):  # e.g. macOS: poll (and reap), then kill what is left
        while proc.poll() is None and time.monotonic() < end:
            time.sleep(0.002)
        if proc.returncode is None:
            _kill_group(proc.pid)
        proc.wait()
        return
    while True:
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover
            continue
        if info is not None or time.monotonic() >= end:
            break
        time.sleep(0.002)
    _kill_group(proc.pid)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        _kill_group(proc.pid)
        proc.wait()
