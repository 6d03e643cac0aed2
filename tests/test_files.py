"""handgrad._files: atomic writes (content, permissions, parents, cleanup on failure)."""

from __future__ import annotations

import os

import pytest

from handgrad._files import atomic_write, atomic_write_bytes


def test_writes_replaces_and_sets_the_mode(tmp_path):
    path = tmp_path / "a" / "b" / "out.bin"
    assert atomic_write_bytes(path, b"first") == path  # parents created
    assert path.read_bytes() == b"first"
    assert path.stat().st_mode & 0o777 == 0o644
    atomic_write(path, lambda fh: fh.write(b"second"), mode=0o600, fsync=False)
    assert path.read_bytes() == b"second"
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.bin"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_bytes(b"old")

    def broken(fh):
        fh.write(b"half of the new")
        raise KeyboardInterrupt  # even an interrupt cleans up

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_without_parents_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "missing" / "x", b"", parents=False)
    assert not (tmp_path / "missing").exists()
