"""How every handgrad package names its public API: a map from name to the submodule that
defines it, imported on first use.

A package ``__init__`` reads::

    \"\"\"The docstring names the public API.\"\"\"

    from handgrad._exports import lazy_exports

    __all__ = ["Solver", "adam", "schedules"]
    __getattr__, __dir__ = lazy_exports(__name__, {
        "Solver": "solver",         # handgrad.optim.solver.Solver
        "adam": "rules",            # handgrad.optim.rules.adam
        "schedules": "schedules",   # a name mapped to itself is that submodule
    })

``handgrad.optim.Solver`` then imports :mod:`handgrad.optim.solver` the first time it is read
and keeps the result in the package. A function spelled like the submodule that defines it
(``handgrad.data.digits``, the function, in ``digits.py``) cannot be lazy, because importing a
submodule binds the submodule to that name in its package; such a name is imported at the
top of the ``__init__`` instead (in the map it would mean the submodule). See
``docs/architecture.md`` ("Package layout") for why handgrad's packages work this way.
"""

from __future__ import annotations

import importlib
import os
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would double `import handgrad`
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

__all__ = ["lazy_exports", "public_submodules"]


def lazy_exports(package: str, where: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for the names in ``where``.

    ``where`` maps each public name to the submodule of ``package`` (relative, dotted) that
    defines it; a name mapped to itself is the submodule of that name. Reading a name imports
    its submodule once and stores the value in the package, so later reads are plain
    attribute lookups. An unknown name raises ``AttributeError`` as for any module.
    """
    where = dict(where)

    def __getattr__(name: str) -> Any:
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        loaded = importlib.import_module(f"{package}.{module}")
        value = loaded if module == name else getattr(loaded, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__


def public_submodules(path: Iterable[str]) -> dict[str, str]:
    """``{name: name}`` for every public module of a package folder (``__path__``), in order.

    For the packages whose public API is their modules, one per op (``handgrad.layers``,
    ``handgrad.losses``, ``handgrad.fast``): ``handgrad.layers.affine`` is then found after
    ``import handgrad.layers``, and a new module needs no line in the ``__init__``.
    """
    names: set[str] = set()
    for folder in path:
        for entry in os.scandir(folder):
            name, ext = os.path.splitext(entry.name)
            if name.startswith(("_", ".")) or not name.isidentifier():
                continue
            if (ext == ".py" and entry.is_file()) or (
                    not ext and os.path.isfile(os.path.join(entry.path, "__init__.py"))):
                names.add(name)
    return {name: name for name in sorted(names)}
