"""Straightforward textbook NumPy layers, the second baseline of bench_ops.py.

Each op is written the way a course assignment usually writes it: one NumPy expression per
formula, a fresh temporary for every intermediate, no in-place work and no reuse beyond what the
cache obviously holds. They follow handgrad's op contract (``forward -> (out, cache)``,
``backward(dout, cache) -> grads``) so the benchmark can swap them in; they do no validation.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np


# affine -------------------------------------------------------------------------------------
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


# elementwise --------------------------------------------------------------------------------
def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0)


def sigmoid_forward(x):
    z = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    return out, out


def sigmoid_backward(dout, cache):
    out = cache
    return dout * out * (1 - out)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    out = cache
    return dout * (1 - out ** 2)


# batchnorm ----------------------------------------------------------------------------------
def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
    mu = np.mean(x, axis=0)
    xc = x - mu
    var = np.mean(xc ** 2, axis=0)
    std = np.sqrt(var + eps)
    xhat = xc / std
    out = gamma * xhat + beta
    bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
    bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    return out, (xhat, gamma, std)


def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    n = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    dx = (1.0 / n) / std * (n * dxhat - np.sum(dxhat, axis=0)
                            - xhat * np.sum(dxhat * xhat, axis=0))
    return dx, dgamma, dbeta


# losses -------------------------------------------------------------------------------------
def softmax_ce_forward(scores, y):
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    n = scores.shape[0]
    loss = -np.sum(log_probs[np.arange(n), y]) / n
    return loss, (log_probs, y)


def softmax_ce_backward(dout, cache):
    log_probs, y = cache
    n = log_probs.shape[0]
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1
    dscores /= n
    return dscores * dout


def huber_forward(pred, target, delta=1.0):
    r = pred - target
    abs_r = np.abs(r)
    quadratic = abs_r <= delta
    losses = np.where(quadratic, 0.5 * r ** 2, delta * (abs_r - 0.5 * delta))
    return np.mean(losses), (r, quadratic, delta)


def huber_backward(dout, cache):
    r, quadratic, delta = cache
    g = np.where(quadratic, r, delta * np.sign(r)) / r.size
    dpred = g * dout
    return dpred, -dpred


def mse_forward(pred, target):
    r = pred - target
    return np.mean(r ** 2), r


def mse_backward(dout, cache):
    r = cache
    dpred = 2 * r / r.size * dout
    return dpred, -dpred


# rnn (tanh), one step at a time -------------------------------------------------------------
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    dz = dnext_h * (1 - next_h ** 2)
    dx = dz.dot(Wx.T)
    dprev_h = dz.dot(Wh.T)
    dWx = x.T.dot(dz)
    dWh = prev_h.T.dot(dz)
    db = np.sum(dz, axis=0)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b, activation="tanh"):
    if activation != "tanh":
        raise ValueError("the textbook rnn is tanh only")
    n, t_len, _ = x.shape
    h = np.zeros((n, t_len, h0.shape[1]), dtype=x.dtype)
    caches = []
    prev_h = h0
    for t in range(t_len):
        prev_h, cache = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        h[:, t, :] = prev_h
        caches.append(cache)
    return h, (caches, x.shape)


def rnn_backward(dh, cache):
    caches, x_shape = cache
    n, t_len, _ = x_shape
    Wx, Wh = caches[0][2], caches[0][3]
    dx = np.zeros(x_shape, dtype=dh.dtype)
    dWx = np.zeros_like(Wx)
    dWh = np.zeros_like(Wh)
    db = np.zeros(Wh.shape[0], dtype=dh.dtype)
    dprev_h = np.zeros((n, Wh.shape[0]), dtype=dh.dtype)
    for t in reversed(range(t_len)):
        dx_t, dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, caches[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


# dropout (inverted), the mask drawn as handgrad documents it so the rows can be verified ------
def dropout_forward(x, dropout_param):
    keep_prob = dropout_param["keep_prob"]
    if dropout_param["mode"] != "train":
        return x, None
    rng = np.random.default_rng(dropout_param.get("seed"))
    mask = (rng.random(x.shape) < keep_prob) / keep_prob
    out = x * mask
    return out, mask


def dropout_backward(dout, cache):
    mask = cache
    return dout if mask is None else dout * mask


# layernorm, CS231n style ----------------------------------------------------------------------
def layernorm_forward(x, gamma, beta, eps=1e-5):
    mu = np.mean(x, axis=1, keepdims=True)
    xc = x - mu
    var = np.mean(xc ** 2, axis=1, keepdims=True)
    std = np.sqrt(var + eps)
    xhat = xc / std
    out = gamma * xhat + beta
    return out, (xhat, gamma, std)


def layernorm_backward(dout, cache):
    xhat, gamma, std = cache
    d = dout.shape[1]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    dx = (1.0 / d) / std * (d * dxhat - np.sum(dxhat, axis=1, keepdims=True)
                            - xhat * np.sum(dxhat * xhat, axis=1, keepdims=True))
    return dx, dgamma, dbeta


# spatial batchnorm: batchnorm of the (N*H*W, C) pixel rows -----------------------------------
def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    n, c, h, w = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, c)
    out, cache = batchnorm_forward(rows, gamma, beta, bn_param)
    return out.reshape(n, h, w, c).transpose(0, 3, 1, 2), (cache, x.shape)


def spatial_batchnorm_backward(dout, cache):
    bn_cache, (n, c, h, w) = cache
    drows, dgamma, dbeta = batchnorm_backward(dout.transpose(0, 2, 3, 1).reshape(-1, c), bn_cache)
    return drows.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta


# group normalization, CS231n style ------------------------------------------------------------
def groupnorm_forward(x, gamma, beta, G, eps=1e-5):
    n, c, h, w = x.shape
    xg = x.reshape(n, G, -1)
    mu = np.mean(xg, axis=2, keepdims=True)
    var = np.var(xg, axis=2, keepdims=True)
    std = np.sqrt(var + eps)
    xhat = ((xg - mu) / std).reshape(x.shape)
    out = gamma.reshape(1, c, 1, 1) * xhat + beta.reshape(1, c, 1, 1)
    return out, (xhat, gamma, std, G)


def groupnorm_backward(dout, cache):
    xhat, gamma, std, G = cache
    n, c, h, w = dout.shape
    dbeta = np.sum(dout, axis=(0, 2, 3))
    dgamma = np.sum(dout * xhat, axis=(0, 2, 3))
    dxhat = (dout * gamma.reshape(1, c, 1, 1)).reshape(n, G, -1)
    xhat_g = xhat.reshape(n, G, -1)
    m = xhat_g.shape[2]
    dx = (1.0 / m) / std * (m * dxhat - np.sum(dxhat, axis=2, keepdims=True)
                            - xhat_g * np.sum(dxhat * xhat_g, axis=2, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta


# multiclass SVM loss, CS231n's vectorized version split into forward and backward ------------
def svm_forward(scores, y, margin=1.0):
    n = scores.shape[0]
    correct = scores[np.arange(n), y]
    margins = np.maximum(0, scores - correct[:, np.newaxis] + margin)
    margins[np.arange(n), y] = 0
    loss = np.sum(margins) / n
    return loss, (margins, y)


def svm_backward(dout, cache):
    margins, y = cache
    n = margins.shape[0]
    num_pos = np.sum(margins > 0, axis=1)
    dscores = np.zeros_like(margins)
    dscores[margins > 0] = 1
    dscores[np.arange(n), y] -= num_pos
    dscores /= n
    return dscores * dout

# convolution (im2col) and pooling (reshape) -------------------------------------------------
def conv_forward(x, w, b, stride=1, pad=0):
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out_h, out_w = (h + 2 * pad - hh) // stride + 1, (wd + 2 * pad - ww) // stride + 1
    windows = np.lib.stride_tricks.sliding_window_view(xp, (hh, ww), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]                  # (N, C, Ho, Wo, HH, WW)
    cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * out_h * out_w, -1)
    out = cols.dot(w.reshape(f, -1).T) + b
    out = out.reshape(n, out_h, out_w, f).transpose(0, 3, 1, 2)
    return out, (x, w, cols, stride, pad)


def conv_backward(dout, cache):
    x, w, cols, stride, pad = cache
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    out_h, out_w = dout.shape[2:]
    dout2 = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    db = np.sum(dout2, axis=0)
    dw = dout2.T.dot(cols).reshape(w.shape)
    dcols = dout2.dot(w.reshape(f, -1)).reshape(n, out_h, out_w, c, hh, ww)
    dxp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), dtype=dout.dtype)
    for i in range(hh):
        for j in range(ww):
            dxp[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride] += \
                dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    dx = dxp[:, :, pad:pad + h, pad:pad + wd]
    return dx, dw, db


def maxpool_forward(x, size=2, stride=None):   # windows side by side: stride == size
    n, c, h, w = x.shape
    x_r = x.reshape(n, c, h // size, size, w // size, size)
    out = x_r.max(axis=3).max(axis=4)
    return out, (x, x_r, out, size)


def maxpool_backward(dout, cache):
    x, x_r, out, size = cache
    mask = x_r == out[:, :, :, None, :, None]
    dx_r = mask * dout[:, :, :, None, :, None]
    dx_r /= np.sum(mask, axis=(3, 5), keepdims=True)              # ties share the gradient
    return dx_r.reshape(x.shape)


def avgpool_forward(x, size=2, stride=None):   # windows side by side: stride == size
    n, c, h, w = x.shape
    out = x.reshape(n, c, h // size, size, w // size, size).mean(axis=(3, 5))
    return out, (x.shape, size)


def avgpool_backward(dout, cache):
    shape, size = cache
    n, c, h, w = shape
    dx_r = np.broadcast_to(dout[:, :, :, None, :, None] / (size * size),
                           (n, c, h // size, size, w // size, size))
    return dx_r.reshape(shape)


# lstm, one step at a time (gates i, f, o, g) ----------------------------------------------
def _sigmoid(a):
    z = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + z), z / (1 + z))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    n_h = prev_h.shape[1]
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    i = _sigmoid(a[:, :n_h])
    f = _sigmoid(a[:, n_h:2 * n_h])
    o = _sigmoid(a[:, 2 * n_h:3 * n_h])
    g = np.tanh(a[:, 3 * n_h:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tanh_c = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)
    da = np.hstack([dc * g * i * (1 - i), dc * prev_c * f * (1 - f),
                    dnext_h * tanh_c * o * (1 - o), dc * i * (1 - g ** 2)])
    dx = da.dot(Wx.T)
    dprev_h = da.dot(Wh.T)
    dprev_c = dc * f
    dWx = x.T.dot(da)
    dWh = prev_h.T.dot(da)
    db = np.sum(da, axis=0)
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    n, t_len, _ = x.shape
    h = np.zeros((n, t_len, h0.shape[1]), dtype=x.dtype)
    prev_h, prev_c = h0, np.zeros_like(h0)
    caches = []
    for t in range(t_len):
        prev_h, prev_c, cache = lstm_step_forward(x[:, t, :], prev_h, prev_c, Wx, Wh, b)
        h[:, t, :] = prev_h
        caches.append(cache)
    return h, (caches, x.shape)


def lstm_backward(dh, cache):
    caches, x_shape = cache
    n, t_len, _ = x_shape
    Wx, Wh = caches[0][3], caches[0][4]
    n_h = Wh.shape[0]
    dx = np.zeros(x_shape, dtype=dh.dtype)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros(4 * n_h, dtype=dh.dtype)
    dprev_h = np.zeros((n, n_h), dtype=dh.dtype)
    dprev_c = np.zeros((n, n_h), dtype=dh.dtype)
    for t in reversed(range(t_len)):
        dx_t, dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t, :] + dprev_h, dprev_c, caches[t])
        dx[:, t, :] = dx_t
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


# multi-head self-attention ------------------------------------------------------------------
def attention_forward(x, Wq, Wk, Wv, Wo, bq, bk, bv, bo, num_heads, causal=False):
    n, t_len, d_model = x.shape
    d = d_model // num_heads

    def split(a):
        return a.reshape(n, t_len, num_heads, d).transpose(0, 2, 1, 3)

    q, k, v = split(x @ Wq + bq), split(x @ Wk + bk), split(x @ Wv + bv)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
    if causal:
        scores = np.where(np.tril(np.ones((t_len, t_len), dtype=bool)), scores, -np.inf)
    scores = scores - np.max(scores, axis=-1, keepdims=True)
    p = np.exp(scores)
    p = p / np.sum(p, axis=-1, keepdims=True)
    y = (p @ v).transpose(0, 2, 1, 3).reshape(n, t_len, d_model)
    out = y @ Wo + bo
    return out, (x, q, k, v, p, y, Wq, Wk, Wv, Wo, d)


def attention_backward(dout, cache):
    x, q, k, v, p, y, Wq, Wk, Wv, Wo, d = cache
    n, t_len, d_model = x.shape
    num_heads = d_model // d

    def split(a):
        return a.reshape(n, t_len, num_heads, d).transpose(0, 2, 1, 3)

    def merge(a):
        return a.transpose(0, 2, 1, 3).reshape(n * t_len, d_model)

    dout2 = dout.reshape(-1, d_model)
    x2 = x.reshape(-1, d_model)
    dbo = np.sum(dout2, axis=0)
    dWo = y.reshape(-1, d_model).T.dot(dout2)
    dy = split(dout2.dot(Wo.T))
    dv = p.transpose(0, 1, 3, 2) @ dy
    dp = dy @ v.transpose(0, 1, 3, 2)
    ds = p * (dp - np.sum(p * dp, axis=-1, keepdims=True)) / math.sqrt(d)
    dq, dk = merge(ds @ k), merge(ds.transpose(0, 1, 3, 2) @ q)
    dv = merge(dv)
    dx = (dq.dot(Wq.T) + dk.dot(Wk.T) + dv.dot(Wv.T)).reshape(x.shape)
    return (dx, x2.T.dot(dq), x2.T.dot(dk), x2.T.dot(dv), dWo, np.sum(dq, axis=0),
            np.sum(dk, axis=0), np.sum(dv, axis=0), dbo)


OPS = {
    "affine": SimpleNamespace(forward=affine_forward, backward=affine_backward),
    "relu": SimpleNamespace(forward=relu_forward, backward=relu_backward),
    "sigmoid": SimpleNamespace(forward=sigmoid_forward, backward=sigmoid_backward),
    "tanh": SimpleNamespace(forward=tanh_forward, backward=tanh_backward),
    "batchnorm": SimpleNamespace(forward=batchnorm_forward, backward=batchnorm_backward),
    "softmax_ce": SimpleNamespace(forward=softmax_ce_forward, backward=softmax_ce_backward),
    "huber": SimpleNamespace(forward=huber_forward, backward=huber_backward),
    "mse": SimpleNamespace(forward=mse_forward, backward=mse_backward),
    "rnn": SimpleNamespace(forward=rnn_forward, backward=rnn_backward),
    "dropout": SimpleNamespace(forward=dropout_forward, backward=dropout_backward),
    "layernorm": SimpleNamespace(forward=layernorm_forward, backward=layernorm_backward),
    "spatial_bn": SimpleNamespace(forward=spatial_batchnorm_forward,
                                  backward=spatial_batchnorm_backward),
    "groupnorm": SimpleNamespace(forward=groupnorm_forward, backward=groupnorm_backward),
    "svm": SimpleNamespace(forward=svm_forward, backward=svm_backward),

    "conv": SimpleNamespace(forward=conv_forward, backward=conv_backward),
    # the convolution rows of bench_ops.py (image_cases.py) at two shapes, twin and readable
    **{op: SimpleNamespace(forward=conv_forward, backward=conv_backward)
       for op in ("conv_c3", "conv_c32", "im2col_c3", "im2col_c32")},
    "maxpool": SimpleNamespace(forward=maxpool_forward, backward=maxpool_backward),
    "avgpool": SimpleNamespace(forward=avgpool_forward, backward=avgpool_backward),
    "lstm": SimpleNamespace(forward=lstm_forward, backward=lstm_backward),
    "attention": SimpleNamespace(forward=attention_forward, backward=attention_backward),
}
OPS["lstm_readable"] = OPS["lstm"]
OPS["attention_causal"] = OPS["attention_mha"] = OPS["attention_readable"] = OPS["attention"]
