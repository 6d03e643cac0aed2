"""``handgrad assign``: starter generation from a spec and reference modules with markers."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path

import pytest

from handgrad import cli
from handgrad.grading.authoring import markers, spec, starter
from handgrad.grading.authoring.spec import SpecError
from handgrad.grading.authoring.starter import StarterError

LAYER = textwrap.dedent('''
    """A toy layer: out = 3 * x."""

    import numpy as np


    def forward(x):
        # BEGIN SOLUTION
        out = np.multiply(x, 3.0)
        # END SOLUTION
        return out, x


    def backward(dout, cache):
        x = cache
        # BEGIN SOLUTION hint: the local gradient is a constant
        dx = np.multiply(dout, 3.0)
        # END SOLUTION
        return dx


    def helper(x):
        return x
''').lstrip()

LOSS = textwrap.dedent('''
    """A toy loss: mean of x**2."""


    def forward(x):
        return (x * x).mean(), x


    def backward(dout, cache):
        x = cache
        # BEGIN SOLUTION
        dx = 2.0 * x * dout / x.size
        # END SOLUTION
        return dx
''').lstrip()


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    """A package ``toypkg`` with two reference modules, importable for find_spec."""
    root = tmp_path / "src" / "toypkg"
    (root / "layers").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "layers" / "__init__.py").write_text("")
    (root / "layers" / "triple.py").write_text(LAYER)
    (root / "square.py").write_text(LOSS)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    for name in list(sys.modules):
        if name.startswith("toypkg"):
            monkeypatch.delitem(sys.modules, name)
    return root


def make_assignment(folder: Path, body: str, top: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "assignment.toml").write_text(textwrap.dedent(f'''
        name = "toy"
        title = "A toy assignment"
        handout = "handout.md"
        {top}
    ''') + textwrap.dedent(body))
    (folder / "handout.md").write_text("# Toy\n\nThe local gradient of 3x is a constant.\n")
    (folder / "instructor-notes.md").write_text("the answer is dx = 3 * dout\n")
    return folder


CHECKS = '''
    [[check]]
    id = "triple_backward"
    target = "toypkg.layers.triple:backward"
    kind = "backward"
    op = "triple"
    points = 2
    public_seeds = [0, 1]
    public_dims = [{N = 4, D = 5}]
    hidden_dims = [{N = 7, D = 2}]
    hidden_seeds = 4

    [[check]]
    id = "square_backward"
    target = "toypkg.square:backward"
    kind = "backward"
    op = "square"
    points = 1.5
'''
KEEP = 'keep = ["toypkg.layers.triple:forward"]'


def test_assign_writes_a_complete_starter(pkg, tmp_path, capsys):
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    out = tmp_path / "starter"
    assert cli.main(["assign", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "triple.py" in printed and "3.5 points" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "assignment.toml", "handout.ipynb", "handout.md", "square.py",
        "triple.py"]
    triple = (out / "triple.py").read_text()
    # forward is kept as reference code (markers removed), backward is stubbed
    assert "    out = np.multiply(x, 3.0)\n" in triple
    assert "dx = np.multiply(dout, 3.0)" not in triple
    assert "SOLUTION" not in triple
    assert ('raise NotImplementedError("triple.backward: the local gradient is a constant '
            '-- see the handout")') in triple
    assert "def helper(x):" in triple
    square = (out / "square.py").read_text()
    assert "dx = 2.0 * x * dout / x.size" not in square
    assert 'raise NotImplementedError("square.backward: not implemented yet' in square
    assert (out / "handout.md").read_text() == (folder / "handout.md").read_text()
    assert "handgrad check" in (out / "README.md").read_text()
    # the student's spec: public checks only
    student = spec.load(out)
    assert [c.id for c in student.checks] == ["triple_backward", "square_backward"]
    assert student.points == 3.5
    assert student.checks[0].public_seeds == (0, 1)
    assert [dict(d) for d in student.checks[0].public_dims] == [{"N": 4, "D": 5}]
    text = (out / "assignment.toml").read_text()
    assert "hidden_dims" not in text and "hidden_seeds" not in text and "keep" not in text


def test_stubbed_module_raises_not_implemented_when_imported(pkg, tmp_path):
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    out = tmp_path / "starter"
    starter.write(spec.load(folder), out)
    namespace: dict = {}
    exec(compile((out / "triple.py").read_text(), "triple.py", "exec"), namespace)
    import numpy as np

    y, cache = namespace["forward"](np.ones(2))
    assert y.tolist() == [3.0, 3.0]
    with pytest.raises(NotImplementedError, match="triple.backward"):
        namespace["backward"](np.ones(2), cache)


def test_unlisted_marked_function_is_an_error_naming_it(pkg, tmp_path, capsys):
    folder = make_assignment(tmp_path / "toy", CHECKS)  # no keep: forward is unaccounted for
    out = tmp_path / "starter"
    with pytest.raises(StarterError, match=r"toypkg\.layers\.triple:forward has a solution "
                                           r"region but is neither a check target nor "
                                           r"listed in keep"):
        starter.write(spec.load(folder), out)
    assert not out.exists()
    assert cli.main(["assign", str(folder), "--out", str(out)]) == 2  # an input error
    assert "triple.py:7:" in capsys.readouterr().err


def test_target_without_region_is_an_error(pkg, tmp_path):
    body = CHECKS.replace('target = "toypkg.square:backward"', 'target = "toypkg.square:forward"')
    keep = 'keep = ["toypkg.layers.triple:forward", "toypkg.square:backward"]'
    folder = make_assignment(tmp_path / "toy", body, keep)
    with pytest.raises(StarterError, match=r"toypkg\.square:forward has no solution region"):
        starter.build(spec.load(folder))


def test_keep_entries_are_validated(pkg, tmp_path):
    folder = make_assignment(tmp_path / "a", CHECKS, 'keep = ["toypkg.other:forward"]')
    with pytest.raises(SpecError, match="names a module that no check targets"):
        spec.load(folder)
    folder = make_assignment(tmp_path / "b", CHECKS, 'keep = ["toypkg.square:backward"]')
    with pytest.raises(SpecError, match="both a check target and in keep"):
        spec.load(folder)
    folder = make_assignment(tmp_path / "c", CHECKS, 'keep = "toypkg.square:forward"')
    with pytest.raises(SpecError, match="keep must be a list"):
        spec.load(folder)
    folder = make_assignment(tmp_path / "d", CHECKS,
                             'keep = ["toypkg.layers.triple:forward", "toypkg.square:forward"]')
    with pytest.raises(StarterError, match="has no solution region in .*remove it from keep"):
        starter.build(spec.load(folder))


def test_a_hint_that_gives_the_answer_is_refused_and_can_be_overridden(pkg, tmp_path):
    leaky = LAYER.replace("hint: the local gradient is a constant",
                          "hint: dx = np.multiply(dout, 3.0)")
    (pkg / "layers" / "triple.py").write_text(leaky)
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    out = tmp_path / "starter"
    with pytest.raises(StarterError, match=r"triple\.py:15: the hint for "
                                           r"toypkg\.layers\.triple:backward quotes the solution"):
        starter.write(spec.load(folder), out)
    assert not out.exists()
    fixed = CHECKS.replace("points = 2\n", 'points = 2\nhint = "scale dout"\n', 1)
    folder = make_assignment(tmp_path / "toy2", fixed, KEEP)
    starter.write(spec.load(folder), out)
    assert 'NotImplementedError("triple.backward: scale dout -- see the handout")' in \
        (out / "triple.py").read_text()


def test_a_handout_quoting_a_solution_line_is_refused(pkg, tmp_path):
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    (folder / "handout.md").write_text("Write\n\n    dx = 2.0 * x * dout / x.size\n")
    with pytest.raises(StarterError, match=r"handout\.md:3: dx = 2\.0 \* x \* dout / x\.size"):
        starter.build(spec.load(folder))


def test_refuses_non_empty_out_without_force_and_replaces_with_force(pkg, tmp_path, capsys):
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    out = tmp_path / "starter"
    out.mkdir()
    assert cli.main(["assign", str(folder), "--out", str(out)]) == 0   # empty: fine
    (out / "stale.txt").write_text("old")
    assert cli.main(["assign", str(folder), "--out", str(out)]) == 2  # an input error
    assert "not empty; pass --force" in capsys.readouterr().err
    assert (out / "stale.txt").exists()
    assert cli.main(["assign", str(folder), "--out", str(out), "--force"]) == 0
    assert not (out / "stale.txt").exists()
    assert (out / "triple.py").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".starter")]
    assert leftovers == []


def test_force_never_replaces_the_current_folder_or_the_assignment(pkg, tmp_path, monkeypatch):
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StarterError, match="refusing to replace"):
        starter.write(spec.load(folder), tmp_path, force=True)
    with pytest.raises(StarterError, match="refusing to replace"):
        starter.write(spec.load(folder), folder, force=True)
    assert (folder / "assignment.toml").exists()


def test_modules_with_the_same_last_name_are_an_error(pkg, tmp_path):
    (pkg / "layers" / "square.py").write_text(LOSS)
    body = CHECKS + '''
    [[check]]
    id = "square2"
    target = "toypkg.layers.square:backward"
    kind = "backward"
    op = "square"
    points = 1
    '''
    folder = make_assignment(tmp_path / "toy", body, KEEP)
    with pytest.raises(StarterError, match="would both be square.py"):
        starter.build(spec.load(folder))


def test_missing_module_is_an_error(pkg, tmp_path):
    body = CHECKS.replace("toypkg.square:backward", "toypkg.nosuch:backward")
    folder = make_assignment(tmp_path / "toy", body, KEEP)
    with pytest.raises(StarterError, match="cannot locate"):
        starter.build(spec.load(folder))


def test_gradescope_zip_calls_the_engine_builder(pkg, tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("handgrad.grading.judging.gradescope")

    def build_autograder_zip(assignment, out_path):
        calls.append((assignment.name, Path(out_path)))
        Path(out_path).write_bytes(b"PK")

    fake.build_autograder_zip = build_autograder_zip
    monkeypatch.setitem(sys.modules, "handgrad.grading.judging.gradescope", fake)
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    zip_path = tmp_path / "autograder.zip"
    assert cli.main(["assign", str(folder), "--out", str(tmp_path / "s"),
                     "--gradescope-zip", str(zip_path)]) == 0
    assert calls == [("toy", zip_path)]
    assert zip_path.exists()


def test_a_hint_quoting_the_solution_without_an_assignment_is_refused(pkg, tmp_path):
    leaky = LAYER.replace("hint: the local gradient is a constant",
                          "hint: use np.multiply(dout, 3.0) here")
    (pkg / "layers" / "triple.py").write_text(leaky)
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    with pytest.raises(StarterError, match=r"quotes the solution \('np\.multiply\(dout, 3\.0\)'\)"):
        starter.build(spec.load(folder))


def test_a_check_hint_with_a_formula_names_the_check(pkg, tmp_path):
    leaky = CHECKS.replace("points = 1.5\n", 'points = 1.5\nhint = "two times x times dout"\n')
    folder = make_assignment(tmp_path / "ok", leaky, KEEP)
    starter.build(spec.load(folder))  # words that guide are fine
    leaky = CHECKS.replace("points = 1.5\n", 'points = 1.5\nhint = "2 * x * dout / n"\n')
    folder = make_assignment(tmp_path / "toy", leaky, KEEP)
    with pytest.raises(StarterError, match=r"assignment\.toml, check 'square_backward': the hint "
                                           r"for toypkg\.square:backward writes an arithmetic"):
        starter.build(spec.load(folder))


DERIVED = LAYER.replace('"""A toy layer: out = 3 * x."""', '''"""A toy layer: out = 3 * x.

Shapes: x of any shape.

BEGIN DERIVATION
Local gradient::

    dx = 3 * dout      # every entry scales by three
END DERIVATION
"""''')


def test_the_derivation_becomes_a_pointer_in_the_starter(pkg, tmp_path):
    (pkg / "layers" / "triple.py").write_text(DERIVED)
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    files, _ = starter.build(spec.load(folder))
    text = files["triple.py"]
    assert "Shapes: x of any shape." in text
    assert "DERIVATION" not in text and "3 * dout" not in text
    assert "Local gradient: yours to derive; the handout says how." in text
    compile(text, "triple.py", "exec")


@pytest.mark.parametrize("quoted", [
    "    dx = 3 * dout\n",                          # as in the docstring
    "The answer is `dx=3*dout`, as you can see.\n",  # inline, re-spaced
    "    dx = 3 *   dout   # my comment\n",         # with a comment of its own
])
def test_a_handout_quoting_the_derivation_is_refused_naming_file_and_line(pkg, tmp_path, quoted):
    (pkg / "layers" / "triple.py").write_text(DERIVED)
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    (folder / "handout.md").write_text("# Toy\n\n" + quoted)
    with pytest.raises(StarterError, match=r"handout\.md:3: .*\(from triple\.py:8, the "
                                           r"derivation in toypkg\.layers\.triple's docstring\)"):
        starter.build(spec.load(folder))


def test_a_solution_line_respaced_and_commented_in_the_handout_is_refused(pkg, tmp_path):
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    (folder / "handout.md").write_text("Write\n\n    dx=2.0*x *dout/x.size  # the answer\n")
    with pytest.raises(StarterError, match=r"handout\.md:3: .*\(from square\.py:\d+, reference "
                                           r"code of toypkg\.square:backward\)"):
        starter.build(spec.load(folder))


def test_a_malformed_derivation_marker_is_an_error(pkg, tmp_path):
    (pkg / "layers" / "triple.py").write_text(DERIVED.replace("END DERIVATION", "END DERIVATION:"))
    folder = make_assignment(tmp_path / "toy", CHECKS, KEEP)
    with pytest.raises(markers.MarkerError, match=r"triple\.py:9: malformed derivation marker"):
        starter.build(spec.load(folder))
