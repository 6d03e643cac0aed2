"""The seccomp deny-list: the assembled BPF program, checked by interpreting it and by
installing it in a child process."""

from __future__ import annotations

import errno
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from handgrad.grading.sandbox import seccomp

ERRNO_EPERM = seccomp.SECCOMP_RET_ERRNO | errno.EPERM
HEADERS = {"x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
           "aarch64": Path("/usr/include/asm-generic/unistd.h")}
# calls every Python process makes all the time
HARMLESS = {"x86_64": {"read": 0, "write": 1, "openat": 257, "mmap": 9, "exit_group": 231},
            "aarch64": {"read": 63, "write": 64, "openat": 56, "mmap": 222, "exit_group": 94}}


@pytest.mark.parametrize("arch", sorted(seccomp.AUDIT_ARCH))
def test_denied_calls_fail_with_eperm_and_the_rest_pass(arch: str) -> None:
    prog = seccomp.program(arch, seccomp.WORKER_DENY)
    audit = seccomp.AUDIT_ARCH[arch]
    col = 0 if arch == "x86_64" else 1
    for name in seccomp.WORKER_DENY:
        nr = seccomp.SYSCALLS[name][col]
        if nr is not None:
            assert seccomp.run(prog, audit, nr) == ERRNO_EPERM, name
    for name, nr in HARMLESS[arch].items():
        assert seccomp.run(prog, audit, nr) == seccomp.SECCOMP_RET_ALLOW, name


def test_sandbox_list_leaves_process_creation_to_the_fork_server() -> None:
    prog = seccomp.program("x86_64", seccomp.SANDBOX_DENY)
    audit = seccomp.AUDIT_ARCH["x86_64"]
    assert seccomp.run(prog, audit, 57) == seccomp.SECCOMP_RET_ALLOW      # fork
    assert seccomp.run(prog, audit, 56) == seccomp.SECCOMP_RET_ALLOW      # clone
    assert seccomp.run(prog, audit, 41) == ERRNO_EPERM                    # socket
    assert seccomp.run(prog, audit, 101) == ERRNO_EPERM                   # ptrace


def test_other_architectures_and_x32_numbers_are_refused() -> None:
    prog = seccomp.program("x86_64", seccomp.WORKER_DENY)
    i386 = 0x40000003
    assert seccomp.run(prog, i386, 0) == seccomp.SECCOMP_RET_KILL_PROCESS
    assert seccomp.run(prog, seccomp.AUDIT_ARCH["aarch64"], 0) == \
        seccomp.SECCOMP_RET_KILL_PROCESS
    # socket under its x32 number (0x40000000 | 41): not a way around the list
    assert seccomp.run(prog, seccomp.AUDIT_ARCH["x86_64"], 0x40000000 | 41) == ERRNO_EPERM
    arm = seccomp.program("aarch64", seccomp.WORKER_DENY)
    assert seccomp.run(arm, seccomp.AUDIT_ARCH["x86_64"], 41) == \
        seccomp.SECCOMP_RET_KILL_PROCESS


def test_bad_arguments_are_named() -> None:
    with pytest.raises(seccomp.SeccompError, match="arch must be one of"):
        seccomp.program("mips", ["socket"])
    with pytest.raises(seccomp.SeccompError, match="unknown system call 'sockett'"):
        seccomp.program("x86_64", ["sockett"])


@pytest.mark.parametrize("arch", sorted(seccomp.AUDIT_ARCH))
def test_numbers_match_the_kernel_headers(arch: str) -> None:
    header = HEADERS[arch]
    if not header.is_file():
        pytest.skip(f"{header} is not installed")
    text = header.read_text()
    col = 0 if arch == "x86_64" else 1
    for name, numbers in seccomp.SYSCALLS.items():
        nr = numbers[col]
        m = re.search(rf"#define __NR(?:3264)?_{name}\s+(\d+)", text)
        if nr is None:
            assert m is None, name
        else:
            assert m is not None and int(m.group(1)) == nr, name


@pytest.mark.skipif(not sys.platform.startswith("linux")
                    or seccomp.machine() not in seccomp.AUDIT_ARCH,
                    reason="seccomp filters are Linux x86_64/aarch64")
def test_installed_filter_refuses_in_the_kernel() -> None:
    code = textwrap.dedent("""
        import errno, os, socket
        import numpy as np
        from handgrad.grading.sandbox import seccomp
        seccomp.install(seccomp.program(seccomp.machine(), seccomp.WORKER_DENY))
        out = []
        for fn in (lambda: socket.socket(), os.fork, lambda: os.mkfifo("/nonexistent/f"),
                   lambda: os.execv("/bin/true", ["true"])):
            try:
                fn()
                out.append("ok")
            except OSError as exc:
                out.append(errno.errorcode[exc.errno])
        out.append(str(float(np.ones((3, 3)).sum())))
        print(" ".join(out))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["EPERM", "EPERM", "EPERM", "EPERM", "9.0"]
