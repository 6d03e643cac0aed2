"""The tuned twins of the elementwise layers, the RNN, batchnorm, the embedding and the
regression losses (handgrad.fast) against their readable versions: the same outputs, every
gradient, running statistics, dtypes and error messages, at small and at odd sizes that cross
the twins' block boundaries, for non-contiguous inputs and at the stability extremes; and the
one map of twins (handgrad.fast.TWINS, fastest) that the models use."""

from __future__ import annotations

import copy
import importlib
import pkgutil
import warnings

import numpy as np
import pytest

import handgrad.fast
from handgrad.fast import TWINS, fastest
from handgrad.gradcheck import REGISTRY
from handgrad.layers import relu

# registry entry -> larger, odd sizes: several blocks of handgrad.fast._blocks (256 KB) and
# enough work for its threads; not multiples of anything
BIG = {
    "relu": {"N": 301, "D": 433}, "sigmoid": {"N": 301, "D": 433},
    "tanh": {"N": 301, "D": 433},
    "rnn": {"N": 37, "T": 9, "D": 13, "H": 29}, "rnn_relu": {"N": 37, "T": 9, "D": 13, "H": 29},
    "rnn_step": {"N": 37, "D": 13, "H": 29}, "rnn_step_relu": {"N": 37, "D": 13, "H": 29},
    "batchnorm": {"N": 301, "D": 433}, "batchnorm_test": {"N": 301, "D": 433},
    "embedding": {"N": 31, "T": 17, "V": 53, "D": 29},
    "clipped_error_mse": {"N": 301, "D": 433}, "huber": {"N": 301, "D": 433},
    "mse": {"N": 301, "D": 433},
}
NEW_TWINS = sorted(BIG)
# float32: sums over 10^5 elements in another order (blocks, BLAS) differ by a few 1e-5
TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 5e-5}


def strided(a):
    """A non-contiguous view holding the same values as ``a`` (every other element of a
    buffer twice as large)."""
    buffer = np.empty(a.shape + (2,), a.dtype)
    buffer[..., 0] = a
    return buffer[..., 0]


def as_views(args):
    """``args`` with every float array replaced by a non-contiguous view of the same values."""
    return tuple(strided(a) if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.ndim
                 else a for a in args)


def run(module, spec, args, kwargs, douts, backward_kwargs=None):
    """Forward and backward of ``module`` (with ``spec``'s function names) on deep copies of
    the arguments: (outputs, gradients, the arguments after the calls)."""
    args = copy.deepcopy(args)
    forward = getattr(module, spec.forward)
    backward = getattr(module, spec.backward)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no RuntimeWarning anywhere
        result = forward(*args, **kwargs)
        outs, cache = result[:-1], result[-1]
        grads = backward(*douts, cache, **(backward_kwargs or {}))
    grads = grads if isinstance(grads, tuple) else (grads,)
    return outs, grads, args


def upstream(spec, outs, rng, dtype):
    if "loss" in spec.tags:
        return (0.7,)
    return tuple(rng.standard_normal(np.shape(o)).astype(dtype) for o in outs)


def assert_close(got, ref, dtype, label):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.dtype == ref.dtype == dtype, f"{label}: dtype {got.dtype}, readable {ref.dtype}"
    assert got.shape == ref.shape, f"{label}: shape {got.shape}, readable {ref.shape}"
    assert np.array_equal(np.isnan(got), np.isnan(ref)), f"{label}: NaN in other places"
    finite = ~np.isnan(ref)
    scale = float(np.max(np.abs(ref[finite]), initial=0.0)) or 1.0
    err = float(np.max(np.abs(got[finite] - ref[finite]), initial=0.0))
    assert err <= TOL[dtype] * scale, f"{label}: twin differs by {err:.2e} (scale {scale:.2e})"


def compare(name, args, kwargs, dtype, rng, backward_kwargs=None):
    spec = REGISTRY[name]
    readable = importlib.import_module(spec.module)
    twin = fastest(readable)
    assert twin is not readable
    result = getattr(readable, spec.forward)(*copy.deepcopy(args), **kwargs)
    douts = upstream(spec, result[:-1], rng, dtype)
    outs_r, grads_r, args_r = run(readable, spec, args, kwargs, douts, backward_kwargs)
    outs_t, grads_t, args_t = run(twin, spec, args, kwargs, douts, backward_kwargs)
    assert len(grads_t) == len(grads_r)
    for i, (o_t, o_r) in enumerate(zip(outs_t, outs_r, strict=True)):
        assert_close(o_t, o_r, dtype, f"{name} output {i}")
    for i, (g_t, g_r) in enumerate(zip(grads_t, grads_r, strict=True)):
        assert_close(g_t, g_r, dtype, f"{name} gradient {i}")
    for a_t, a_r in zip(args_t, args_r, strict=True):   # batchnorm's running statistics
        if isinstance(a_r, dict):
            for key, value in a_r.items():
                if isinstance(value, np.ndarray):
                    assert_close(a_t[key], value, dtype, f"{name} bn_param[{key!r}]")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", ["small", "big"])
@pytest.mark.parametrize("name", NEW_TWINS)
def test_twin_matches_readable(name, size, dtype):
    spec = REGISTRY[name]
    args, kwargs = spec.inputs(seed=3, dims=None if size == "small" else BIG[name], dtype=dtype)
    compare(name, args, kwargs, np.dtype(dtype), np.random.default_rng(4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NEW_TWINS)
def test_twin_matches_readable_on_non_contiguous_inputs(name, dtype):
    spec = REGISTRY[name]
    args, kwargs = spec.inputs(seed=5, dims=BIG[name], dtype=dtype)
    views = as_views(args)
    assert any(isinstance(a, np.ndarray) and a.ndim and not a.flags.c_contiguous for a in views)
    compare(name, views, kwargs, np.dtype(dtype), np.random.default_rng(6))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_rnn_twin_returns_the_same_hidden_gradients(activation, dtype):
    name = "rnn" if activation == "tanh" else "rnn_relu"
    args, kwargs = REGISTRY[name].inputs(seed=7, dims=BIG[name], dtype=dtype)
    compare(name, args, kwargs, np.dtype(dtype), np.random.default_rng(8),
            backward_kwargs={"return_hidden_grads": True})


def extremes(dtype):
    """Inputs of +-1e3 and beyond, to +-max of the dtype, and values near 0 and tiny."""
    big = np.finfo(dtype).max
    return np.array([[-big, -1e30, -1e3, -400.0, -37.0, -1e-3, -1e-30, -0.0],
                     [0.0, 1e-30, 1e-3, 0.01, 37.0, 400.0, 1e3, big]], dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activation_twins_at_the_extremes(name, dtype):
    x = extremes(dtype)
    compare(name, (x,), {}, np.dtype(dtype), np.random.default_rng(9))
    out, _ = fastest(f"handgrad.layers.{name}").forward(x)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_twins_propagate_nan(dtype):
    x = np.array([np.nan, 1.0, -1.0], dtype=dtype)
    for name in ("relu", "sigmoid", "tanh"):
        compare(name, (x,), {}, np.dtype(dtype), np.random.default_rng(10))
        out, _ = fastest(f"handgrad.layers.{name}").forward(x)
        assert np.isnan(out[0]) and not np.isnan(out[1:]).any(), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rnn_twin_saturated(dtype):
    """Pre-activations of +-1e3: tanh is +-1, every gradient through it is 0, nothing warns."""
    args, kwargs = REGISTRY["rnn"].inputs(seed=11, dims=BIG["rnn"], dtype=dtype)
    x, h0, wx, wh, b = args
    compare("rnn", (x, h0, wx * 1e3, wh * 1e3, b), kwargs, np.dtype(dtype),
            np.random.default_rng(12))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["clipped_error_mse", "huber", "mse"])
def test_loss_twins_at_the_extremes(name, dtype):
    rng = np.random.default_rng(13)
    pred = rng.standard_normal((5, 7)).astype(dtype)
    target = rng.standard_normal((5, 7)).astype(dtype)
    if name != "mse":                        # huge errors: clipped, no overflow
        pred[0, :3] = [1e15, -1e15, np.finfo(dtype).max / 4]
    kwargs = {"clip": 1.3} if name == "clipped_error_mse" else {"delta": 1.3} \
        if name == "huber" else {}
    compare(name, (pred, target), kwargs, np.dtype(dtype), rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_twin_large_mean_small_spread(dtype):
    """A mean 1e4 times the spread: both versions stay as close to the exact (float64) result
    as the dtype allows; a sum of squares that is not centred would lose the spread."""
    rng = np.random.default_rng(14)
    x = (1e3 + 0.1 * rng.standard_normal((33, 17))).astype(dtype)
    gamma, beta = rng.uniform(0.5, 2, 17).astype(dtype), rng.standard_normal(17).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    readable = importlib.import_module("handgrad.layers.batchnorm")
    exact64 = [a.astype(np.float64) for a in (x, gamma, beta)]
    out, cache = readable.forward(*exact64, {"mode": "train"})
    exact = (out, *readable.backward(dout.astype(np.float64), cache))
    tol = 5e-3 if dtype == np.float32 else 1e-10
    for module in (readable, fastest(readable)):
        out, cache = module.forward(x, gamma, beta, {"mode": "train"})
        for got, ref in zip((out, *module.backward(dout, cache)), exact, strict=True):
            assert got.dtype == dtype
            assert np.max(np.abs(got - ref)) <= tol * np.max(np.abs(ref)), module.__name__


# --- the same errors ------------------------------------------------------------------------

F32, F64 = np.ones((3, 4), np.float32), np.ones((3, 4))


def _bad_rnn(m):
    return m.forward(np.ones((2, 3, 4)), np.ones((2, 5)), np.ones((4, 6)), np.ones((5, 5)),
                     np.ones(5))


BAD_CALLS = {  # readable module -> calls that must fail the same way in both versions
    "handgrad.layers.relu": [lambda m: m.forward(np.arange(6)),
                             lambda m: m.backward(F64, m.forward(F32)[1]),
                             lambda m: m.backward(np.ones(3), m.forward(F64)[1]),
                             lambda m: m.forward([1.0, 2.0])],
    "handgrad.layers.sigmoid": [lambda m: m.forward(np.arange(6)),
                                lambda m: m.backward(F32, m.forward(F64)[1]),
                                lambda m: m.backward(np.ones((4, 3)), m.forward(F64)[1])],
    "handgrad.layers.tanh": [lambda m: m.forward(np.ones(3, np.float16)),
                             lambda m: m.backward(F64, m.forward(F32)[1]),
                             lambda m: m.backward(np.ones(12), m.forward(F64)[1])],
    "handgrad.layers.rnn": [
        _bad_rnn,
        lambda m: m.forward(np.ones((2, 0, 4)), np.ones((2, 5)), np.ones((4, 5)),
                            np.ones((5, 5)), np.ones(5)),
        lambda m: m.forward(np.ones((2, 3, 4)), np.ones((2, 5)), np.ones((4, 5)),
                            np.ones((5, 5)), np.ones(5), activation="sigmoid"),
        lambda m: m.step_forward(np.ones((2, 4)), np.ones((3, 5)), np.ones((4, 5)),
                                 np.ones((5, 5)), np.ones(5)),
        lambda m: m.backward(np.ones((2, 3, 4)), m.forward(
            np.ones((2, 3, 4)), np.ones((2, 5)), np.ones((4, 5)), np.ones((5, 5)),
            np.ones(5))[1])],
    "handgrad.layers.batchnorm": [
        lambda m: m.forward(F64, np.ones(4), np.ones(4), {"mode": "train", "p": 1}),
        lambda m: m.forward(F64, np.ones(4), np.ones(4), {}),
        lambda m: m.forward(F64[:1], np.ones(4), np.ones(4), {"mode": "train"}),
        lambda m: m.forward(F64, np.ones(4), np.ones(4), {"mode": "test",
                                                          "running_var": -np.ones(4)}),
        lambda m: m.forward(F64, np.ones(3), np.ones(4), {"mode": "train"}),
        lambda m: m.forward(F32, np.ones(4), np.ones(4), {"mode": "train"}),
        lambda m: m.backward(F32, m.forward(F64, np.ones(4), np.ones(4), {"mode": "train"})[1])],
    "handgrad.layers.embedding": [
        lambda m: m.forward(np.array([[0, 5]]), np.ones((5, 3))),
        lambda m: m.forward(np.array([[0.0]]), np.ones((5, 3))),
        lambda m: m.backward(np.ones((1, 2, 3), np.float32),
                             m.forward(np.array([[0, 1]]), np.ones((5, 3)))[1]),
        lambda m: m.backward(np.ones((1, 2, 4)),
                             m.forward(np.array([[0, 1]]), np.ones((5, 3)))[1])],
    "handgrad.losses.clipped_error_mse": [
        lambda m: m.forward(F64, F32), lambda m: m.forward(F64, F64, clip=0.0),
        lambda m: m.forward(F64, F64, clip="1"), lambda m: m.forward(F64, F64[:2]),
        lambda m: m.backward(np.ones(2), m.forward(F64, F64)[1])],
    "handgrad.losses.huber": [
        lambda m: m.forward(F64, F32), lambda m: m.forward(F64, F64, delta=-1.0),
        lambda m: m.forward(F64, F64, delta=True), lambda m: m.forward(F64, F64.T),
        lambda m: m.backward(np.ones(2), m.forward(F64, F64)[1])],
    "handgrad.losses.mse": [
        lambda m: m.forward(F64, F32), lambda m: m.forward(F64, F64.T),
        lambda m: m.forward(np.arange(3), np.arange(3)),
        lambda m: m.backward("1", m.forward(F64, F64)[1])],
}


def outcome(call, module):
    try:
        call(module)
    except Exception as exc:  # noqa: BLE001 - the type and message are what is compared
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("readable", sorted(BAD_CALLS))
def test_twin_raises_the_same_errors(readable):
    module = importlib.import_module(readable)
    twin = fastest(module)
    for i, call in enumerate(BAD_CALLS[readable]):
        expected = outcome(call, module)
        assert expected is not None, f"{readable} bad call {i} did not raise"
        assert expected[1].startswith(module.__name__.rsplit(".", 1)[1]), expected
        assert outcome(call, twin) == expected, f"{readable} bad call {i}"


# --- the map of twins -----------------------------------------------------------------------

def _public_modules(package):
    return sorted(f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(
        package.__path__) if not info.name.startswith("_"))


def test_every_public_fast_module_is_the_twin_of_one_readable_op():
    twins = list(TWINS.values())
    modules = [m for m in _public_modules(handgrad.fast) if m != "handgrad.fast.twins"]
    assert sorted(twins) == modules
    assert len(set(twins)) == len(twins)


@pytest.mark.parametrize("readable", sorted(TWINS))
def test_twin_has_the_functions_of_its_readable_op(readable):
    module, twin = importlib.import_module(readable), importlib.import_module(TWINS[readable])
    assert readable.startswith(("handgrad.layers.", "handgrad.losses."))
    public = {name for name, value in vars(module).items()
              if callable(value) and getattr(value, "__module__", None) == module.__name__
              and name in ("forward", "backward", "step_forward", "step_backward")}
    assert {"forward", "backward"} <= public
    for name in public:
        assert callable(getattr(twin, name, None)), f"{TWINS[readable]} has no {name}"


def test_fastest():
    import handgrad.fast.relu as fast_relu
    from handgrad.layers import affine

    assert fastest("handgrad.layers.relu") is fast_relu
    assert fastest(relu) is fast_relu
    assert fastest(fast_relu) is fast_relu                  # a twin is its own fastest
    assert fastest("handgrad.layers.affine") is affine      # no twin: the readable module
    assert fastest("handgrad.losses.softmax_cross_entropy").__name__ == \
        "handgrad.losses.softmax_cross_entropy"
    with pytest.raises(TypeError, match="fastest: op must be a module or a dotted module name"):
        fastest(3)
    with pytest.raises(ModuleNotFoundError):
        fastest("handgrad.layers.no_such_layer")


def test_models_use_the_twins():
    from handgrad.models import FullyConnectedNet, _common

    assert _common.layer("relu").__name__ == "handgrad.fast.relu"
    assert _common.layer("affine").__name__ == "handgrad.layers.affine"
    assert _common.loss_module("huber").__name__ == "handgrad.fast.huber"
    net = FullyConnectedNet(input_dim=4, hidden_dims=[3], num_classes=2, activation="tanh",
                            normalization="batchnorm")
    modules = {m.__name__ for m in vars(net).values() if hasattr(m, "__name__")
               and str(getattr(m, "__name__", "")).startswith("handgrad.")}
    assert {"handgrad.fast.tanh", "handgrad.fast.batchnorm"} <= modules


def test_every_twin_has_registry_entries():
    for readable, twin in TWINS.items():
        names = [n for n, s in REGISTRY.items() if s.module == readable]
        assert names, readable
        for name in names:
            spec = REGISTRY[f"{name}_fast"]
            assert spec.module == twin and "fast" in spec.tags
            assert spec.make_inputs is REGISTRY[name].make_inputs
