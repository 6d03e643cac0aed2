"""Cross-check every seed op against PyTorch autograd, in float64, to 1e-9 relative error.

PyTorch is an independent implementation of the same math: the forward value and every
gradient must agree at odd shapes, with a 4-D input to affine, and at extreme inputs (logits of
+-1e4, sigmoid and tanh inputs of +-1e3, Huber residuals far beyond delta). Skipped cleanly when
PyTorch is not installed.

"Relative error 1e-9" means, per array: |got - ref| <= 1e-9 * (|ref| + max|ref|) element by
element, i.e. relative to the entry where it is large and relative to the array's scale where an
entry is near zero (a near-zero gradient entry is the difference of larger terms, so its
rounding error scales with them, not with itself).
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-9


def op(name: str):
    """Import one op module inside the test, so a missing module fails only its own tests."""
    return importlib.import_module(name)


def run(module, args, dout, **kwargs):
    """forward then backward, with any RuntimeWarning (overflow, invalid value) an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out, cache = module.forward(*args, **kwargs)
        grads = module.backward(dout, cache)
    grads = (grads,) if isinstance(grads, np.ndarray) else tuple(grads)
    return out, grads


def assert_close(label: str, got, ref) -> None:
    got = np.asarray(got)
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert got.shape == ref.shape, f"{label}: shape {got.shape}, torch {ref.shape}"
    assert got.dtype == np.float64, f"{label}: dtype {got.dtype}, expected float64"
    assert np.all(np.isfinite(got)), f"{label}: non-finite values"
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    err = np.abs(got - ref)
    bound = RTOL * (np.abs(ref) + scale)
    if not np.all(err <= bound):
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        pytest.fail(f"{label}: at {i} got {got[i]!r}, torch {ref[i]!r} "
                    f"(max abs diff {err.max():.3e}, array scale {scale:.3e})")


def leaf(arr: np.ndarray):
    return torch.tensor(arr, dtype=torch.float64, requires_grad=True)


def rng_for(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


# --- affine --------------------------------------------------------------------------------------


@pytest.mark.parametrize("x_shape, m", [((7, 13), 5), ((1, 3), 11), ((3, 2, 5, 3), 7)])
def test_affine(x_shape, m):
    rng = rng_for(1, len(x_shape), m)
    d = int(np.prod(x_shape[1:]))
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((d, m)), rng.standard_normal(m)
    dout = rng.standard_normal((x_shape[0], m))
    out, (dx, dw, db) = run(op("handgrad.layers.affine"), (x, w, b), dout)

    xt, wt, bt = leaf(x), leaf(w), leaf(b)
    ref = xt.reshape(x_shape[0], -1) @ wt + bt
    ref.backward(torch.from_numpy(dout))
    assert_close("out", out, ref)
    assert_close("dx", dx, xt.grad)
    assert_close("dw", dw, wt.grad)
    assert_close("db", db, bt.grad)


# --- elementwise ---------------------------------------------------------------------------------

EXTREME = np.array([[-1000.0, -700.0, -50.0, -1e-3, 2e-3, 37.0, 710.0, 1000.0],
                    [-1e3 + 1, -20.0, -1.5, -0.25, 0.3, 1.75, 36.5, 999.0]])


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("case", ["odd", "3d", "extreme"])
def test_elementwise(name, case):
    rng = rng_for(2, len(name), len(case))
    if case == "odd":
        x = rng.standard_normal((5, 7)) * 3
    elif case == "3d":
        x = rng.standard_normal((2, 3, 5)) * 3
    else:
        x = EXTREME.copy()
    dout = rng.standard_normal(x.shape)
    out, (dx,) = run(op(f"handgrad.layers.{name}"), (x,), dout)

    xt = leaf(x)
    ref = getattr(torch, name)(xt)
    ref.backward(torch.from_numpy(dout))
    finite = torch.isfinite(ref).all() and torch.isfinite(xt.grad).all()
    assert finite, "torch itself overflowed: pick inputs where the reference is finite"
    assert_close("out", out, ref)
    assert_close("dx", dx, xt.grad)


# --- batchnorm -----------------------------------------------------------------------------------


def _bn_inputs(rng, n, d):
    x = rng.standard_normal((n, d)) * rng.uniform(0.5, 3, size=d) + rng.uniform(-2, 2, size=d)
    gamma = rng.uniform(0.5, 1.5, size=d)
    beta = rng.standard_normal(d)
    return x, gamma, beta


@pytest.mark.parametrize("n, d, params", [
    (9, 7, {}),                                   # defaults: eps 1e-5, momentum 0.9
    (2, 3, {"eps": 1e-3, "momentum": 0.75}),
    (33, 5, {"eps": 1e-5, "momentum": 0.0}),
])
def test_batchnorm_train_then_test(n, d, params):
    rng = rng_for(3, n, d)
    eps, momentum = params.get("eps", 1e-5), params.get("momentum", 0.9)
    bn = op("handgrad.layers.batchnorm")
    bn_param = {"mode": "train", **params}
    # torch's running statistics, started at zeros like handgrad's; torch's momentum is the
    # weight of the new batch, i.e. 1 - handgrad's momentum.
    rm = torch.zeros(d, dtype=torch.float64)
    rv = torch.zeros(d, dtype=torch.float64)

    for step in range(3):  # three train steps, so the running statistics accumulate
        x, gamma, beta = _bn_inputs(rng, n, d)
        dout = rng.standard_normal((n, d))
        out, (dx, dgamma, dbeta) = run(bn, (x, gamma, beta, bn_param), dout)
        xt, gt, bt = leaf(x), leaf(gamma), leaf(beta)
        ref = F.batch_norm(xt, rm, rv, gt, bt, training=True, momentum=1 - momentum, eps=eps)
        ref.backward(torch.from_numpy(dout))
        assert_close(f"step {step} out", out, ref)
        assert_close(f"step {step} dx", dx, xt.grad)
        assert_close(f"step {step} dgamma", dgamma, gt.grad)
        assert_close(f"step {step} dbeta", dbeta, bt.grad)

    # Running statistics. The running mean is the same in both. The running variance is not:
    # torch averages the UNBIASED batch variance (divide by N - 1) into running_var, while
    # handgrad (DESIGN.md, biased) averages the biased one (divide by N). Every step uses the
    # same N, so handgrad's running_var is exactly torch's times (N - 1) / N.
    assert_close("running_mean", bn_param["running_mean"], rm)
    assert_close("running_var (biased)", bn_param["running_var"], rv * (n - 1) / n)

    # Test mode uses the running statistics; give torch handgrad's biased running variance.
    bn_param["mode"] = "test"
    before = {k: bn_param[k].copy() for k in ("running_mean", "running_var")}
    x, gamma, beta = _bn_inputs(rng, n + 2, d)
    dout = rng.standard_normal(x.shape)
    out, (dx, dgamma, dbeta) = run(bn, (x, gamma, beta, bn_param), dout)
    xt, gt, bt = leaf(x), leaf(gamma), leaf(beta)
    ref = F.batch_norm(xt, rm, rv * (n - 1) / n, gt, bt, training=False, eps=eps)
    ref.backward(torch.from_numpy(dout))
    assert_close("test out", out, ref)
    assert_close("test dx", dx, xt.grad)
    assert_close("test dgamma", dgamma, gt.grad)
    assert_close("test dbeta", dbeta, bt.grad)
    for k, v in before.items():
        np.testing.assert_array_equal(bn_param[k], v, err_msg=f"test mode changed {k}")


# --- losses --------------------------------------------------------------------------------------


def _scores(case, rng):
    if case == "odd":
        s = rng.standard_normal((7, 5)) * 3
        y = np.array([0, 4, 2, 1, 3, 4, 0])
    elif case == "one_class":
        s, y = rng.standard_normal((3, 1)), np.zeros(3, dtype=np.int64)
    else:  # extreme logits
        s = rng.standard_normal((6, 4))
        s[0] = [1e4, -1e4, 0.0, 1.0]      # correct class dominant
        s[1] = [1e4, -1e4, 0.0, 1.0]      # correct class at -1e4: loss ~ 2e4
        s[2] = [1e4, 1e4, -1e4, -1e4]     # a tie at the top
        s[3] = [-1e4, -1e4, -1e4, -1e4]   # all equal and very negative
        s[4] = [1e4 - 1, 1e4, 1e4 + 1, 1e4 - 2]
        y = np.array([0, 1, 1, 3, 2, 0])
    return s, y


@pytest.mark.parametrize("case", ["odd", "one_class", "extreme"])
def test_softmax_cross_entropy(case):
    rng = rng_for(4, len(case))
    scores, y = _scores(case, rng)
    loss, (dscores,) = run(op("handgrad.losses.softmax_cross_entropy"), (scores, y), 1.0)

    st = leaf(scores)
    ref = F.cross_entropy(st, torch.from_numpy(y.astype(np.int64)))
    ref.backward()
    assert np.ndim(loss) == 0
    assert_close("loss", loss, ref)
    assert_close("dscores", dscores, st.grad)


def _regression(case, rng):
    if case == "odd":
        pred, target = rng.standard_normal((6, 7)) * 2, rng.standard_normal((6, 7))
    elif case == "3d":
        pred, target = rng.standard_normal((2, 3, 4)) * 2, rng.standard_normal((2, 3, 4))
    else:  # residuals far beyond delta, both signs, plus a few inside
        pred = np.array([[1e3, -1e3, 250.0, -37.5, 0.3],
                         [-0.45, 1e4, -1e4, 3.25, -6.0]])
        target = np.array([[-2.0, 5.0, -250.0, 12.5, 0.1],
                           [0.2, -1e4, 1e4, -3.5, 1.0]])
    return pred, target


@pytest.mark.parametrize("delta", [1.0, 0.35, 2.5])
@pytest.mark.parametrize("case", ["odd", "3d", "far"])
def test_huber(case, delta):
    rng = rng_for(5, len(case), int(delta * 100))
    pred, target = _regression(case, rng)
    assert np.min(np.abs(np.abs(pred - target) - delta)) > 1e-3  # keep off the kink at |r| = delta
    huber = op("handgrad.losses.huber")
    kwargs = {} if delta == 1.0 else {"delta": delta}  # delta=1.0 is the default
    loss, (dpred, dtarget) = run(huber, (pred, target), 1.0, **kwargs)

    pt, tt = leaf(pred), leaf(target)
    ref = F.huber_loss(pt, tt, delta=delta)
    ref.backward()
    assert_close("loss", loss, ref)
    assert_close("dpred", dpred, pt.grad)
    assert_close("dtarget", dtarget, tt.grad)


@pytest.mark.parametrize("case", ["odd", "3d", "far"])
def test_mse(case):
    rng = rng_for(6, len(case))
    pred, target = _regression(case, rng)
    loss, (dpred, dtarget) = run(op("handgrad.losses.mse"), (pred, target), 1.0)

    pt, tt = leaf(pred), leaf(target)
    ref = F.mse_loss(pt, tt)  # mean over all elements
    ref.backward()
    assert_close("loss", loss, ref)
    assert_close("dpred", dpred, pt.grad)
    assert_close("dtarget", dtarget, tt.grad)


# --- rnn -----------------------------------------------------------------------------------------


def _torch_rnn(wx, wh, b, cell=False):
    d, h = wx.shape
    layer = (torch.nn.RNNCell if cell else torch.nn.RNN)(d, h, nonlinearity="tanh",
                                                          dtype=torch.float64,
                                                          **({} if cell else {"batch_first": True}))
    suffix = "" if cell else "_l0"
    with torch.no_grad():  # torch computes x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        getattr(layer, f"weight_ih{suffix}").copy_(torch.from_numpy(wx.T))
        getattr(layer, f"weight_hh{suffix}").copy_(torch.from_numpy(wh.T))
        getattr(layer, f"bias_ih{suffix}").copy_(torch.from_numpy(b))
        getattr(layer, f"bias_hh{suffix}").zero_()
    return layer, suffix


def _rnn_inputs(rng, n, t, d, h, scale):
    return (rng.standard_normal((n, t, d)), rng.standard_normal((n, h)),
            rng.standard_normal((d, h)) * scale / np.sqrt(d),
            rng.standard_normal((h, h)) * scale / np.sqrt(h), rng.standard_normal(h) * 0.5)


@pytest.mark.parametrize("n, t, d, h, scale", [
    (3, 4, 5, 6, 1.0),
    (1, 1, 2, 3, 1.0),
    (4, 23, 3, 7, 1.5),     # long sequence: gradients flow through many steps
    (2, 5, 4, 3, 40.0),     # saturated tanh everywhere
])
def test_rnn(n, t, d, h, scale):
    rng = rng_for(7, n, t, d, h)
    x, h0, wx, wh, b = _rnn_inputs(rng, n, t, d, h, scale)
    dh = rng.standard_normal((n, t, h))
    hs, (dx, dh0, dwx, dwh, db) = run(op("handgrad.layers.rnn"), (x, h0, wx, wh, b), dh)

    layer, _ = _torch_rnn(wx, wh, b)
    xt, h0t = leaf(x), leaf(h0[None])
    ref, _ = layer(xt, h0t)
    ref.backward(torch.from_numpy(dh))
    assert_close("h", hs, ref)
    assert_close("dx", dx, xt.grad)
    assert_close("dh0", dh0, h0t.grad[0])
    assert_close("dWx", dwx, layer.weight_ih_l0.grad.T)
    assert_close("dWh", dwh, layer.weight_hh_l0.grad.T)
    assert_close("db", db, layer.bias_ih_l0.grad)


def test_rnn_step():
    rng = rng_for(8)
    n, d, h = 3, 5, 4
    x, prev_h = rng.standard_normal((n, d)), rng.standard_normal((n, h))
    wx, wh, b = rng.standard_normal((d, h)), rng.standard_normal((h, h)), rng.standard_normal(h)
    dnext = rng.standard_normal((n, h))
    rnn = op("handgrad.layers.rnn")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        next_h, cache = rnn.step_forward(x, prev_h, wx, wh, b)
        dx, dprev, dwx, dwh, db = rnn.step_backward(dnext, cache)

    cell, _ = _torch_rnn(wx, wh, b, cell=True)
    xt, ht = leaf(x), leaf(prev_h)
    ref = cell(xt, ht)
    ref.backward(torch.from_numpy(dnext))
    assert_close("next_h", next_h, ref)
    assert_close("dx", dx, xt.grad)
    assert_close("dprev_h", dprev, ht.grad)
    assert_close("dWx", dwx, cell.weight_ih.grad.T)
    assert_close("dWh", dwh, cell.weight_hh.grad.T)
    assert_close("db", db, cell.bias_ih.grad)
