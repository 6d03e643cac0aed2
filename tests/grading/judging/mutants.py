"""A catalogue of student-style mutants of the shipped assignments' reference code.

Each :class:`Mutant` is the reference module of one graded function with one realistic bug,
written as data: edits applied to the reference source. An edit is ``(function, find,
replace)``: with ``find`` a string, its one occurrence in the module is replaced; with ``find``
``None``, the body of ``function``'s solution region (between ``# BEGIN SOLUTION`` and
``# END SOLUTION``) is replaced by ``replace``, a student's version of it. ``hint`` is a
phrase that every hint the grader gives must contain (at least one part that fails gives
it), or ``None`` when no hint may be given at all.
"""

from __future__ import annotations

import importlib.util
import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mutant:
    id: str
    assignment: str
    module: str                               # the reference module, e.g. handgrad.layers.tanh
    edits: tuple[tuple[str, str | None, str], ...]
    checks: tuple[str, ...]                   # the check ids that must lose points
    hint: str | None = None


def source(module: str) -> str:
    origin = importlib.util.find_spec(module).origin
    return Path(origin).read_text(encoding="utf-8")


def apply(mutant: Mutant) -> str:
    """The mutated module source."""
    text = source(mutant.module)
    for function, find, replace in mutant.edits:
        if find is None:
            start = text.index(f"def {function}(")
            begin = text.index("# BEGIN SOLUTION", start)
            begin = text.index("\n", begin) + 1
            end = text.index("# END SOLUTION", begin)
            end = text.rindex("\n", 0, end) + 1
            body = textwrap.indent(textwrap.dedent(replace).strip("\n") + "\n", "    ")
            text = text[:begin] + body + text[end:]
        else:
            if text.count(find) != 1:
                raise ValueError(f"{mutant.id}: {find!r} occurs {text.count(find)} times")
            text = text.replace(find, replace)
    return text


BB, BR = "backprop-basics", "batchnorm-rnn"
AFF, RELU, SIG, TANH = ("handgrad.layers.affine", "handgrad.layers.relu",
                        "handgrad.layers.sigmoid", "handgrad.layers.tanh")
SCE, HUB = "handgrad.losses.softmax_cross_entropy", "handgrad.losses.huber"
BN, RNN, CLIP = "handgrad.layers.batchnorm", "handgrad.layers.rnn", "handgrad.optim.clipping"

NOT_CARRIED = "not carried through time"
ONE_STEP = "one step's contribution"
NO_DOUT = "never multiplied in"
COPY = "copy before modifying"
SIGN = "sign is flipped"
MISSING_N = "a division by N, the batch size is missing"


def _m(id: str, assignment: str, module: str, function: str, find: str | None, replace: str,
       checks: str, hint: str | None = None) -> Mutant:
    return Mutant(id, assignment, module, ((function, find, replace),), tuple(checks.split()),
                  hint)


def _body(id: str, assignment: str, module: str, function: str, body: str, checks: str,
          hint: str | None = None) -> Mutant:
    return _m(id, assignment, module, function, None, body, checks, hint)


A = "affine_backward"
_AFF_BODY = """
dx = (dout @ w.T).reshape(x_shape)
dw = x2d.T @ dout
db = dout.sum(axis=0)
"""
_SCE_BODY = """
n = p.shape[0]
dscores = p.copy()
dscores[np.arange(n), y] -= 1
dscores *= dout / n
"""
_BN_BODY = """
xhat = (x - mu) * inv_std
dbeta = dout.sum(axis=0)
dgamma = (dout * xhat).sum(axis=0)
if mode == "train":
    dxhat = dout * gamma
    dx = inv_std / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
else:
    dx = dout * gamma * inv_std
"""
_STEP_BODY = """
if activation == "tanh":
    da = dnext_h * (1 - next_h ** 2)
else:
    da = dnext_h * (next_h > 0)
dx = da @ Wx.T
dprev_h = da @ Wh.T
dWx = x.T @ da
dWh = prev_h.T @ da
db = da.sum(axis=0)
"""
_RNN_BODY = """
x = x2d.reshape(n, t_steps, -1)
dx = np.zeros_like(x)
dWx = np.zeros_like(Wx)
dWh = np.zeros_like(Wh)
db = np.zeros(n_h, dtype=h.dtype)
dnext = np.zeros((n, n_h), dtype=h.dtype)
for t in range(t_steps - 1, -1, -1):
    grad = dh[:, t] + dnext
    if hidden_grads is not None:
        hidden_grads[:, t] = grad
    if activation == "tanh":
        da = grad * (1 - h[:, t] ** 2)
    else:
        da = grad * (h[:, t] > 0)
    prev = h[:, t - 1] if t > 0 else h0
    dx[:, t] = da @ Wx.T
    dWx += x[:, t].T @ da
    dWh += prev.T @ da
    db += da.sum(axis=0)
    dnext = da @ Wh.T
dh0 = dnext
"""
_CLIP_BODY = """
norm = math.sqrt(sum(float((g ** 2).sum()) for g in grads.values()))
scale = max_norm / (norm + EPS)
if scale < 1.0:
    for g in grads.values():
        g *= scale
"""


def _sub(body: str, find: str, replace: str) -> str:
    if body.count(find) != 1:
        raise ValueError(f"{find!r} occurs {body.count(find)} times in a body")
    return body.replace(find, replace)


def _sce(id: str, find: str, replace: str, hint: str | None = None) -> Mutant:
    return _body(id, BB, SCE, "backward", _sub(_SCE_BODY, find, replace),
                 "softmax_cross_entropy_backward", hint)


def _bn(id: str, find: str, replace: str, checks: str = "batchnorm_backward",
        hint: str | None = None) -> Mutant:
    return _body(id, BR, BN, "backward", _sub(_BN_BODY, find, replace), checks, hint)


def _step(id: str, find: str, replace: str, checks: str = "rnn_step_backward",
          hint: str | None = None) -> Mutant:
    return _body(id, BR, RNN, "step_backward", _sub(_STEP_BODY, find, replace), checks, hint)


def _rnn(id: str, find: str, replace: str, checks: str = "rnn_backward rnn_backward_relu",
         hint: str | None = None) -> Mutant:
    return _body(id, BR, RNN, "backward", _sub(_RNN_BODY, find, replace), checks, hint)


def _aff(id: str, find: str, replace: str, hint: str | None = None) -> Mutant:
    return _body(id, BB, AFF, "backward", _sub(_AFF_BODY, find, replace), A, hint)


def _clip(id: str, find: str, replace: str) -> Mutant:
    return _body(id, BR, CLIP, "clip_grad_norm", _sub(_CLIP_BODY, find, replace),
                 "clip_grad_norm")


MUTANTS: list[Mutant] = [
    # --- affine.backward
    _aff("affine-squeeze-db", "db = dout.sum(axis=0)",
         "db = np.squeeze(dout).sum(axis=0)"),
    _aff("affine-db-axis1", "db = dout.sum(axis=0)",
         "db = dout.sum(axis=1)"),
    _aff("affine-db-mean", "db = dout.sum(axis=0)",
         "db = dout.mean(axis=0)", "extra division by N"),
    _aff("affine-dw-over-n", "dw = x2d.T @ dout",
         "dw = x2d.T @ dout / x2d.shape[0]", "extra division by N"),
    _aff("affine-dx-no-transpose", "dx = (dout @ w.T).reshape(x_shape)",
         "dx = (dout @ w).reshape(x_shape)"),
    _aff("affine-dx-no-reshape", "dx = (dout @ w.T).reshape(x_shape)",
         "dx = dout @ w.T"),
    _aff("affine-dw-transposed", "dw = x2d.T @ dout", "dw = dout.T @ x2d"),
    _aff("affine-dx-float64", "dx = (dout @ w.T).reshape(x_shape)",
         "dx = (dout @ w.T).reshape(x_shape).astype(np.float64)"),
    _aff("affine-db-scalar", "db = dout.sum(axis=0)", "db = np.sum(dout)"),
    _aff("affine-db-negative", "db = dout.sum(axis=0)",
         "db = -dout.sum(axis=0)", SIGN),
    Mutant("affine-module-buffer", BB, AFF, (
        ("backward", "def backward(", "_DW = []\n\n\ndef backward("),
        ("backward", None, _sub(_AFF_BODY, "dw = x2d.T @ dout",
                                "_DW.append(x2d.T @ dout)\ndw = _DW[0]")),
    ), (A,)),
    # --- relu.backward
    _body("relu-ge", BB, RELU, "backward", "dx = dout * (out >= 0)", "relu_backward"),
    _body("relu-float64-mask", BB, RELU, "backward",
          "dx = dout * (out > 0).astype(np.float64)", "relu_backward"),
    _body("relu-writes-dout", BB, RELU, "backward", "dout[out <= 0] = 0\ndx = dout",
          "relu_backward", COPY),
    _body("relu-no-dout", BB, RELU, "backward", "dx = (out > 0).astype(dout.dtype)",
          "relu_backward", NO_DOUT),
    _body("relu-mask-reversed", BB, RELU, "backward", "dx = dout * (out < 0)",
          "relu_backward", "all zeros"),
    _body("relu-mask-on-dout", BB, RELU, "backward", "dx = np.maximum(dout, 0)",
          "relu_backward"),
    # --- sigmoid.backward
    _body("sigmoid-s-only", BB, SIG, "backward", "dx = dout * out", "sigmoid_backward",
          "s alone"),
    _body("sigmoid-one-minus-s", BB, SIG, "backward", "dx = dout * (1 - out)",
          "sigmoid_backward", "1 - s alone"),
    _body("sigmoid-no-dout", BB, SIG, "backward", "dx = out * (1 - out)", "sigmoid_backward",
          NO_DOUT),
    _body("sigmoid-sign", BB, SIG, "backward", "dx = -dout * out * (1 - out)",
          "sigmoid_backward", SIGN),
    _body("sigmoid-float64", BB, SIG, "backward",
          "dx = dout * out * (1 - out.astype(np.float64))", "sigmoid_backward"),
    _body("sigmoid-of-output", BB, SIG, "backward",
          "dx = dout * np.exp(-out) / (1 + np.exp(-out)) ** 2", "sigmoid_backward"),
    _body("sigmoid-writes-cache", BB, SIG, "backward", "out *= 1 - out\ndx = dout * out",
          "sigmoid_backward", COPY),
    # --- tanh.backward
    _body("tanh-one-minus-h", BB, TANH, "backward", "dx = dout * (1 - out)", "tanh_backward",
          "1 - h, but"),
    _body("tanh-no-dout", BB, TANH, "backward", "dx = 1 - out ** 2", "tanh_backward", NO_DOUT),
    _body("tanh-sign", BB, TANH, "backward", "dx = dout * (out ** 2 - 1)", "tanh_backward",
          SIGN),
    _body("tanh-of-output", BB, TANH, "backward", "dx = dout * (1 - np.tanh(out) ** 2)",
          "tanh_backward"),
    _body("tanh-float64", BB, TANH, "backward",
          "dx = dout * (1 - (out * out).astype(np.float64))", "tanh_backward"),
    _body("tanh-precedence", BB, TANH, "backward", "dx = dout * 1 - out ** 2", "tanh_backward"),
    # --- softmax_cross_entropy.backward
    _sce("sce-no-mean", "dscores *= dout / n", "dscores *= dout", MISSING_N),
    _sce("sce-no-dout", "dscores *= dout / n", "dscores /= n", NO_DOUT),
    _sce("sce-writes-cache", "dscores = p.copy()", "dscores = p", COPY),
    _sce("sce-column-index", "dscores[np.arange(n), y] -= 1", "dscores[:, y] -= 1"),
    _sce("sce-plus-one", "dscores[np.arange(n), y] -= 1", "dscores[np.arange(n), y] += 1"),
    _sce("sce-over-classes", "dscores *= dout / n", "dscores *= dout / p.shape[1]"),
    _sce("sce-float64", "dscores = p.copy()", "dscores = p.astype(np.float64)"),
    _sce("sce-minus-all", "dscores[np.arange(n), y] -= 1", "dscores -= 1"),
    # --- huber.backward
    _body("huber-dtarget-sign", BB, HUB, "backward",
          "dpred = clipped * (dout / n)\ndtarget = dpred", "huber_backward", SIGN),
    _body("huber-no-mean", BB, HUB, "backward", "dpred = clipped * dout\ndtarget = -dpred",
          "huber_backward"),
    _body("huber-no-dout", BB, HUB, "backward", "dpred = clipped / n\ndtarget = -dpred",
          "huber_backward", NO_DOUT),
    _body("huber-sign-only", BB, HUB, "backward",
          "dpred = np.sign(clipped) * (dout / n)\ndtarget = -dpred", "huber_backward"),
    _body("huber-float64", BB, HUB, "backward",
          "dpred = clipped.astype(np.float64) * (dout / n)\ndtarget = -dpred",
          "huber_backward"),
    _body("huber-unit-clip", BB, HUB, "backward",
          "dpred = np.clip(clipped, -0.5, 0.5) * (dout / n)\ndtarget = -dpred",
          "huber_backward"),
    # --- batchnorm.backward (train and test)
    _bn("bn-no-mean-term", "n * dxhat - dxhat.sum(axis=0) - ", "n * dxhat - ",
        hint="through the mean"),
    _bn("bn-no-variance-term", " - xhat * (dxhat * xhat).sum(axis=0))", ")",
        hint="through the variance"),
    _bn("bn-train-as-test", 'if mode == "train":', 'if mode == "never":',
        hint="test-mode gradient"),
    _bn("bn-no-gamma", "dxhat = dout * gamma", "dxhat = dout", hint="leaves out gamma"),
    _bn("bn-dbeta-axis1", "dbeta = dout.sum(axis=0)", "dbeta = dout.sum(axis=1)",
        "batchnorm_backward batchnorm_backward_test_mode"),
    _bn("bn-dgamma-no-xhat", "dgamma = (dout * xhat).sum(axis=0)", "dgamma = dout.sum(axis=0)",
        "batchnorm_backward batchnorm_backward_test_mode"),
    _bn("bn-dgamma-no-inv-std", "dgamma = (dout * xhat).sum(axis=0)",
        "dgamma = (dout * (x - mu)).sum(axis=0)",
        "batchnorm_backward batchnorm_backward_test_mode"),
    _bn("bn-dx-no-over-n", "dx = inv_std / n * (", "dx = inv_std * (", hint=MISSING_N),
    _bn("bn-test-no-gamma", "dx = dout * gamma * inv_std", "dx = dout * inv_std",
        "batchnorm_backward_test_mode"),
    _bn("bn-xhat-divided", "xhat = (x - mu) * inv_std", "xhat = (x - mu) / inv_std",
        "batchnorm_backward batchnorm_backward_test_mode"),
    _bn("bn-writes-dout", "dxhat = dout * gamma", "dout *= gamma\n    dxhat = dout", hint=COPY),
    # --- rnn.step_backward (tanh and relu)
    _step("step-one-minus-h", "(1 - next_h ** 2)", "(1 - next_h)", hint="1 - next_h"),
    _step("step-no-local-grad", "da = dnext_h * (1 - next_h ** 2)", "da = dnext_h",
          hint="local gradient is left out"),
    _step("step-dprev-wx", "dprev_h = da @ Wh.T", "dprev_h = da @ Wx.T",
          "rnn_step_backward rnn_step_backward_relu"),
    _step("step-dwh-next-h", "dWh = prev_h.T @ da", "dWh = next_h.T @ da",
          "rnn_step_backward rnn_step_backward_relu"),
    _step("step-db-axis1", "db = da.sum(axis=0)", "db = da.sum(axis=1)",
          "rnn_step_backward rnn_step_backward_relu"),
    _step("step-relu-ge", "(next_h > 0)", "(next_h >= 0)", "rnn_step_backward_relu"),
    _step("step-dwx-dnext", "dWx = x.T @ da", "dWx = x.T @ dnext_h",
          "rnn_step_backward rnn_step_backward_relu", "local gradient is left out"),
    _step("step-dx-wh", "dx = da @ Wx.T", "dx = da @ Wh.T",
          "rnn_step_backward rnn_step_backward_relu"),
    # --- rnn.backward (tanh and relu)
    _rnn("rnn-no-carry", "grad = dh[:, t] + dnext", "grad = dh[:, t]", hint=NOT_CARRIED),
    _rnn("rnn-dwx-assign", "dWx += x[:, t].T @ da", "dWx = x[:, t].T @ da", hint=ONE_STEP),
    _rnn("rnn-dwh-assign", "dWh += prev.T @ da", "dWh = prev.T @ da", hint=ONE_STEP),
    _rnn("rnn-db-assign", "db += da.sum(axis=0)", "db = da.sum(axis=0)", hint=ONE_STEP),
    _rnn("rnn-dh0-zero", "dh0 = dnext", "dh0 = np.zeros_like(h0)", hint="dh0 is all zeros"),
    _rnn("rnn-prev-wraps", "prev = h[:, t - 1] if t > 0 else h0", "prev = h[:, t - 1]"),
    _rnn("rnn-forward-loop", "for t in range(t_steps - 1, -1, -1):", "for t in range(t_steps):"),
    _rnn("rnn-one-minus-h", "(1 - h[:, t] ** 2)", "(1 - h[:, t])", "rnn_backward"),
    _rnn("rnn-dh0-dh", "dh0 = dnext", "dh0 = dh[:, 0]"),
    _rnn("rnn-wh-no-transpose", "dnext = da @ Wh.T", "dnext = da @ Wh"),
    _rnn("rnn-db-float64", "db = np.zeros(n_h, dtype=h.dtype)", "db = np.zeros(n_h)"),
    # --- clip_grad_norm
    _clip("clip-always", "if scale < 1.0:\n    for g", "if True:\n    for g"),
    _clip("clip-each-array", "scale = max_norm / (norm + EPS)\nif scale < 1.0:\n"
          "    for g in grads.values():\n        g *= scale",
          "for g in grads.values():\n    s = max_norm / (np.sqrt((g ** 2).sum()) + EPS)\n"
          "    if s < 1.0:\n        g *= s"),
    _clip("clip-no-sqrt", "norm = math.sqrt(sum(", "norm = (sum("),
    _clip("clip-inverted", "scale = max_norm / (norm + EPS)", "scale = norm / max_norm"),
    _clip("clip-returns-after", "        g *= scale",
          "        g *= scale\n    norm = max_norm"),
]

# Student-style correct versions of the same bodies: full marks, so every mutant above differs
# from a right answer by its bug alone.
CORRECT: list[Mutant] = [
    _body("affine-correct", BB, AFF, "backward", _AFF_BODY, ""),
    _body("relu-correct", BB, RELU, "backward", "dx = dout * (out > 0)", ""),
    _body("sigmoid-correct", BB, SIG, "backward", "dx = dout * out * (1 - out)", ""),
    _body("tanh-correct", BB, TANH, "backward", "dx = dout * (1 - out ** 2)", ""),
    _body("sce-correct", BB, SCE, "backward", _SCE_BODY, ""),
    _body("huber-correct", BB, HUB, "backward", "dpred = clipped * (dout / n)\n"
          "dtarget = -dpred", ""),
    _body("bn-correct", BR, BN, "backward", _BN_BODY, ""),
    _body("step-correct", BR, RNN, "step_backward", _STEP_BODY, ""),
    _body("rnn-correct", BR, RNN, "backward", _RNN_BODY, ""),
    _body("clip-correct", BR, CLIP, "clip_grad_norm", _CLIP_BODY, ""),
]
