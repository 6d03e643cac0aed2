"""Every registered op, through the gradient checker and the op contract.

Parametrized over the registry, so a new op is covered as soon as its entry exists: its
backward agrees with numerical gradients (full mode at several seeds and a non-default size,
sparse and fast modes), float32 stays float32, nothing is mutated, non-contiguous inputs give
the same numbers, examples are independent unless the entry says the op is batch-coupled,
losses are means over the batch, and ``handgrad gradcheck`` passes it, and fails it (naming
it) when its backward is wrong.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from handgrad import cli
from handgrad.gradcheck import REGISTRY, check_op, check_registry

OPS = sorted(REGISTRY)


def _bigger(spec):
    return {k: v + 1 for k, v in spec.dims.items()}


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_check_passes(name, seed):
    report = check_op(name, mode="full", seed=seed)
    report.raise_if_failed()
    assert report.verdict == "ok"  # registry inputs stay away from kinks
    assert all(r.checked == int(np.prod(r.shape)) for r in report.inputs)


@pytest.mark.parametrize("name", OPS)
def test_full_check_passes_at_another_size(name):
    spec = REGISTRY[name]
    report = check_op(name, mode="full", seed=7, dims=_bigger(spec))
    report.raise_if_failed()
    default = check_op(name, mode="full", seed=7)
    assert [r.shape for r in report.inputs] != [r.shape for r in default.inputs]


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("mode", ["sparse", "fast"])
def test_sparse_and_fast_checks_pass(name, mode):
    report = check_op(name, mode=mode, seed=3, num_checks=4)
    report.raise_if_failed()
    assert all(r.mode == mode for r in report.inputs)


@pytest.mark.parametrize("name", OPS)
def test_a_wrong_backward_fails(name, monkeypatch):
    spec = REGISTRY[name]
    module = spec.load()
    monkeypatch.setattr(module, spec.backward, _scaled(getattr(module, spec.backward), 1.01))
    report = check_op(name)
    assert not report.passed
    assert report.contract_errors == []
    assert report.hint is None        # a factor with no name (1.01) gets no hint


def _scaled(backward, factor):
    """The same backward with its first gradient multiplied by ``factor``."""
    def wrong(*upstream_and_cache):  # (dout, cache), or (dnext_h, dnext_c, cache)
        grads = backward(*upstream_and_cache)
        if isinstance(grads, tuple):
            return (grads[0] * grads[0].dtype.type(factor),) + grads[1:]
        return grads * grads.dtype.type(factor)
    return wrong


def _float_positions(args):
    return [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]


def _as_tuple(grads, count):
    return (grads,) if count == 1 else tuple(grads)


@pytest.mark.parametrize("name", OPS)
def test_float32_in_float32_out(name):
    spec = REGISTRY[name]
    forward, backward = spec.functions()
    args, kwargs = spec.inputs(seed=0, dtype=np.float32)
    out, cache = forward(*args, **kwargs)
    assert out.dtype == np.float32
    assert isinstance(out, (np.ndarray, np.float32))
    rng = np.random.default_rng(0)
    if isinstance(out, np.ndarray):
        dout = rng.standard_normal(out.shape).astype(np.float32)
    else:
        dout = np.float32(rng.standard_normal())
    floats = _float_positions(args)
    grads = _as_tuple(backward(dout, cache), len(floats))
    assert len(grads) == len(floats)
    for g, i in zip(grads, floats, strict=True):
        assert isinstance(g, np.ndarray)
        assert g.dtype == np.float32, f"d{spec.arg_names[i]} is {g.dtype}"
        assert g.shape == args[i].shape


@pytest.mark.parametrize("name", OPS)
def test_no_op_mutates_its_inputs_or_dout(name):
    spec = REGISTRY[name]
    forward, backward = spec.functions()
    args, kwargs = spec.inputs(seed=1)
    before = [a.copy() if isinstance(a, np.ndarray) else None for a in args]
    out, cache = forward(*[copy.deepcopy(a) if isinstance(a, dict) else a for a in args],
                         **kwargs)
    for a, b in zip(args, before, strict=True):
        if b is not None:
            assert a.tobytes() == b.tobytes()
    dout = (np.random.default_rng(1).standard_normal(out.shape)
            if isinstance(out, np.ndarray) else np.float64(0.7))
    dout_before = copy.copy(dout)
    backward(dout, cache)
    assert np.asarray(dout).tobytes() == np.asarray(dout_before).tobytes()
    for a, b in zip(args, before, strict=True):
        if b is not None:
            assert a.tobytes() == b.tobytes()


def _odd_layout(a):
    """The same values in a non-contiguous layout: Fortran order, or a strided 1-D view."""
    if not isinstance(a, np.ndarray) or a.ndim == 0:
        return a
    return np.asfortranarray(a) if a.ndim >= 2 else np.repeat(a, 2)[::2]


@pytest.mark.parametrize("name", OPS)
def test_non_contiguous_inputs_give_the_same_results(name):
    spec = REGISTRY[name]
    forward, backward = spec.functions()
    args, kwargs = spec.inputs(seed=3)
    odd = [_odd_layout(a) for a in args]
    assert any(isinstance(a, np.ndarray) and a.size > 1 and not a.flags.c_contiguous
               for a in odd)
    out, cache = forward(*copy.deepcopy(args), **kwargs)
    out2, cache2 = forward(*[copy.deepcopy(a) if isinstance(a, dict) else a for a in odd],
                           **kwargs)
    np.testing.assert_allclose(out2, out, rtol=1e-12, atol=1e-14)
    rng = np.random.default_rng(3)
    dout = rng.standard_normal(out.shape) if isinstance(out, np.ndarray) else np.float64(0.8)
    count = len(_float_positions(args))
    grads = _as_tuple(backward(dout, cache), count)
    grads2 = _as_tuple(backward(_odd_layout(dout), cache2), count)
    for g, g2 in zip(grads, grads2, strict=True):
        assert g2.shape == g.shape
        np.testing.assert_allclose(g2, g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", [n for n in OPS if not REGISTRY[n].batch_coupled])
def test_examples_are_independent(name):
    """An op that is not batch-coupled computes each example on its own: running the examples
    one at a time gives the same outputs, the same per-example input gradients, and parameter
    gradients that add up to the batch's."""
    spec = REGISTRY[name]
    forward, backward = spec.functions()
    args, kwargs = spec.inputs(seed=2)
    n = spec.dims["N"]
    batched = [isinstance(a, np.ndarray) and a.ndim >= 1 and a.shape[0] == n for a in args]
    floats = _float_positions(args)
    out, cache = forward(*copy.deepcopy(args), **kwargs)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    grads = _as_tuple(backward(dout, cache), len(floats))
    summed = [np.zeros_like(g) for g in grads]
    for e in range(n):
        one = [a[e:e + 1] if b else copy.deepcopy(a) for a, b in zip(args, batched, strict=True)]
        out_e, cache_e = forward(*one, **kwargs)
        np.testing.assert_allclose(out_e, out[e:e + 1], rtol=1e-10, atol=1e-12)
        grads_e = _as_tuple(backward(dout[e:e + 1], cache_e), len(floats))
        for k, i in enumerate(floats):
            if batched[i]:
                np.testing.assert_allclose(grads_e[k], grads[k][e:e + 1], rtol=1e-10,
                                           atol=1e-12)
            else:
                summed[k] += grads_e[k]
    for k, i in enumerate(floats):
        if not batched[i]:
            np.testing.assert_allclose(summed[k], grads[k], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in OPS if "loss" in REGISTRY[n].tags])
def test_losses_are_means_over_the_batch(name):
    """Stacking the batch on itself leaves a mean unchanged and halves each example's gradient
    (a sum would double the loss; a missing 1/N would keep the gradient)."""
    spec = REGISTRY[name]
    assert spec.batch_coupled
    forward, backward = spec.functions()
    args, kwargs = spec.inputs(seed=5)
    n = spec.dims["N"]
    doubled = [np.concatenate([a, a]) if isinstance(a, np.ndarray) and a.shape[:1] == (n,)
               else a for a in args]
    loss, cache = forward(*args, **kwargs)
    loss2, cache2 = forward(*doubled, **kwargs)
    assert np.ndim(loss) == 0
    assert float(loss2) == pytest.approx(float(loss), rel=1e-12)
    count = len(_float_positions(args))
    grads = _as_tuple(backward(np.float64(1.0), cache), count)
    grads2 = _as_tuple(backward(np.float64(1.0), cache2), count)
    for g, g2 in zip(grads, grads2, strict=True):
        np.testing.assert_allclose(g2[:n], g / 2, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(g2[n:], g / 2, rtol=1e-12, atol=1e-15)


def test_check_registry_runs_every_op_or_the_named_ones():
    reports = check_registry()
    assert [r.op for r in reports] == list(REGISTRY)
    assert all(r.passed for r in reports), "\n".join(str(r) for r in reports if not r.passed)
    some = check_registry(["affine", "relu"], mode="sparse", seed=2)
    assert [r.op for r in some] == ["affine", "relu"] and all(r.mode == "sparse" for r in some)
    with pytest.raises(KeyError):
        check_registry(["affine", "no_such_op"])


@pytest.mark.parametrize("name", [n for n in OPS if REGISTRY[n].forward == "forward"])
def test_module_object_finds_its_registry_entry(name):
    spec = REGISTRY[name]
    args, kwargs = spec.inputs(seed=4)
    report = check_op(spec.load(), *args, **kwargs)
    report.raise_if_failed()
    assert [r.name for r in report.inputs] == [spec.arg_names[i]
                                               for i in _float_positions(args)]


# --- the command --------------------------------------------------------------------------

def test_cli_checks_every_op(capsys):
    code = cli.main(["gradcheck"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    for name in REGISTRY:
        assert any(line.split()[:1] == [name] for line in lines), f"{name} missing:\n{out}"
    assert f"all {len(REGISTRY)} op(s) pass" in lines[-1]
    assert "FAIL" not in out


@pytest.mark.parametrize("mode", ["sparse", "fast"])
def test_cli_modes_and_seed(capsys, mode):
    code = cli.main(["gradcheck", "affine", "tanh", "--mode", mode, "--seed", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"mode {mode}, seed 3" in out and "all 2 op(s) pass" in out


@pytest.mark.parametrize("name", OPS)
def test_cli_fails_naming_the_op_with_a_wrong_backward(name, monkeypatch, capsys):
    spec = REGISTRY[name]
    module = spec.load()
    monkeypatch.setattr(module, spec.backward, _scaled(getattr(module, spec.backward), 1.01))
    others = [n for n in OPS if REGISTRY[n].module != spec.module][:2]
    code = cli.main(["gradcheck", *others, name])
    out = capsys.readouterr().out
    assert code == 1, out
    assert out.splitlines()[-1] == f"gradcheck: 1 of 3 op(s) FAIL: {name}"
    assert any(line.split()[:1] == [name] and line.split()[-1] == "FAIL"
               for line in out.splitlines())
    assert "hint" not in out          # no hint guesses at a factor with no name


def test_cli_unknown_op_exits_2(capsys):
    code = cli.main(["gradcheck", "affine", "no_such_op"])
    captured = capsys.readouterr()
    assert code == 2
    assert "no_such_op" in captured.err and "affine" in captured.err
    assert captured.out == ""  # nothing ran


def test_cli_verbose_and_list(capsys):
    assert cli.main(["gradcheck", "affine", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "worst entries" in out
    assert cli.main(["gradcheck", "--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert all(name in listed for name in REGISTRY)
