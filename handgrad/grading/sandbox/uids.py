"""Identities for sandboxed workers: dedicated unprivileged uids, and the processes of a uid.

When the grader runs as root, every concurrently running worker gets its own uid from
:class:`UidPool` (reserved with an exclusive lock on a file, so two graders on one machine
never share one), and after the worker ends every process still owned by that uid is killed
(:func:`kill_uid`). See :mod:`handgrad.grading.sandbox.process` for the whole isolation.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path

UID_BASE = 1_990_000_000
UID_COUNT = 4096
FALLBACK_UID_BASE = 59000
FALLBACK_UID_COUNT = 6000
LOCK_DIR = Path(tempfile.gettempdir()) / ".handgrad-sandbox-uids"


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _uid_range() -> tuple[int, int]:
    """A uid range this user namespace maps (the high range if possible)."""
    try:
        lines = Path("/proc/self/uid_map").read_text().split("\n")
        spans = [tuple(int(v) for v in ln.split()) for ln in lines if ln.strip()]
    except (OSError, ValueError):
        spans = []
    for base, count in ((UID_BASE, UID_COUNT), (FALLBACK_UID_BASE, FALLBACK_UID_COUNT)):
        for inside, _outside, length in spans:
            if inside <= base and base + count <= inside + length:
                return base, count
    return FALLBACK_UID_BASE, FALLBACK_UID_COUNT


class UidPool:
    """Unprivileged uids for workers, each reserved by an exclusive lock on a file.

    A uid is handed to one worker at a time; its lock is held for the life of this process,
    so a uid is never shared with another grader. Before first use a uid is swept (any
    process left over from a grader that died is killed).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[int] = []
        self._held: dict[int, int] = {}
        self._base, self._count = _uid_range()
        self._next = 0
        self._dir = self._lock_dir()
        self.retired: set[int] = set()

    @staticmethod
    def _lock_dir() -> Path:
        d = LOCK_DIR
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(d)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            # Someone else made it: do not trust it; use a private folder (no cross-grader
            # coordination, but still one uid per worker within this grader).
            return Path(tempfile.mkdtemp(prefix="handgrad-uids-"))
        return d

    def acquire(self) -> int:
        import fcntl

        with self._lock:
            if self._free:
                return self._free.pop()
            while self._next < self._count:
                uid = self._base + self._next
                self._next += 1
                path = self._dir / f"{uid}.lock"
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                self._held[uid] = fd
                kill_uid(uid)
                return uid
        raise RuntimeError("no free sandbox uid")

    def release(self, uid: int) -> None:
        with self._lock:
            self._free.append(uid)

    def retire(self, uid: int) -> None:
        """Never hand ``uid`` out again in this grader (its lock stays held, so no other
        grader takes it either): something it owns could not be removed."""
        with self._lock:
            if uid in self._free:
                self._free.remove(uid)
            self.retired.add(uid)


_pool: UidPool | None = None
_pool_lock = threading.Lock()


def uid_pool() -> UidPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = UidPool()
        return _pool


def processes_of(uid: int) -> list[int]:
    """PIDs of every process whose real uid is ``uid`` (Linux /proc)."""
    pids: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(name))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return pids


def kill_uid(uid: int) -> int:
    """SIGKILL every process of the sandbox ``uid`` (root only); returns how many were found."""
    if not running_as_root() or uid == 0:
        return 0
    found = 0
    for _ in range(50):
        pids = processes_of(uid)
        if not pids:
            break
        found += len(pids)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
    return found


SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def remove_files_of(uid: int, roots: tuple[str, ...] = SHARED_WRITABLE,
                    max_entries: int = 100_000) -> bool:
    """Remove every file and folder owned by ``uid`` under the shared writable ``roots``
    (root only); whether none is left. Only folders the uid could write into are searched
    (world-writable ones and its own), so the walk stays short."""
    if not running_as_root() or uid == 0:
        return True
    clean = True
    seen = 0
    stack = [r for r in roots if os.path.isdir(r) and not os.path.islink(r)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > max_entries:
                return False
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if st.st_uid == uid:
                try:
                    if is_dir:
                        import shutil

                        os.chmod(entry.path, 0o700)
                        shutil.rmtree(entry.path)
                    else:
                        os.unlink(entry.path)
                except OSError:
                    clean = False
            elif is_dir and st.st_mode & stat.S_IWOTH:
                stack.append(entry.path)
    return clean


def user_process_count() -> int:
    return len(processes_of(os.getuid())) if hasattr(os, "getuid") else 0
