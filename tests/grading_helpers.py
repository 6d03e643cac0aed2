"""Shared helpers for the grading tests: the fixture assignment and reference submissions."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from handgrad.grading.authoring import spec

HERE = Path(__file__).parent
FIXTURE = HERE / "grading_fixture"
CORPUS = HERE / "adversarial"

# student file -> reference module, for the fixture assignment
MODULES = {
    "affine.py": "handgrad.layers.affine",
    "relu.py": "handgrad.layers.relu",
    "clipping.py": "handgrad.optim.clipping",
}


def fixture() -> spec.Assignment:
    return spec.load(FIXTURE)


def reference_source(filename: str) -> bytes:
    origin = importlib.util.find_spec(MODULES[filename]).origin
    return Path(origin).read_bytes()


def reference_submission(folder: Path, files: dict[str, bytes | str] | None = None,
                         omit: tuple[str, ...] = ()) -> Path:
    """A submission folder: the reference files, overridden by ``files``, minus ``omit``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = dict(files or {})
    for name in MODULES:
        if name in omit:
            continue
        data = files.pop(name, None)
        if data is None:
            data = reference_source(name)
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
    for name, data in files.items():
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
    return folder


def copy_case(case: Path, dest: Path, omit: tuple[str, ...] = ()) -> Path:
    overrides = {p.name: p.read_bytes() for p in case.iterdir()
                 if p.is_file() and p.suffix == ".py"}
    return reference_submission(dest, overrides, omit)


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
