"""The registry: complete (an entry for every layer, loss and tuned twin module), loadable,
and drawing generic inputs (no zeros, no ones, distinct values, batch >= 3, non-square, right
dtype, away from kinks)."""

from __future__ import annotations

import importlib
import itertools
import pkgutil

import numpy as np
import pytest

import handgrad.fast
import handgrad.layers
import handgrad.losses
from handgrad.gradcheck import KINK_MARGIN, REGISTRY, rnn_kinks
from handgrad.gradcheck import registry as reg

OPS = sorted(REGISTRY)

# Inputs square by the op's nature (a transposed gradient is then caught by the values): the
# RNN's recurrent weights and attention's (D, D) projections.
SQUARE_BY_NATURE = {"Wh", "Wq", "Wk", "Wv", "Wo"}


def _op_modules() -> list[str]:
    found = []
    for package in (handgrad.layers, handgrad.losses, handgrad.fast):
        for info in pkgutil.iter_modules(package.__path__):
            name = f"{package.__name__}.{info.name}"
            if not info.name.startswith("_") and name != "handgrad.fast.twins":
                found.append(name)
    return sorted(found)


def test_the_fast_folder_holds_the_twins_and_their_map_only():
    from handgrad.fast.twins import TWINS

    public = {f"handgrad.fast.{i.name}" for i in pkgutil.iter_modules(handgrad.fast.__path__)
              if not i.name.startswith("_")}
    assert public == set(TWINS.values()) | {"handgrad.fast.twins"}


def _float_arrays(args):
    """(path, array) for every float array among the arguments, also inside dicts."""
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            yield str(i), a
        elif isinstance(a, dict):
            for k, v in a.items():
                if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                    yield f"{i}[{k!r}]", v


@pytest.mark.parametrize("module", _op_modules())
def test_every_op_module_has_a_registry_entry(module):
    assert any(spec.module == module for spec in REGISTRY.values()), (
        f"{module} has no entry in handgrad/gradcheck/registry.py")


@pytest.mark.parametrize("name", OPS)
def test_entry_module_exists_with_its_functions(name):
    spec = REGISTRY[name]
    module = importlib.import_module(spec.module)
    assert callable(getattr(module, spec.forward, None)), f"{spec.module}.{spec.forward}"
    assert callable(getattr(module, spec.backward, None)), f"{spec.module}.{spec.backward}"
    forward, backward = spec.functions()
    if len(spec.outputs) > 1:  # wrapped to the one-output contract (gradcheck.outputs)
        forward, backward = forward.__wrapped__, backward.__wrapped__
    assert forward is getattr(module, spec.forward) and backward is getattr(module, spec.backward)


def test_registry_api():
    assert reg.get("affine") is REGISTRY["affine"]
    with pytest.raises(KeyError, match="known ops: .*affine"):
        reg.get("no_such_op")
    with pytest.raises(ValueError, match="twice"):
        reg.register(REGISTRY["affine"])


@pytest.mark.parametrize("name", OPS)
def test_entry_draws_generic_inputs(name):
    spec = REGISTRY[name]
    args, kwargs = spec.inputs(seed=0)
    assert len(args) == len(spec.arg_names)
    assert isinstance(kwargs, dict)
    floats = list(_float_arrays(args))
    assert floats, "an op needs at least one float input"
    positional = [a for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    assert positional[0].shape[0] >= 3, "batch of at least 3"
    for path, a in floats:
        assert a.dtype == np.float64, path
        assert np.all(np.isfinite(a)), path
        assert not np.any(a == 0), f"{name} arg {path} has zeros"
        assert not np.any(np.abs(a) == 1), f"{name} arg {path} has ones"
        if a.size > 1:
            assert np.unique(a).size == a.size, f"{name} arg {path} repeats values"
    sizes = list(spec.dims.values())
    assert len(set(sizes)) == len(sizes), f"{name}: default sizes must all differ, {spec.dims}"
    for path, a in floats:
        if a.ndim == 2 and a.shape[0] == a.shape[1]:
            assert spec.arg_names[int(path.split("[")[0])] in SQUARE_BY_NATURE, \
                f"{name} arg {path} is square"


@pytest.mark.parametrize("name", OPS)
def test_entry_is_seeded_honours_dims_and_dtype(name):
    spec = REGISTRY[name]
    a1, _ = spec.inputs(seed=5)
    a2, _ = spec.inputs(seed=5)
    a3, _ = spec.inputs(seed=6)
    f1, f2, f3 = (list(_float_arrays(a)) for a in (a1, a2, a3))
    assert all(x.tobytes() == y.tobytes() for (_, x), (_, y) in zip(f1, f2, strict=True))
    assert any(x.tobytes() != y.tobytes() for (_, x), (_, y) in zip(f1, f3, strict=True))

    bigger = {k: v + 1 for k, v in spec.dims.items()}
    b_args, _ = spec.inputs(seed=0, dims=bigger)
    shapes0 = [a.shape for _, a in f1]
    shapes1 = [a.shape for _, a in _float_arrays(b_args)]
    assert all(len(s0) == len(s1) for s0, s1 in zip(shapes0, shapes1, strict=True))
    assert shapes0 != shapes1 and sum(map(np.prod, shapes1)) > sum(map(np.prod, shapes0))

    for path, a in _float_arrays(spec.inputs(seed=0, dtype=np.float32)[0]):
        assert a.dtype == np.float32, f"{name} arg {path} ignores dtype=float32"


KINKED = [n for n in OPS if REGISTRY[n].kink_distance is not None]


@pytest.mark.parametrize("name", KINKED)
def test_inputs_keep_away_from_kinks(name):
    spec = REGISTRY[name]
    bigger = {k: v + 1 for k, v in spec.dims.items()}
    for seed, dims in itertools.product(range(4), (None, bigger)):
        args, kwargs = spec.inputs(seed=seed, dims=dims)
        for i, d in spec.kink_distance(args, kwargs).items():
            assert d.shape == args[i].shape
            assert d.min() >= KINK_MARGIN, f"{name} seed {seed}: {spec.arg_names[i]} at {d.min()}"


def test_relu_kink_distance_is_the_distance_to_zero():
    x = np.array([[-0.5, 0.0, 2.0]])
    np.testing.assert_array_equal(reg.get("relu").kink_distance((x,), {})[0], [[0.5, 0, 2]])


def _relu_rnn_preactivations(x, h0, wx, wh, b):
    """The textbook recurrence, written out here: a_t = x_t Wx + h_{t-1} Wh + b, h_t = relu."""
    h, pre = h0, []
    for t in range(x.shape[1]):
        a = x[:, t] @ wx + h @ wh + b
        pre.append(a)
        h = np.maximum(a, 0)
    return np.stack(pre)


@pytest.mark.parametrize("seed", [0, 1])
def test_relu_rnn_kink_distances_match_finite_differences(seed):
    """Distance along each coordinate = min |a| / |da/dtheta|, with the rate measured here by a
    forward difference of the pre-activations; the cheap bound must never exceed it."""
    args, kwargs = reg.get("rnn_relu").inputs(seed=seed)
    args = tuple(np.asarray(a, dtype=np.float64) for a in args)
    exact = reg.get("rnn_relu").kink_distance(args, kwargs)
    bound = rnn_kinks.bound_kinks(*args)
    pre = _relu_rnn_preactivations(*args)
    eps = 1e-7
    for k, arr in enumerate(args):
        for idx in np.ndindex(arr.shape):
            moved = [a.copy() for a in args]
            moved[k][idx] += eps
            rate = np.abs(_relu_rnn_preactivations(*moved) - pre) / eps
            with np.errstate(divide="ignore"):
                expected = np.where(rate > 0, np.abs(pre) / rate, np.inf).min()
            assert exact[k][idx] == pytest.approx(expected, rel=1e-5)
            assert bound[k][idx] <= exact[k][idx] * (1 + 1e-9)


def test_relu_rnn_step_kinks_are_exact_for_one_step():
    args, kwargs = reg.get("rnn_step_relu").inputs(seed=0)
    x, prev_h, wx, wh, b = args
    a = x @ wx + prev_h @ wh + b
    found = reg.get("rnn_step_relu").kink_distance(args, kwargs)
    # moving x[n, d] by s moves a[n, k] by s * wx[d, k]
    expected_x = np.min(np.abs(a)[:, None, :] / np.abs(wx)[None, :, :], axis=2)
    np.testing.assert_allclose(found[0], expected_x, rtol=1e-12)
    np.testing.assert_allclose(found[4], np.abs(a).min(axis=0), rtol=1e-12)
    assert reg.get("rnn_step").kink_distance(args, {}) == {}  # tanh: smooth
