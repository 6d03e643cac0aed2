"""What the sandboxed worker does to itself before any student code runs.

:func:`apply_limits` lowers the resource limits of the request; :func:`drop_privileges`
turns a worker started as root into its dedicated uid for good (after
:func:`preload_if_needed` / :func:`preload_imports_of` loaded the modules a submission needs
when other users cannot read the standard library); :func:`die_with_parent` makes the kernel
kill the worker when the grader dies; :func:`lock_down` adds its seccomp filter. Used by
:mod:`handgrad.grading.sandbox.worker` (and the fork server's ``preload_if_needed``); imports
only the standard library and :mod:`handgrad.grading.sandbox.seccomp`.
"""

from __future__ import annotations

import os
import sys

from handgrad.grading.sandbox.guard import prefix_match

_isinstance = isinstance
_realpath = os.path.realpath
_exit = os._exit

def apply_limits(limits: dict) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return

    def lower(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    lower(resource.RLIMIT_CORE, 0)
    if limits.get("memory_bytes"):
        lower(resource.RLIMIT_AS, int(limits["memory_bytes"]))
    if limits.get("cpu_seconds"):
        cpu = int(limits["cpu_seconds"])
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        except (ValueError, OSError):
            pass
    if limits.get("file_size_bytes"):
        lower(resource.RLIMIT_FSIZE, int(limits["file_size_bytes"]))
    if limits.get("open_files"):
        lower(resource.RLIMIT_NOFILE, int(limits["open_files"]))
    if limits.get("processes") and hasattr(resource, "RLIMIT_NPROC"):
        lower(resource.RLIMIT_NPROC, int(limits["processes"]))


PRELOAD = ("math", "cmath", "random", "functools", "itertools", "collections",
           "collections.abc", "operator", "typing", "dataclasses", "copy", "numbers", "warnings",
           "time", "string", "re", "json", "fractions", "heapq", "bisect", "enum", "abc",
           "contextlib", "textwrap", "statistics", "decimal", "unicodedata", "importlib",
           "importlib.util", "threading", "types", "weakref", "array", "struct", "inspect",
           "traceback", "logging", "pathlib", "io", "queue", "pprint", "reprlib", "datetime",
           "hashlib", "keyword", "linecache", "tokenize", "concurrent.futures", "contextvars",
           "handgrad.validation", "handgrad._validation", "handgrad.fast._blocks", "unittest",
           "difflib", "pprint",
           "stringprep", "subprocess", "numpy.testing", "encodings.idna", "encodings.latin_1",
           "encodings.ascii", "encodings.utf_8_sig", "encodings.cp1252",
           "secrets")  # secrets: numpy.random's SeedSequence imports it on first use


def _world_readable(path: str) -> bool:
    """Whether a uid outside the owner and group can read ``path`` (every parent searchable)."""
    import stat

    path = _realpath(path)
    parts = path.split(os.sep)
    for i in range(2, len(parts) + 1):
        try:
            mode = os.stat(os.sep.join(parts[:i]) or os.sep).st_mode
        except OSError:
            return False
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return False
    try:
        return bool(os.stat(path).st_mode & stat.S_IROTH)
    except OSError:
        return False


def preload_if_needed() -> None:
    """Import :data:`PRELOAD` when other users cannot read the standard library."""
    if _world_readable(os.path.dirname(os.__file__)):
        return
    import importlib

    for name in PRELOAD:
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except ImportError:
                pass


UNSAFE_STDLIB = {"antigravity", "this", "webbrowser", "tkinter", "turtle", "turtledemo",
                 "idlelib", "pydoc", "__hello__", "__phello__", "ensurepip", "venv"}


def preload_imports_of(path: str, avoid: tuple[str, ...]) -> None:
    """Before dropping root: import the standard-library and handgrad modules that the
    student's file names (found by parsing it; nothing of it runs), when other users cannot
    read the standard library. Modules in ``avoid`` (the blocked ones) are left alone."""
    if _world_readable(os.path.dirname(os.__file__)):
        return
    import ast
    import importlib
    from typing import cast

    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read())
    except Exception:  # a file that does not parse is reported when it is imported
        return
    names: set[str] = set()
    for node in ast.walk(tree):
        if _isinstance(node, ast.Import):
            names.update(a.name for a in cast(ast.Import, node).names)
        elif _isinstance(node, ast.ImportFrom):
            found = cast(ast.ImportFrom, node)
            if found.level == 0 and found.module:
                names.add(found.module)
                names.update(f"{found.module}.{a.name}" for a in found.names)
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    for name in sorted(names)[:200]:
        top = name.split(".")[0]
        if top == "handgrad":
            if prefix_match(name, avoid + ("handgrad.grading", "handgrad.gradcheck")):
                continue
        elif top not in stdlib or top in UNSAFE_STDLIB:
            continue
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception:
            pass


def drop_privileges(uid: int | None) -> None:
    """Become ``uid`` (and gid ``uid``, no supplementary groups) for good, if running as root.

    The interpreter, the standard library and NumPy were loaded as root; when the standard
    library is not readable by other users (a Python installed in a private home), the
    modules a submission commonly imports are loaded first, so they keep working.
    """
    if uid is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    preload_if_needed()
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
        _exit(4)
    try:
        os.setuid(0)
    except PermissionError:
        return
    _exit(4)  # regaining root must be impossible


def lock_down(required: bool) -> None:
    """Add the worker's seccomp filter to this process (Linux x86_64/aarch64). When it cannot
    be installed: exit if ``required`` (the grader runs under bubblewrap and counts on it),
    else go on with the other walls."""
    from handgrad.grading.sandbox import seccomp

    try:
        if not sys.platform.startswith("linux"):
            raise seccomp.SeccompError("not Linux")
        seccomp.install(seccomp.program(seccomp.machine(), seccomp.WORKER_DENY))
    except Exception:
        if required:
            _exit(5)


def die_with_parent(parent_pid: int | None) -> None:
    """Ask Linux to SIGKILL this process when the grader dies (best effort elsewhere)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except Exception:
            pass
    if parent_pid and os.getppid() != parent_pid:
        _exit(3)
