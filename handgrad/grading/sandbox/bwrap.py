"""The kernel wall around a submission: the bubblewrap command line of one sandbox.

Bubblewrap (``bwrap``, Debian package ``bubblewrap``) is the small, audited setup tool that
Flatpak uses: it builds the namespaces and mounts and then ``exec``\\ s the command, with no
daemon and nothing left running of its own but a tiny pid 1. It was chosen over nsjail
because it is packaged everywhere the grader runs (Debian, Ubuntu, Fedora, Gradescope's
images), needs no configuration language, takes a compiled seccomp program as it is
(``--seccomp FD``), and does exactly the few things needed here.

:func:`command` gives the command line of one sandbox (one per submission, see
:class:`handgrad.grading.sandbox.process.Session`):

- new mount, PID, network, IPC, UTS (and cgroup) namespaces; as non-root also a user
  namespace (so bwrap needs no setuid bit); ``--die-with-parent``, ``--new-session``;
- a read-only view of the interpreter (``sys.base_prefix``, ``/usr`` and its links) and of
  NumPy, mounted at ``/hg/lib/numpy``, next to the solution-free handgrad build
  (``/hg/lib/handgrad``; see :mod:`handgrad.grading.authoring.solution_free`); nothing else of
  the host: no grader folder, no other submission, no ``/home``, no ``/etc`` but the loader's
  cache;
- size-capped private tmpfs for the worker's folder ``/w`` (the fork server writes the
  submission's files there for each worker, from a descriptor: never a host path), ``/tmp``
  and ``/dev/shm``, which vanish with the sandbox;
- a fresh ``/proc`` (only the sandbox's processes), a minimal ``/dev``; no network device
  but a loopback, and no socket at all (seccomp);
- as root: every capability dropped but those the fork server needs to hand each worker its
  uid and clean up after it (the workers drop them all with root); ``no_new_privs``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

LIB = "/hg/lib"
WORKDIR = "/w"
ROOT_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
             "CAP_KILL")


def find() -> str | None:
    """The ``bwrap`` executable, or None."""
    return shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin:" + os.environ.get("PATH", ""))


@functools.lru_cache(maxsize=1)
def usable() -> str | None:
    """Why bubblewrap cannot sandbox here (missing, or refused by the kernel), or None."""
    exe = find()
    if exe is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    argv = [exe, *namespace_args(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
            "true"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap cannot run: {exc}"
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip()[-300:]
        return f"bubblewrap cannot create a sandbox here: {err or done.returncode}"
    return None


def namespace_args() -> list[str]:
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            "--hostname", "handgrad-sandbox"]
    if os.geteuid() != 0:
        args.append("--unshare-user")
    return args


def numpy_dirs() -> list[tuple[str, str]]:
    """``(host folder, sandbox folder)`` for NumPy and its bundled libraries."""
    import numpy

    pkg = Path(numpy.__file__).resolve().parent
    out = [(str(pkg), f"{LIB}/numpy")]
    libs = pkg.parent / "numpy.libs"
    if libs.is_dir():
        out.append((str(libs), f"{LIB}/numpy.libs"))
    return out


def interpreter() -> str:
    """The base interpreter (not a venv's launcher): what the sandbox runs."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base)


def parents(path: str) -> list[str]:
    """Arguments that create the folders above ``path`` traversable by every uid (a folder
    bwrap makes on its own for a mount point is private to root)."""
    out: list[str] = []
    parts = Path(path).parts[1:-1]
    for i in range(1, len(parts) + 1):
        out += ["--perms", "0755", "--dir", "/" + "/".join(parts[:i])]
    return out


def runtime_args() -> list[str]:
    """Read-only mounts of the interpreter, its standard library and the system libraries."""
    args: list[str] = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr/") and prefix != "/usr":
        args += [*parents(prefix), "--ro-bind", prefix, prefix]
    exe = interpreter()
    if not exe.startswith(prefix + os.sep) and not exe.startswith("/usr/"):
        args += [*parents(exe), "--ro-bind", exe, exe]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


def command(*, lib: Path, seccomp_fd: int, env: Mapping[str, str], tmp_bytes: int,
            argv: Sequence[str]) -> list[str]:
    """The bwrap command line that runs ``argv`` in a new sandbox.

    ``lib``: the solution-free handgrad package folder (mounted at ``/hg/lib/handgrad``);
    ``seccomp_fd``: a descriptor holding the compiled filter; ``env``: the whole environment;
    ``tmp_bytes``: the size cap of each tmpfs (``/w``, ``/tmp``, ``/dev/shm``).
    """
    exe = find()
    if exe is None:
        raise FileNotFoundError("bwrap")
    args = [exe, *namespace_args(), *runtime_args()]
    args += ["--proc", "/proc", "--dev", "/dev"]
    size = str(int(tmp_bytes))
    for where in (WORKDIR, "/tmp", "/dev/shm"):
        args += ["--perms", "1777", "--size", size, "--tmpfs", where]
    args += [*parents(f"{LIB}/handgrad"), "--ro-bind", str(lib), f"{LIB}/handgrad"]
    for host, inside in numpy_dirs():
        args += ["--ro-bind", host, inside]
    args += ["--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
        for cap in ROOT_CAPS:
            args += ["--cap-add", cap]
    args += ["--seccomp", str(seccomp_fd), "--", *argv]
    return args
