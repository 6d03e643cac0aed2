"""The draws of a check and their expected values, computed in the grader from the reference.

A *draw* is one set of inputs for one check: a seed and a size (``dims``). Public draws are the
spec's ``public_seeds`` x ``public_dims``; hidden draws (only when grading with
``which="all"``) take ``hidden_seeds`` seeds derived from the run's secret seed and the check
id, cycling through ``hidden_dims``. For each draw the grader, never a worker, computes:

- ``kind = "backward"``: the registry op's inputs at that seed and size, a random upstream
  gradient ``dout`` of the output's shape and dtype (a random value, not 1, for a scalar
  loss), the reference gradients from the installed reference module, and the numerical
  gradients of the reference forward (:mod:`handgrad.gradcheck`). An op with several outputs
  (``lstm.step_forward`` returns ``(next_h, next_c, cache)``) gets one upstream gradient per
  output: ``dout`` is then a tuple, and the backward is called as ``backward(*dout, cache)``;
  the numerical gradients see the outputs side by side
  (:func:`handgrad.gradcheck.outputs.packed`). The reference is checked against the numerical
  gradient (away from declared kinks) before it is trusted: a reference
  that disagrees is a *grader error* for that draw, never a silent pass or fail.
- ``kind = "function"``: the inputs from the spec's maker, the reference's return value, and
  the reference's arguments after the call (so in-place contracts such as
  ``clip_grad_norm`` rescaling ``grads`` are compared too).

Property draws (backward checks, :func:`add_properties`): beside its value draws, each group
(public, and hidden when grading with ``which="all"``) gets the draws that make the grader check
everything :func:`handgrad.gradcheck.check_op` checks, at the group's first seed and size:

- ``float32``: float32 inputs and ``dout``; the gradients must come back float32 (the dtype is
  part of correctness) and match the float64 reference to float32 accuracy, which is
  measured: the reference's own float32 gradients are kept beside it (a gradient that sums
  terms which cancel, such as an attention bias's, loses more digits than ``FLOAT32_TOL``);
- ``size 1: K``: the size ``K`` set to 1, for every size of the op, one draw each (a bug such as
  ``np.squeeze(dout).sum(axis=0)`` is wrong only there); a size the reference itself rejects
  with ``ValueError`` (batchnorm in train mode needs N >= 2) is left out;
- ``zero dout``: ``dout = 0``, so every gradient must be exactly zero;
- ``repeat``: the group's first draw again, last in the same worker process, so a backward
  that keeps state between calls (a module-level buffer) gives a different answer.

Every draw also checks that nothing was modified in place (inputs, ``dout``, the cache; see
:mod:`handgrad.grading.judging.verdict`).
"""

from __future__ import annotations

import copy
import importlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handgrad.gradcheck.numerical import numerical_gradient_array
from handgrad.gradcheck.outputs import packed
from handgrad.gradcheck.registry import REGISTRY
from handgrad.grading.authoring.spec import Check

SANITY_REL = 1e-4        # reference vs numerical gradient: relative error ...
SANITY_ABS = 1e-6        # ... and absolute error (times max(1, max |g|)) both above -> broken
KINK_MARGIN = 1e-4       # entries this close to a kink are left out of that comparison

VALUES = "values"
FLOAT32 = "float32"
ZERO_DOUT = "zero dout"
REPEAT = "repeat"
SIZE1 = "size 1: "        # + the size's name
UNSUPPORTED = "the reference rejects this size"   # such size-1 draws are dropped


class GraderError(RuntimeError):
    """Something on the grader's side is wrong (spec, registry, reference); not the student."""


@dataclass
class Draw:
    check_id: str
    hidden: bool
    number: int                      # 1-based within the public or the hidden draws
    count: int                       # how many public (or hidden) draws the check has
    seed: int
    dims: dict[str, int]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    dout: Any = None                 # one upstream gradient, or a tuple of one per output
    out: Any = None                  # reference forward output (backward checks)
    grads: tuple = ()                # reference gradients, one per differentiable input
    numeric: tuple = ()              # numerical gradients of the reference forward
    reference_float32: tuple = ()    # float32 draws: the reference's own float32 gradients
    grad_names: tuple[str, ...] = ()
    diff_index: tuple[int, ...] = ()
    result: Any = None               # reference return value (function checks)
    args_after: Any = None           # reference positional arguments after the call
    kwargs_after: Any = None
    grader_error: str | None = None
    op: str | None = None            # the registry op (backward checks)
    prop: str = VALUES               # VALUES, FLOAT32, ZERO_DOUT, REPEAT or "size 1: K"

    @property
    def label(self) -> str:
        which = "hidden" if self.hidden else "public"
        size = ", ".join(f"{k}={v}" for k, v in self.dims.items())
        seed = "" if self.hidden else f"seed {self.seed}"
        prop = "" if self.prop == VALUES else self.prop
        bits = "; ".join(b for b in (prop, seed, size) if b)
        return f"{which} draw {self.number} of {self.count}" + (f" ({bits})" if bits else "")

    def describe(self) -> dict[str, Any]:
        """What a draw is, without its seed (see :meth:`secret`)."""
        return {"hidden": self.hidden, "number": self.number, "property": self.prop,
                "dims": dict(self.dims)}

    def secret(self) -> dict[str, Any]:
        """For the instructor's record: enough to reproduce the draw, seed included."""
        return {**self.describe(), "seed": int(self.seed)}


def copy_tree(value: Any) -> Any:
    """Deep copy of inputs (arrays, dicts of arrays, scalars)."""
    return copy.deepcopy(value)


def resolve(path: str) -> Callable[..., Any]:
    """Import ``"package.module:name"``."""
    module_name, _, name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GraderError(f"cannot import {module_name}: {exc}") from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise GraderError(f"{module_name} has no attribute {name}") from None


def hidden_seeds(secret_seed: int, check: Check) -> list[int]:
    """The hidden seeds of ``check`` for a run with ``secret_seed`` (never a public seed)."""
    if check.hidden_seeds <= 0:
        return []
    seq = np.random.SeedSequence([int(secret_seed) % (2 ** 64), zlib.crc32(check.id.encode())])
    seeds = []
    for s in seq.generate_state(check.hidden_seeds, dtype=np.uint64):
        s = int(s) >> 1
        while s in check.public_seeds or s in seeds:
            s += 1
        seeds.append(s)
    return seeds


def plan(check: Check, *, which: str, secret_seed: int | None) -> list[Draw]:
    """The draws of ``check`` (without expected values)."""
    public_dims = list(check.public_dims) or [{}]
    public = [(seed, dict(d)) for seed in check.public_seeds for d in public_dims]
    draws = [Draw(check.id, False, i + 1, len(public), int(seed), dims)
             for i, (seed, dims) in enumerate(public)]
    if which == "all":
        if secret_seed is None:
            raise GraderError("hidden draws need a secret seed")
        seeds = hidden_seeds(secret_seed, check)
        hidden_dims = list(check.hidden_dims) or [{}]
        draws += [Draw(check.id, True, i + 1, len(seeds), seed,
                       dict(hidden_dims[i % len(hidden_dims)]))
                  for i, seed in enumerate(seeds)]
    return draws


def add_properties(draws: list[Draw], check: Check, *,
                   registry: Mapping[str, Any] | None = None) -> list[Draw]:
    """``draws`` with the property draws of each group appended (backward checks only; see
    the module docstring), numbered within their group."""
    if check.kind != "backward":
        return draws
    try:
        op_dims = dict(registry_op(check, registry).dims)
    except GraderError:
        return draws
    out: list[Draw] = []
    for hidden in (False, True):
        group = [d for d in draws if d.hidden == hidden]
        if not group:
            continue
        first = group[0]
        dims = {**op_dims, **first.dims}
        extra = [(FLOAT32, dict(first.dims)),
                 *((SIZE1 + k, {**dims, k: 1}) for k in dims if dims[k] != 1),
                 (ZERO_DOUT, dict(first.dims)), (REPEAT, dict(first.dims))]
        group = group + [Draw(check.id, hidden, 0, 0, first.seed, d, prop=p) for p, d in extra]
        for i, d in enumerate(group):
            d.number, d.count = i + 1, len(group)
        out += group
    return out


def _float_copy(value: Any, dtype: Any) -> Any:
    """``value`` with every float array cast to ``dtype`` (a copy)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    if isinstance(value, np.floating):
        return np.dtype(dtype).type(value)
    if isinstance(value, dict):
        return {k: _float_copy(v, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_float_copy(v, dtype) for v in value)
    return copy.deepcopy(value)


def _dout_like(out: Any, rng: np.random.Generator) -> Any:
    if type(out) is np.ndarray and out.dtype.kind == "f":
        if out.shape == ():
            return np.asarray(rng.uniform(0.5, 1.5), dtype=out.dtype)
        shape: tuple[int, ...] = out.shape
        return rng.standard_normal(shape).astype(out.dtype)
    if isinstance(out, np.floating):
        return type(out)(rng.uniform(0.5, 1.5))
    if type(out) is float:
        return float(rng.uniform(0.5, 1.5))
    raise GraderError(f"the reference forward returned {type(out).__name__}, not a float "
                      f"array or scalar")


def _as_tuple(grads: Any) -> tuple:
    return grads if isinstance(grads, tuple) else (grads,)


def fill_backward(draw: Draw, check: Check, op: Any) -> None:
    """Compute the inputs and expected values of a backward draw (in place)."""
    module = importlib.import_module(op.module)
    forward = getattr(module, op.forward)
    backward = getattr(module, check.function)
    count = len(op.outputs)
    if count > 1:  # several outputs, seen side by side as one
        forward, backward = packed(forward, backward, count)
    single = draw.prop == FLOAT32
    draw.op = check.op
    args, kwargs = op.inputs(draw.seed, draw.dims, np.float32 if single else np.float64)
    draw.dims = {**dict(op.dims), **draw.dims}
    draw.args, draw.kwargs = tuple(args), dict(kwargs)
    cache32 = None
    if single:
        out32, cache32 = forward(*copy_tree(draw.args), **copy_tree(draw.kwargs))
        if np.asarray(out32).dtype != np.float32:
            raise GraderError(f"the reference forward of {check.op!r} returned "
                              f"{np.asarray(out32).dtype} for float32 inputs")
        args64 = _float_copy(draw.args, np.float64)
        kwargs64 = _float_copy(draw.kwargs, np.float64)
    else:
        out32, args64, kwargs64 = None, draw.args, draw.kwargs
    out, cache = forward(*copy_tree(args64), **copy_tree(kwargs64))
    rng = np.random.default_rng(np.random.SeedSequence([draw.seed, 0x644F5554]))
    draw.out = out
    dout = _dout_like(out32 if single else out, rng)
    if draw.prop == ZERO_DOUT:
        dout = np.zeros_like(dout) if isinstance(dout, np.ndarray) else type(dout)(0.0)
    draw.dout = dout
    grads = _as_tuple(backward(_float_copy(dout, np.float64), cache))
    if count > 1:  # what the student's backward receives: one gradient per output
        draw.dout = tuple(np.split(dout, np.cumsum(cache.widths)[:-1], axis=-1))
        draw.out = tuple(np.split(out, np.cumsum(cache.widths)[:-1], axis=-1))
    diff = tuple(i for i, a in enumerate(draw.args)
                 if isinstance(a, np.ndarray) and a.dtype.kind == "f")
    if len(grads) != len(diff):
        raise GraderError(f"the reference {check.target} returned {len(grads)} gradients for "
                          f"{len(diff)} float array inputs")
    names = tuple("d" + (op.arg_names[i] if i < len(op.arg_names) else f"arg{i}")
                  for i in diff)
    kinks = op.kink_distance(draw.args, draw.kwargs) if op.kink_distance else {}
    numeric = []
    for gi, i in enumerate(diff):
        x = np.array(draw.args[i], dtype=np.float64, copy=True)

        def f(xi: np.ndarray, i: int = i) -> Any:
            a = list(copy_tree(args64))
            a[i] = xi
            return forward(*a, **copy_tree(kwargs64))[0]

        num = numerical_gradient_array(f, x, _float_copy(dout, np.float64))
        numeric.append(num)
        ref = np.asarray(grads[gi], dtype=np.float64)
        if ref.shape != num.shape:
            raise GraderError(f"the reference gradient {names[gi]} has shape {ref.shape}, "
                              f"its input {draw.args[i].shape}")
        abs_err = np.abs(ref - num)
        scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = abs_err / np.maximum(np.abs(ref) + np.abs(num), 1e-8)
        bad = (rel > SANITY_REL) & (abs_err > SANITY_ABS * scale)
        bad |= ~np.isfinite(ref) | ~np.isfinite(num)
        if i in kinks:
            bad &= np.asarray(kinks[i]) >= KINK_MARGIN
        if bad.any():
            raise GraderError(f"the reference {check.target} disagrees with the numerical "
                              f"gradient for {names[gi]} (max relative error "
                              f"{float(np.max(rel)):.2e}); fix the reference or the op's "
                              f"registry entry")
    draw.grads = tuple(np.asarray(g, dtype=np.float32) if single else np.asarray(g)
                       for g in grads)
    if single:  # how close float32 arithmetic itself gets, for the verdict's tolerance
        own = _as_tuple(backward(copy_tree(dout), cache32))
        draw.reference_float32 = tuple(np.asarray(g, dtype=np.float32) for g in own)
    draw.numeric = tuple(numeric)
    draw.grad_names = names
    draw.diff_index = diff


def fill_function(draw: Draw, check: Check) -> None:
    """Compute the inputs and expected values of a function draw (in place)."""
    if check.inputs is None:
        raise GraderError(f"check {check.id!r}: a function check needs inputs")
    maker = resolve(check.inputs)
    reference = resolve(check.target)
    rng = np.random.default_rng(draw.seed)
    made = maker(rng, dict(draw.dims))
    if not (isinstance(made, tuple) and len(made) == 2):
        raise GraderError(f"the input maker {check.inputs} must return (args, kwargs)")
    args, kwargs = made
    draw.args, draw.kwargs = tuple(args), dict(kwargs)
    ref_args, ref_kwargs = copy_tree(draw.args), copy_tree(draw.kwargs)
    draw.result = reference(*ref_args, **ref_kwargs)
    draw.args_after = list(ref_args)
    draw.kwargs_after = ref_kwargs


def fill(draws: list[Draw], check: Check, *,
         registry: Mapping[str, Any] | None = None) -> None:
    """Fill expected values; a failure becomes ``grader_error`` on the draws, never raises."""
    for draw in draws:
        try:
            if check.kind == "backward":
                op = registry_op(check, registry)
                fill_backward(draw, check, op)
            else:
                fill_function(draw, check)
        except GraderError as exc:
            draw.grader_error = str(exc)
        except ValueError as exc:
            if draw.prop.startswith(SIZE1):   # a size the op rejects (batchnorm train, N=1)
                draw.grader_error = UNSUPPORTED
            else:
                draw.grader_error = (f"computing the expected values failed: "
                                     f"ValueError: {exc}")
        except Exception as exc:  # a reference or maker that raises is the grader's problem
            draw.grader_error = (f"computing the expected values failed: "
                                 f"{type(exc).__name__}: {exc}")
    kept = [d for d in draws if d.grader_error != UNSUPPORTED]
    if len(kept) != len(draws):
        for hidden in (False, True):
            group = [d for d in kept if d.hidden == hidden]
            for i, d in enumerate(group):
                d.number, d.count = i + 1, len(group)
        draws[:] = kept


def registry_op(check: Check, registry: Mapping[str, Any] | None = None) -> Any:
    if registry is None:
        registry = REGISTRY
    op = registry.get(check.op) if check.op is not None else None
    if op is None:
        raise GraderError(f"check {check.id!r}: no registry op named {check.op!r}")
    if op.module != check.module:
        raise GraderError(f"check {check.id!r} targets {check.target} but registry op "
                          f"{check.op!r} lives in {op.module}")
    if op.backward != check.function:
        raise GraderError(f"check {check.id!r} targets {check.function} but the backward of "
                          f"registry op {check.op!r} is {op.backward}")
    return op
