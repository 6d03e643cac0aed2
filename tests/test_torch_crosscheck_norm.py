"""Cross-check dropout, layernorm, spatial batchnorm, group norm and the SVM loss against
PyTorch autograd: forward and every gradient, to 1e-9 relative in float64 and 1e-4 in float32
(relative as in tests/test_torch_crosscheck.py: |got - ref| <= tol * (|ref| + max|ref|)).
Skipped cleanly when PyTorch is not installed.

Dropout cannot share PyTorch's random generator, so its check is on the semantics: handgrad's
output and gradient equal autograd of ``x * mask / keep_prob`` with handgrad's mask, and
PyTorch's own ``F.dropout(x, p=1 - keep_prob)`` is that same expression with PyTorch's mask,
whose backward handgrad reproduces from the mask alone.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from handgrad.layers import dropout, groupnorm, layernorm, spatial_batchnorm  # noqa: E402
from handgrad.losses import svm  # noqa: E402

TOL = {np.float64: 1e-9, np.float32: 1e-4}
DTYPES = [np.float64, np.float32]


def run(module, args, dout, **kwargs):
    """forward then backward, with any RuntimeWarning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out, cache = module.forward(*args, **kwargs)
        grads = module.backward(dout, cache)
    grads = (grads,) if isinstance(grads, np.ndarray) else tuple(grads)
    return out, grads, cache


def assert_close(label, got, ref, dtype):
    got = np.asarray(got)
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert got.shape == ref.shape, f"{label}: shape {got.shape}, torch {ref.shape}"
    assert got.dtype == dtype, f"{label}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert np.all(np.isfinite(got)), f"{label}: non-finite values"
    ref = ref.astype(np.float64)
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    err = np.abs(got.astype(np.float64) - ref)
    bound = TOL[dtype] * (np.abs(ref) + scale)
    if not np.all(err <= bound):
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        pytest.fail(f"{label}: at {i} got {got[i]!r}, torch {ref[i]!r} "
                    f"(max abs diff {err.max():.3e}, array scale {scale:.3e})")


def leaf(arr):
    return torch.tensor(arr, requires_grad=True)


def rng_for(*key):
    return np.random.default_rng(list(key))


def channel_data(rng, shape, dtype):
    c = shape[1]
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    x = (rng.normal(0, 2, c).reshape(per_channel)
         + rng.uniform(0.5, 3, c).reshape(per_channel) * rng.standard_normal(shape))
    return (x.astype(dtype), rng.uniform(-2, 2, c).astype(dtype),
            rng.standard_normal(c).astype(dtype), rng.standard_normal(shape).astype(dtype))


# --- dropout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, keep_prob", [((7, 13), 0.5), ((3, 4, 5, 6), 0.8), ((2, 9), 0.1)])
def test_dropout_is_x_times_mask_over_keep_prob(shape, keep_prob, dtype):
    rng = rng_for(1, len(shape), int(keep_prob * 10))
    x, dout = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    out, (dx,), cache = run(dropout, (x, {"mode": "train", "keep_prob": keep_prob, "seed": 3}),
                            dout)
    xt, mask = leaf(x), torch.from_numpy(cache.mask != 0)     # the kept units
    ref = xt * mask / keep_prob
    ref.backward(torch.from_numpy(dout))
    assert_close("out", out, ref, dtype)
    assert_close("dx", dx, xt.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_keep_prob_is_one_minus_torch_p_and_backward_follows_the_mask(dtype):
    rng = rng_for(2)
    keep_prob = 0.7
    x = rng.uniform(0.5, 2.0, (64, 50)).astype(dtype)       # nonzero: out != 0 marks a kept unit
    dout = rng.standard_normal(x.shape).astype(dtype)
    torch.manual_seed(0)
    xt = leaf(x)
    ref = F.dropout(xt, p=1 - keep_prob, training=True)
    ref.backward(torch.from_numpy(dout))
    mask = ref.detach().numpy() != 0
    assert 0.6 < mask.mean() < 0.8
    # PyTorch's output is handgrad's formula with PyTorch's mask ...
    assert_close("torch out = x * mask / keep_prob", x * mask / dtype(keep_prob), ref, dtype)
    # ... and handgrad's backward, given that mask, is PyTorch's gradient
    cache = dropout.Cache("train", keep_prob, (mask / keep_prob).astype(dtype), x.shape,
                          np.dtype(dtype))
    assert_close("dx", dropout.backward(dout, cache), xt.grad, dtype)
    assert_close("test mode", dropout.forward(x, {"mode": "test", "keep_prob": keep_prob})[0],
                 F.dropout(torch.from_numpy(x), p=1 - keep_prob, training=False), dtype)


# --- layernorm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, eps", [((7, 13), 1e-5), ((1, 3), 1e-5), ((3, 5, 8), 1e-3),
                                        ((64, 256), 1e-5)])
def test_layernorm(shape, eps, dtype):
    rng = rng_for(3, len(shape), shape[-1])
    d = shape[-1]
    x = (rng.normal(0, 2, shape[:-1] + (1,))
         + rng.uniform(0.5, 3, shape[:-1] + (1,)) * rng.standard_normal(shape)).astype(dtype)
    gamma, beta = rng.uniform(-2, 2, d).astype(dtype), rng.standard_normal(d).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    out, (dx, dgamma, dbeta), _ = run(layernorm, (x, gamma, beta), dout, eps=eps)
    xt, gt, bt = leaf(x), leaf(gamma), leaf(beta)
    ref = F.layer_norm(xt, (d,), gt, bt, eps=eps)
    ref.backward(torch.from_numpy(dout))
    for label, got, r in (("out", out, ref), ("dx", dx, xt.grad), ("dgamma", dgamma, gt.grad),
                          ("dbeta", dbeta, bt.grad)):
        assert_close(label, got, r, dtype)


# --- spatial batchnorm ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, momentum", [((4, 3, 5, 6), 0.9), ((2, 5, 3, 7), 0.6),
                                             ((1, 2, 4, 1), 0.0)])
def test_spatial_batchnorm_train_then_test(shape, momentum, dtype):
    rng = rng_for(4, *shape)
    n, c, h, w = shape
    bn_param = {"mode": "train", "momentum": momentum}
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    rm, rv = torch.zeros(c, dtype=torch_dtype), torch.zeros(c, dtype=torch_dtype)
    for step in range(3):
        x, gamma, beta, dout = channel_data(rng, shape, dtype)
        out, (dx, dgamma, dbeta), _ = run(spatial_batchnorm, (x, gamma, beta, bn_param), dout)
        xt, gt, bt = leaf(x), leaf(gamma), leaf(beta)
        # torch's momentum weighs the new batch: 1 - handgrad's
        ref = F.batch_norm(xt, rm, rv, gt, bt, training=True, momentum=1 - momentum, eps=1e-5)
        ref.backward(torch.from_numpy(dout))
        for label, got, r in (("out", out, ref), ("dx", dx, xt.grad),
                              ("dgamma", dgamma, gt.grad), ("dbeta", dbeta, bt.grad)):
            assert_close(f"step {step} {label}", got, r, dtype)
    m = n * h * w   # torch keeps the unbiased variance (divide by m - 1), handgrad the biased
    assert_close("running_mean", bn_param["running_mean"], rm, dtype)
    assert_close("running_var", bn_param["running_var"], rv * (m - 1) / m, dtype)

    bn_param["mode"] = "test"
    x, gamma, beta, dout = channel_data(rng, (n + 1, c, h, w), dtype)
    out, (dx, dgamma, dbeta), _ = run(spatial_batchnorm, (x, gamma, beta, bn_param), dout)
    xt, gt, bt = leaf(x), leaf(gamma), leaf(beta)
    ref = F.batch_norm(xt, rm, rv * (m - 1) / m, gt, bt, training=False, eps=1e-5)
    ref.backward(torch.from_numpy(dout))
    for label, got, r in (("out", out, ref), ("dx", dx, xt.grad), ("dgamma", dgamma, gt.grad),
                          ("dbeta", dbeta, bt.grad)):
        assert_close(f"test {label}", got, r, dtype)


# --- groupnorm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, G, eps", [((3, 8, 5, 6), 2, 1e-5), ((2, 6, 3, 4), 3, 1e-3),
                                           ((2, 6, 3, 4), 1, 1e-5), ((2, 6, 3, 4), 6, 1e-5),
                                           ((4, 6), 2, 1e-5), ((2, 4, 7), 4, 1e-5),
                                           ((8, 32, 16, 16), 8, 1e-5)])
def test_groupnorm(shape, G, eps, dtype):
    rng = rng_for(5, *shape, G)
    x, gamma, beta, dout = channel_data(rng, shape, dtype)
    out, (dx, dgamma, dbeta), _ = run(groupnorm, (x, gamma, beta), dout, G=G, eps=eps)
    xt, gt, bt = leaf(x), leaf(gamma), leaf(beta)
    ref = F.group_norm(xt, G, gt, bt, eps=eps)
    ref.backward(torch.from_numpy(dout))
    for label, got, r in (("out", out, ref), ("dx", dx, xt.grad), ("dgamma", dgamma, gt.grad),
                          ("dbeta", dbeta, bt.grad)):
        assert_close(label, got, r, dtype)


# --- svm -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, c, margin", [(7, 5, 1.0), (1, 3, 1.0), (16, 10, 0.5), (5, 2, 2.0),
                                          (32, 100, 1.0)])
def test_svm_is_c_times_multi_margin_loss(n, c, margin, dtype):
    """F.multi_margin_loss averages the hinge terms over the C classes as well as over the
    batch: handgrad's loss (and gradient) is C times it."""
    rng = rng_for(6, n, c)
    scores, y = (rng.standard_normal((n, c)) * 2).astype(dtype), rng.integers(0, c, n)
    loss, (dscores,), _ = run(svm, (scores, y), 1.0, margin=margin)
    st = leaf(scores)
    ref = F.multi_margin_loss(st, torch.from_numpy(y), margin=margin) * c
    ref.backward()
    assert np.ndim(loss) == 0
    assert_close("loss", loss, ref, dtype)
    assert_close("dscores", dscores, st.grad, dtype)
