"""A seccomp deny-list, assembled as a classic BPF program, for the sandboxed worker.

The kernel runs the program on every system call of the filtered process and its children.
:func:`program` builds it for one architecture (x86_64 or aarch64):

1. load the architecture of the call (``seccomp_data.arch``, offset 4); any other
   architecture (say, 32-bit calls made from a 64-bit process) kills the process;
2. load the call number (``seccomp_data.nr``, offset 0); on x86_64 a number with the x32 bit
   (``0x40000000``) set is refused, so the same calls cannot be made under other numbers;
3. for each denied call, ``if nr == k: return ERRNO(EPERM)``;
4. otherwise allow.

:data:`SANDBOX_DENY` is what no process of the sandbox needs (sockets, ptrace, mknod, mount,
keyctl, bpf, namespaces, kernel modules, io_uring, ...); bubblewrap installs it for the whole
sandbox (``--seccomp FD``). :data:`WORKER_DENY` adds process creation and ``execve``: the
worker installs it on itself (:func:`install`) after its own setup and before student code,
on top of the first (filters stack; a filter can only be made stricter). Standard library only.
"""

from __future__ import annotations

import errno
import platform
import struct
from collections.abc import Iterable

# struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}
BPF_LD_W_ABS = 0x20          # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15             # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35             # BPF_JMP | BPF_JGE | BPF_K
BPF_RET_K = 0x06             # BPF_RET | BPF_K

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000

# name: (x86_64, aarch64); None where the architecture has no such call
SYSCALLS: dict[str, tuple[int | None, int | None]] = {
    "socket": (41, 198), "connect": (42, 203), "accept": (43, 202), "bind": (49, 200),
    "listen": (50, 201), "socketpair": (53, 199), "accept4": (288, 242),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "mknod": (133, None), "mknodat": (259, 33), "mount": (165, 40), "umount2": (166, 39),
    "pivot_root": (155, 41), "chroot": (161, 51), "keyctl": (250, 219), "add_key": (248, 217),
    "request_key": (249, 218), "bpf": (321, 280), "perf_event_open": (298, 241),
    "unshare": (272, 97), "setns": (308, 268), "kexec_load": (246, 104),
    "kexec_file_load": (320, 294), "init_module": (175, 105), "finit_module": (313, 273),
    "delete_module": (176, 106), "userfaultfd": (323, 282), "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264), "swapon": (167, 224),
    "swapoff": (168, 225), "reboot": (169, 142), "syslog": (103, 116), "acct": (163, 89),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "fsopen": (430, 430),
    "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "move_mount": (429, 429), "open_tree": (428, 428), "mount_setattr": (442, 442),
    "quotactl": (179, 60), "personality": (135, 92), "vhangup": (153, 58),
    "lookup_dcookie": (212, 18),
    "fork": (57, None), "vfork": (58, None), "clone": (56, 220), "clone3": (435, 435),
    "execve": (59, 221), "execveat": (322, 281),
}

SANDBOX_DENY: tuple[str, ...] = tuple(
    n for n in SYSCALLS if n not in ("fork", "vfork", "clone", "clone3", "execve", "execveat"))
WORKER_DENY: tuple[str, ...] = tuple(SYSCALLS)

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class SeccompError(RuntimeError):
    """The filter cannot be built or installed here."""


def machine() -> str:
    """The running architecture as :data:`AUDIT_ARCH` names it (``arm64`` -> ``aarch64``)."""
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF)


def numbers(arch: str, names: Iterable[str]) -> list[int]:
    """The call numbers of ``names`` on ``arch`` (calls the architecture lacks are skipped)."""
    if arch not in AUDIT_ARCH:
        raise SeccompError(f"seccomp.numbers: arch must be one of {sorted(AUDIT_ARCH)}, "
                           f"got {arch!r}")
    col = 0 if arch == "x86_64" else 1
    out = []
    for name in names:
        if name not in SYSCALLS:
            raise SeccompError(f"seccomp.numbers: unknown system call {name!r}")
        nr = SYSCALLS[name][col]
        if nr is not None:
            out.append(nr)
    return sorted(set(out))


def program(arch: str, deny: Iterable[str], err: int = errno.EPERM) -> bytes:
    """The BPF program (``struct sock_filter[]``, little-endian bytes) that makes every call
    in ``deny`` fail with ``err`` on ``arch``, kills calls of any other architecture, and
    allows the rest."""
    nrs = numbers(arch, deny)
    if not 0 < err < 4096:
        raise SeccompError(f"seccomp.program: err must be an errno in 1..4095, got {err}")
    ret_errno = SECCOMP_RET_ERRNO | err
    body = [_insn(BPF_LD_W_ABS, 0, 0, 4),                       # A = arch
            _insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH[arch]),           # arch ok: skip the kill
            _insn(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
            _insn(BPF_LD_W_ABS, 0, 0, 0)]                       # A = nr
    if arch == "x86_64":
        body += [_insn(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT),       # x32 call: refuse
                 _insn(BPF_RET_K, 0, 0, ret_errno)]
    for nr in nrs:
        body += [_insn(BPF_JEQ_K, 0, 1, nr), _insn(BPF_RET_K, 0, 0, ret_errno)]
    body.append(_insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    if len(body) > 4096:  # pragma: no cover - BPF_MAXINSNS
        raise SeccompError("seccomp.program: too many instructions")
    return b"".join(body)


def run(prog: bytes, arch: int, nr: int) -> int:
    """What ``prog`` returns for a call ``nr`` of architecture ``arch`` (an interpreter of the
    few instructions :func:`program` emits; used to test programs without installing them)."""
    if len(prog) % 8:
        raise SeccompError("seccomp.run: a program is a whole number of 8-byte instructions")
    insns = [struct.unpack("<HBBI", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    data = {0: nr & 0xFFFFFFFF, 4: arch & 0xFFFFFFFF}
    a = 0
    pc = 0
    while 0 <= pc < len(insns):
        code, jt, jf, k = insns[pc]
        if code == BPF_LD_W_ABS:
            a = data[k]
        elif code == BPF_JEQ_K:
            pc += jt if a == k else jf
        elif code == BPF_JGE_K:
            pc += jt if a >= k else jf
        elif code == BPF_RET_K:
            return k
        else:
            raise SeccompError(f"seccomp.run: unknown instruction {code:#x}")
        pc += 1
    raise SeccompError("seccomp.run: the program ran off its end")


def install(prog: bytes) -> None:
    """Set ``no_new_privs`` and add ``prog`` to this process's seccomp filters (Linux)."""
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise SeccompError(f"seccomp.install: no_new_privs: errno {ctypes.get_errno()}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise SeccompError(f"seccomp.install: PR_SET_SECCOMP: errno {ctypes.get_errno()}")
