"""Cross-check the LSTM and self-attention (readable and tuned) against PyTorch autograd.

The forward value and every gradient must agree, in float64 to 1e-9 and in float32 to 1e-4,
relative as in ``test_torch_crosscheck.py``: |got - ref| <= tol * (|ref| + max|ref|) element
by element. Skipped cleanly when PyTorch is not installed.

Weight mapping, LSTM: ``torch.nn.LSTM`` computes ``x @ W_ih.T + b_ih + h @ W_hh.T + b_hh``
with the gates stacked along the rows of its weights in the order i, f, g, o; handgrad
computes ``x @ Wx + h @ Wh + b`` with the gates stacked along the columns in the order
i, f, o, g. So ``W_ih = reorder(Wx).T``, ``W_hh = reorder(Wh).T``, ``b_ih = reorder(b)``,
``b_hh = 0``, where ``reorder`` swaps the third and fourth blocks of H columns (o <-> g); the
same swap maps torch's gradients back. The initial cell state is zero in both.

Self-attention: the projections are written in torch as ``x @ W + b`` with handgrad's own
arrays (so every weight gradient comes straight from autograd), the heads are split with
``view``/``transpose``, and ``torch.nn.functional.scaled_dot_product_attention`` does the
scores, the mask, the softmax and the weighted sum; a boolean ``attn_mask`` means the same
as handgrad's ``mask`` (True = may attend). ``nn.MultiheadAttention`` with its packed
``in_proj_weight = [Wq; Wk; Wv].T`` is checked too.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: 1e-9, np.float32: 1e-4}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
LSTM_MODULES = ["handgrad.layers.lstm", "handgrad.fast.lstm"]
ATTENTION_MODULES = ["handgrad.layers.attention", "handgrad.fast.attention"]


def assert_close(label, got, ref, dtype):
    got = np.asarray(got)
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    assert got.shape == ref.shape, f"{label}: shape {got.shape}, torch {ref.shape}"
    assert got.dtype == dtype, f"{label}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert np.all(np.isfinite(got)), f"{label}: non-finite values"
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    err = np.abs(got.astype(np.float64) - ref)
    bound = TOL[dtype] * (np.abs(ref) + scale)
    if not np.all(err <= bound):
        i = np.unravel_index(np.argmax(err - bound), err.shape)
        pytest.fail(f"{label}: at {i} got {got[i]!r}, torch {ref[i]!r} "
                    f"(max abs diff {err.max():.3e}, array scale {scale:.3e})")


def leaf(arr):
    return torch.tensor(arr, requires_grad=True)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return fn(*args, **kwargs)


# --- LSTM ----------------------------------------------------------------------------------------


def reorder(a):
    """Swap the third and fourth blocks of the last axis: i, f, o, g <-> i, f, g, o."""
    i, f, third, fourth = np.split(a, 4, axis=-1)
    return np.concatenate([i, f, fourth, third], axis=-1)


def torch_lstm(Wx, Wh, b, dtype, cell=False):
    d, four_h = Wx.shape
    hidden = four_h // 4
    if cell:
        layer = torch.nn.LSTMCell(d, hidden, dtype=TORCH_DTYPE[dtype])
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    else:
        layer = torch.nn.LSTM(d, hidden, batch_first=True, dtype=TORCH_DTYPE[dtype])
        names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    w_ih, w_hh, b_ih, b_hh = (getattr(layer, name) for name in names)
    with torch.no_grad():
        w_ih.copy_(torch.from_numpy(np.ascontiguousarray(reorder(Wx).T)))
        w_hh.copy_(torch.from_numpy(np.ascontiguousarray(reorder(Wh).T)))
        b_ih.copy_(torch.from_numpy(reorder(b)))
        b_hh.zero_()
    return layer, (w_ih, w_hh, b_ih)


def lstm_inputs(rng, n, t_steps, d, hidden, dtype, scale):
    return tuple(a.astype(dtype) for a in (
        rng.standard_normal((n, t_steps, d)), np.tanh(rng.standard_normal((n, hidden))),
        rng.standard_normal((d, 4 * hidden)) * scale / np.sqrt(d),
        rng.standard_normal((hidden, 4 * hidden)) * scale / np.sqrt(hidden),
        rng.standard_normal(4 * hidden) * 0.5))


@pytest.mark.parametrize("module_name", LSTM_MODULES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, t_steps, d, hidden, scale", [
    (3, 4, 5, 6, 1.0),
    (1, 1, 2, 3, 1.0),       # T = 1
    (4, 23, 3, 7, 1.5),      # gradients through many steps
    (2, 5, 4, 3, 30.0),      # saturated gates
])
def test_lstm(module_name, dtype, n, t_steps, d, hidden, scale):
    module = importlib.import_module(module_name)
    rng = np.random.default_rng([n, t_steps, d, hidden, int(scale)])
    x, h0, Wx, Wh, b = lstm_inputs(rng, n, t_steps, d, hidden, dtype, scale)
    dh = rng.standard_normal((n, t_steps, hidden)).astype(dtype)
    h, cache = quiet(module.forward, x, h0, Wx, Wh, b)
    dx, dh0, dWx, dWh, db = quiet(module.backward, dh, cache)

    layer, (w_ih, w_hh, b_ih) = torch_lstm(Wx, Wh, b, dtype)
    xt, h0t = leaf(x), leaf(h0[None])
    ref, _ = layer(xt, (h0t, torch.zeros_like(h0t)))
    ref.backward(torch.from_numpy(dh))
    assert_close("h", h, ref, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dh0", dh0, h0t.grad[0], dtype)
    assert_close("dWx", dWx, reorder(w_ih.grad.numpy().T), dtype)
    assert_close("dWh", dWh, reorder(w_hh.grad.numpy().T), dtype)
    assert_close("db", db, reorder(b_ih.grad.numpy()), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lstm_step(dtype):
    lstm = importlib.import_module("handgrad.layers.lstm")
    rng = np.random.default_rng(8)
    n, d, hidden = 3, 5, 4
    x, h0, Wx, Wh, b = lstm_inputs(rng, n, 1, d, hidden, dtype, 1.0)
    x = x[:, 0]
    prev_c = (rng.standard_normal((n, hidden)) * 1.5).astype(dtype)
    dnext_h, dnext_c = rng.standard_normal((2, n, hidden)).astype(dtype)
    next_h, next_c, cache = quiet(lstm.step_forward, x, h0, prev_c, Wx, Wh, b)
    dx, dprev_h, dprev_c, dWx, dWh, db = quiet(lstm.step_backward, dnext_h, dnext_c, cache)

    cell, (w_ih, w_hh, b_ih) = torch_lstm(Wx, Wh, b, dtype, cell=True)
    xt, ht, ct = leaf(x), leaf(h0), leaf(prev_c)
    ref_h, ref_c = cell(xt, (ht, ct))
    torch.autograd.backward([ref_h, ref_c], [torch.from_numpy(dnext_h),
                                             torch.from_numpy(dnext_c)])
    assert_close("next_h", next_h, ref_h, dtype)
    assert_close("next_c", next_c, ref_c, dtype)
    assert_close("dx", dx, xt.grad, dtype)
    assert_close("dprev_h", dprev_h, ht.grad, dtype)
    assert_close("dprev_c", dprev_c, ct.grad, dtype)
    assert_close("dWx", dWx, reorder(w_ih.grad.numpy().T), dtype)
    assert_close("dWh", dWh, reorder(w_hh.grad.numpy().T), dtype)
    assert_close("db", db, reorder(b_ih.grad.numpy()), dtype)


# --- self-attention ------------------------------------------------------------------------------

NAMES = ("x", "Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")


def attention_inputs(rng, n, t_steps, d_model, dtype, scale=1.0):
    x = rng.standard_normal((n, t_steps, d_model))
    weights = [rng.standard_normal((d_model, d_model)) * scale / np.sqrt(d_model)
               for _ in range(4)]
    biases = [rng.standard_normal(d_model) * 0.5 for _ in range(4)]
    return tuple(a.astype(dtype) for a in (x, *weights, *biases))


def torch_attention(args, num_heads, allowed):
    """Projections as x @ W + b, heads with view/transpose, and F.scaled_dot_product_attention."""
    leaves = [leaf(a) for a in args]
    x, Wq, Wk, Wv, Wo, bq, bk, bv, bo = leaves
    n, t_steps, d_model = x.shape

    def split(a):
        return a.view(n, t_steps, num_heads, d_model // num_heads).transpose(1, 2)

    attn_mask = None if allowed is None else torch.from_numpy(allowed)
    y = F.scaled_dot_product_attention(split(x @ Wq + bq), split(x @ Wk + bk),
                                       split(x @ Wv + bv), attn_mask=attn_mask)
    out = y.transpose(1, 2).reshape(n, t_steps, d_model) @ Wo + bo
    return out, leaves


def check_grads(grads, ref_grads, dtype):
    """Every gradient against torch's; dbk against the scale of dbq: torch sums rounding noise
    into it, while handgrad returns the exact 0 (bk shifts every score of a row alike)."""
    for name, g, r in zip(NAMES, grads, ref_grads, strict=True):
        if name == "bk":
            assert np.all(g == 0) and g.dtype == dtype
            bound = 10 * TOL[dtype] * np.max(np.abs(ref_grads[5].numpy()))
            assert np.max(np.abs(r.numpy())) <= bound, "torch's dbk is not rounding noise"
        else:
            assert_close(f"d{name}", g, r, dtype)


@pytest.mark.parametrize("module_name", ATTENTION_MODULES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, t_steps, d_model, heads", [(3, 5, 8, 2), (1, 1, 6, 3),
                                                        (2, 17, 12, 4), (4, 6, 5, 1)])
@pytest.mark.parametrize("case", ["none", "causal", "mask", "mask+causal"])
def test_attention(module_name, dtype, n, t_steps, d_model, heads, case):
    module = importlib.import_module(module_name)
    rng = np.random.default_rng([n, t_steps, d_model, heads, len(case)])
    args = attention_inputs(rng, n, t_steps, d_model, dtype, scale=2.0)
    dout = rng.standard_normal((n, t_steps, d_model)).astype(dtype)
    causal = "causal" in case
    mask = rng.random((n, t_steps, t_steps)) < 0.6 if "mask" in case else None
    if mask is not None:
        mask[0, -1] = False                         # a fully masked row: zero weights in both
    out, cache = quiet(module.forward, *args, num_heads=heads, causal=causal, mask=mask)
    grads = quiet(module.backward, dout, cache)

    allowed = None
    if causal or mask is not None:
        allowed = np.ones((n, 1, t_steps, t_steps), dtype=bool)
        if causal:
            allowed &= np.tril(np.ones((t_steps, t_steps), dtype=bool))
        if mask is not None:
            allowed &= mask[:, None]
    ref, leaves = torch_attention(args, heads, allowed)
    ref.backward(torch.from_numpy(dout))
    assert_close("out", out, ref, dtype)
    check_grads(grads, [t.grad for t in leaves], dtype)


@pytest.mark.parametrize("module_name", ATTENTION_MODULES)
@pytest.mark.parametrize("causal", [False, True])
def test_attention_against_multihead_attention_module(module_name, causal):
    """nn.MultiheadAttention(batch_first=True) holds [Wq; Wk; Wv].T as in_proj_weight and
    Wo.T as out_proj.weight; its attn_mask is True where attending is NOT allowed."""
    module = importlib.import_module(module_name)
    rng = np.random.default_rng(11)
    n, t_steps, d_model, heads = 3, 7, 12, 3
    args = attention_inputs(rng, n, t_steps, d_model, np.float64)
    x, Wq, Wk, Wv, Wo, bq, bk, bv, bo = args
    dout = rng.standard_normal(x.shape)
    out, cache = module.forward(*args, num_heads=heads, causal=causal)
    grads = module.backward(dout, cache)

    mha = torch.nn.MultiheadAttention(d_model, heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([Wq, Wk, Wv], axis=1).T))
        mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate([bq, bk, bv])))
        mha.out_proj.weight.copy_(torch.from_numpy(Wo.T))
        mha.out_proj.bias.copy_(torch.from_numpy(bo))
    xt = leaf(x)
    blocked = torch.triu(torch.ones(t_steps, t_steps, dtype=torch.bool), 1) if causal else None
    ref, _ = mha(xt, xt, xt, attn_mask=blocked, need_weights=False)
    ref.backward(torch.from_numpy(dout))
    dw_in = mha.in_proj_weight.grad.numpy().T
    db_in = mha.in_proj_bias.grad.numpy()
    refs = [xt.grad, *np.split(dw_in, 3, axis=1), mha.out_proj.weight.grad.numpy().T,
            *np.split(db_in, 3), mha.out_proj.bias.grad.numpy()]
    assert_close("out", out, ref, np.float64)
    check_grads(grads, [torch.from_numpy(np.ascontiguousarray(r)) if isinstance(r, np.ndarray)
                        else r for r in refs], np.float64)
