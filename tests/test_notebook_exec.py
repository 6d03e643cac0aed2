"""The generated ``handout.ipynb`` runs headless (nbclient + ipykernel): on the untouched
starter every check cell reports "not implemented" and no cell raises; with the reference
modules copied in every check passes and the training cells reach a sensible accuracy.

Skipped when the notebook packages are absent (they are in the ``test`` extra)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from handgrad.grading.authoring import spec, starter

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("handgrad.grading.judging.runner")

ROOT = Path(__file__).resolve().parents[1] / "assignments"
CELL_TIMEOUT = 120          # seconds per cell; the longest (three short trainings) takes ~10
ASSIGNMENTS = ["backprop-basics", "batchnorm-rnn", "conv-lstm"]


def write_starter(name: str, folder: Path, *, solved: bool) -> Path:
    assignment = spec.load(ROOT / name)
    starter.write(assignment, folder)
    if solved:
        for module in assignment.modules:
            origin, _ = starter.module_source(module)
            shutil.copyfile(origin, folder / starter.student_filename(module))
    return folder


def execute(folder: Path) -> list[tuple[str, str, list[dict]]]:
    """Run the notebook in ``folder``; ``(cell type, source, outputs)`` per cell."""
    nb = nbformat.read(folder / "handout.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(folder)}})
    client.execute()      # raises CellExecutionError when a cell raises
    return [(c.cell_type, c.source, c.get("outputs", [])) for c in nb.cells]


def text_of(outputs: list[dict]) -> str:
    parts = []
    for out in outputs:
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] in ("execute_result", "display_data"):
            parts.append(out["data"].get("text/plain", ""))
        elif out["output_type"] == "error":
            parts.append(f"ERROR {out['ename']}: {out['evalue']}")
    return "".join(parts)


def has_image(outputs: list[dict]) -> bool:
    return any("image/png" in out.get("data", {}) for out in outputs)


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def runs(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(request.param)
    untouched = execute(write_starter(request.param, base / "untouched", solved=False))
    solved = execute(write_starter(request.param, base / "solved", solved=True))
    return request.param, untouched, solved


def test_an_untouched_starter_runs_and_says_not_implemented(runs):
    name, cells, _ = runs
    code = [(src, text_of(outs)) for kind, src, outs in cells if kind == "code"]
    assert all("ERROR" not in out for _, out in code)
    checks = [(src, out) for src, out in code if re.fullmatch(r'check\("[\w.]+"\)', src)]
    assert len(checks) == len({(c.module, c.function) for c in spec.load(ROOT / name).checks})
    for src, out in checks:
        assert "public checks of" in out and "function" in out and "status" in out, src
        rows = [line for line in out.splitlines() if re.search(r"\d+/\d+$", line)]
        assert rows and all("not implemented" in row for row in rows), out
    gradchecks = [out for src, out in code if "check_gradients(" in src]
    assert gradchecks and all(out.startswith("not implemented yet: ") for out in gradchecks)
    pictures = [(src, outs) for kind, src, outs in cells
                if kind == "code" and "_figure(student_module(" in src]
    for src, outs in pictures:
        assert not has_image(outs) and text_of(outs).startswith("not implemented yet"), src
    total = next(out for src, out in code if src == "check()")
    assert re.search(r"total: 0/\d+ points \(0 passed, \d+ not implemented\)", total)


def test_the_reference_passes_every_cell_and_trains(runs):
    name, _, cells = runs
    points = spec.load(ROOT / name).points
    code = [(src, text_of(outs), outs) for kind, src, outs in cells if kind == "code"]
    assert all("ERROR" not in out and "not implemented" not in out for _, out, _ in code)
    for src, out, outs in code:
        if re.fullmatch(r'check\("[\w.]+"\)', src):
            assert "All public checks pass" in out and " passed " in out, out
        if "check_gradients(" in src:
            assert re.search(r"gradcheck \w+\.\w+: PASS", out) and "FAIL" not in out, out
        if "_figure(student_module(" in src:
            assert has_image(outs), src
    total = next(out for src, out, _ in code if src == "check()")
    assert f"total: {points:g}/{points:g} points" in total
    trained = "".join(out for _, out, _ in code)
    best = [float(v) for v in re.findall(r"best validation accuracy:? ([0-9.]+)", trained)]
    assert best and min(best) > 0.95, trained
    assert any(has_image(outs) for src, _, outs in code if "training_figure" in src)
    if name == "batchnorm-rnn":
        # the numbers section 4 of the handout tells students to expect
        assert "loss 2.883; gradient norm 2.298 before clipping, 1.000000 after" in trained
        with_bn, without = map(float, re.search(
            r"best validation accuracy ([0-9.]+) with batchnorm, ([0-9.]+) without",
            trained).groups())
        assert with_bn > 0.95 and without < with_bn
    if name == "conv-lstm":
        # section 7 of the handout: the first minibatch through the student's conv and pool
        assert "loss 3.106; |dW1| = 0.9635" in trained
