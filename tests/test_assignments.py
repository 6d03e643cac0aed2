"""The shipped assignments: consistent with the registry and the reference code, and their
starters carry no reference solution line."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest

from handgrad.gradcheck.registry import REGISTRY
from handgrad.grading.authoring import markers, spec, starter

ROOT = Path(__file__).resolve().parents[1] / "assignments"
NAMES = sorted(p.parent.name for p in ROOT.glob("*/assignment.toml"))


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
    assert clip.inputs == "handgrad.grading.authoring.inputs:clip_grad_norm"
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
        for r in stubbed:   # the regions really have code in them (one line may be all it takes)
            assert any(line.strip() for line in r.solution_lines), f"{module}: empty region"
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
    assert listed                   # something to look for (_secrets checks every region)
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


def _numgrad(f, x, h=1e-6):
    """Central differences of the scalar function ``f`` at the float64 array ``x``."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up) - f(down)) / (2 * h)
    return grad


def _quoted(values, digits=4):
    """``(a, b, c)`` as the handout writes a tuple of numbers to ``digits`` decimals."""
    return "(" + ", ".join(f"{v:.{digits}f}" for v in values) + ")"


def _ints(a):
    """A nearly integer array as the handout writes it: ``[[1, 0, 1], [3, -2, 1]]``."""
    assert np.allclose(a, np.rint(a), atol=1e-6)
    return str(np.rint(a).astype(int).tolist())


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
    text = " ".join((ROOT / "backprop-basics" / "handout.md").read_text().split())
    # section 2: the tanh neuron, by central differences of L = dL/dh * h
    w, x, b, dh = 0.5, 2.0, -0.5, 0.4
    assert "z = 0.5 * 2 + (-0.5) = 0.5" in text
    assert f"h = tanh(0.5) = {math.tanh(w * x + b):.4f}" in text
    dw, dx, db = _numgrad(lambda v: dh * math.tanh(v[0] * v[1] + v[2]), [w, x, b])
    for name, value in (("dL/dz", db), ("dL/dw", dw), ("dL/dx", dx), ("dL/db", db)):
        assert f"`{name} = {value:.4f}`" in text, name
    assert "handgrad practice --problem ninja" in text and "handgrad practice --seed 0" in text
    # 3.1 affine: the gradients of sum(dout * (x2 @ w + b))
    x2 = np.array([[1, 2, 0], [-1, 0, 3]], float)
    wa = np.array([[1, -1], [0, 2], [1, 1]], float)
    ba = np.array([0.5, -0.5])
    dout = np.array([[1, 0], [2, -1]], float)
    gx = _numgrad(lambda v: np.sum(dout * (v @ wa + ba)), x2)
    gw = _numgrad(lambda v: np.sum(dout * (x2 @ v + ba)), wa)
    gb = _numgrad(lambda v: np.sum(dout * (x2 @ wa + v)), ba)
    assert f"`dx = {_ints(gx)}`" in text and f"`dw = {_ints(gw)}`" in text
    assert f"`db = {_ints(gb)}`" in text
    # 3.2 relu, away from the kink: the entries of dx sum to 2
    xr, dr = np.array([-1, 0.5, 2, -3.0]), np.array([3, 3, -1, 2.0])
    gr = _numgrad(lambda v: np.sum(dr * np.maximum(v, 0)), xr)
    assert round(gr.sum(), 6) == 2 and "entries of your `dx` sum to 2" in text
    # 3.3 sigmoid and 3.4 tanh: the local gradients the sanity checks quote
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    d_sig = {v: _numgrad(lambda a: sig(a[0]), [v])[0] for v in (0.0, 2.0, 10.0, -10.0)}
    assert f"at `x = 0` your `dx` is {d_sig[0.0]:.2f}, at `x = 2` it is {d_sig[2.0]:.4f}" in text
    assert f"it is about {d_sig[10.0]:.2e}".replace("e-05", "e-5") in text
    assert math.isclose(d_sig[10.0], d_sig[-10.0], rel_tol=1e-3)
    d_tanh3 = _numgrad(lambda a: math.tanh(a[0]), [3.0])[0]
    assert f"your `dx` is {db:.4f} (section 2)" in text and f"it is {d_tanh3:.4f}" in text
    # 3.5 softmax cross-entropy: one example, then a batch of two

    def ce(s, y):
        s = np.asarray(s, float)
        return np.mean([np.log(np.exp(r).sum()) - r[k] for r, k in zip(s, y, strict=True)])
    e = np.exp([2.0, 1.0, 0.0])
    assert f"`p = {_quoted(e / e.sum())}` and the loss is {ce([[2, 1, 0]], [0]):.4f}" in text
    g1 = _numgrad(lambda v: ce(v, [0]), [[2.0, 1.0, 0.0]])[0]
    assert abs(g1.sum()) < 1e-8 and f"its first entry is {g1[0]:.4f}" in text
    g2 = _numgrad(lambda v: ce(v, [0, 2]), [[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert f"the second row of your gradient is `{_quoted(g2[1])}`" in text
    # 3.6 huber with delta = 1: the loss and dpred of the sanity check

    def huber(pred, target, delta=1.0):
        r = np.abs(np.asarray(pred) - target)
        return np.mean(np.where(r <= delta, 0.5 * r ** 2, delta * (r - 0.5 * delta)))
    pred, target = np.array([0.0, 3.0]), np.array([0.5, 0.0])
    gp = _numgrad(lambda v: huber(v, target), pred)
    assert f"the loss is {huber(pred, target):.4f} and your `dpred` is " \
           f"`({gp[0]:.2f}, {gp[1]:.1f})`" in text
    notes = (ROOT / "backprop-basics" / "instructor-notes.md").read_text()
    assert "exactly zero" in notes and "dL/dw = dL/dz * x = 0.62915819" in notes


def _bn_train(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0)
    return gamma * (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=0) + eps) + beta


def _rnn(x, h0, wx, wh, b):
    """A one-unit tanh RNN over the sequence ``x``: the list of its hidden states."""
    hs, prev = [], h0
    for xt in x:
        prev = math.tanh(wx * xt + wh * prev + b)
        hs.append(prev)
    return hs


def test_batchnorm_rnn_handout_example_numbers_are_right():
    text = " ".join((ROOT / "batchnorm-rnn" / "handout.md").read_text().split())
    # 1.3: one column in train mode, eps = 1e-5, dout = (1, 0, 0, 0)
    x = np.array([[1.0], [2.0], [3.0], [6.0]])
    dout = np.array([[1.0], [0.0], [0.0], [0.0]])
    out = _bn_train(x, 2.0, 0.0)[:, 0]
    dx = _numgrad(lambda v: np.sum(dout * _bn_train(v, 2.0, 0.0)), x)[:, 0]
    dgamma = _numgrad(lambda g: np.sum(dout * _bn_train(x, g, 0.0)), [2.0])[0]
    dbeta = _numgrad(lambda b: np.sum(dout * _bn_train(x, 2.0, b)), [0.0])[0]
    assert f"`{_quoted(out)}`".replace("0.0000,", "0,") in text
    assert f"`dgamma = {dgamma:.4f}`, `dbeta = {dbeta:.0f}`" in text
    assert f"`dx = {_quoted(dx)}`" in text and abs(dx.sum()) < 1e-6
    # 1.4: test mode with running_mean = 3, running_var = 16
    dx_test = _numgrad(lambda v: np.sum(dout * (2.0 * (v - 3) / np.sqrt(16 + 1e-5))), x)[:, 0]
    assert f"your `dx` is `({dx_test[0]:.4f}, 0, 0, 0)`" in text and np.all(dx_test[1:] == 0)
    # 2.2: one tanh step; the gradients of L = h_t, that is dnext_h = 1
    wx, xt, wh, hp, b = 0.5, 1.0, -1.0, 0.5, 0.2
    step = lambda v: math.tanh(v[0] * v[1] + v[2] * v[3] + v[4])  # noqa: E731
    g = _numgrad(step, [wx, xt, wh, hp, b])
    assert f"`h_t = {step([wx, xt, wh, hp, b]):.4f}`" in text
    assert (f"`dx = {g[1]:.4f}`, `dprev_h = {g[3]:.4f}`, `dWx = {g[0]:.4f}`, "
            f"`dWh = {g[2]:.4f}` and `db = {g[4]:.4f}`") in text
    # 2.3: two steps with dh = (1, 1), that is L = h_0 + h_1
    seq = lambda v: sum(_rnn(v[:2], v[2], v[3], v[4], v[5]))  # noqa: E731
    g = _numgrad(seq, [1.0, -1.0, 0.5, wx, wh, b])
    hs = _rnn([1.0, -1.0], 0.5, wx, wh, b)
    total0 = _numgrad(lambda v: v[0] + math.tanh(-wx + wh * v[0] + b), [hs[0]])[0]
    assert f"`h = {_quoted(hs)}`" in text and f"`({total0:.4f}, 1)`" in text
    assert (f"`dx = {_quoted(g[:2])}`, `dh0 = {g[2]:.4f}`, `dWx = {g[3]:.4f}`, "
            f"`dWh = {g[4]:.4f}` and `db = {g[5]:.4f}`") in text
    # 3: the clipping example; 2.4: the powers
    norm = math.sqrt(3 ** 2 + 4 ** 2 + 12 ** 2)
    scale = 1 / (norm + 1e-6)
    assert norm == 13
    for value in (scale * 3, scale * 4, scale * 12):
        assert f"{value:.6f}" in text
    assert f"{scale:.7f}" in text
    for base in (1.5, 0.5):
        mantissa, exponent = f"{base ** 50:.1e}".split("e")
        assert f"{base}^50 = {mantissa}e{int(exponent)}" in text


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _derivation_lines(source: str) -> list[str]:
    """The lines between BEGIN/END DERIVATION markers, found by plain text search."""
    out, inside = [], False
    for line in source.splitlines():
        if line.strip() == "BEGIN DERIVATION":
            inside = True
        elif line.strip() == "END DERIVATION":
            inside = False
        elif inside:
            out.append(line)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_starter_holds_no_derivation_of_a_stubbed_gradient(name, starters):
    assignment = spec.load(ROOT / name)
    folder = starters[name]
    texts = {p.name: p.read_text() for p in folder.rglob("*") if p.is_file()}
    for module in assignment.modules:
        _, source = starter.module_source(module)
        derived = [_squeezed(line.split("#")[0]) for line in _derivation_lines(source)]
        formulas = [d for d in derived if "=" in d and len(d) >= 8]
        shown = {_squeezed(line) for line in source.splitlines()
                 if line not in _derivation_lines(source)}
        for file, text in texts.items():
            assert "BEGIN DERIVATION" not in text and "END DERIVATION" not in text, file
            squeezed_lines = [_squeezed(line) for line in text.splitlines()]
            for formula in formulas:
                if formula in shown:
                    continue
                hits = [i for i, line in enumerate(squeezed_lines, 1) if formula in line]
                assert not hits, f"{file}:{hits[0]} holds the derivation line {formula!r}"


def _hints(text: str) -> list[str]:
    return re.findall(r'raise NotImplementedError\("[\w.]+: (.*) -- see the handout"\)', text)


@pytest.mark.parametrize("name", NAMES)
def test_stub_hints_guide_without_a_formula(name, starters):
    assignment = spec.load(ROOT / name)
    hints = [h for m in assignment.modules
             for h in _hints((starters[name] / starter.student_filename(m)).read_text())]
    assert len(hints) == len({(c.module, c.function) for c in assignment.checks})
    for hint in hints:
        # no assignment, no product, quotient, power or matrix product of two operands
        assert not re.search(r"\w\s*=[^=]", hint), hint
        bare = re.sub(r"\([^()]*,[^()]*\)|\b[A-Z]\w?(\s*[*/]\s*[A-Z]\w?)+\b", "", hint)
        assert not re.search(r"[\w)]\s*(\*\*|[*/@^])\s*[\w(]", bare), hint


PRIVATE_OK = {"handgrad._validation"}


@pytest.mark.parametrize("name", NAMES)
def test_starter_files_are_plain_numpy(name, starters):
    """No private speed helper, no tuned twin, no thread pool, no kernel closure."""
    assignment = spec.load(ROOT / name)
    for module in assignment.modules:
        path = starters[name] / starter.student_filename(module)
        tree = ast.parse(path.read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        for name_ in imported:
            parts = name_.split(".")
            private = [p for p in parts if p.startswith("_") and not p.startswith("__")]
            assert not private or name_ in PRIVATE_OK, f"{path.name} imports {name_}"
            assert parts[0] not in {"threading", "concurrent", "multiprocessing", "numba"}
            assert not name_.startswith("handgrad.fast"), f"{path.name} imports {name_}"
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = [n for n in ast.walk(node) if n is not node and
                         isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
                assert not inner, f"{path.name}: {node.name} defines a function inside"


LAYER_DIRS = [Path(__file__).resolve().parents[1] / "handgrad" / d for d in ("layers", "losses")]
STUBBABLE = sorted(p for d in LAYER_DIRS for p in d.glob("[!_]*.py")
                   if "BEGIN SOLUTION" in p.read_text())


@pytest.mark.parametrize("path", STUBBABLE, ids=lambda p: p.stem)
def test_every_stubbable_op_keeps_its_gradient_in_a_derivation_region(path):
    source = path.read_text()
    assert _derivation_lines(source), f"{path.name}: no BEGIN/END DERIVATION region"
    tree = ast.parse(source)
    derived = {_squeezed(line) for line in _derivation_lines(source)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or "backward" not in node.name:
            continue
        doc = ast.get_docstring(node) or ""
        for line in doc.splitlines():
            if _squeezed(line) in derived:
                continue
            assert not re.search(r"\bd\w+\s*=[^=]", line), \
                f"{path.name}: {node.name}'s docstring states a gradient: {line.strip()}"


# Local gradients the handouts once stated outright, in the words and symbols they used: each
# is now left to the student (the handouts pose the derivation and give numbers to reach).
STATED_ANSWERS = {
    "backprop-basics": ["s * (1 - s)", "1 - h^2", "p - y", "p - Y", "p[k] - [k == y]",
                        "delta * sign(e)", "x2[n, d] * dout[n, m]", "dout[n, m] * w[d, m]",
                        "is `e` clipped", "1 - tanh(z)^2", "product of `dout` with the transpose"],
    "batchnorm-rnn": ["sum over i of dout[i, j]", "N * dout - dbeta", "1 - h_t^2",
                      "[h_t > 0]", "local gradient is `gamma * inv_std`", "dh[:, t] + (",
                      "times the transpose of", "(1/N) * sum_i g[i]"],
}


@pytest.mark.parametrize("name", NAMES)
def test_handout_contains_no_solution_line_and_states_no_stubbed_gradient(name):
    assignment = spec.load(ROOT / name)
    handout = assignment.handout.read_text()
    lines = [markers.normalize(line) for line in handout.splitlines()]
    secrets = set()
    for module in assignment.modules:
        origin, source = starter.module_source(module)
        targets = {c.function for c in assignment.checks if c.module == module}
        for region in markers.regions(source, origin):
            if region.function in targets:
                secrets |= {markers.normalize(s) for s in region.solution_lines}
        secrets |= {markers.normalize(s) for s in _derivation_lines(source) if s.strip()}
    assert len(secrets) >= 3 * len(assignment.modules)
    for secret in sorted(secrets):
        hits = [n for n, line in enumerate(lines, 1) if secret in line]
        assert not hits, f"handout.md line {hits[0]} contains the solution line {secret!r}"
    flat = " ".join(handout.split())
    for stated in STATED_ANSWERS.get(name, ()):
        assert stated not in flat, f"handout.md states {stated!r}"
