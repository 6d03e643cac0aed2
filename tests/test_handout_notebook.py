"""``handout.ipynb`` as data: sections, where each function's cells go, the assignment's own
cells, the leak scan, and the helpers the cells call (no Jupyter needed)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from handgrad.grading import notebook
from handgrad.grading.authoring import handout_notebook, ipynb, spec, starter
from handgrad.grading.authoring.starter import StarterError
from handgrad.layers import relu as reference_relu
from handgrad.layers import sigmoid as reference_sigmoid

ROOT = Path(__file__).resolve().parents[1] / "assignments"


def cells_of(name: str) -> list[tuple[str, str]]:
    files, _ = starter.build(spec.load(ROOT / name))
    nb = json.loads(files["handout.ipynb"])
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] == 5
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert [c["id"] for c in nb["cells"]] == [f"cell-{i}" for i in
                                               range(1, len(nb["cells"]) + 1)]
    return [(c["cell_type"], ipynb.source(c)) for c in nb["cells"]]


def index_of(cells, kind, start):
    return next(i for i, (k, text) in enumerate(cells) if k == kind and text.startswith(start))


# --------------------------------------------------------------------------------- sections


def test_sections_split_at_headings_but_not_inside_fenced_code():
    text = textwrap.dedent("""\
        # Title

        Intro.

        ## 1. First (`a.py`)

        ```python
        # not a heading
        x = 1
        ```

        ### 1.1 Sub
        text
        ~~~
        ## still code
        ~~~
        ## 2. Second
        """)
    found = handout_notebook.sections(text)
    assert [(s.level, s.title) for s in found] == [
        (1, "Title"), (2, "1. First (`a.py`)"), (3, "1.1 Sub"), (2, "2. Second")]
    assert "# not a heading" in found[1].text and "## still code" in found[2].text
    assert [s.number for s in found] == [None, "1", "1.1", "2"]
    assert handout_notebook.subtree_end(found, 1) == 2
    assert handout_notebook.subtree_end(found, 0) == 3


def test_every_section_of_the_handout_is_a_cell_in_order():
    handout = (ROOT / "backprop-basics" / "handout.md").read_text()
    texts = [text for kind, text in cells_of("backprop-basics") if kind == "markdown"]
    for section in handout_notebook.sections(handout):
        assert section.text in texts
    positions = [texts.index(s.text) for s in handout_notebook.sections(handout)]
    assert positions == sorted(positions)


# ------------------------------------------------------------------------ where cells go


def test_each_functions_cells_follow_the_section_that_asks_for_it():
    cells = cells_of("backprop-basics")
    for number, module in [("3.1", "affine"), ("3.2", "relu"), ("3.3", "sigmoid"),
                           ("3.4", "tanh"), ("3.5", "softmax_cross_entropy"),
                           ("3.6", "huber")]:
        section = index_of(cells, "markdown", f"### {number} ")
        checked = index_of(cells, "code", f'check("{module}.backward")')
        gradcheck = index_of(cells, "code", f'{module} = student_module("{module}")')
        following = next(i for i in range(section + 1, len(cells))
                         if cells[i][0] == "markdown" and cells[i][1].startswith("#"))
        assert section < checked < gradcheck < following, module
        assert f'check_gradients({module}, "{module}")' in cells[gradcheck][1]
    relu_picture = index_of(cells, "code", 'dead_relu_figure(student_module("relu"))')
    assert index_of(cells, "markdown", "### 3.2 ") < relu_picture < \
        index_of(cells, "markdown", "### 3.3 ")
    for module in ("sigmoid", "tanh"):
        index_of(cells, "code", f'saturation_figure(student_module("{module}"))')
    # the assignment's own cells come after section 4, before section 5
    training = index_of(cells, "markdown", "## Train a net with your layers")
    assert index_of(cells, "markdown", "## 4. ") < training < \
        index_of(cells, "markdown", "## 5. ")
    # setup after the handout's title, everything checked at the very end
    assert cells[0][1].startswith("# Backpropagation basics")
    assert cells[1][1].startswith("## How to use this notebook")
    setup = cells[2][1]
    assert cells[2][0] == "code" and '%pip install --quiet "handgrad==' in setup
    assert "%matplotlib inline" in setup and "starter_status()" in setup
    assert cells[-1] == ("code", "check()")
    assert "not this notebook" in cells[-2][1].lower()


def test_a_function_named_in_a_subsection_goes_there_and_ops_get_one_cell_each():
    cells = cells_of("batchnorm-rnn")
    step = index_of(cells, "code", 'check("rnn.step_backward")')
    bptt = index_of(cells, "code", 'check("rnn.backward")')
    assert index_of(cells, "markdown", "### 2.2 ") < step < \
        index_of(cells, "markdown", "### 2.3 ") < bptt < index_of(cells, "markdown", "### 2.4 ")
    bn = index_of(cells, "code", 'check("batchnorm.backward")')
    assert index_of(cells, "markdown", "### 1.4 ") < bn < index_of(cells, "markdown", "## 2. ")
    sources = [text for kind, text in cells if kind == "code"]
    for op in ("batchnorm", "batchnorm_test", "rnn_step", "rnn_step_relu", "rnn", "rnn_relu"):
        assert sum(f', "{op}")' in text for text in sources) == 1, op
    assert sum("gradient_flow_figure(" in text for text in sources) == 1
    # a function check (clip_grad_norm) has its checks but no gradient checker cell
    assert 'check("clipping.clip_grad_norm")' in sources
    assert not any("check_gradients(clipping" in text for text in sources)


def test_a_new_assignment_gets_a_notebook_with_no_code_of_its_own(tmp_path):
    folder = tmp_path / "mini"
    folder.mkdir()
    (folder / "handout.md").write_text("# Mini\n\nWrite the ReLU backward.\n")
    (folder / "assignment.toml").write_text(textwrap.dedent('''
        name = "mini"
        handout = "handout.md"

        [[check]]
        id = "relu_backward"
        target = "handgrad.layers.relu:backward"
        kind = "backward"
        op = "relu"
        points = 1
    '''))
    files, _ = starter.build(spec.load(folder))
    cells = [(c["cell_type"], ipynb.source(c)) for c in json.loads(files["handout.ipynb"])["cells"]]
    heading = index_of(cells, "markdown", "## Checks of the other functions")
    assert heading < index_of(cells, "code", 'check("relu.backward")') < len(cells) - 1
    assert any("dead_relu_figure" in text for _, text in cells)


# --------------------------------------------------------------- the assignment's own cells


def mini_with_notebook(tmp_path, table: str, cells: str | None = None) -> Path:
    folder = tmp_path / "mini"
    folder.mkdir(exist_ok=True)
    (folder / "handout.md").write_text("# Mini\n\n## 1. ReLU (`relu.py`)\n\ntext\n\n"
                                       "## 2. More\n\ntext\n")
    if cells is not None:
        (folder / "cells.py").write_text(cells)
    (folder / "assignment.toml").write_text(textwrap.dedent('''
        name = "mini"
        handout = "handout.md"

        [[check]]
        id = "relu_backward"
        target = "handgrad.layers.relu:backward"
        kind = "backward"
        op = "relu"
        points = 1
    ''') + table)
    return folder


def test_extra_cells_go_after_the_named_section(tmp_path):
    folder = mini_with_notebook(tmp_path, '[notebook]\ncells = "cells.py"\nafter = "1"\n',
                                "# header, not a cell\n# %% [markdown]\n# ## Extra\n#\n# more\n"
                                "\n# %%\nprint('hi')\n")
    files, _ = starter.build(spec.load(folder))
    cells = [(c["cell_type"], ipynb.source(c)) for c in json.loads(files["handout.ipynb"])["cells"]]
    extra = cells.index(("markdown", "## Extra\n\nmore"))
    assert cells[extra + 1] == ("code", "print('hi')")
    assert index_of(cells, "code", 'check("relu.backward")') < extra < \
        index_of(cells, "markdown", "## 2. More")


@pytest.mark.parametrize("table, cells, message", [
    ('[notebook]\ncells = "cells.py"\nafter = "9"\n', "# %%\nx = 1\n",
     "names no section of handout.md"),
    ('[notebook]\ncells = "cells.py"\n', "# %% [markdown]\nnot a comment\n",
     "a Markdown cell's lines start with '# '"),
    ('[notebook]\ncells = "cells.py"\n', "x = 1\n", "no cells"),
    ('[notebook]\ninstall = "handgrad; rm -rf \\"/\\""\n', None, "plain pip requirement"),
])
def test_bad_notebook_tables_are_errors_naming_the_problem(tmp_path, table, cells, message):
    folder = mini_with_notebook(tmp_path, table, cells)
    with pytest.raises(StarterError, match=message):
        starter.build(spec.load(folder))


@pytest.mark.parametrize("table, message", [
    ('[notebook]\ncolour = "red"\n', "unknown keys"),
    ('[notebook]\ncells = "missing.py"\n', "not a file"),
    ('[notebook]\nafter = 4\n', "must be a string"),
])
def test_the_notebook_table_is_validated(tmp_path, table, message):
    with pytest.raises(spec.SpecError, match=message):
        spec.load(mini_with_notebook(tmp_path, table))


def _as_affine(folder):
    """The mini assignment stubbing affine.backward instead of relu.backward (relu's one-line
    solution is also written in its module docstring, so the starter shows it anyway)."""
    for name in ("assignment.toml", "handout.md"):
        path = folder / name
        path.write_text(path.read_text().replace("relu", "affine").replace("ReLU", "Affine"))
    return folder


def test_a_solution_line_in_an_extra_cell_is_refused_naming_the_cell(tmp_path):
    region = next(r for r in starter.stub_module(
        "handgrad.layers.affine",
        list(spec.load(_as_affine(mini_with_notebook(tmp_path, ""))).checks), []).regions)
    secret = region.solution_lines[0].strip()
    folder = _as_affine(mini_with_notebook(tmp_path, '[notebook]\ncells = "cells.py"\n',
                                           f"# %%\n{secret}\n"))
    with pytest.raises(StarterError, match=r"handout\.ipynb cell \d+:1: "):
        starter.build(spec.load(folder))


def test_the_notebook_is_valid_nbformat():
    nbformat = pytest.importorskip("nbformat")
    files, _ = starter.build(spec.load(ROOT / "batchnorm-rnn"))
    nbformat.validate(nbformat.reads(files["handout.ipynb"], as_version=4))


# -------------------------------------------------------------------- the cells' helpers


STUB = '''import numpy as np


def forward(x):
    return np.maximum(x, 0), np.maximum(x, 0)


def backward(dout, cache):
    raise NotImplementedError("relu.backward: your code here -- see the handout")
'''


def test_student_module_is_read_again_every_time(tmp_path):
    path = tmp_path / "relu.py"
    path.write_text("VALUE = 1\n")
    assert notebook.student_module("relu", tmp_path).VALUE == 1
    stat = path.stat()
    path.write_text("VALUE = 2\n")            # same size, same mtime: no cache can tell
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    module = notebook.student_module("relu.py", tmp_path)
    assert module.VALUE == 2 and module.__file__ == str(path.resolve())
    with pytest.raises(FileNotFoundError, match="student_module: no tanh.py in"):
        notebook.student_module("tanh", tmp_path)


def test_check_gradients_reports_a_stub_in_one_line(tmp_path, capsys):
    (tmp_path / "relu.py").write_text(STUB)
    stub = notebook.student_module("relu", tmp_path)
    assert notebook.check_gradients(stub, "relu") is None
    assert capsys.readouterr().out == ("not implemented yet: relu.backward: your code here -- "
                                       "see the handout\n")
    assert notebook.saturation_figure(stub) is None
    assert notebook.dead_relu_figure(stub) is None
    assert capsys.readouterr().out.count("not implemented yet") == 2


def test_check_gradients_passes_a_right_backward_and_fails_a_wrong_one(tmp_path, capsys):
    report = notebook.check_gradients(reference_relu, "relu")
    assert report.passed and report.op == "relu.backward"
    assert "gradcheck relu.backward: PASS" in capsys.readouterr().out
    (tmp_path / "relu.py").write_text(STUB.replace(
        'raise NotImplementedError("relu.backward: your code here -- see the handout")',
        "return dout * 2.0 * (cache > 0)"))
    report = notebook.check_gradients(notebook.student_module("relu", tmp_path), "relu",
                                      show=False)
    assert not report.passed and capsys.readouterr().out == ""
    with pytest.raises(AttributeError, match="relu has no function 'step_forward'"):
        notebook.check_gradients(reference_relu, "rnn_step")


def test_skip_if_stubbed_swallows_only_not_implemented(capsys):
    with notebook.skip_if_stubbed() as block:
        raise NotImplementedError("affine.backward: hint")
    assert block.skipped
    assert capsys.readouterr().out == "not implemented yet: affine.backward: hint\n"
    with pytest.raises(ValueError), notebook.skip_if_stubbed():
        raise ValueError("a real bug")
    with notebook.skip_if_stubbed() as block:
        pass
    assert not block.skipped


def test_the_pictures_use_the_students_backward():
    fig = notebook.saturation_figure(reference_sigmoid)
    right = fig.axes[1]
    yours, numeric = (line.get_ydata() for line in right.get_lines()[:2])
    x = right.get_lines()[0].get_xdata()
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(yours, s * (1 - s), atol=1e-12)   # the derivative, by hand
    np.testing.assert_allclose(numeric, s * (1 - s), atol=1e-8)
    assert "off by" not in right.get_title()
    fig = notebook.dead_relu_figure(reference_relu, units=32, dead=8)
    assert "8 of 32 units dead" in fig.axes[1].get_title()


def test_a_wrong_backward_shows_in_the_saturation_picture(tmp_path):
    (tmp_path / "sigmoid.py").write_text(
        "import numpy as np\n\n\ndef forward(x):\n    s = 1 / (1 + np.exp(-x))\n"
        "    return s, s\n\n\ndef backward(dout, cache):\n    return dout * cache\n")
    fig = notebook.saturation_figure(notebook.student_module("sigmoid", tmp_path))
    assert "yours is off by" in fig.axes[1].get_title()


def test_starter_status_never_raises(tmp_path, capsys):
    notebook.starter_status(tmp_path)
    assert "no assignment.toml" in capsys.readouterr().out
    starter.write(spec.load(ROOT / "backprop-basics"), tmp_path / "s")
    (tmp_path / "s" / "relu.py").unlink()
    notebook.starter_status(tmp_path / "s")
    out = capsys.readouterr().out
    assert "Backpropagation basics: starter folder" in out and "missing: relu.py" in out
