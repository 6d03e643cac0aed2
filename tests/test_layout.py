"""The package layout: who may import whom, what the command parser and the sandboxed worker
load, and the one ``__init__`` style (see docs/architecture.md and handgrad/grading/README.md)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "handgrad"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` of ``path`` names, at any depth,
    including ``from package import submodule`` as ``package.submodule``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_walk_sees_the_package() -> None:
    assert "handgrad.grading.sandbox.worker" in MODULES
    assert "handgrad.commands.grade" in MODULES
    assert "handgrad.grading.judging.runner" in _imports(MODULES["handgrad.commands.grade"]) \
        or "handgrad.grading.judging.batch" in _imports(MODULES["handgrad.commands.grade"])


def test_the_library_imports_nothing_from_the_commands() -> None:
    offenders = sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if not _within(name, "handgrad.commands") and name != "handgrad.cli"
        for target in _imports(path) if _within(target, "handgrad.commands"))
    assert offenders == []


@pytest.mark.parametrize(("room", "forbidden"), [
    ("handgrad.grading.authoring", ("handgrad.grading.sandbox", "handgrad.grading.judging")),
    ("handgrad.grading.sandbox", ("handgrad.grading.authoring", "handgrad.grading.judging")),
])
def test_rooms_import_in_one_direction(room: str, forbidden: tuple[str, ...]) -> None:
    offenders = sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items() if _within(name, room)
        for target in _imports(path) if any(_within(target, f) for f in forbidden))
    assert offenders == []


def test_the_sandbox_imports_only_itself_from_handgrad() -> None:
    allowed = ("handgrad._exports", "handgrad.grading.sandbox")
    offenders = sorted(
        f"{name} imports {target}"
        for name, path in MODULES.items() if _within(name, "handgrad.grading.sandbox")
        for target in _imports(path)
        if _within(target, "handgrad") and not any(_within(target, a) for a in allowed))
    assert offenders == []


def _loaded_after(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print('\\n'.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def test_the_worker_loads_nothing_but_its_room() -> None:
    loaded = [m for m in _loaded_after("import handgrad.grading.sandbox.worker")
              if _within(m, "handgrad")]
    assert "handgrad.grading.sandbox.worker" in loaded
    allowed = ("handgrad._exports", "handgrad.grading.sandbox")
    assert [m for m in loaded
            if m not in ("handgrad", "handgrad.grading")
            and not any(_within(m, a) for a in allowed)] == []


def test_building_the_command_parser_stays_light() -> None:
    loaded = _loaded_after("from handgrad import cli\ncli.build_parser()")
    assert "handgrad.commands.grade" in loaded
    heavy = ("handgrad.gradcheck", "handgrad.grading", "handgrad.optim", "handgrad.diagnostics",
             "matplotlib", "tqdm")
    assert [m for m in loaded if any(_within(m, h) for h in heavy)] == []


PACKAGES = sorted(name for name, path in MODULES.items() if path.name == "__init__.py")


def test_every_subpackage_is_covered() -> None:
    for name in ("handgrad.layers", "handgrad.losses", "handgrad.fast", "handgrad.gradcheck",
                 "handgrad.optim", "handgrad.models", "handgrad.data", "handgrad.diagnostics",
                 "handgrad.grading", "handgrad.grading.authoring", "handgrad.grading.sandbox",
                 "handgrad.grading.judging", "handgrad.practice", "handgrad.commands"):
        assert name in PACKAGES


@pytest.mark.parametrize("name", PACKAGES)
def test_every_init_has_one_shape(name: str) -> None:
    """A docstring, ``__all__``, names resolved through ``handgrad._exports.lazy_exports``
    (plus eager imports of names spelled like their own submodule), and no other code."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{name} has no docstring"
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets
                for t in (target.elts if isinstance(target, ast.Tuple) else [target])
                if isinstance(t, ast.Name)}
    assert {"__all__", "__getattr__", "__dir__"} <= assigned, name
    kinds = {type(node).__name__ for node in tree.body[1:]}
    assert kinds <= {"ImportFrom", "Assign"}, f"{name} holds {sorted(kinds)}"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    for public in package.__all__:
        assert getattr(package, public) is not None, f"{name}.{public}"
        assert public in dir(package)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018


def test_a_function_named_like_its_module_is_the_function() -> None:
    import handgrad.data.digits  # the submodule first: it must not shadow the function
    import handgrad.practice.neuron
    from handgrad.data import digits
    from handgrad.practice import neuron

    assert callable(digits) and callable(neuron)
    assert digits.__module__ == "handgrad.data.digits"
    assert handgrad.practice.neuron.__module__ == "handgrad.practice.neuron"


def test_op_packages_list_their_modules() -> None:
    import handgrad.layers

    assert "affine" in handgrad.layers.__all__ and "conv_naive" in handgrad.layers.__all__
    assert handgrad.layers.affine.forward is importlib.import_module(
        "handgrad.layers.affine").forward
    assert not [n for n in handgrad.layers.__all__ if n.startswith("_")]


def test_notebook_path_re_exports_every_helper() -> None:
    from handgrad.grading import notebook
    from handgrad.grading.authoring import notebook as helpers

    assert sorted(notebook.__all__) == sorted(helpers.__all__)
    for name in helpers.__all__:
        assert getattr(notebook, name) is getattr(helpers, name)


def test_the_old_input_maker_path_still_resolves() -> None:
    from handgrad.grading.authoring.inputs import clip_grad_norm
    from handgrad.grading.judging.draws import resolve

    assert resolve("handgrad.grading.inputs:clip_grad_norm") is clip_grad_norm
