"""A fork server for workers: a pristine process that forks one fresh worker per request.

Starting a Python interpreter and importing NumPy costs about 0.2 s of CPU; grading a class
needs hundreds of worker processes. The zygote (``python -I -B -m handgrad.grading.sandbox.zygote
FD``, started by :mod:`handgrad.grading.sandbox.zygote_client` with the workers' scrubbed
environment) imports NumPy and :mod:`handgrad.grading.sandbox.worker` once and then only forks. It
never runs student code, never receives expected values, and holds nothing but its control socket;
each child is a new process in its own session that closes every descriptor except its stdin (the
request), its stdout/stderr (captured output) and its result pipe, and then runs
:func:`handgrad.grading.sandbox.worker.main` exactly as an exec'd worker would (limits, dropping
root, guards, student import). A child dies with the zygote (``PR_SET_PDEATHSIG``), and the zygote
exits when the grader's end of the control socket closes, killing its children.

Control protocol (``SOCK_SEQPACKET``, JSON messages; descriptors passed with ``SCM_RIGHTS``):

- ``{"op": "spawn", "rid": n, "cwd": ..., "uid": n|null, "env": {...}}`` with three
  descriptors (request read end, output write end, result write end) -> ``{"rid": n, "pid": p}``
  or ``{"rid": n, "error": "..."}``;
- ``{"op": "finish", "rid": n, "pid": p, "grace": s}``: wait up to ``grace`` seconds for the
  child to exit, then SIGKILL its process group (while the child is not yet reaped, so the
  group id cannot have been reused) and reap it -> ``{"rid": n, "pid": p, "status": raw,
  "dirty": bool}``.

The zygote is also the workers' supervisor: a child never holds the grader's result pipe. It
writes its frames to a pipe of its own, read here (:class:`Relay`); the zygote checks their
order (``ready`` or ``import_failed`` first, then ``draw`` frames numbered 0, 1, 2, ... and
``done``), adds what it measured itself (``cpu_ns``: the child's CPU time when the frame
arrived, from the kernel's ``/proc/PID/schedstat``) and passes them on; a frame out of order
kills the child and ends its channel.

Session mode (``... zygote FD session``, inside one bubblewrap sandbox per submission, see
:mod:`handgrad.grading.sandbox.bwrap`): before each child the zygote empties ``/w``, ``/tmp``
and ``/dev/shm`` and copies the submission from the read-only ``/src`` into ``/w`` (owned by
the child's uid); after each child it kills every process left with that uid and empties the
folders again, so nothing a worker writes outlives it; ``dirty`` says the cleaning failed
(the grader then never reuses the uid).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import sys
import time

import numpy  # noqa: F401 - loaded once here, shared by every forked worker

from handgrad.grading.sandbox import uids, wire, worker, worker_setup

SESSION_DIRS = ("/w", "/tmp", "/dev/shm")


def cpu_ns(pid: int) -> int | None:
    """CPU time of ``pid`` so far (nanoseconds, from the kernel), or None."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Relay:
    """Frames of one child, from its own pipe to the grader's result pipe, checked in order."""

    def __init__(self, pid: int, src: int, dst: int) -> None:
        self.pid = pid
        self.src = src
        self.dst = dst
        self.reader = wire.FrameReader()
        self.next_draw = 0
        self.started = False
        self.done = False
        self.broken = False

    def _accept(self, header: dict) -> bool:
        t = header.get("type")
        if self.done:
            return t == "done"
        if t in ("ready", "import_failed"):
            ok = not self.started
            self.started = True
            return ok
        if t == "draw":
            ok = self.started and header.get("index") == self.next_draw
            self.next_draw += 1
            return ok
        if t == "done":
            self.done = True
            return True
        return t == "worker_error"

    def pump(self) -> bool | None:
        """Read what the child wrote and pass it on; False when the channel is over, None
        when there is nothing to read now."""
        try:
            data = os.read(self.src, 1 << 16)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            return False
        if self.broken:
            return True
        try:
            frames = self.reader.feed(data)
        except wire.WireError:
            frames = None
        for header, blobs in frames or []:
            if not self._accept(header):
                frames = None
                break
            header = dict(header, cpu_ns=cpu_ns(self.pid))
            try:
                _write_all(self.dst, wire.frame(header, blobs))
            except OSError:
                break
        if frames is None:
            self.broken = True
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                _write_all(self.dst, b"\xff" * 16)  # malformed on purpose: the grader sees it
        return True

    def close(self) -> None:
        for fd in (self.src, self.dst):
            with contextlib.suppress(OSError):
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def empty(folder: str) -> bool:
    """Remove everything inside ``folder``; whether it is empty now."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            for root, dirs, _ in os.walk(path):
                for d in dirs:
                    with contextlib.suppress(OSError):
                        os.chmod(os.path.join(root, d), 0o700)
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
    try:
        return not os.listdir(folder)
    except OSError:
        return False


def read_files(fd: int) -> dict[str, bytes]:
    """The submission's files from a descriptor holding one wire frame ``{"names": [...]}``
    with one blob per file (what :class:`handgrad.grading.sandbox.process.Session` sends)."""
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    frames = wire.FrameReader(max_bytes=1 << 30).feed(b"".join(chunks))
    if len(frames) != 1:
        raise OSError("the submission's files must come as one frame")
    header, blobs = frames[0]
    names = header.get("names")
    if not isinstance(names, list) or len(names) != len(blobs):
        raise OSError("bad file frame")
    out = {}
    for name, data in zip(names, blobs, strict=True):
        if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
            raise OSError(f"bad file name {name!r}")
        out[name] = data
    return out


def reset_session(uid: int | None, files_fd: int | None) -> bool:
    """Empty the sandbox's writable folders and write the submission into ``/w`` (owned by
    ``uid``); whether the folders were empty."""
    clean = all(empty(d) for d in SESSION_DIRS)
    files = read_files(files_fd) if files_fd is not None else {}
    for name, data in sorted(files.items()):
        dst = os.path.join(SESSION_DIRS[0], name)
        with open(dst, "wb") as fout:
            fout.write(data)
        if uid is not None:
            os.chown(dst, uid, uid)
        os.chmod(dst, 0o600)
    return clean


def clean_session(uid: int | None) -> bool:
    """After a child: kill what is left of its uid, empty the folders; whether all went."""
    if uid is not None:
        uids.kill_uid(uid)
    return all(empty(d) for d in SESSION_DIRS)


def _child(cmd: dict, fds: list[int], ctrl: socket.socket, keep: list[int]) -> None:
    code = 70
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        ctrl.close()
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds]  # clear of 0..3
        for fd in fds + keep:
            os.close(fd)
        os.setsid()
        os.chdir(cmd["cwd"])
        os.dup2(high[0], 0)
        os.dup2(high[1], 1)
        os.dup2(high[1], 2)
        os.dup2(high[2], 3)
        os.closerange(4, 1 << 16)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in cmd.get("env", {}).items()})
        uid = cmd.get("uid")
        code = worker.main(["worker", "3", "-" if uid is None else str(int(uid))],
                           parent_pid=os.getppid())
    except BaseException:  # noqa: BLE001 - the child must never return into the server loop
        code = 70
    finally:
        worker.flush_output()
        os._exit(code)


def serve(ctrl: socket.socket, session: bool = False) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    finishing: dict[int, tuple[int, float]] = {}   # pid -> (rid, deadline)
    children: set[int] = set()
    relays: dict[int, Relay] = {}                    # read end -> relay
    child_uid: dict[int, int | None] = {}

    def send(msg: dict) -> None:
        ctrl.send(json.dumps(msg).encode())

    try:
        while True:
            now = time.monotonic()
            timeout = None
            if finishing:
                timeout = max(0.0, min(d for _, d in finishing.values()) - now)
            watched: list[socket.socket | int] = [ctrl, wake_r, *relays]
            ready, _, _ = select.select(watched, [], [], timeout)
            for fd in [r for r in ready if r in relays]:
                if relays[fd].pump() is False:
                    relays.pop(fd).close()
            if wake_r in ready:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            if ctrl in ready:
                msg, fds, _, _ = socket.recv_fds(ctrl, 1 << 16, 4)
                if not msg:
                    return
                try:
                    cmd = json.loads(msg)
                except ValueError:
                    cmd = {}
                op = cmd.get("op")
                if op == "spawn" and len(fds) in (3, 4):
                    uid = cmd.get("uid")
                    uid = int(uid) if uid is not None else None
                    files_fd = fds.pop() if len(fds) == 4 else None
                    try:
                        if session:
                            if children:
                                raise OSError("a session runs one worker at a time")
                            reset_session(uid, files_fd)
                            cmd = dict(cmd, cwd=SESSION_DIRS[0])
                        relay_r, relay_w = os.pipe()
                    except (OSError, wire.WireError) as exc:
                        for fd in fds:
                            os.close(fd)
                        send({"rid": cmd.get("rid"), "error": str(exc)})
                        continue
                    finally:
                        if files_fd is not None:
                            os.close(files_fd)
                    try:
                        pid = os.fork()
                    except OSError as exc:
                        for fd in (*fds, relay_r, relay_w):
                            os.close(fd)
                        send({"rid": cmd.get("rid"), "error": str(exc)})
                        continue
                    if pid == 0:
                        _child(cmd, [fds[0], fds[1], relay_w], ctrl,
                               [wake_r, wake_w, fds[2], relay_r, *relays,
                                *(r.dst for r in relays.values())])
                    for fd in (fds[0], fds[1], relay_w):
                        os.close(fd)
                    os.set_blocking(relay_r, False)
                    os.set_blocking(fds[2], True)
                    relays[relay_r] = Relay(pid, relay_r, fds[2])
                    children.add(pid)
                    child_uid[pid] = uid
                    send({"rid": cmd.get("rid"), "pid": pid})
                elif op == "finish" and cmd.get("pid") in children:
                    grace = float(cmd.get("grace", 0.0))
                    finishing[int(cmd["pid"])] = (cmd.get("rid"), time.monotonic() + grace)
                else:
                    for fd in fds:
                        os.close(fd)
                    send({"rid": cmd.get("rid"), "error": f"bad command {op!r}"})
            now = time.monotonic()
            for pid, (rid, deadline) in list(finishing.items()):
                try:
                    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                except ChildProcessError:
                    info = None
                if info is None and now < deadline:
                    continue
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    _, status = os.waitpid(pid, 0)
                except ChildProcessError:
                    status = -1
                del finishing[pid]
                children.discard(pid)
                for fd, relay in list(relays.items()):
                    if relay.pid == pid:
                        while relay.pump():  # what is still in the pipe, then its end
                            pass
                        relays.pop(fd).close()
                uid = child_uid.pop(pid, None)
                dirty = not clean_session(uid) if session else False
                send({"rid": rid, "pid": pid, "status": status, "dirty": dirty})
    finally:
        for pid in children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def main(argv: list[str]) -> int:
    fd = int(argv[1])
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    ctrl = socket.socket(fileno=high)
    mode = argv[2] if len(argv) > 2 else "-"
    if mode == "drop":
        worker_setup.preload_if_needed()
    serve(ctrl, session=mode == "session")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
