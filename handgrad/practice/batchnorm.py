"""The batchnorm problem: batch normalization of one column of N scalars, in training mode.

Forward: ``mu = mean(x)``, ``d_i = x_i - mu``, ``v = mean(d^2)`` (the biased variance),
``s = sqrt(v + eps)``, ``xhat_i = d_i / s``, ``y_i = gamma * xhat_i + beta``. Backward from the
upstream gradients ``dL/dy_i``, node by node: ``dL/dbeta``, ``dL/dgamma``, ``dL/dxhat``,
``dL/ds``, ``dL/dv``, ``dL/dd``, ``dL/dmu`` and ``dL/dx_j``. Asks for ``dL/dgamma``,
``dL/dbeta`` and one ``dL/dx_j``.

Everything rational (``mu``, ``d``, ``v``, the sums of the backward pass) is computed exactly in
fractions and only the factors of ``1/s`` in floating point, so a gradient that is 0 on paper
is exactly 0 here too.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction

from handgrad.practice.checking import Mistake
from handgrad.practice.numeric import (
    as_fraction,
    fmt,
    given_number,
    given_numbers,
    term,
    vector,
)
from handgrad.practice.problem import Problem
from handgrad.practice.randomness import MAX_ATTEMPTS, Draw, exhausted
from handgrad.practice.steps import Step

WHERE = "practice.batchnorm_column"


def batchnorm_column(x: Sequence[float], gamma: float, beta: float, upstream: Sequence[float],
                     ask: int = 1, eps: float = 0.0) -> Problem:
    """A batchnorm problem with these numbers.

    ``x``: the column, 2 to 8 numbers, not all equal; ``gamma``, ``beta``: scale and shift;
    ``upstream``: ``dL/dy_i``, one per ``x_i``; ``ask``: which ``dL/dx_j`` to ask for,
    numbered from 1; ``eps``: added to the variance (0 by default, which is easiest on paper).
    """
    xs = given_numbers(x, "x", WHERE, 2, 8)
    ups = given_numbers(upstream, "upstream", WHERE, 2, 8)
    n = len(xs)
    if len(ups) != n:
        raise ValueError(f"{WHERE}: upstream has {len(ups)} numbers but x has {n}; give one "
                         f"dL/dy_i per x_i")
    gamma = given_number(gamma, "gamma", WHERE)
    beta = given_number(beta, "beta", WHERE)
    eps = given_number(eps, "eps", WHERE)
    if eps < 0:
        raise ValueError(f"{WHERE}: eps must be at least 0, got {eps}")
    if isinstance(ask, bool) or not isinstance(ask, numbers.Integral) or not 1 <= ask <= n:
        raise ValueError(f"{WHERE}: ask must be the number of one x_i, from 1 to {n}, "
                         f"got {ask!r}")
    j = int(ask)

    fx, fg, fgamma, feps = ([as_fraction(v) for v in xs], [as_fraction(v) for v in ups],
                            as_fraction(gamma), as_fraction(eps))
    mu = sum(fx) / n
    d = [xi - mu for xi in fx]
    v = sum(di * di for di in d) / n
    if v + feps == 0:
        raise ValueError(f"{WHERE}: every x_i is {fmt(xs[0])} and eps is 0, so the variance is "
                         f"0 and xhat is not defined; give different numbers")
    s = math.sqrt(float(v + feps))
    xhat = tuple(float(di) / s for di in d)
    y = tuple(gamma * xh + beta for xh in xhat)
    dbeta = float(sum(fg))
    dgamma = float(sum(gi * di for gi, di in zip(fg, d, strict=True))) / s
    dxhat = [fgamma * gi for gi in fg]
    ds_exact = -sum(gx * di for gx, di in zip(dxhat, d, strict=True)) / (v + feps)
    ds = float(ds_exact)
    dv = ds / (2 * s)
    # dL/dd_i = dxhat_i / s + dv * 2 d_i / N = (dxhat_i + ds * d_i / N) / s
    dd_exact = [gx + ds_exact * di / n for gx, di in zip(dxhat, d, strict=True)]
    dd = tuple(float(b) / s for b in dd_exact)
    dmu = -float(sum(dd_exact)) / s
    dx_exact = [b - sum(dd_exact) / n for b in dd_exact]
    dx = tuple(float(b) / s for b in dx_exact)

    idx = range(1, n + 1)
    names = ", ".join(f"x{i}" for i in idx)
    d_f = tuple(map(float, d))
    dxhat_f = tuple(map(float, dxhat))
    gamma_products = " + ".join(f"{term(g)}*{term(xh)}" for g, xh in zip(ups, xhat, strict=True))
    s_products = " + ".join(f"{term(g)}*{term(di)}" for g, di in zip(dxhat_f, d_f, strict=True))
    forward = (
        Step("mu", f"({' + '.join(f'x{i}' for i in idx)}) / {n}",
             f"({' + '.join(fmt(v) for v in xs)}) / {n}", float(mu), "forward"),
        Step("d", "x - mu", f"{vector(xs)} - {term(float(mu))}", d_f,
             "forward"),
        Step("v", f"({' + '.join(f'd{i}^2' for i in idx)}) / {n}",
             f"({' + '.join(f'{term(float(di))}^2' for di in d)}) / {n}", float(v), "forward"),
        Step("s", "sqrt(v + eps)", f"sqrt({fmt(float(v))} + {fmt(eps)})", s, "forward"),
        Step("xhat", "d / s", f"{vector(d_f)} / {fmt(s)}", xhat, "forward"),
        Step("y", "gamma * xhat + beta", f"{term(gamma)} * {vector(xhat)} + {term(beta)}", y,
             "forward"),
    )
    backward = (
        Step("dy_i/dbeta", "1", "", 1.0, "local"),
        Step("dL/dbeta", " + ".join(f"dL/dy{i}" for i in idx), " + ".join(map(term, ups)),
             dbeta, "chain"),
        Step("dy_i/dgamma", "xhat_i", "", xhat, "local"),
        Step("dL/dgamma", " + ".join(f"dL/dy{i} * xhat{i}" for i in idx),
             gamma_products, dgamma, "chain"),
        Step("dy_i/dxhat_i", "gamma", "", gamma, "local"),
        Step("dL/dxhat", "dL/dy * gamma", f"{vector(ups)} * {term(gamma)}", dxhat_f, "chain"),
        Step("dxhat_i/ds", "-d_i / s^2", f"-{vector(d_f)} / {fmt(s)}^2",
             tuple(-float(di) / s ** 2 for di in d), "local"),
        Step("dL/ds", "sum_i dL/dxhat_i * dxhat_i/ds",
             f"-({s_products}) / {fmt(s)}^2", ds, "chain"),
        Step("ds/dv", "1 / (2 sqrt(v + eps)) = 1 / (2 s)", f"1 / (2 * {fmt(s)})", 1 / (2 * s),
             "local"),
        Step("dL/dv", "dL/ds * ds/dv", f"{term(ds)} * {term(1 / (2 * s))}", dv, "chain"),
        Step("dxhat_i/dd_i", "1 / s", f"1 / {fmt(s)}", 1 / s, "local"),
        Step("dv/dd_i", f"2 d_i / {n}", f"2 * {vector(d_f)} / {n}",
             tuple(2 * float(di) / n for di in d), "local"),
        Step("dL/dd", "dL/dxhat * dxhat/dd + dL/dv * dv/dd",
             f"{vector(dxhat_f)} / {fmt(s)} + {term(dv)} * 2 * {vector(d_f)}"
             f" / {n}", dd, "chain"),
        Step("dd_i/dmu", "-1", "", -1.0, "local"),
        Step("dL/dmu", f"-({' + '.join(f'dL/dd{i}' for i in idx)})",
             f"-({' + '.join(map(term, dd))})", dmu, "chain"),
        Step(f"dmu/dx{j}", f"1 / {n}", "", 1 / n, "local"),
        Step(f"dL/dx{j}", f"dL/dd{j} * dd{j}/dx{j} + dL/dmu * dmu/dx{j} = dL/dd{j} + dL/dmu / {n}",
             f"{term(dd[j - 1])} + {term(dmu)} / {n}", dx[j - 1], "chain"),
    )
    asked = ("dL/dgamma", "dL/dbeta", f"dL/dx{j}")
    key = {"dL/dgamma": dgamma, "dL/dbeta": dbeta, f"dL/dx{j}": dx[j - 1]}
    mean_up = dbeta / n
    mistakes = (
        Mistake(f"dL/dx{j}", gamma * ups[j - 1] / s,
                "that treats mu and s as constants; both depend on x_j too"),
        Mistake(f"dL/dx{j}", gamma * (ups[j - 1] - mean_up) / s,
                "that keeps the path through mu but leaves out the one through the variance"),
        Mistake(f"dL/dx{j}", dd[j - 1], f"that is dL/dd{j}; add the path through mu, "
                                        f"dL/dmu / {n}"),
        Mistake("dL/dgamma", sum(g * xi for g, xi in zip(ups, xs, strict=True)),
                "that uses x; gamma multiplies xhat"),
        Mistake("dL/dgamma", float(sum(gi * di for gi, di in zip(fg, d, strict=True))),
                "that uses x - mu; gamma multiplies xhat = (x - mu) / s"),
        Mistake("dL/dbeta", mean_up, "that is the mean; beta is added to every y_i, so their "
                                     "gradients add up"),
    )
    given: dict[str, float] = {f"x{i}": xs[i - 1] for i in idx}
    given.update(gamma=gamma, beta=beta, eps=eps)
    given.update({f"dL/dy{i}": ups[i - 1] for i in idx})
    return Problem(
        kind="batchnorm", title=f"batchnorm over one column of {n}",
        graph=(f"mu = ({' + '.join(f'x{i}' for i in idx)}) / {n}",
               f"v = ({' + '.join(f'(x{i} - mu)^2' for i in idx)}) / {n}",
               "xhat_i = (x_i - mu) / sqrt(v + eps)",
               "y_i = gamma * xhat_i + beta"),
        given=given,
        given_text=f"x = ({names}) = {vector(xs)}, gamma = {fmt(gamma)}, beta = {fmt(beta)}, "
                   f"eps = {fmt(eps)}",
        upstream_text=f"dL/dy = (dL/dy1, ..., dL/dy{n}) = {vector(ups)}",
        asked=asked, key=key, forward=forward, backward=backward, mistakes=mistakes,
        notes=("v is the biased variance (divided by N), as batchnorm uses in training.",
               *(("eps = 0, so s = sqrt(v).",) if eps == 0 else ())),
        solution_notes=(f"All of dL/dx = {vector(dx)}; it sums to 0: adding the same number "
                        f"to every x_i changes nothing after the normalization.",))


def draw(rng: Draw) -> Problem:
    """A column of 3 or 4 distinct halves in [-2, 4], gamma in [0.5, 2], upstream of one decimal."""
    for _ in range(MAX_ATTEMPTS):
        n = rng.choice((3, 4))
        xs = [k / 2 for k in rng.distinct_integers(n, -4, 8)]
        gamma, beta = rng.tenths(5, 20), rng.tenths(-10, 10)
        ups = [rng.tenths(-10, 10, nonzero=True) for _ in range(n)]
        ask = rng.integer(1, n)
        if abs(sum((as_fraction(g) for g in ups), Fraction(0))) < Fraction(1, 20):
            continue                              # dL/dbeta would be (nearly) 0
        problem = batchnorm_column(xs, gamma, beta, ups, ask=ask)
        if abs(problem.key["dL/dgamma"]) >= 0.01:
            return problem
    raise exhausted(WHERE)
