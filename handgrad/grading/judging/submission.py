"""Submissions: reading a folder or a ``.zip`` safely, and naming submissions.

Layout: the student file of a reference module is its last component (``<dir>/affine.py`` for
``handgrad.layers.affine``; see :func:`handgrad.grading.authoring.spec.student_files`). A
submission is a folder or a ``.zip`` holding those files, at its top level or inside one
top-level folder. Only the
assignment's files are read (each at most ``MAX_FILE`` bytes); everything else is ignored.

A submission is *invalid* (status "invalid submission", score 0, the batch goes on) when:

- a zip is not a readable zip, is encrypted, has more than ``MAX_ENTRIES`` entries, an
  absolute path, a ``..`` component, a symbolic link or a special file, or is a zip bomb
  (declared or actual uncompressed size above ``MAX_TOTAL``, or an entry whose compression
  ratio exceeds ``MAX_RATIO``); the archive is never extracted to disk, so none of these can
  write anything;
- a needed file in a folder is a symbolic link (it could point at another student's file).

A missing file is not invalid: its checks report "missing".
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_FILE = 1 << 20            # bytes per student file
MAX_ENTRIES = 1000
MAX_TOTAL = 20 << 20          # uncompressed bytes in a zip
MAX_RATIO = 200               # uncompressed / compressed, for entries above 1 MiB
JUNK = {"__MACOSX", ".DS_Store", "__pycache__", ".ipynb_checkpoints", "Thumbs.db"}


class InvalidSubmission(ValueError):
    """The submission cannot be graded at all; the message says why (shown to the student)."""


@dataclass
class Loaded:
    """The files of one submission that the assignment needs, as bytes."""

    files: dict[str, bytes] = field(default_factory=dict)
    source: str = ""               # "folder" or "zip"
    digest: str = ""               # sha256 of the needed files (names and contents)

    @staticmethod
    def digest_of(files: dict[str, bytes]) -> str:
        h = hashlib.sha256()
        for name in sorted(files):
            data = files[name]
            h.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
        return h.hexdigest()


def load(path: str | Path, names: list[str] | tuple[str, ...]) -> Loaded:
    """Read the files ``names`` of the submission at ``path`` (folder or zip)."""
    path = Path(path)
    if path.is_symlink():
        raise InvalidSubmission(f"{path.name} is a symbolic link")
    if path.is_dir():
        files = _load_folder(path, names)
        source = "folder"
    elif path.is_file() and path.suffix.lower() == ".zip":
        files = _load_zip(path, names)
        source = "zip"
    elif path.exists():
        raise InvalidSubmission(f"{path.name} is neither a folder nor a .zip")
    else:
        raise InvalidSubmission(f"{path} does not exist")
    return Loaded(files, source, Loaded.digest_of(files))


def _visible(name: str) -> bool:
    return name not in JUNK and not name.startswith(".")


def _load_folder(root: Path, names: list[str] | tuple[str, ...]) -> dict[str, bytes]:
    for _ in range(3):
        entries = {e.name: e for e in os.scandir(root) if _visible(e.name)}
        if any(n in entries for n in names):
            break
        dirs = [e for e in entries.values() if e.is_dir(follow_symlinks=False)]
        if len(dirs) == 1:
            root = Path(dirs[0].path)
            continue
        break
    files = {}
    for name in names:
        p = root / name
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise InvalidSubmission(f"{name} is a symbolic link; submit the file itself")
        if not stat.S_ISREG(st.st_mode):
            raise InvalidSubmission(f"{name} is not a regular file")
        if st.st_size > MAX_FILE:
            raise InvalidSubmission(f"{name} is larger than {MAX_FILE} bytes")
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_FILE + 1)
        if len(data) > MAX_FILE:
            raise InvalidSubmission(f"{name} is larger than {MAX_FILE} bytes")
        files[name] = data
    return files


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\0" in name:
        return "an entry name contains a NUL byte"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return f"entry {name!r} has an absolute path"
    if ".." in PurePosixPath(norm).parts:
        return f"entry {name!r} points outside the archive (..)"
    mode = (info.external_attr >> 16) & 0xFFFF
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        return f"entry {name!r} is a symbolic link"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return f"entry {name!r} is a special file"
    if info.flag_bits & 0x1:
        return f"entry {name!r} is encrypted"
    return None


def _load_zip(path: Path, names: list[str] | tuple[str, ...]) -> dict[str, bytes]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidSubmission(f"{path.name} is not a readable zip file ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise InvalidSubmission(f"{path.name} has {len(infos)} entries (at most "
                                    f"{MAX_ENTRIES})")
        total = 0
        for info in infos:
            problem = _entry_problem(info)
            if problem:
                raise InvalidSubmission(f"{path.name}: {problem}; such archives are refused")
            total += info.file_size
            if info.file_size > (1 << 20) and \
                    info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise InvalidSubmission(f"{path.name}: entry {info.filename!r} expands "
                                        f"{info.file_size // max(info.compress_size, 1)}x (a zip "
                                        f"bomb?); such archives are refused")
        if total > MAX_TOTAL:
            raise InvalidSubmission(f"{path.name} expands to {total} bytes (at most "
                                    f"{MAX_TOTAL}); such archives are refused")
        files_in = [i for i in infos if not i.is_dir()]
        parts = {i.filename: PurePosixPath(i.filename.replace("\\", "/")).parts
                 for i in files_in}
        visible = {n: p for n, p in parts.items() if all(_visible(c) for c in p)}
        prefix: tuple[str, ...] = ()
        for _ in range(3):
            here = {p[len(prefix)] for p in visible.values()
                    if p[:len(prefix)] == prefix and len(p) > len(prefix)}
            if any(n in here for n in names):
                break
            tops = {p[len(prefix)] for p in visible.values()
                    if p[:len(prefix)] == prefix and len(p) > len(prefix) + 1}
            if len(tops) == 1:
                prefix = prefix + (next(iter(tops)),)
                continue
            break
        wanted = {prefix + (n,): n for n in names}
        files: dict[str, bytes] = {}
        for info in files_in:
            key = parts[info.filename]
            if key not in wanted:
                continue
            name = wanted[key]
            if name in files:
                raise InvalidSubmission(f"{path.name} holds {name} twice")
            try:
                with zf.open(info) as f:
                    data = f.read(MAX_FILE + 1)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
                raise InvalidSubmission(f"{path.name}: cannot read {info.filename}: {exc}") \
                    from None
            if len(data) > MAX_FILE:
                raise InvalidSubmission(f"{name} is larger than {MAX_FILE} bytes")
            files[name] = data
    return files


# ------------------------------------------------------------------------------- discovery


def safe_name(raw: str) -> str:
    """A submission name usable as a folder name and a CSV cell."""
    name = re.sub(r"[^A-Za-z0-9._@+-]", "_", raw).strip("._") or "submission"
    return name[:100]


def discover(root: str | Path) -> list[tuple[str, Path]]:
    """``[(name, path)]`` for every folder and ``.zip`` directly under ``root``, sorted.

    Hidden entries and other files are ignored; names are made unique.
    """
    root = Path(root)
    found = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name in JUNK:
            continue
        if entry.is_symlink():
            found.append((entry.name, Path(entry.path)))
        elif entry.is_dir():
            found.append((entry.name, Path(entry.path)))
        elif entry.is_file() and entry.name.lower().endswith(".zip"):
            found.append((entry.name[:-4], Path(entry.path)))
    out: list[tuple[str, Path]] = []
    used: set[str] = set()
    for raw, path in found:
        name = safe_name(raw)
        if name in used:
            base, k = name, 2
            while f"{base}-{k}" in used:
                k += 1
            name = f"{base}-{k}"
        used.add(name)
        out.append((name, path))
    return out

