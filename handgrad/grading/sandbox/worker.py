"""The sandboxed worker: imports one student module and calls one of its functions on data.

Started by :mod:`handgrad.grading.sandbox.process` as
``python -I -B -m handgrad.grading.sandbox.worker FD UID`` in a fresh temporary folder holding only
the student's files. It reads one request frame (:mod:`handgrad.grading.sandbox.wire`) from stdin,
then, in this order:

1. applies the resource limits of the request (address space, CPU time, file size, open
   files, processes; no core dumps); when started as root, becomes the unprivileged ``UID``
   for good (``setresuid``; the interpreter and NumPy are already loaded, so this works even
   when Python is installed where only root can read); asks the kernel to kill it if the
   grader dies; adds the seccomp filter :data:`~handgrad.grading.sandbox.seccomp.WORKER_DENY`
   (no socket, process, thread, ``execve``, ptrace, mknod, mount, ...; the kernel refuses
   them whatever the student's code is, native or not);
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
   forward made during backward (for a forward with ``outputs`` > 1 outputs, such as
   ``lstm.step_forward``'s ``(next_h, next_c, cache)``, ``dout`` holds one gradient per
   output and backward is called as ``backward(*dout, cache)``); ``kind == "function"``:
   calls the function;
5. sends one frame per draw on the inherited descriptor ``FD`` (never stdout): the
   returned value as data, the inputs after the call, what went wrong, the flags. Forked by
   the fork server, ``FD`` is a pipe to the server, which checks the order of the frames and
   passes them on: the grader's result pipe is never in this process.

Nothing here decides a score: the grader computes every expected value itself and accepts a
draw only after comparing the data this worker sent. A student who tampers with this process
can only make their own draws fail. The module imports only the standard library, NumPy,
:mod:`handgrad.grading.sandbox.wire` and its two parts :mod:`handgrad.grading.sandbox.guard` (the
rules of step 2) and :mod:`handgrad.grading.sandbox.worker_setup` (step 1); no expected value ever
exists in this process.
"""

from __future__ import annotations

import builtins as _builtins
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from handgrad.grading.sandbox import wire
from handgrad.grading.sandbox.guard import Guard
from handgrad.grading.sandbox.worker_setup import (
    apply_limits,
    die_with_parent,
    drop_privileges,
    lock_down,
    preload_imports_of,
)

# Bound before any student code runs, so rebinding builtins cannot change what the worker uses.
_saved_builtins = dict(_builtins.__dict__)
_type = type
_isinstance = isinstance
_BaseException = BaseException
_write = os.write
_exit = os._exit

# ------------------------------------------------------------------------------- helpers


class Channel:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, header: dict, blobs: Sequence[bytes] = ()) -> None:
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
        if stream is None:
            continue
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
        lineno = getattr(exc, "lineno", None)
        where = f"line {lineno}: " if _isinstance(lineno, int) else ""
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
    # freed on MemoryError so the report can still be sent
    reserve: bytearray | None = bytearray(4 << 20)

    guard = Guard(request)
    apply_limits(request.get("limits", {}))
    if uid is not None and kind != "canary":
        preload_imports_of(path, guard.flag_modules + guard.grader_modules)
    drop_privileges(uid)
    die_with_parent(parent_pid or request.get("parent_pid"))
    lock_down(request.get("seccomp") == "required")
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
    function: Any = request["function"]  # the request's values, checked as they are used
    target: Any = getattr(module, function, None) if _isinstance(function, str) else None
    forward_name: Any = request.get("forward")
    outputs: Any = request.get("outputs", 1)
    outputs = outputs if _type(outputs) is int and outputs >= 1 else 1
    forward: Any = getattr(module, forward_name, None) if kind == "backward" else None
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
                if _type(result) is not tuple or len(result) != outputs + 1:
                    expected = "(out, cache)" if outputs == 1 else \
                        f"{outputs} outputs and a cache"
                    got = (f"a tuple of {len(result)}" if _type(result) is tuple
                           else _type(result).__name__)
                    raise TypeError(f"{forward_name} must return {expected}, got {got}")
                *outs, cache = result
                out = outs[0] if outputs == 1 else list(outs)
                saved = snapshot_arrays(cache)
                dout = copy_tree(draw["dout"])
                douts = [dout] if outputs == 1 else list(dout)
                report["where"] = "backward"
                counter["calls"] = 0
                counter["in_backward"] = True
                try:
                    value = target(*douts, cache)
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
