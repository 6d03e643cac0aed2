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
  group id cannot have been reused) and reap it -> ``{"rid": n, "pid": p, "status": raw}``.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import sys
import time

import numpy  # noqa: F401 - loaded once here, shared by every forked worker

from handgrad.grading.sandbox import worker, worker_setup


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


def serve(ctrl: socket.socket) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    finishing: dict[int, tuple[int, float]] = {}   # pid -> (rid, deadline)
    children: set[int] = set()

    def send(msg: dict) -> None:
        ctrl.send(json.dumps(msg).encode())

    try:
        while True:
            now = time.monotonic()
            timeout = None
            if finishing:
                timeout = max(0.0, min(d for _, d in finishing.values()) - now)
            watched: list[socket.socket | int] = [ctrl, wake_r]
            ready, _, _ = select.select(watched, [], [], timeout)
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
                if op == "spawn" and len(fds) == 3:
                    try:
                        pid = os.fork()
                    except OSError as exc:
                        for fd in fds:
                            os.close(fd)
                        send({"rid": cmd.get("rid"), "error": str(exc)})
                        continue
                    if pid == 0:
                        _child(cmd, fds, ctrl, [wake_r, wake_w])
                    for fd in fds:
                        os.close(fd)
                    children.add(pid)
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
                send({"rid": rid, "pid": pid, "status": status})
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
    if len(argv) > 2 and argv[2] == "drop":
        worker_setup.preload_if_needed()
    serve(ctrl)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
