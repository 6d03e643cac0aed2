"""Reading submissions: folders and zips, normalization, and refusing unsafe archives."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from handgrad.grading.authoring.spec import student_filename
from handgrad.grading.judging.submission import (
    MAX_TOTAL,
    InvalidSubmission,
    discover,
    load,
    safe_name,
)

NAMES = ("affine.py", "relu.py")


def make_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


def test_student_filename_is_the_last_component() -> None:
    assert student_filename("handgrad.layers.affine") == "affine.py"
    assert student_filename("handgrad.losses.softmax_cross_entropy") == \
        "softmax_cross_entropy.py"


def test_folder_top_level_or_one_nested_folder(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "affine.py").write_text("A")
    (tmp_path / "a" / "notes.txt").write_text("ignored")
    assert load(tmp_path / "a", NAMES).files == {"affine.py": b"A"}
    nested = tmp_path / "b" / "hw1"
    nested.mkdir(parents=True)
    (nested / "relu.py").write_text("R")
    (tmp_path / "b" / ".DS_Store").write_text("x")
    got = load(tmp_path / "b", NAMES)
    assert got.files == {"relu.py": b"R"} and got.source == "folder"


def test_folder_with_a_symlinked_file_is_invalid(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    os.symlink("/etc/passwd", tmp_path / "s" / "affine.py")
    with pytest.raises(InvalidSubmission, match="symbolic link"):
        load(tmp_path / "s", NAMES)


def test_zip_with_a_top_folder(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "alice.zip", [("alice/affine.py", b"A"), ("alice/relu.py", b"R"),
                                          ("__MACOSX/alice/._affine.py", b"junk")])
    got = load(z, NAMES)
    assert got.files == {"affine.py": b"A", "relu.py": b"R"} and got.source == "zip"
    assert got.digest == load(make_zip(tmp_path / "b.zip", [("affine.py", b"A"),
                                                             ("relu.py", b"R")]), NAMES).digest


@pytest.mark.parametrize("entry, why", [
    ("../evil.py", r"\.\."),
    ("a/../../evil.py", r"\.\."),
    ("/etc/evil.py", "absolute"),
    ("C:/evil.py", "absolute"),
    ("..\\evil.py", r"\.\."),
])
def test_zip_path_tricks_are_refused(tmp_path: Path, entry: str, why: str) -> None:
    z = make_zip(tmp_path / "x.zip", [("affine.py", b"A"), (entry, b"x")])
    with pytest.raises(InvalidSubmission, match=why):
        load(z, NAMES)
    assert not (tmp_path.parent / "evil.py").exists()


def test_zip_symlink_and_special_files_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("affine.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(InvalidSubmission, match="symbolic link"):
        load(make_zip(tmp_path / "l.zip", [(link, b"/etc/passwd")]), NAMES)
    fifo = zipfile.ZipInfo("relu.py")
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
    with pytest.raises(InvalidSubmission, match="special"):
        load(make_zip(tmp_path / "f.zip", [(fifo, b"")]), NAMES)


def test_zip_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "bomb.zip", [("affine.py", b"\0" * (50 << 20))])
    assert z.stat().st_size < 200_000  # small on disk ...
    with pytest.raises(InvalidSubmission, match="bomb"):  # ... and never expanded
        load(z, NAMES)
    many = make_zip(tmp_path / "wide.zip", [(f"f{i}.txt", b"\0" * (1 << 20))
                                             for i in range(MAX_TOTAL // (1 << 20) + 1)])
    with pytest.raises(InvalidSubmission, match="expands"):
        load(many, NAMES)


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"PK not really")
    with pytest.raises(InvalidSubmission, match="not a readable zip"):
        load(tmp_path / "x.zip", NAMES)


def test_discover_names_are_safe_and_unique(tmp_path: Path) -> None:
    (tmp_path / "bob").mkdir()
    make_zip(tmp_path / "bob.zip", [("affine.py", b"")])
    (tmp_path / "=cmd()").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    names = [n for n, _ in discover(tmp_path)]
    assert names == ["cmd", "bob", "bob-2"]
    assert safe_name("a b/c") == "a_b_c"
