"""The shipped assignments: consistent with the registry and the reference code, and their
starters carry no reference solution line."""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
from pathlib import Path

import pytest

from handgrad.gradcheck.registry import REGISTRY
from handgrad.grading import markers, spec, starter

ROOT = Path(__file__).resolve().parents[1] / "assignments"
NAMES = ["backprop-basics", "batchnorm-rnn", "conv-lstm"]


@pytest.fixture(scope="module", params=NAMES)
def assignment(request):
    return spec.load(ROOT / request.param)


@pytest.fixture(scope="module")
def starters(tmp_path_factory):
    out = {}
    for name in NAMES:
        folder = tmp_path_factory.mktemp(name) / "starter"
        starter.write(spec.load(ROOT / name), folder)
        out[name] = folder
    return out


def test_assignments_load_with_handout_and_points(assignment):
    assert assignment.handout.is_file()
    assert assignment.points == sum(c.points for c in assignment.checks) > 0
    assert all(c.points > 0 for c in assignment.checks)
    assert len({c.id for c in assignment.checks}) == len(assignment.checks)


def test_expected_targets():
    basics = spec.load(ROOT / "backprop-basics")
    assert [(c.target, c.op) for c in basics.checks] == [
        ("handgrad.layers.affine:backward", "affine"),
        ("handgrad.layers.relu:backward", "relu"),
        ("handgrad.layers.sigmoid:backward", "sigmoid"),
        ("handgrad.layers.tanh:backward", "tanh"),
        ("handgrad.losses.softmax_cross_entropy:backward", "softmax_cross_entropy"),
        ("handgrad.losses.huber:backward", "huber"),
    ]
    bn = spec.load(ROOT / "batchnorm-rnn")
    assert {c.target for c in bn.checks} == {
        "handgrad.layers.batchnorm:backward", "handgrad.layers.rnn:step_backward",
        "handgrad.layers.rnn:backward", "handgrad.optim.clipping:clip_grad_norm"}
    clip = next(c for c in bn.checks if c.kind == "function")
    assert clip.inputs == "handgrad.grading.inputs:clip_grad_norm"
    conv = spec.load(ROOT / "conv-lstm")
    assert list(dict.fromkeys((c.target, c.points) for c in conv.checks
                              if c.op in ("dropout", "layernorm", "conv_naive", "maxpool",
                                          "lstm_step", "lstm", "attention"))) == [
        ("handgrad.layers.dropout:backward", 1), ("handgrad.layers.layernorm:backward", 3),
        ("handgrad.layers.conv_naive:backward", 3), ("handgrad.layers.maxpool:backward", 2),
        ("handgrad.layers.lstm:step_backward", 3), ("handgrad.layers.lstm:backward", 3),
        ("handgrad.layers.attention:backward", 3)]
    assert conv.points == 25


def test_backward_checks_match_the_registry(assignment):
    for check in assignment.checks:
        if check.kind != "backward":
            continue
        op = REGISTRY[check.op]
        assert op.module == check.module, check.id
        assert op.backward == check.function, check.id
        dims = [dict(d) for d in (*check.public_dims, *check.hidden_dims)]
        for d in dims:
            assert set(d) <= set(op.dims), (check.id, d, op.dims)
            assert all(isinstance(v, int) and v >= 1 for v in d.values())
        public = [{**op.dims, **d} for d in check.public_dims] or [dict(op.dims)]
        hidden = [{**op.dims, **d} for d in check.hidden_dims]
        assert hidden, f"{check.id}: hidden checks need their own sizes"
        for h in hidden:
            assert h not in public, f"{check.id}: hidden sizes {h} equal public ones"
            # every size distinct: no square matrix can hide a transposed gradient
            assert len(set(h.values())) == len(h), (check.id, h)
        assert check.public_seeds and check.tolerance > 0


def test_function_checks_name_an_input_maker(assignment):
    for check in assignment.checks:
        if check.kind != "function":
            continue
        module, name = check.inputs.split(":")
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not part of this installation yet")
        assert callable(getattr(importlib.import_module(module), name))


def test_targets_and_keep_agree_with_the_reference_markers(assignment):
    keep = {tuple(k.split(":")) for k in assignment.keep}
    for module in assignment.modules:
        _, source = starter.module_source(module)
        marked = {r.function for r in markers.regions(source, module)}
        targets = {c.function for c in assignment.checks if c.module == module}
        kept = {f for m, f in keep if m == module}
        assert targets <= marked, f"{module}: targets without a solution region"
        assert marked == targets | kept, f"{module}: marked functions not accounted for"
        # only backward passes (and clip_grad_norm) are stubbed; forwards stay reference code
        assert not any("forward" in t for t in targets)


def _secrets(assignment) -> tuple[set[str], list[str]]:
    """Normalized solution lines of the stubbed regions that the starter must not contain."""
    secrets: set[str] = set()
    shown: set[str] = set()
    for module in assignment.modules:
        _, source = starter.module_source(module)
        targets = {c.function for c in assignment.checks if c.module == module}
        stubbed = [r for r in markers.regions(source) if r.function in targets]
        for r in stubbed:
            secrets |= {" ".join(line.split()) for line in r.solution_lines}
        lines = source.splitlines()
        inside = {n for r in stubbed for n in range(r.begin, r.end + 1)}
        shown |= {" ".join(line.split()) for n, line in enumerate(lines, 1) if n not in inside}
    secrets -= shown
    return secrets, sorted(secrets)


@pytest.mark.parametrize("name", NAMES)
def test_starter_contains_no_reference_solution_line(name, starters):
    assignment = spec.load(ROOT / name)
    folder = starters[name]
    secrets, listed = _secrets(assignment)
    assert len(listed) >= 3 * len(assignment.modules)  # the regions really have code in them
    written = sorted(p for p in folder.rglob("*") if p.is_file())
    assert {p.name for p in written} >= {"handout.md", "assignment.toml", "README.md"}
    for path in written:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            norm = " ".join(line.split())
            assert norm not in secrets, f"{path.name}:{lineno} is a solution line: {line}"
            if "NotImplementedError" in norm:
                hits = [s for s in secrets if s in norm]
                assert not hits, f"{path.name}:{lineno}: the hint quotes {hits}"
    assert not (folder / "instructor-notes.md").exists()


@pytest.mark.parametrize("name", NAMES)
def test_starter_stubs_exactly_the_targets(name, starters):
    assignment = spec.load(ROOT / name)
    folder = starters[name]
    for module in assignment.modules:
        text = (folder / starter.student_filename(module)).read_text()
        compile(text, module, "exec")
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        targets = sorted({c.function for c in assignment.checks if c.module == module})
        stubs = re.findall(r'raise NotImplementedError\("(\w+)\.(\w+): ', text)
        assert sorted(f for _, f in stubs) == targets
    student = spec.load(folder)
    assert [c.id for c in student.checks] == [c.id for c in assignment.checks]
    assert all(c.hidden_dims == () for c in student.checks)
    text = (folder / "assignment.toml").read_text()
    assert "hidden" not in text.replace("hidden checks", "")


def test_conv_lstm_handout_table_gives_each_function_its_points():
    """The handout's points table agrees with assignment.toml, function by function."""
    conv = spec.load(ROOT / "conv-lstm")
    text = conv.handout.read_text()
    points: dict[tuple[str, str], float] = {}
    for c in conv.checks:
        key = (starter.student_filename(c.module), c.function)
        points[key] = points.get(key, 0) + c.points
    rows = re.findall(r"^\| `(\w+\.py)` \| `(\w+)` \|[^|]*\| (\d+) \|$", text, re.M)
    assert {(f, fn): float(p) for f, fn, p in rows} == points
    assert f"**{conv.points:g}**" in text


def test_conv_lstm_stubbed_modules_keep_derivations_in_their_regions():
    """The six modules' local gradients sit in a derivation region of the module docstring;
    the backward docstrings name what is returned, not how."""
    conv = spec.load(ROOT / "conv-lstm")
    for module in conv.modules:
        mod = importlib.import_module(module)
        lines = [line.strip() for line in mod.__doc__.splitlines()]
        assert lines.count("BEGIN DERIVATION") == 1 == lines.count("END DERIVATION"), module
        inside = lines[lines.index("BEGIN DERIVATION"):lines.index("END DERIVATION")]
        outside = [line for line in lines if line not in inside]
        assert not [line for line in outside if re.match(r"d\w+\s*\+?=", line)], module
        for c in conv.checks:
            if c.module == module:
                doc = getattr(mod, c.function).__doc__
                assert not re.search(r"\bd\w+\s*=|@|\.T\b", doc), (module, c.function)


def test_backprop_basics_handout_numbers_are_right():
    text = (ROOT / "backprop-basics" / "handout.md").read_text()
    w, x, b, dh = 0.5, 2.0, -0.5, 0.4
    z = w * x + b
    h = math.tanh(z)
    dz = dh * (1 - h * h)
    for value in (h, dz, dz * x, dz * w, 1 - h * h):
        assert f"{value:.4f}" in text, value
    assert "z = 0.5 * 2 + (-0.5) = 0.5" in text
    scores = [2.0, 1.0, 0.0]
    e = [math.exp(s) for s in scores]
    p = [v / sum(e) for v in e]
    grad = [p[0] - 1, p[1], p[2]]
    assert "(" + ", ".join(f"{v:.4f}" for v in p) + ")" in text
    assert "(" + ", ".join(f"{v:.4f}" for v in grad) + ")" in text
    assert "p - y" in text and "sum to zero" in text.replace("sums to zero", "sum to zero")
    notes = (ROOT / "backprop-basics" / "instructor-notes.md").read_text()
    assert "exactly zero" in notes


def test_batchnorm_rnn_handout_example_numbers_are_right():
    text = (ROOT / "batchnorm-rnn" / "handout.md").read_text()
    norm = math.sqrt(3 ** 2 + 4 ** 2 + 12 ** 2)
    scale = 1 / (norm + 1e-6)
    assert norm == 13
    for value in (scale * 3, scale * 4, scale * 12):
        assert f"{value:.6f}" in text
    assert f"{scale:.7f}" in text
    for base in (1.5, 0.5):
        mantissa, exponent = f"{base ** 50:.1e}".split("e")
        assert f"{base}^50 = {mantissa}e{int(exponent)}" in text
