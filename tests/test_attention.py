"""attention (readable) and its tuned twin: a hand-worked case, a loop written out here,
properties of the math (causality, permutation equivariance, heads, the key bias, fully masked
rows), centred differences for every gradient, extreme scores, dtypes, mutation, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from handgrad.fast import attention as fast_attention
from handgrad.layers import attention

MODULES = [pytest.param(attention, id="readable"), pytest.param(fast_attention, id="fast")]
NAMES = ("x", "Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")


def num_grad(f, x, dout, h=1e-6):
    """Centred-difference gradient of sum(f(x) * dout) with respect to x (float64, in place)."""
    grad = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = np.sum(f(x) * dout)
        x[idx] = old - h
        minus = np.sum(f(x) * dout)
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def rel_error(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)) + np.max(np.abs(b)), 1e-300)


def params(rng, n, t_steps, d_model, dtype=np.float64, scale=1.0):
    x = rng.standard_normal((n, t_steps, d_model))
    weights = [rng.standard_normal((d_model, d_model)) * scale / np.sqrt(d_model)
               for _ in range(4)]
    biases = [rng.standard_normal(d_model) * 0.5 for _ in range(4)]
    return tuple(a.astype(dtype) for a in (x, *weights, *biases))


def loop_attention(x, Wq, Wk, Wv, Wo, bq, bk, bv, bo, num_heads, allowed=None):
    """The definition with explicit sums, one sequence, head and query at a time.

    ``allowed`` (N, T, T) of booleans, or None for all; a query with no allowed key gets zero
    weights (its output is bo).
    """
    n, t_steps, d_model = x.shape
    d = d_model // num_heads
    out = np.zeros(x.shape)
    for e in range(n):
        Q, K, V = x[e] @ Wq + bq, x[e] @ Wk + bk, x[e] @ Wv + bv
        Y = np.zeros((t_steps, d_model))
        for a in range(num_heads):
            cols = slice(a * d, a * d + d)
            for i in range(t_steps):
                keys = [j for j in range(t_steps) if allowed is None or allowed[e, i, j]]
                if not keys:
                    continue
                scores = [sum(Q[i, c] * K[j, c] for c in range(a * d, a * d + d)) / math.sqrt(d)
                          for j in keys]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                for w, j in zip(weights, keys, strict=True):
                    Y[i, cols] += w / total * V[j, cols]
        out[e] = Y @ Wo + bo
    return out


def causal_allowed(n, t_steps):
    return np.broadcast_to(np.tril(np.ones((t_steps, t_steps), dtype=bool)), (n, t_steps, t_steps))


# ------------------------------------------------------------------------------- values
def test_hand_worked_single_head():
    """Identity projections, zero biases, x = [[1, 0], [0, 1]]: the scores are I / sqrt(2),
    so each position keeps sigmoid(1/sqrt(2)) of itself and gives the rest to the other."""
    x = np.eye(2)[None]
    eye, zero = np.eye(2), np.zeros(2)
    out, _ = attention.forward(x, eye, eye, eye, eye, zero, zero, zero, zero, num_heads=1)
    keep = 1 / (1 + math.exp(-1 / math.sqrt(2)))
    np.testing.assert_allclose(out[0], [[keep, 1 - keep], [1 - keep, keep]], rtol=1e-15)
    causal, _ = attention.forward(x, eye, eye, eye, eye, zero, zero, zero, zero, num_heads=1,
                                  causal=True)
    np.testing.assert_allclose(causal[0], [[1, 0], [1 - keep, keep]], rtol=1e-15)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("n, t_steps, d_model, heads", [(2, 5, 6, 2), (1, 1, 4, 1),
                                                        (3, 4, 6, 6), (2, 7, 8, 4)])
@pytest.mark.parametrize("case", ["all", "causal", "mask", "mask+causal"])
def test_forward_matches_the_loop(module, n, t_steps, d_model, heads, case):
    rng = np.random.default_rng([n, t_steps, d_model, heads, len(case)])
    args = params(rng, n, t_steps, d_model, scale=2.0)
    mask = rng.random((n, t_steps, t_steps)) < 0.5 if "mask" in case else None
    causal = "causal" in case
    out, _ = module.forward(*args, num_heads=heads, causal=causal, mask=mask)
    allowed = None
    if mask is not None or causal:
        allowed = np.ones((n, t_steps, t_steps), dtype=bool)
        allowed &= mask if mask is not None else True
        allowed &= causal_allowed(n, t_steps) if causal else True
    assert out.shape == args[0].shape and out.dtype == np.float64
    np.testing.assert_allclose(out, loop_attention(*args, heads, allowed), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("module", MODULES)
def test_a_shared_mask_equals_the_same_mask_per_sequence(module):
    rng = np.random.default_rng(3)
    args = params(rng, 3, 5, 4)
    mask = rng.random((5, 5)) < 0.6
    shared, _ = module.forward(*args, num_heads=2, mask=mask)
    per_sequence, _ = module.forward(*args, num_heads=2, mask=np.stack([mask] * 3))
    np.testing.assert_array_equal(shared, per_sequence)


# --------------------------------------------------------------------------- properties
@pytest.mark.parametrize("module", MODULES)
def test_causal_outputs_do_not_see_the_future(module):
    rng = np.random.default_rng(4)
    args = params(rng, 2, 6, 4)
    out, cache = module.forward(*args, num_heads=2, causal=True)
    x_changed = args[0].copy()
    x_changed[:, 3:] = rng.standard_normal(x_changed[:, 3:].shape)
    out_changed, _ = module.forward(x_changed, *args[1:], num_heads=2, causal=True)
    np.testing.assert_array_equal(out_changed[:, :3], out[:, :3])
    assert np.all(out_changed[:, 3:] != out[:, 3:])
    dout = np.zeros(out.shape)
    dout[:, 2] = rng.standard_normal((2, 4))          # a loss on position 2 only
    dx = module.backward(dout, cache)[0]
    assert np.all(dx[:, 3:] == 0) and np.all(dx[:, :3] != 0)


@pytest.mark.parametrize("module", MODULES)
def test_permuting_positions_permutes_the_outputs(module):
    rng = np.random.default_rng(5)
    args = params(rng, 2, 6, 6)
    order = rng.permutation(6)
    out, _ = module.forward(*args, num_heads=3)
    out_perm, _ = module.forward(args[0][:, order], *args[1:], num_heads=3)
    np.testing.assert_allclose(out_perm, out[:, order], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("module", MODULES)
def test_heads_attend_independently(module):
    """With head 1's values zeroed, two heads of d = 3 give what one head of d = 6 gives when
    it sees only head 0's features (its queries scaled by sqrt(2) to keep 1/sqrt(3))."""
    rng = np.random.default_rng(6)
    x, Wq, Wk, Wv, Wo, bq, bk, bv, bo = params(rng, 2, 5, 6)
    keep = np.repeat([1.0, 0.0], 3)                     # head 0's features
    Wv0, bv0 = Wv * keep, bv * keep                      # head 1 passes nothing on
    out, _ = module.forward(x, Wq, Wk, Wv0, Wo, bq, bk, bv0, bo, num_heads=2)
    single, _ = module.forward(x, Wq * keep * math.sqrt(2), Wk * keep, Wv0, Wo,
                               bq * keep * math.sqrt(2), bk, bv0, bo, num_heads=1)
    np.testing.assert_allclose(out, single, rtol=1e-12, atol=1e-13)
    mixed, _ = module.forward(x, Wq, Wk, Wv0, Wo, bq, bk, bv0, bo, num_heads=1)
    assert not np.allclose(out, mixed)                  # one head over all features differs


@pytest.mark.parametrize("module", MODULES)
def test_the_key_bias_changes_nothing_and_gets_zero_gradient(module):
    rng = np.random.default_rng(7)
    args = list(params(rng, 2, 4, 6))
    out, cache = module.forward(*args, num_heads=2, causal=True)
    args[6] = args[6] + 3.0
    out_shifted, _ = module.forward(*args, num_heads=2, causal=True)
    np.testing.assert_array_equal(out_shifted, out)
    dbk = module.backward(rng.standard_normal(out.shape), cache)[6]
    assert dbk.shape == (6,) and np.all(dbk == 0)


@pytest.mark.parametrize("module", MODULES)
def test_a_fully_masked_row_outputs_the_bias_and_passes_no_gradient(module):
    rng = np.random.default_rng(8)
    args = params(rng, 2, 4, 6)
    mask = np.ones((2, 4, 4), dtype=bool)
    mask[1, 2] = False                                 # sequence 1, position 2 sees nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = module.forward(*args, num_heads=3, mask=mask)
        dout = np.zeros(out.shape)
        dout[1, 2] = rng.standard_normal(6)
        grads = module.backward(dout, cache)
    np.testing.assert_array_equal(out[1, 2], args[8])                 # bo, exactly
    unmasked, _ = module.forward(*args, num_heads=3)
    np.testing.assert_array_equal(out[0], unmasked[0])
    for name, g in zip(NAMES, grads, strict=True):
        if name == "bo":
            np.testing.assert_array_equal(g, dout[1, 2])
        else:
            assert np.all(g == 0), name


# ---------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("n, t_steps, d_model, heads", [(2, 3, 4, 2), (1, 1, 3, 1),
                                                        (3, 2, 4, 4), (2, 4, 6, 3)])
@pytest.mark.parametrize("case", ["all", "causal", "mask"])
def test_backward_matches_numerical(module, n, t_steps, d_model, heads, case):
    rng = np.random.default_rng([n, t_steps, d_model, heads, len(case)])
    args = list(params(rng, n, t_steps, d_model, scale=2.0))
    options = {"num_heads": heads, "causal": case == "causal"}
    if case == "mask":
        mask = rng.random((n, t_steps, t_steps)) < 0.6
        mask[0, -1] = False                                 # and one fully masked row
        options["mask"] = mask
    out, cache = module.forward(*args, **options)
    dout = rng.standard_normal(out.shape)
    grads = module.backward(dout, cache)
    assert len(grads) == 9
    for k, g in enumerate(grads):
        def f_k(v, k=k):
            return module.forward(*(args[:k] + [v] + args[k + 1:]), **options)[0]
        assert g.shape == args[k].shape and g.dtype == np.float64, NAMES[k]
        numeric = num_grad(f_k, args[k].copy(), dout)
        if NAMES[k] == "bk":
            assert np.all(g == 0) and np.all(numeric == 0)
        else:
            assert rel_error(g, numeric) < 1e-7, NAMES[k]


# ------------------------------------------------------------------------ contract details
@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_scores_are_finite_and_quiet(module, dtype):
    """Scores of order 1e6 (the softmax is one-hot): no overflow, no NaN, no warning."""
    rng = np.random.default_rng(9)
    args = params(rng, 2, 5, 4, dtype=dtype)
    x = (args[0] * 1e3).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, cache = module.forward(x, *args[1:], num_heads=2, causal=True)
        grads = module.backward(np.ones_like(out), cache)
    assert np.all(np.isfinite(out)) and all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("module", MODULES)
def test_float32_stays_float32(module):
    args = params(np.random.default_rng(10), 3, 4, 6, np.float32)
    out, cache = module.forward(*args, num_heads=2, causal=True)
    assert out.dtype == np.float32
    for g, a in zip(module.backward(np.ones_like(out), cache), args, strict=True):
        assert g.dtype == np.float32 and g.shape == a.shape
    ref = loop_attention(*(a.astype(np.float64) for a in args), 2, causal_allowed(3, 4))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("module", MODULES)
def test_nothing_is_mutated(module):
    rng = np.random.default_rng(11)
    args = params(rng, 2, 3, 4)
    mask = rng.random((3, 3)) < 0.7
    copies = [a.copy() for a in args] + [mask.copy()]
    out, cache = module.forward(*args, num_heads=2, mask=mask)
    for a, c in zip((*args, mask), copies, strict=True):
        np.testing.assert_array_equal(a, c)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    cache_copy = [v.copy() if isinstance(v, np.ndarray) else v for v in cache]
    first = module.backward(dout, cache)
    second = module.backward(dout, cache)
    np.testing.assert_array_equal(dout, dout_copy)
    for v, vc in zip(cache, cache_copy, strict=True):
        np.testing.assert_array_equal(v, vc)
    for g1, g2 in zip(first, second, strict=True):
        np.testing.assert_array_equal(g1, g2)


# ------------------------------------------------------------------------ the tuned twin
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("n, t_steps, d_model, heads", [(2, 5, 6, 2), (1, 1, 4, 1),
                                                        (40, 6, 8, 2), (3, 33, 12, 3)])
@pytest.mark.parametrize("case", ["all", "causal", "mask"])
def test_fast_twin_matches_the_readable_version(n, t_steps, d_model, heads, case, dtype,
                                                rtol):
    rng = np.random.default_rng([n, t_steps, d_model, heads, len(case), 2])
    args = params(rng, n, t_steps, d_model, dtype, scale=3.0)
    options = {"num_heads": heads, "causal": case == "causal"}
    if case == "mask":
        mask = rng.random((n, t_steps, t_steps)) < 0.5
        mask[:, 0] = False
        options["mask"] = mask
    out, cache = attention.forward(*args, **options)
    out_fast, cache_fast = fast_attention.forward(*args, **options)
    assert out_fast.dtype == dtype and out_fast.shape == out.shape
    np.testing.assert_allclose(out_fast, out, rtol=rtol, atol=rtol * np.max(np.abs(out)))
    dout = rng.standard_normal(out.shape).astype(dtype)
    for name, g, g_fast in zip(NAMES, attention.backward(dout, cache),
                               fast_attention.backward(dout, cache_fast), strict=True):
        assert g_fast.dtype == dtype and g_fast.shape == g.shape, name
        scale = max(np.max(np.abs(g)), 1e-300)
        np.testing.assert_allclose(g_fast, g, rtol=rtol, atol=rtol * scale, err_msg=name)


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("module", MODULES)
def test_bad_arguments_raise_clear_errors(module):
    args = params(np.random.default_rng(0), 2, 3, 6)
    x = args[0]
    fwd = module.forward
    with pytest.raises(ValueError, match=r"attention\.forward: num_heads = 4 must divide D, "
                                         r"the features of x = 6"):
        fwd(*args, num_heads=4)
    with pytest.raises(ValueError, match=r"attention\.forward: num_heads must be a positive "
                                         r"integer, got 0"):
        fwd(*args, num_heads=0)
    with pytest.raises(TypeError, match=r"attention\.forward: num_heads must be a positive "
                                        r"integer, got float"):
        fwd(*args, num_heads=2.0)
    with pytest.raises(TypeError, match=r"attention\.forward: num_heads must be a positive "
                                        r"integer, got bool"):
        fwd(*args, num_heads=True)
    with pytest.raises(TypeError, match=r"missing 1 required keyword-only argument: "
                                        r"'num_heads'"):
        fwd(*args)
    with pytest.raises(ValueError, match=r"attention\.forward: mask must have shape \(T, T\) = "
                                         r"\(3, 3\) or \(N, T, T\) = \(2, 3, 3\) to match x, "
                                         r"got \(3, 4\)"):
        fwd(*args, num_heads=2, mask=np.ones((3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"attention\.forward: mask must have shape"):
        fwd(*args, num_heads=2, mask=np.ones((3, 3, 3), dtype=bool))
    with pytest.raises(TypeError, match=r"attention\.forward: mask must be a boolean numpy "
                                        r"array of allowed positions \(True = may attend\), "
                                        r"got float64"):
        fwd(*args, num_heads=2, mask=np.ones((3, 3)))
    with pytest.raises(TypeError, match=r"attention\.forward: causal must be True or False, "
                                        r"got str"):
        fwd(*args, num_heads=2, causal="yes")
    with pytest.raises(ValueError, match=r"attention\.forward: Wk must have shape \(6, 6\) = "
                                         r"\(D, D\) to match x, got \(6, 5\)"):
        fwd(x, args[1], args[2][:, :5], *args[3:], num_heads=2)
    with pytest.raises(ValueError, match=r"attention\.forward: bo must have shape \(6,\) = "
                                         r"\(D,\) to match x, got \(5,\)"):
        fwd(*args[:8], args[8][:5], num_heads=2)
    with pytest.raises(TypeError, match=r"attention\.forward: Wv has dtype float32 but x has "
                                        r"dtype float64"):
        fwd(*args[:3], args[3].astype(np.float32), *args[4:], num_heads=2)
    with pytest.raises(ValueError, match=r"attention\.forward: x must be 3-D"):
        fwd(x[0], *args[1:], num_heads=2)
    with pytest.raises(ValueError, match=r"attention\.forward: x must have at least one "
                                         r"position"):
        fwd(x[:, :0], *args[1:], num_heads=2)
    out, cache = fwd(*args, num_heads=2)
    with pytest.raises(ValueError, match=r"attention\.backward: dout must have shape "
                                         r"\(2, 3, 6\) to match the forward output"):
        module.backward(out[:, :2], cache)
    with pytest.raises(TypeError, match=r"attention\.backward: dout has dtype float32"):
        module.backward(out.astype(np.float32), cache)
