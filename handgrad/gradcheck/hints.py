"""Hints from the whole gradient: name a mistake only when the wrong gradient *is* it.

:func:`whole_gradient_hint` compares a student's gradient with the expected one as a whole,
never by one entry's ratio. Each pattern of the library is a *candidate*: the gradient that a
known mistake produces, built from the draw's inputs and ``dout`` (a constant factor, the
transpose, the sign flipped, ``dout`` left out, ``1 - h`` for ``1 - h**2``, a batchnorm ``dx``
without its mean or variance term, an RNN without the gradient carried through time, ...). A
hint is given when the student's gradient matches a candidate over every entry (relative
distance in norm at most :data:`MATCH`) and that candidate is itself clearly wrong (distance
to the expected gradient at least :data:`DISTINCT`); otherwise there is no hint. So a hint
is right or silent: a mistake the library does not know gets none.

Every candidate is a plain NumPy expression of the inputs; nothing here imports the layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["whole_gradient_hint", "MATCH", "DISTINCT"]

MATCH = 1e-4       # the student's gradient and a candidate: ||a - c|| <= MATCH * max norm
DISTINCT = 1e-2    # a candidate counts only when ||c - expected|| >= DISTINCT * max norm

Candidate = tuple[str, Any]     # (hint, candidate gradient)


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)), 1e-300)
    return float(np.linalg.norm(a - b)) / scale


def whole_gradient_hint(got: Any, expected: Any, *, name: str, op: str | None = None,
                        args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
                        dout: Any = None, dims: Mapping[str, int] | None = None,
                        match: float = MATCH) -> str | None:
    """The hint for a wrong gradient ``got`` of input ``name`` (``"dx"``), or ``None``.

    ``expected`` is the right gradient (same shape), ``op`` the registry op name, ``args`` and
    ``kwargs`` the forward inputs, ``dout`` the upstream gradient and ``dims`` the sizes
    (``N``, ``T``, ...). ``match`` is how closely ``got`` must fit a pattern (looser for
    float32 answers).
    """
    if not isinstance(got, np.ndarray) or got.dtype.kind != "f":
        return None
    a = np.asarray(got, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape or not np.all(np.isfinite(a)):
        return None
    if float(np.linalg.norm(e)) == 0.0 or _dist(a, e) <= match:
        return None
    ctx = _Context(name, op, tuple(args), dict(kwargs or {}), dout, dict(dims or {}), e)
    for hint, candidate in _candidates(ctx):
        try:
            c = np.asarray(candidate, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if c.shape != e.shape or not np.all(np.isfinite(c)):
            continue
        if _dist(c, e) >= DISTINCT and _dist(a, c) <= match:
            return hint
    return None


class _Context:
    def __init__(self, name: str, op: str | None, args: tuple, kwargs: dict, dout: Any,
                 dims: dict[str, int], expected: np.ndarray) -> None:
        self.name, self.op, self.args, self.kwargs = name, op or "", args, kwargs
        self.dout, self.dims, self.expected = dout, dims, expected

    def arg(self, i: int) -> np.ndarray:
        return np.asarray(self.args[i], dtype=np.float64)


def _candidates(ctx: _Context) -> Iterator[Candidate]:
    e = ctx.expected
    yield from _general(ctx, e)
    maker = _BY_OP.get(ctx.op)
    if maker is not None:
        try:
            yield from maker(ctx)
        except (IndexError, KeyError, TypeError, ValueError):
            return


def _general(ctx: _Context, e: np.ndarray) -> Iterator[Candidate]:
    if ctx.name == "dh0":
        yield ("dh0 is all zeros: return the gradient that reaches h0 from the first step "
               "(it flows through Wh like the gradient between two steps)", np.zeros_like(e))
    yield ("the gradient is all zeros: it is never written (still the zeros it was created "
           "with), or a mask or branch zeroes every entry", np.zeros_like(e))
    yield ("the sign is flipped: the whole gradient is minus the expected one (x - y where "
           "y - x is meant, or a subtraction of the upstream gradient)", -e)
    if e.ndim == 2 and e.shape[0] == e.shape[1]:
        yield ("the gradient is the transpose of the right one (same shape because the matrix "
               "is square): swap the operands of the product", e.T)
    n, t = ctx.dims.get("N"), ctx.dims.get("T")
    for k, what in ((n, "N, the batch size"), (t, "T, the number of time steps")):
        if k and k > 1:
            yield (f"the whole gradient is {k} times the expected one: a division by {what} "
                   f"is missing (the loss is a mean)", k * e)
            yield (f"the whole gradient is 1/{k} of the expected one: an extra division by "
                   f"{what}", e / k)
    yield ("the whole gradient is twice the expected one: a term counted twice, or a 1/2 of "
           "the forward pass forgotten", 2 * e)
    yield ("the whole gradient is half the expected one: a factor of 2 is missing", e / 2)
    dout = ctx.dout
    if dout is not None:
        d = np.asarray(dout, dtype=np.float64)
        if d.ndim == 0 and float(d) != 0.0:
            yield ("the upstream gradient dout is never multiplied in: scale by the scalar "
                   "dout (the chain rule's last factor)", e / float(d))
        elif d.shape == e.shape and np.all(d != 0):
            yield ("the upstream gradient dout is never multiplied in: the local gradient "
                   "alone is returned (multiply it by dout, entry by entry)", e / d)
        if d.ndim == 2 and e.ndim == 1 and d.shape[0] == d.shape[1] == e.shape[0]:
            yield ("the sum runs over the wrong axis: sum dout over the batch (the axis of "
                   "the examples), leaving one entry per unit", d.sum(axis=1))


# --- per-op patterns ----------------------------------------------------------------------

def _elementwise(ctx: _Context, f: Callable[[np.ndarray], np.ndarray],
                 forms: Sequence[tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]]
                 ) -> Iterator[Candidate]:
    if ctx.name != "dx" or ctx.dout is None:
        return
    x = ctx.arg(0)
    d = np.asarray(ctx.dout, dtype=np.float64)
    y = f(x)
    for hint, form in forms:
        yield hint, d * form(y, x)


def _tanh(ctx: _Context) -> Iterator[Candidate]:
    yield from _elementwise(ctx, np.tanh, (
        ("the local gradient is 1 - h, but d tanh(a)/da = 1 - h**2 (square the cached "
         "output)", lambda h, x: 1 - h),
        ("the local gradient is written with x, not with the cached output h", lambda h, x:
         1 - x ** 2),
        ("the local gradient is h**2 - 1: the sign of the local gradient is flipped",
         lambda h, x: h ** 2 - 1),
    ))


def _sigmoid(ctx: _Context) -> Iterator[Candidate]:
    yield from _elementwise(ctx, lambda x: 1 / (1 + np.exp(-x)), (
        ("the local gradient is s alone, but d sigmoid(a)/da = s * (1 - s)", lambda s, x: s),
        ("the local gradient is 1 - s alone, but d sigmoid(a)/da = s * (1 - s)",
         lambda s, x: 1 - s),
        ("the local gradient is written with x, not with the cached output s",
         lambda s, x: x * (1 - x)),
    ))


def _batchnorm(ctx: _Context) -> Iterator[Candidate]:
    if ctx.name != "dx" or ctx.dout is None:
        return
    x, gamma = ctx.arg(0), ctx.arg(1)
    eps = float(ctx.args[3].get("eps", 1e-5)) if isinstance(ctx.args[3], Mapping) else 1e-5
    d = np.asarray(ctx.dout, dtype=np.float64)
    mu = x.mean(axis=0)
    inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
    xhat = (x - mu) * inv_std
    g = d * gamma
    yield ("dx misses the term through the mean: every x_i also moves mu, which adds "
           "-mean(dxhat) to each row (section 1.3)",
           inv_std * (g - xhat * (g * xhat).mean(axis=0)))
    yield ("dx misses the term through the variance: every x_i also moves var, which adds "
           "a term in xhat * mean(dxhat * xhat) (section 1.3)",
           inv_std * (g - g.mean(axis=0)))
    yield ("dx is the test-mode gradient: in train mode mu and var depend on x too "
           "(section 1.3)", g * inv_std)
    yield ("dx leaves out gamma: the gradient reaching xhat is dout * gamma",
           inv_std * (d - d.mean(axis=0) - xhat * (d * xhat).mean(axis=0)))


def _rnn_parts(ctx: _Context, carry: bool) -> dict[str, Any]:
    """BPTT with or without the gradient carried from step t+1 into h_t; the shared weights'
    gradients also per step."""
    x, h0, wx, wh, b = (ctx.arg(i) for i in range(5))
    relu = ctx.kwargs.get("activation", "tanh") == "relu"
    dh = np.asarray(ctx.dout, dtype=np.float64)
    n, t_steps, _ = x.shape
    hs, prev = [], h0
    for t in range(t_steps):
        a = x[:, t] @ wx + prev @ wh + b
        prev = np.maximum(a, 0) if relu else np.tanh(a)
        hs.append(prev)
    dx = np.zeros_like(x)
    per: dict[str, list[np.ndarray]] = {"dWx": [], "dWh": [], "db": []}
    nxt = np.zeros_like(h0)
    for t in range(t_steps - 1, -1, -1):
        grad = dh[:, t] + (nxt if carry else 0)
        da = grad * ((hs[t] > 0) if relu else (1 - hs[t] ** 2))
        h_prev = hs[t - 1] if t else h0
        dx[:, t] = da @ wx.T
        nxt = da @ wh.T
        per["dWx"].insert(0, x[:, t].T @ da)
        per["dWh"].insert(0, h_prev.T @ da)
        per["db"].insert(0, da.sum(axis=0))
    return {"dx": dx, "dh0": nxt, **per}


def _rnn(ctx: _Context) -> Iterator[Candidate]:
    if ctx.dout is None:
        return
    cut = _rnn_parts(ctx, carry=False)
    if ctx.name in ("dx", "dh0"):
        yield ("the gradient is not carried through time: h_t also feeds step t+1, so the "
               "gradient coming back from step t+1 must be added to dh[:, t] (section 2.3)",
               cut[ctx.name])
        return
    if ctx.name in ("dWx", "dWh", "db"):
        yield ("the gradient is not carried through time: h_t also feeds step t+1, so the "
               "gradient coming back from step t+1 must be added to dh[:, t] (section 2.3)",
               np.sum(cut[ctx.name], axis=0))
        full = _rnn_parts(ctx, carry=True)[ctx.name]
        if len(full) > 1:
            yield (f"{ctx.name} holds one step's contribution only: the weights are shared by "
                   f"every step, so add (+=) each step's gradient", full[0])
            yield (f"{ctx.name} holds one step's contribution only: the weights are shared by "
                   f"every step, so add (+=) each step's gradient", full[-1])


def _rnn_step(ctx: _Context) -> Iterator[Candidate]:
    if ctx.dout is None:
        return
    x, h, wx, wh, b = (ctx.arg(i) for i in range(5))
    relu = ctx.kwargs.get("activation", "tanh") == "relu"
    a = x @ wx + h @ wh + b
    nh = np.maximum(a, 0) if relu else np.tanh(a)
    d = np.asarray(ctx.dout, dtype=np.float64)
    if relu:
        return
    wrong = {"1 - next_h": d * (1 - nh), "no local gradient": d}
    for what, da in wrong.items():
        grads = {"dx": da @ wx.T, "dprev_h": da @ wh.T, "dWx": x.T @ da, "dWh": h.T @ da,
                 "db": da.sum(axis=0)}
        if what == "1 - next_h":
            hint = ("the gradient at the pre-activation uses 1 - next_h, but d tanh(a)/da = "
                    "1 - next_h**2")
        else:
            hint = ("the tanh's local gradient is left out: first da = dnext_h times "
                    "d tanh(a)/da, then the affine-style gradients from da")
        if ctx.name in grads:
            yield hint, grads[ctx.name]


_BY_OP: dict[str, Callable[[_Context], Iterator[Candidate]]] = {
    "tanh": _tanh, "sigmoid": _sigmoid, "batchnorm": _batchnorm, "rnn": _rnn,
    "rnn_relu": _rnn, "rnn_step": _rnn_step, "rnn_step_relu": _rnn_step,
}
