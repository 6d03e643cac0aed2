"""mypy, configured in pyproject.toml ([tool.mypy]), reports nothing on handgrad/."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_is_clean_on_the_package(tmp_path):
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache"),
         "--no-error-summary", "--hide-error-context"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_mypy_reports_a_wrong_type(tmp_path):
    """The check is live: the same configuration flags a deliberate mistake."""
    pytest.importorskip("mypy")
    bad = tmp_path / "bad.py"
    bad.write_text("from handgrad.validation import positive_int\n"
                   "count: str = positive_int('op', 'n', 3)\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache"),
         "--config-file", str(ROOT / "pyproject.toml"), str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Incompatible types in assignment" in result.stdout
