"""The sandboxed worker's rules for student code: an audit hook and a meta-path finder.

:class:`Guard` refuses (and flags for review) imports of the assignment's reference modules,
of the grader's numerical-gradient modules and of autodiff libraries; refuses to open the
reference sources or their bytecode, to read or list the grader's folders, to write or change
files outside the working folder, to open directories, to create processes or links, to send
signals, and to use ``ctypes`` or sockets. :mod:`handgrad.grading.sandbox.worker` installs it after
its own setup and before importing the student's module. Like the worker, this module imports
only the standard library, and binds the built-ins it uses before any student code runs.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_type = type
_isinstance = isinstance
_realpath = os.path.realpath
_fsdecode = os.fsdecode
_isdir = os.path.isdir

FORBIDDEN_EVENTS = {
    "os.fork": "creating processes", "os.forkpty": "creating processes",
    "os.system": "running commands", "os.exec": "running programs",
    "os.posix_spawn": "creating processes", "os.spawn": "creating processes",
    "subprocess.Popen": "creating processes", "pty.spawn": "creating processes",
    "os.kill": "sending signals", "os.killpg": "sending signals",
    "signal.pthread_kill": "sending signals", "resource.setrlimit": "changing limits",
    "resource.prlimit": "changing limits", "os.symlink": "creating links",
    "os.link": "creating links", "socket.__new__": "network access",
    "socket.connect": "network access", "socket.bind": "network access",
    "socket.getaddrinfo": "network access", "sys.addaudithook": "adding audit hooks",
    "os.chroot": "changing the root", "os.setuid": "changing users",
}
PATH_EVENTS = {"os.mkdir": (0,), "os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1),
               "os.chmod": (0,), "os.chown": (0,), "os.truncate": (0,), "os.utime": (0,),
               "shutil.rmtree": (0,)}
AUTODIFF_MODULES = ("torch", "jax", "autograd", "tensorflow")


def prefix_match(name: str, prefixes: tuple[str, ...]) -> str | None:
    for p in prefixes:
        if name == p or name.startswith(p + "."):
            return p
    return None


class Guard:
    """The worker's rules for student code; ``flags`` records what looks like cheating.

    These rules live in the student's interpreter, so they are a Python-level fence, not a
    kernel boundary: they stop the usual routes (and flag them), while what must never be
    reached (the grader's memory, files only the grader's user may read, other workers'
    folders, more processes) is protected by the kernel through the worker's uid and limits.
    """

    def __init__(self, request: dict) -> None:
        self.flags: list[str] = []
        self.flag_modules = tuple(request.get("reference_modules", ()))
        self.grader_modules = tuple(request.get("grader_modules", ()))
        self.workdir = _realpath(os.getcwd())
        self.protected_files = frozenset(_realpath(p) for p in request.get("protected_files", ()))
        self.protected_stems: dict[str, tuple[str, ...]] = {}
        for p in self.protected_files:
            folder, base = os.path.split(p)
            cache = os.path.join(folder, "__pycache__")
            self.protected_stems[cache] = self.protected_stems.get(cache, ()) + (base[:-3] + ".",)
        self.deny = tuple(_realpath(p) for p in request.get("deny_read", ()))
        self.allow = tuple(_realpath(p) for p in request.get("allow_read", ())) + (self.workdir,)

    def flag(self, why: str) -> None:
        if why not in self.flags and len(self.flags) < 20:
            self.flags.append(why)

    # --- imports
    def check_import(self, name: str) -> None:
        if not _isinstance(name, str):
            return
        ref = prefix_match(name, self.flag_modules)
        if ref is not None:
            self.flag(f"imports the reference implementation {ref}")
            raise ImportError(f"importing {ref} is not allowed: the grader grades your own "
                              f"code (this attempt is flagged for the instructor)")
        hit = prefix_match(name, self.grader_modules)
        if hit is not None:
            self.flag(f"imports {hit} (numerical gradients instead of a hand-written backward)")
            raise ImportError(f"importing {hit} is not allowed in a graded backward pass "
                              f"(this attempt is flagged for the instructor)")
        hit = prefix_match(name, AUTODIFF_MODULES)
        if hit is not None:
            self.flag(f"imports the automatic-differentiation library {hit}")
            raise ImportError(f"importing {hit} is not allowed: write the gradient by hand "
                              f"(this attempt is flagged for the instructor)")

    # --- files
    def _under(self, path: str, roots: tuple[str, ...]) -> bool:
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)

    def is_protected(self, real: str) -> bool:
        if real in self.protected_files:
            return True
        folder, base = os.path.split(real)
        return base.startswith(self.protected_stems.get(folder, ()) or ("\0",))

    def check_open(self, args: tuple) -> None:
        path = args[0] if args else None
        if _type(path) is int:
            return
        if _type(path) is bytes:
            path = _fsdecode(path)
        elif _type(path) is not str:
            raise PermissionError("the grader only opens files given as a str path")
        mode: Any = args[1] if len(args) > 1 else None  # as the audit event gives them
        flags: Any = args[2] if len(args) > 2 else 0
        writing = (_isinstance(mode, str) and any(c in mode for c in "wax+")) or \
            (_isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT
                                                  | os.O_TRUNC | os.O_APPEND))
        real = _realpath(path)
        if self.is_protected(real):
            self.flag(f"tries to read the reference source {os.path.basename(real)}")
            raise PermissionError(f"{path}: reading the reference implementation is not allowed "
                                  f"(this attempt is flagged for the instructor)")
        if writing and not self._under(real, (self.workdir,)):
            raise PermissionError(f"{path}: writing outside the submission's folder is not "
                                  f"allowed in the grader")
        if self._under(real, self.deny) and not self._under(real, self.allow):
            raise PermissionError(f"{path}: this file is not readable in the grader")
        if _isdir(real):
            raise PermissionError(f"{path}: opening a directory is not allowed in the grader")

    def check_listing(self, args: tuple) -> None:
        p = args[0] if args else None
        if _type(p) is bytes:
            p = _fsdecode(p)
        if _type(p) is not str:
            return
        real = _realpath(p)
        if self._under(real, self.deny) and not self._under(real, self.allow):
            raise PermissionError(f"{p}: this folder is not readable in the grader")

    def check_path_event(self, event: str, args: tuple) -> None:
        for i in PATH_EVENTS[event]:
            if i >= len(args):
                continue
            p = args[i]
            if _type(p) is int:
                continue
            if _type(p) is bytes:
                p = _fsdecode(p)
            if _type(p) is not str or not self._under(_realpath(p), (self.workdir,)):
                raise PermissionError(f"{event}: changing files outside the submission's folder "
                                      f"is not allowed in the grader")

    def audit(self, event: str, args: tuple) -> None:
        if event == "open":
            self.check_open(args)
        elif event == "import":
            if args:
                self.check_import(args[0])
        elif event in FORBIDDEN_EVENTS:
            raise PermissionError(f"{FORBIDDEN_EVENTS[event]} is not allowed in the grader")
        elif event.startswith("ctypes."):
            raise PermissionError("ctypes is not allowed in the grader")
        elif event in PATH_EVENTS:
            self.check_path_event(event, args)
        elif event in ("os.listdir", "os.scandir"):
            self.check_listing(args)

    # --- the meta-path finder protocol (a second layer: importlib does not raise "import")
    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001
        self.check_import(fullname)
        return None

    def install(self) -> None:
        for name in list(sys.modules):
            if prefix_match(name, self.flag_modules + self.grader_modules):
                del sys.modules[name]
        sys.meta_path.insert(0, self)
        sys.addaudithook(self.audit)  # from here on, for good: a hook cannot be removed
