"""Writing a file atomically: a reader sees the old file or the new one, never half of one.

The content goes to a temporary file in the same directory (so the rename stays on one file
system), which is then renamed over ``path`` with ``os.replace``; on any failure, including
KeyboardInterrupt, the temporary file is removed and ``path`` is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], *,
                 mode: int = 0o644, fsync: bool = True, parents: bool = True) -> Path:
    """Write ``path`` atomically by calling ``write(fh)`` on a binary temporary file.

    ``mode`` is the new file's permission bits (a temporary file starts private, 0o600).
    ``fsync`` flushes the file to disk before the rename and the directory after it, so the
    new content survives a power cut once this returns. ``parents`` creates missing parent
    directories. Returns ``path`` as a ``Path``.
    """
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, mode: int = 0o644,
                       fsync: bool = True, parents: bool = True) -> Path:
    """:func:`atomic_write` of the bytes ``data``."""
    return atomic_write(path, lambda fh: fh.write(data), mode=mode, fsync=fsync,
                        parents=parents)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); harmless to skip where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
