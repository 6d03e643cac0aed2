"""The sandboxed worker: imports one student module and calls one of its functions on data.

Started by :mod:`handgrad.grading.sandbox` as
``python -I -B -m handgrad.grading.worker FD UID`` in a fresh temporary folder holding only the
student's files. It reads one request frame (:mod:`handgrad.grading.wire`) from stdin, then,
in this order:

1. applies the resource limits of the request (address space, CPU time, file size, open
   files, processes; no core dumps); when started as root, becomes the unprivileged ``UID``
   for good (``setresuid``; the interpreter and NumPy are already loaded, so this works even
   when Python is installed where only root can read); asks the kernel to kill it if the
   grader dies;
2. installs its guards: a meta-path finder and an audit hook that refuse the assignment's
   reference modules, ``handgrad.gradcheck`` and autodiff libraries (recorded as *flags*),
   refuse to read the reference sources or the grader's folders, to write outside the
   working folder, to open directories, to create processes or links, to send signals, to use
   ``ctypes`` or sockets (modules such as ``subprocess`` and ``socket`` can be imported,
   since NumPy's own helpers import them, but not used); as root, ``RLIMIT_NPROC`` = 1 on
   the worker's dedicated uid also makes the kernel refuse any new process or thread;
3. imports the student's module from the working folder;
4. for each draw of the request: ``kind == "backward"``: runs the student's forward on copies
   of the inputs, then the student's backward with the grader's ``dout``, counting calls of
   forward made during backward; ``kind == "function"``: calls the function;
5. sends one frame per draw on the inherited result descriptor ``FD`` (never stdout): the
   returned value as data, the inputs after the call, what went wrong, the flags.

Nothing here decides a score: the grader computes every expected value itself and accepts a
draw only after comparing the data this worker sent. A student who tampers with this process
can only make their own draws fail. The module imports only the standard library, NumPy and
:mod:`handgrad.grading.wire`; no expected value ever exists in this process.
"""

from __future__ import annotations

import builtins as _builtins
import os
import sys

import numpy as np

from handgrad.grading import wire

# Bound before any student code runs, so rebinding builtins cannot change what the worker uses.
_saved_builtins = dict(_builtins.__dict__)
_type = type
_isinstance = isinstance
_BaseException = BaseException
_write = os.write
_exit = os._exit
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


def _prefix_match(name: str, prefixes: tuple[str, ...]) -> str | None:
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
        ref = _prefix_match(name, self.flag_modules)
        if ref is not None:
            self.flag(f"imports the reference implementation {ref}")
            raise ImportError(f"importing {ref} is not allowed: the grader grades your own "
                              f"code (this attempt is flagged for the instructor)")
        hit = _prefix_match(name, self.grader_modules)
        if hit is not None:
            self.flag(f"imports {hit} (numerical gradients instead of a hand-written backward)")
            raise ImportError(f"importing {hit} is not allowed in a graded backward pass "
                              f"(this attempt is flagged for the instructor)")
        hit = _prefix_match(name, AUTODIFF_MODULES)
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
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
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
            self.check_import(args[0] if args else None)
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
            if _prefix_match(name, self.flag_modules + self.grader_modules):
                del sys.modules[name]
        sys.meta_path.insert(0, self)
        sys.addaudithook(self.audit)  # from here on, for good: a hook cannot be removed


# ------------------------------------------------------------------------------- helpers


class Channel:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, header: dict, blobs: list[bytes] = ()) -> None:
        data = memoryview(wire.frame(header, list(blobs)))
        while data:
            n = _write(self.fd, data)
            data = data[n:]


def restore_builtins() -> None:
    """Undo any change student code made to ``builtins`` (the worker's own code needs them)."""
    current = _builtins.__dict__
    for key in [k for k in current if k not in _saved_builtins]:
        del current[key]
    for key, value in _saved_builtins.items():
        if current.get(key) is not value:
            current[key] = value


def flush_output() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except _BaseException:
            pass


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe_exception(exc: BaseException, student_file: str) -> tuple[str, str]:
    """``(status, message)`` for an exception raised by student code."""
    try:
        name = _type(exc).__name__
        name = name if _isinstance(name, str) else "exception"
    except _BaseException:
        name = "exception"
    try:
        text = str(exc)
    except _BaseException:
        text = "<the exception could not be printed>"
    line = None
    try:
        tb = exc.__traceback__
        depth = 0
        while tb is not None and depth < 1000:
            if tb.tb_frame.f_code.co_filename == student_file:
                line = tb.tb_lineno
            tb = tb.tb_next
            depth += 1
    except _BaseException:
        pass
    if _isinstance(exc, SyntaxError):
        where = f"line {exc.lineno}: " if _isinstance(exc.lineno, int) else ""
        return "syntax", one_line(f"{where}{name}: {getattr(exc, 'msg', text)}")
    if _isinstance(exc, NotImplementedError):
        status = "not_implemented"
    elif _isinstance(exc, MemoryError):
        status = "memory"
    else:
        status = "error"
    where = f" (line {line})" if line is not None else ""
    return status, one_line(f"{name}: {text}" if text else name) + where


def copy_tree(value, depth: int = 0):  # noqa: ANN001, ANN201
    """Deep copy of plain data (arrays, containers); other objects are kept as they are."""
    if depth > 20:
        return value
    if _type(value) is np.ndarray:
        return value.copy()
    if _type(value) is dict:
        return {k: copy_tree(v, depth + 1) for k, v in value.items()}
    if _type(value) in (list, tuple):
        return _type(value)(copy_tree(v, depth + 1) for v in value)
    return value


def snapshot_arrays(value, path: str = "cache", depth: int = 0, out=None):  # noqa: ANN001, ANN201
    """``[(path, array, copy)]`` for every ndarray reachable through tuples, lists and dicts."""
    out = [] if out is None else out
    if depth > 6 or len(out) > 200:
        return out
    if _isinstance(value, np.ndarray):
        out.append((path, value, np.array(value, copy=True)))
    elif _type(value) in (tuple, list):
        for i, v in enumerate(value):
            snapshot_arrays(v, f"{path}[{i}]", depth + 1, out)
    elif _type(value) is dict:
        for k, v in value.items():
            snapshot_arrays(v, f"{path}[{k!r}]", depth + 1, out)
    return out


def changed(snapshots) -> list[str]:  # noqa: ANN001
    out = []
    for path, arr, saved in snapshots:
        try:
            same = arr.shape == saved.shape and np.array_equal(arr, saved, equal_nan=True)
        except _BaseException:
            same = False
        if not same:
            out.append(path)
    return out


# ------------------------------------------------------------------------------- setup


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
           "handgrad._validation", "handgrad._blocks", "unittest", "difflib", "pprint",
           "stringprep", "subprocess", "numpy.testing", "encodings.idna", "encodings.latin_1",
           "encodings.ascii", "encodings.utf_8_sig", "encodings.cp1252")


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

    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read())
    except Exception:  # a file that does not parse is reported when it is imported
        return
    names: set[str] = set()
    for node in ast.walk(tree):
        if _isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif _isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    for name in sorted(names)[:200]:
        top = name.split(".")[0]
        if top == "handgrad":
            if _prefix_match(name, avoid + ("handgrad.grading", "handgrad.gradcheck")):
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


def import_student(module_name: str, path: str):  # noqa: ANN201
    import importlib.util

    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {os.path.basename(path)}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------- main


def run(request: dict, blobs: list[bytes], channel: Channel, uid: int | None,
        parent_pid: int | None = None) -> None:
    module_name = request["module"]
    filename = module_name + ".py"
    path = os.path.join(os.getcwd(), filename)
    kind = request["kind"]
    draws = [wire.to_python(wire.decode(d, blobs)) for d in request.get("draws", [])]
    reserve = bytearray(4 << 20)  # freed on MemoryError so the report can still be sent

    guard = Guard(request)
    apply_limits(request.get("limits", {}))
    if uid is not None and kind != "canary":
        preload_imports_of(path, guard.flag_modules + guard.grader_modules)
    drop_privileges(uid)
    die_with_parent(parent_pid or request.get("parent_pid"))
    if kind == "canary":
        channel.send({"type": "ready", "flags": []})
        value, vblobs = wire.encode(np.arange(6.0).reshape(2, 3))
        channel.send({"type": "draw", "index": 0, "status": "ok", "value": value}, vblobs)
        channel.send({"type": "done"})
        return
    guard.install()

    try:
        if not os.path.isfile(path):
            channel.send({"type": "import_failed", "status": "missing",
                          "message": f"{filename} not found", "flags": []})
            return
        module = import_student(module_name, path)
    except _BaseException as exc:  # noqa: BLE001 - any failure of student code is reported
        del reserve
        restore_builtins()
        flush_output()
        status, message = describe_exception(exc, path)
        channel.send({"type": "import_failed", "status": status,
                      "message": message, "flags": list(guard.flags)})
        return
    restore_builtins()
    flush_output()
    function = request["function"]
    target = getattr(module, function, None) if _isinstance(function, str) else None
    forward_name = request.get("forward")
    forward = getattr(module, forward_name, None) if kind == "backward" else None
    missing = None
    if not callable(target):
        missing = f"{filename} has no function {function}"
    elif kind == "backward" and not callable(forward):
        missing = f"{filename} has no function {forward_name} (backward is checked through it)"
    if missing:
        channel.send({"type": "import_failed", "status": "missing", "message": missing,
                      "flags": list(guard.flags)})
        return

    counter = {"in_backward": False, "calls": 0}
    if kind == "backward":
        def counted_forward(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if counter["in_backward"]:
                counter["calls"] += 1
            return forward(*args, **kwargs)

        try:
            setattr(module, forward_name, counted_forward)
        except _BaseException:
            pass
    channel.send({"type": "ready", "flags": list(guard.flags)})

    for index, draw in enumerate(draws):
        report = {"type": "draw", "index": index}
        out_blobs: list[bytes] = []
        try:
            if kind == "backward":
                args = copy_tree(draw["args"])
                kwargs = copy_tree(draw["kwargs"])
                report["where"] = "forward"
                try:
                    result = forward(*args, **kwargs)
                finally:
                    restore_builtins()
                if _type(result) is not tuple or len(result) != 2:
                    raise TypeError(f"{forward_name} must return (out, cache), got "
                                    f"{_type(result).__name__}")
                out, cache = result
                saved = snapshot_arrays(cache)
                dout = copy_tree(draw["dout"])
                report["where"] = "backward"
                counter["calls"] = 0
                counter["in_backward"] = True
                try:
                    value = target(dout, cache)
                finally:
                    counter["in_backward"] = False
                    restore_builtins()
                report["forward_calls"] = counter["calls"]
                report["cache_mutated"] = changed(saved)
                tree = {"value": value, "args_after": list(args), "dout_after": dout,
                        "forward_out": out}
            else:
                args = copy_tree(draw["args"])
                kwargs = copy_tree(draw["kwargs"])
                report["where"] = "call"
                try:
                    value = target(*args, **kwargs)
                finally:
                    restore_builtins()
                tree = {"value": value, "args_after": list(args), "kwargs_after": kwargs}
            node, out_blobs = wire.encode(tree)
            report["status"] = "ok"
            report["data"] = node
        except _BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, ...
            restore_builtins()
            if _isinstance(exc, MemoryError):
                reserve = None
            status, message = describe_exception(exc, path)
            report["status"] = "error" if status == "syntax" else status
            report["message"] = message
            out_blobs = []
        report["flags"] = list(guard.flags)
        flush_output()
        channel.send(report, out_blobs)
        if reserve is None:
            reserve = bytearray(1 << 20)
    del reserve


def main(argv: list[str], parent_pid: int | None = None) -> int:
    """Serve one request: ``argv[1]`` is the result descriptor, ``argv[2]`` the uid or "-".

    ``parent_pid`` (when forked by the zygote) replaces the request's grader pid as the
    process whose death kills this worker.
    """
    fd = int(argv[1])
    uid = int(argv[2]) if len(argv) > 2 and argv[2] != "-" else None
    channel = Channel(fd)
    data = b""
    try:
        chunks = []
        while True:
            chunk = os.read(0, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        frames = wire.FrameReader(max_bytes=1 << 30).feed(data)
        if len(frames) != 1:
            raise wire.WireError("expected exactly one request frame")
        request, blobs = frames[0]
    except Exception as exc:
        channel.send({"type": "worker_error", "message": one_line(f"bad request: {exc}")})
        return 2
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
    except OSError:
        pass
    del data
    try:
        run(request, blobs, channel, uid, parent_pid)
        flush_output()
        channel.send({"type": "done"})
    except _BaseException as exc:  # noqa: BLE001
        flush_output()
        try:
            channel.send({"type": "worker_error", "message": one_line(repr(exc))})
        except _BaseException:
            pass
    return 0


if __name__ == "__main__":
    code = 1
    try:
        code = main(sys.argv)
    finally:
        flush_output()
        _exit(code)
