"""The modules an assignment may hand to a student (everything under handgrad/layers and
handgrad/losses) read as textbook NumPy: they import no speed helper, no thread pool and
nothing from handgrad.fast, where the tuned twins and their kernels live. Imports are read
from the source with ``ast``, so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import handgrad.layers
import handgrad.losses

FORBIDDEN = ("handgrad.fast", "handgrad._blocks", "threading", "concurrent.futures",
             "concurrent", "multiprocessing", "threadpoolctl")
FORBIDDEN_NAMES = ("_blocks", "_tanh_kernel", "_parts", "_rows")

SOURCES = sorted(p for package in (handgrad.layers, handgrad.losses)
                 for p in Path(package.__path__[0]).glob("*.py"))


def imported_names(source: str, package: str) -> list[str]:
    """Every module an ``import`` or ``from ... import`` of ``source`` names, made absolute
    (relative imports resolved against ``package``), plus ``module.name`` for each name a
    ``from`` import takes."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def forbidden_in(names: list[str]) -> list[str]:
    return [n for n in names
            if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)
            or any(part in FORBIDDEN_NAMES for part in n.split("."))]


def test_the_scan_finds_the_modules_and_catches_each_kind_of_import():
    assert {p.stem for p in SOURCES} >= {"relu", "sigmoid", "tanh", "rnn", "clipped_error_mse"}
    cases = {
        "from handgrad.fast._blocks import elementwise": True,
        "import handgrad.fast.relu as r": True,
        "from handgrad import fast": True,
        "from handgrad._blocks import constant": True,
        "from handgrad.layers._tanh_kernel import tanh64": True,
        "from ._tanh_kernel import tanh64": True,
        "from . import _blocks": True,
        "from concurrent.futures import ThreadPoolExecutor": True,
        "def f():\n    import threading": True,
        "from handgrad import _validation as check": False,
        "from handgrad.layers import batchnorm": False,
        "import numpy as np": False,
    }
    for source, bad in cases.items():
        assert bool(forbidden_in(imported_names(source, "handgrad.layers"))) is bad, source


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_readable_module_imports_no_speed_code(path):
    package = f"handgrad.{path.parent.name}"
    bad = forbidden_in(imported_names(path.read_text(), package))
    assert not bad, f"{package}.{path.stem} imports {', '.join(bad)}"


def test_no_private_speed_kernel_remains_beside_the_readable_modules():
    private = [p.name for p in SOURCES if p.stem.startswith("_") and p.stem != "__init__"]
    assert not private, f"private modules under layers/ or losses/: {private}"
