"""The sequence ops' rows of bench_ops.py: the LSTM and multi-head self-attention.

``build(op, dtype, rng)`` returns the fields of a ``bench_ops.Case`` (all but the op name).
The ``lstm`` and ``attention`` rows time the tuned twins in ``handgrad.fast`` (what
``handgrad.fast.fastest`` gives the models), the ``_readable`` rows the modules under
``handgrad.layers`` themselves. The PyTorch peers are
``nn.LSTM(batch_first=True)`` with handgrad's weights mapped, and for attention the
projections as ``x @ W + b`` with ``F.scaled_dot_product_attention`` (what a PyTorch user
writes), or ``nn.MultiheadAttention`` for the ``attention_mha`` row; all with autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOLERANCE = {"float64": 1e-9, "float32": 1e-4}   # as bench_ops.verify's


def _leaf(torch: Any, arr: np.ndarray) -> Any:
    return torch.from_numpy(np.array(arr, copy=True)).requires_grad_(True)


def _const(torch: Any, arr: np.ndarray) -> Any:
    return torch.from_numpy(np.array(arr, copy=True))


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy()


LSTM_BAR = 1.3
ATTENTION_BAR = 1.5


def _gate_order_to_torch(a: np.ndarray) -> np.ndarray:
    """handgrad stacks the LSTM gates i, f, o, g; torch i, f, g, o: swap the last two blocks
    (the same swap maps back)."""
    i, f, third, fourth = np.split(a, 4, axis=-1)
    return np.concatenate([i, f, fourth, third], axis=-1)


def lstm_case(readable: bool, dtype: np.dtype, rng: np.random.Generator) -> dict[str, Any]:
    n, t_len, d, h = 64, 50, 128, 256

    def randn(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(dtype)

    x, h0 = randn(n, t_len, d), randn(n, h, scale=0.1)
    wx, wh, b = randn(d, 4 * h, scale=1 / np.sqrt(d)), randn(h, 4 * h, scale=1 / np.sqrt(h)), \
        randn(4 * h, scale=0.1)
    dout = randn(n, t_len, h)

    def setup(torch):
        tdtype = torch.float64 if dtype == np.float64 else torch.float32
        lstm = torch.nn.LSTM(d, h, batch_first=True, dtype=tdtype)
        with torch.no_grad():   # torch: x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, gates i, f, g, o
            lstm.weight_ih_l0.copy_(torch.from_numpy(_gate_order_to_torch(wx).T.copy()))
            lstm.weight_hh_l0.copy_(torch.from_numpy(_gate_order_to_torch(wh).T.copy()))
            lstm.bias_ih_l0.copy_(torch.from_numpy(_gate_order_to_torch(b)))
            lstm.bias_hh_l0.zero_()
        xt, h0t, dt = _leaf(torch, x), _leaf(torch, h0[None]), _const(torch, dout)
        c0t = torch.zeros_like(h0t)
        params = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)

        def run():
            out, _ = lstm(xt, (h0t, c0t))
            return out, torch.autograd.grad(out, (xt, h0t, *params), dt)

        def convert(res):
            out, (dx, dh0, dwih, dwhh, dbih, _dbhh) = res
            back = _gate_order_to_torch
            return [_np(out), _np(dx), _np(dh0)[0], back(_np(dwih).T), back(_np(dwhh).T),
                    back(_np(dbih))]

        return run, convert

    return dict(module="handgrad.layers.lstm", readable=readable, shape="N64 T50 D128 H256",
                bar=LSTM_BAR, args=(x, h0, wx, wh, b), kwargs={}, dout=dout,
                names=("h", "dx", "dh0", "dWx", "dWh", "db"),
                torch_setup=setup)


def attention_case(readable: bool, dtype: np.dtype, rng: np.random.Generator, causal: bool,
                   peer: str = "sdpa") -> dict[str, Any]:
    n, t_len, d_model, heads = 32, 128, 256, 8

    def randn(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(dtype)

    x = randn(n, t_len, d_model)
    weights = [randn(d_model, d_model, scale=1 / np.sqrt(d_model)) for _ in range(4)]
    biases = [randn(d_model, scale=0.1) for _ in range(4)]
    dout = randn(n, t_len, d_model)

    def setup_mha(torch):
        # nn.MultiheadAttention(batch_first=True) with handgrad's weights: in_proj_weight is
        # [Wq; Wk; Wv].T, out_proj.weight is Wo.T; its attn_mask is True where NOT allowed.
        tdtype = torch.float64 if dtype == np.float64 else torch.float32
        mha = torch.nn.MultiheadAttention(d_model, heads, batch_first=True, dtype=tdtype)
        wq, wk, wv, wo = weights
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([wq, wk, wv], 1).T.copy()))
            mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate(biases[:3])))
            mha.out_proj.weight.copy_(torch.from_numpy(wo.T.copy()))
            mha.out_proj.bias.copy_(torch.from_numpy(biases[3]))
        xt, dt = _leaf(torch, x), _const(torch, dout)
        blocked = torch.triu(torch.ones(t_len, t_len, dtype=torch.bool), 1) if causal else None
        params = (mha.in_proj_weight, mha.out_proj.weight, mha.in_proj_bias, mha.out_proj.bias)

        def run():
            out, _ = mha(xt, xt, xt, attn_mask=blocked, need_weights=False)
            return out, torch.autograd.grad(out, (xt, *params), dt)

        def convert(res):
            out, (dx, dw_in, dwo, db_in, dbo) = res
            dwq, dwk, dwv = np.split(_np(dw_in).T, 3, axis=1)
            dbq, dbk, dbv = np.split(_np(db_in), 3)
            return [_np(out), _np(dx), dwq, dwk, dwv, _np(dwo).T, dbq, np.zeros_like(dbk),
                    dbv, _np(dbo)]

        return run, convert

    def setup(torch):
        # What a PyTorch user writes: the projections as x @ W + b, the heads with view and
        # transpose, and F.scaled_dot_product_attention (a fused kernel on the CPU).
        sdpa = torch.nn.functional.scaled_dot_product_attention
        xt, dt = _leaf(torch, x), _const(torch, dout)
        wq, wk, wv, wo = (_leaf(torch, w) for w in weights)
        bq, bk, bv, bo = (_leaf(torch, bb) for bb in biases)
        leaves = (xt, wq, wk, wv, wo, bq, bk, bv, bo)

        def split(a):
            return a.view(n, t_len, heads, d_model // heads).transpose(1, 2)

        def run():
            y = sdpa(split(xt @ wq + bq), split(xt @ wk + bk), split(xt @ wv + bv),
                     is_causal=causal)
            out = y.transpose(1, 2).reshape(n, t_len, d_model) @ wo + bo
            return out, torch.autograd.grad(out, leaves, dt)

        def convert(res):
            out, grads = res
            grads = [_np(g) for g in grads]
            # The key bias shifts every score of a row alike, which the softmax ignores: its
            # gradient is exactly 0 (handgrad returns 0), torch's is the rounding noise of
            # that 0. Accept it as 0 only when it is noise next to the query bias's gradient.
            noise, dbq_scale = np.max(np.abs(grads[6])), np.max(np.abs(grads[5]))
            if noise > TOLERANCE[np.dtype(dtype).name] * dbq_scale:
                raise AssertionError(f"torch's dbk ({noise:.1e}) is not rounding noise")
            grads[6] = np.zeros_like(grads[6])
            return [_np(out)] + grads

        return run, convert

    shape = f"N32 T128 D256 h8{' causal' if causal else ''}{' vs MHA' if peer == 'mha' else ''}"
    return dict(module="handgrad.layers.attention", readable=readable, shape=shape,
                bar=ATTENTION_BAR, args=(x, *weights, *biases),
                kwargs={"num_heads": heads, "causal": causal}, dout=dout,
                names=("out", "dx", "dWq", "dWk", "dWv", "dWo", "dbq", "dbk", "dbv", "dbo"),
                torch_setup=setup_mha if peer == "mha" else setup)


# op name -> the fields of its bench_ops.Case; the readable rows show why the twins exist.
BUILDERS = {
    "lstm": lambda dt, rng: lstm_case(False, dt, rng),
    "lstm_readable": lambda dt, rng: lstm_case(True, dt, rng),
    "attention": lambda dt, rng: attention_case(False, dt, rng, False),
    "attention_causal": lambda dt, rng: attention_case(False, dt, rng, True),
    "attention_mha": lambda dt, rng: attention_case(False, dt, rng, False, peer="mha"),
    "attention_readable": lambda dt, rng: attention_case(True, dt, rng, False),
}
OPS = tuple(BUILDERS)


def build(op: str, dtype: np.dtype, rng: np.random.Generator) -> dict[str, Any]:
    """The fields of a ``bench_ops.Case`` for ``op`` (all but the op name)."""
    return BUILDERS[op](dtype, rng)
