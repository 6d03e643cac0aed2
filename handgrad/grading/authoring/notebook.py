"""What the cells of a starter's ``handout.ipynb`` call: the student's modules, read again on
every call, the gradient checker on them, and pictures drawn with the student's backward.
Notebooks import these from :mod:`handgrad.grading.notebook`, which re-exports ``__all__``.

::

    from handgrad.grading.notebook import check_gradients, skip_if_stubbed, student_module

    relu = student_module("relu")          # ./relu.py, compiled from the file as it is now
    report = check_gradients(relu, "relu")  # check_op on it, inputs from the registry entry
    with skip_if_stubbed():                # a stub met inside ends the block with one line
        train(relu)

Every helper reports a function that still raises ``NotImplementedError`` (a stub of the
starter) as one printed line, ``not implemented yet: relu.backward: ...``, and returns
``None``, so that no cell of an untouched starter raises. Anything else the student's code
raises is the student's to see and propagates (the gradient checker turns it into a finding
of its report). Figures are drawn on an Agg canvas (:func:`handgrad.plots.figure`); a notebook
shows them with ``display`` or as a cell's last value (``%matplotlib inline``).
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace, TracebackType
from typing import Any

import numpy as np

from handgrad.gradcheck.check import check_op
from handgrad.gradcheck.outputs import packed
from handgrad.gradcheck.registry import get as registry_op
from handgrad.gradcheck.report import GradCheckReport
from handgrad.plots import figure

__all__ = ["check_gradients", "dead_relu_figure", "gradient_flow_figure", "saturation_figure",
           "skip_if_stubbed", "starter_status", "student_module"]

SATURATED = 0.01      # a unit is saturated where its local gradient is below 1% of the peak


def student_module(name: str, folder: str | Path = ".") -> ModuleType:
    """The student's module ``folder/name.py``, compiled from the file as it is now.

    Every call reads and compiles the source again (never a cached ``.pyc``, which can miss
    an edit saved within the same second) and puts the new module in ``sys.modules[name]``, so
    that ``import name`` elsewhere sees the same code. Raises ``FileNotFoundError`` when the
    file is not there; a syntax error or an exception at import is the student's and
    propagates.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"student_module: name must be a module name such as 'relu', got "
                        f"{name!r}")
    stem = name[:-3] if name.endswith(".py") else name
    path = (Path(folder) / f"{stem}.py").resolve()
    if not path.is_file():
        raise FileNotFoundError(f"student_module: no {stem}.py in {path.parent}; run the "
                                f"notebook from the starter folder (or pass folder=...)")
    spec = importlib.util.spec_from_file_location(stem, path)
    assert spec is not None  # a .py path always has a spec
    module = importlib.util.module_from_spec(spec)
    code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    previous = sys.modules.get(stem)
    sys.modules[stem] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        if previous is None:
            sys.modules.pop(stem, None)
        else:
            sys.modules[stem] = previous
        raise
    return module


class skip_if_stubbed:  # noqa: N801 - used as a statement, like contextlib.suppress
    """``with skip_if_stubbed(): ...`` ends the block at the first stub it meets.

    A ``NotImplementedError`` raised inside is printed as ``not implemented yet: <its
    message>`` and swallowed; ``.skipped`` tells afterwards whether that happened. Every other
    exception propagates.
    """

    def __init__(self) -> None:
        self.skipped = False

    def __enter__(self) -> skip_if_stubbed:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if kind is not None and issubclass(kind, NotImplementedError):
            self.skipped = True
            print(f"not implemented yet: {exc}")
            return True
        return False


def starter_status(folder: str | Path = ".") -> None:
    """Print which starter ``folder`` holds and whether its files are there. Never raises: in
    a fresh Colab runtime it says what to upload."""
    from handgrad.grading.authoring import spec
    from handgrad.grading.authoring.spec import student_files

    path = Path(folder).resolve()
    if not (path / "assignment.toml").is_file():
        print(f"no assignment.toml in {path}: upload the starter's files here (assignment.toml "
              f"and the .py files), or %cd into the starter folder, then run this cell again")
        return
    try:
        assignment = spec.load(path)
        files = sorted(set(student_files(assignment).values()))
    except ValueError as exc:
        print(f"the assignment.toml in {path} cannot be read: {exc}")
        return
    missing = [f for f in files if not (path / f).is_file()]
    print(f"{assignment.title}: starter folder {path}")
    if missing:
        print(f"missing: {', '.join(missing)} (upload them or copy them from the starter)")
    else:
        print(f"your files: {', '.join(files)}")


def check_gradients(module: Any, op: str, *, seed: int = 0, mode: str = "full",
                    dims: dict[str, int] | None = None,
                    show: bool = True) -> GradCheckReport | None:
    """Run :func:`handgrad.gradcheck.check_op` on the student's ``module`` as the registry
    op ``op`` (``"relu"``, ``"rnn_step"``, ``"batchnorm_test"``, ...).

    The op's registry entry gives the functions to take from ``module`` (``step_forward`` and
    ``step_backward`` for ``"rnn_step"``), the inputs (drawn with ``seed``, at the entry's
    sizes updated by ``dims``), the options and where the kinks are. Prints the report unless
    ``show=False`` and returns it; returns ``None`` after one printed line when a function of
    the op is still a stub.
    """
    spec = registry_op(op)
    name = str(getattr(module, "__name__", "module")).rsplit(".", 1)[-1]
    functions = []
    for attr in (spec.forward, spec.backward):
        fn = getattr(module, attr, None)
        if not callable(fn):
            raise AttributeError(f"check_gradients: {name} has no function {attr!r}; op "
                                 f"{op!r} checks {spec.forward} and {spec.backward}")
        functions.append(fn)
    forward, backward = functions
    if len(spec.outputs) > 1:  # e.g. lstm_step's (next_h, next_c): checked side by side
        forward, backward = packed(forward, backward, len(spec.outputs))
    args, options = spec.inputs(seed, dims)
    try:
        _call_once(forward, backward, args, options)
    except NotImplementedError as exc:
        print(f"not implemented yet: {exc}")
        return None
    except Exception:  # noqa: BLE001 - check_op reports it, with the contract it broke
        pass
    target = SimpleNamespace(name=name, forward=forward, backward=backward)
    report = check_op(target, *args, mode=mode, seed=seed, kink_distance=spec.kink_distance,
                      **options)
    report.op = f"{name}.{spec.backward}"
    if show:
        print(report)
    return report


def _call_once(forward: Any, backward: Any, args: tuple[Any, ...],
               options: dict[str, Any]) -> None:
    """Forward and backward once on copies of the inputs, so that a stub shows as itself."""
    out, cache = forward(*copy.deepcopy(args), **copy.deepcopy(options))
    dout = 1.0 if np.ndim(out) == 0 else np.ones_like(out)
    backward(dout, cache)


def saturation_figure(module: Any, name: str | None = None, *, limit: float = 10.0,
                      points: int = 801) -> Any:
    """Forward output and local gradient of an elementwise activation (sigmoid, tanh) of the
    student's ``module``, against its input, with the saturated ranges shaded.

    The local gradient is the student's ``backward`` with ``dout = 1``; a dashed line shows
    the centred difference of the student's ``forward`` beside it, so a wrong backward shows
    as two curves. Returns the ``Figure``, or ``None`` (one printed line) while forward or
    backward is a stub.
    """
    name = name or str(getattr(module, "__name__", "activation")).rsplit(".", 1)[-1]
    x = np.linspace(-limit, limit, points)
    try:
        out, cache = module.forward(x.copy())
        local = np.asarray(module.backward(np.ones_like(out), cache), dtype=np.float64)
    except NotImplementedError as exc:
        print(f"not implemented yet: {exc}")
        return None
    h = 1e-5
    numeric = (module.forward(x + h)[0] - module.forward(x - h)[0]) / (2 * h)
    saturated = numeric < SATURATED * numeric.max()

    fig = figure(10, 3.6)
    ax_out, ax_grad = fig.subplots(1, 2)
    ax_out.plot(x, out, color="C0")
    ax_out.set_title(f"{name}(x)")
    ax_grad.plot(x, local, color="C1", linewidth=2, label="your backward (dout = 1)")
    ax_grad.plot(x, numeric, "--", color="k", linewidth=1, label="numerical derivative")
    ax_grad.set_title(f"local gradient of {name}")
    for ax in (ax_out, ax_grad):
        ax.set_xlabel("input x")
        ax.grid(alpha=0.3)
        ax.fill_between(x, 0, 1, where=saturated, transform=ax.get_xaxis_transform(),
                        color="C3", alpha=0.12, linewidth=0)
    edge = float(np.abs(x[~saturated]).max()) if (~saturated).any() else 0.0
    ax_grad.text(0.02, 0.97, f"shaded: |x| > {edge:.1f}, saturated\n(gradient below "
                 f"{SATURATED:.0%} of its peak)", transform=ax_grad.transAxes, va="top",
                 fontsize=8, color="C3")
    ax_grad.legend(fontsize=8, loc="upper right")
    off = float(np.max(np.abs(local - numeric))) if local.shape == x.shape else float("inf")
    if off > 1e-4:
        ax_grad.set_title(f"local gradient of {name}: yours is off by up to {off:.2g}",
                          color="C3")
    return fig


def dead_relu_figure(module: Any, *, units: int = 32, dead: int = 8, examples: int = 500,
                     push: float = 8.0, seed: int = 0) -> Any:
    """Which ReLU units pass gradient, computed with the student's ``module``.

    A layer of ``units`` ReLUs gets ``examples`` inputs of 64 features through He-initialized
    weights; the bias of ``dead`` units has been pushed down by ``push`` (as one too-large
    update can). Left: the pre-activations of a healthy and of a dead unit. Right: for every
    unit, the fraction of examples for which the student's ``backward`` passes a non-zero
    gradient; dead units pass none, for any input. Returns the ``Figure``, or ``None`` (one
    printed line) while forward or backward is a stub.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((examples, 64))
    w = rng.standard_normal((64, units)) * np.sqrt(2.0 / 64)
    b = np.zeros(units)
    pushed = rng.choice(units, size=dead, replace=False)
    b[pushed] -= push
    a = x @ w + b
    try:
        out, cache = module.forward(a.copy())
        dx = np.asarray(module.backward(np.ones_like(out), cache))
    except NotImplementedError as exc:
        print(f"not implemented yet: {exc}")
        return None
    passing = (dx != 0).mean(axis=0) if dx.shape == a.shape else np.zeros(units)
    is_dead = passing == 0

    fig = figure(10, 3.6)
    ax_hist, ax_units = fig.subplots(1, 2)
    healthy = int(np.flatnonzero(~is_dead)[0]) if (~is_dead).any() else 0
    gone = int(pushed[0])
    bins = np.linspace(a.min(), a.max(), 40)
    ax_hist.hist(a[:, healthy], bins=bins, color="C0", alpha=0.7, label=f"unit {healthy}")
    ax_hist.hist(a[:, gone], bins=bins, color="C3", alpha=0.7, label=f"unit {gone} (pushed)")
    ax_hist.axvline(0.0, color="k", linewidth=1)
    ax_hist.set_xlabel("pre-activation (input of the ReLU)")
    ax_hist.set_ylabel("examples")
    ax_hist.set_title("left of 0 the ReLU outputs 0 and passes no gradient")
    ax_hist.legend(fontsize=8)
    colors = np.where(is_dead, "C3", "C0")
    ax_units.bar(np.arange(units), passing, color=colors)
    ax_units.plot(np.flatnonzero(is_dead), np.zeros(int(is_dead.sum())), "x", color="C3",
                  markersize=8, clip_on=False, label="dead: passes nothing")
    ax_units.legend(fontsize=8, loc="upper right")
    ax_units.set_xlabel("unit")
    ax_units.set_ylabel("fraction of examples")
    ax_units.set_ylim(0, 1)
    ax_units.set_title(f"gradient passed by your backward: {int(is_dead.sum())} of {units} "
                       f"units dead")
    expected = (a > 0).mean(axis=0)
    if not np.allclose(passing, expected):
        ax_units.set_title("your backward passes gradient where the output is 0, or "
                           "blocks it where it is not", color="C3", fontsize=9)
    for ax in (ax_hist, ax_units):
        ax.grid(alpha=0.3)
    return fig


def gradient_flow_figure(module: Any, *, steps: int = 51, hidden: int = 32,
                         radii: tuple[float, ...] = (1.5, 1.0, 0.5), seed: int = 0) -> Any:
    """How much gradient reaches each hidden state of a vanilla RNN, computed with the
    student's ``module`` (its ``forward`` and ``backward(..., return_hidden_grads=True)``).

    For ReLU and tanh recurrences whose ``Wh`` has each spectral radius of ``radii``, a
    gradient is put on the last of ``steps`` hidden states only, and ``||dL/dh_t||`` is drawn
    against t on a log scale: above radius 1 it explodes going back in time, below it
    vanishes. Returns the ``Figure``, or ``None`` (one printed line) while the module's
    forward or backward is a stub or its backward returns no hidden gradients.
    """
    from handgrad.diagnostics.recurrent import hidden_grad_norms
    from handgrad.diagnostics.toy_models import recurrent_matrix

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, steps, 4))
    h0 = np.zeros((16, hidden))
    wx = rng.standard_normal((4, hidden)) / 2.0
    b = np.zeros(hidden)
    curves: dict[str, np.ndarray] = {}
    for activation in ("relu", "tanh"):
        for radius in radii:
            wh = recurrent_matrix(hidden, radius, np.random.default_rng([seed, int(radius * 8)]))
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    h, cache = module.forward(x, h0, wx, wh, b, activation=activation)
                    dh = np.zeros_like(h)
                    dh[:, -1] = rng.standard_normal((16, hidden))
                    grads = module.backward(dh, cache, return_hidden_grads=True)
            except NotImplementedError as exc:
                print(f"not implemented yet: {exc}")
                return None
            hidden_grads = grads[5] if isinstance(grads, tuple) and len(grads) == 6 else None
            if hidden_grads is None:
                print("your rnn.backward returns no hidden gradients with "
                      "return_hidden_grads=True; store each dL/dh_t in hidden_grads[:, t]")
                return None
            norms = hidden_grad_norms(hidden_grads)
            curves[f"{activation}, radius {radius:g}"] = np.where(norms > 0, norms, np.nan)

    fig = figure(8, 4.2)
    ax = fig.subplots()
    for i, (label, norms) in enumerate(curves.items()):
        style = "-" if label.startswith("relu") else "--"
        ax.plot(np.arange(norms.size), norms, style, color=f"C{i % len(radii)}", label=label)
    ax.set(yscale="log", xlabel=f"time step t (the gradient enters at t = {steps - 1})",
           ylabel="|dL/dh_t|", title="gradient your backward sends to each hidden state")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig
