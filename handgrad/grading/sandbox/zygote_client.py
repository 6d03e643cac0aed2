"""The grader's side of the fork server (:mod:`handgrad.grading.sandbox.zygote`).

:func:`get_zygote` starts one fork server per interpreter and privilege mode and keeps it for
the life of the grader; :meth:`Zygote.spawn` has it fork a fresh worker with the given folder,
environment and descriptors, and :meth:`Zygote.finish` has it reap the worker and kill its
process group. Messages are JSON over a ``SOCK_SEQPACKET`` socket, descriptors pass with
``SCM_RIGHTS``; a reader thread matches replies to requests. A server that does not answer
in time is not trusted again. :mod:`handgrad.grading.sandbox.process` decides when to use it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class Zygote:
    """Client of one fork server, started with ``python`` in the environment ``env``;
    ``drop``: its children drop root to the uid given with each spawn."""

    def __init__(self, python: str, drop: bool, env: dict[str, str], *,
                 command: Callable[[int], list[str]] | None = None,
                 pass_fds: Sequence[int] = (), stderr: Any = subprocess.DEVNULL) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.dirty = False
        argv = (command(theirs.fileno()) if command is not None else
                [python, "-I", "-B", "-m", "handgrad.grading.sandbox.zygote",
                 str(theirs.fileno()), "drop" if drop else "-"])
        try:
            self.proc = subprocess.Popen(
                argv, pass_fds=(theirs.fileno(), *pass_fds), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd="/",
                start_new_session=True)
        finally:
            theirs.close()
        self.dead = False
        self._send_lock = threading.Lock()
        self._slots: dict[int, list] = {}
        self._slots_lock = threading.Lock()
        self._rid = itertools.count(1)
        self._reader = threading.Thread(target=self._read, name="handgrad-zygote", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                msg = self.sock.recv(1 << 16)
            except OSError:
                msg = b""
            if not msg:
                break
            try:
                reply = json.loads(msg)
                slot = self._slots.pop(reply.get("rid"), None)
            except (ValueError, AttributeError):
                continue
            if slot is not None:
                slot[1] = reply
                slot[0].set()
        self.dead = True
        with self._slots_lock:
            slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            slot[0].set()

    def _call(self, cmd: dict, fds: Sequence[int] = (), timeout: float = 60.0) -> dict | None:
        if self.dead:
            return None
        rid = next(self._rid)
        event = threading.Event()
        slot: list[Any] = [event, None]  # [answered, the answer], filled by the reader
        with self._slots_lock:
            self._slots[rid] = slot
        try:
            with self._send_lock:
                socket.send_fds(self.sock, [json.dumps(dict(cmd, rid=rid)).encode()],
                                list(fds))
        except OSError:
            self.dead = True
            self._slots.pop(rid, None)
            return None
        if not event.wait(timeout):
            # A fork server that does not answer is not trusted again: closing the socket
            # makes it exit, and its children die with it.
            self._slots.pop(rid, None)
            self.dead = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            return None
        return slot[1]

    def spawn(self, cwd: Path, uid: int | None, fds: list[int],
              env: dict[str, str]) -> int | None:
        """Fork a worker in ``cwd`` with ``env`` and the descriptors ``fds`` (request read
        end, output write end, result write end); its pid, or None if the server is gone."""
        reply = self._call({"op": "spawn", "cwd": str(cwd), "uid": uid, "env": env}, fds)
        if not reply or "pid" not in reply:
            return None
        return int(reply["pid"])

    def finish(self, pid: int, grace: float) -> int | None:
        """Wait up to ``grace`` s for worker ``pid``, kill its group, reap it: its raw wait
        status, or None if the server is gone."""
        reply = self._call({"op": "finish", "pid": pid, "grace": grace}, timeout=grace + 30)
        if not reply or "status" not in reply:
            return None
        if reply.get("dirty"):
            self.dirty = True  # a worker's files could not all be removed
        return int(reply["status"])

    def close(self) -> None:
        # shutdown, not just close: the reader thread blocked in recv keeps the socket open
        # (and the fork server waiting) until the connection itself is shut down
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


_zygotes: dict[tuple[str, bool], Zygote] = {}
_zygote_lock = threading.Lock()


def use_zygote() -> bool:
    """Whether workers are forked from a zygote (Linux; ``HANDGRAD_SANDBOX_ZYGOTE=0`` turns
    it off, so every worker is a freshly exec'd interpreter)."""
    return (sys.platform.startswith("linux") and hasattr(socket, "send_fds")
            and os.environ.get("HANDGRAD_SANDBOX_ZYGOTE", "1") != "0")


def get_zygote(python: str, drop: bool, env: dict[str, str]) -> Zygote | None:
    """The running fork server for ``(python, drop)``, started (with ``env``) if there is
    none or the last one died; None if it cannot be started."""
    with _zygote_lock:
        z = _zygotes.get((python, drop))
        if z is not None and not z.dead:
            return z
        if z is not None:
            z.close()
        try:
            z = Zygote(python, drop, env)
        except (OSError, subprocess.SubprocessError):
            return None
        _zygotes[(python, drop)] = z
        return z


def close_zygotes() -> None:
    with _zygote_lock:
        zs = list(_zygotes.values())
        _zygotes.clear()
    for z in zs:
        z.close()


atexit.register(close_zygotes)
