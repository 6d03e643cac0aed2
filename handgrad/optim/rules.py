"""Update rules: ``next_w, config = rule(w, dw, config=None)``, with CS231n semantics.

Each rule takes a parameter ``w``, its gradient ``dw`` (same shape and dtype) and a ``config``
dict holding the rule's hyper-parameters and its state for this parameter. Missing keys get
the defaults listed below; a key the rule does not know is a ``ValueError`` that names the key
and the rule. State arrays (``velocity``, ``cache``, ``m``, ``v``) are created as zeros in
``w``'s dtype on the first call and updated **in place** afterwards; the caller's ``config``
dict is filled in and returned (as in CS231n). ``w`` itself is never modified: ``next_w`` is a
new array of ``w``'s shape and dtype (float32 stays float32, state included).

With ``g = dw``, ``lr = learning_rate`` and every operation elementwise:

==============  ===============================================  ===============================
rule            update                                           defaults
==============  ===============================================  ===============================
sgd             ``w - lr*g``                                     lr 1e-2
sgd_momentum    ``v = mu*v - lr*g;  w + v``                      lr 1e-2, momentum 0.9
nesterov        ``v' = mu*v - lr*g;  w - mu*v + (1 + mu)*v'``    lr 1e-2, momentum 0.9
rmsprop         ``c = rho*c + (1-rho)*g**2;``                    lr 1e-2, decay_rate 0.99,
                ``w - lr*g / (sqrt(c) + eps)``                   epsilon 1e-8
adam            ``t += 1;  m = b1*m + (1-b1)*g;``                lr 1e-3, beta1 0.9,
                ``v = b2*v + (1-b2)*g**2;``                      beta2 0.999, epsilon 1e-8
                ``w - lr*(m/(1-b1**t)) / (sqrt(v/(1-b2**t)) + eps)``
adamw           ``w - lr*wd*w``, then the adam step              adam's + weight_decay 1e-2
==============  ===============================================  ===============================

Compared with ``torch.optim`` (same defaults where both exist): sgd, rmsprop (eps outside the
square root in both), adam and adamw (weight decay ``w *= 1 - lr*wd`` before the Adam step,
``torch.optim.AdamW``) compute the same updates. sgd_momentum and nesterov keep ``v`` in units
of a step (``v = -lr * buf`` with torch's buffer ``buf = mu*buf + g``), so they match torch's
``SGD(momentum=mu[, nesterov=True])`` exactly while the learning rate is constant; when the
learning rate changes, CS231n's velocity keeps the old step sizes and torch's buffer does not.

``RULES`` maps each name to its function (the Solver's ``update_rule`` looks names up there);
every function carries ``defaults`` (hyper-parameters) and ``state_keys`` attributes. A new rule
is one function decorated with :func:`register_rule`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import numpy as np

from handgrad import validation as check

Config = dict[str, Any]
RuleFunction = Callable[..., tuple[np.ndarray, Config]]


class UpdateRule(Protocol):
    """An update rule as :func:`register_rule` leaves it: the function plus its attributes."""

    defaults: dict[str, float]
    state_keys: tuple[str, ...]
    rule_name: str

    def __call__(self, w: np.ndarray, dw: np.ndarray, config: Config | None = None
                 ) -> tuple[np.ndarray, Config]: ...


RULES: dict[str, UpdateRule] = {}
_KNOWN: dict[str, tuple[frozenset[str], frozenset[str]]] = {}  # name -> (all keys, hyper keys)

# Allowed values of each hyper-parameter, as bounds for handgrad.validation.number.
_RANGES: dict[str, dict[str, Any]] = {
    "learning_rate": {"low": 0.0},
    "momentum": {"low": 0.0, "high": 1.0, "high_open": True},
    "decay_rate": {"low": 0.0, "high": 1.0, "high_open": True},
    "beta1": {"low": 0.0, "high": 1.0, "high_open": True},
    "beta2": {"low": 0.0, "high": 1.0, "high_open": True},
    "epsilon": {"low": 0.0, "low_open": True},
    "weight_decay": {"low": 0.0},
}


def register_rule(name: str, defaults: Mapping[str, float],
                  state_keys: tuple[str, ...] = ()) -> Callable[[RuleFunction], UpdateRule]:
    """Decorator: record ``defaults`` and ``state_keys`` on the rule and add it to ``RULES``.

    ``state_keys`` lists the per-parameter state the rule keeps in ``config``: arrays shaped
    like ``w``, except ``"t"`` (an int step counter).
    """
    def decorate(fn: RuleFunction) -> UpdateRule:
        rule = cast(UpdateRule, fn)  # the attributes are set right here
        rule.defaults = dict(defaults)
        rule.state_keys = tuple(state_keys)
        rule.rule_name = name
        RULES[name] = rule
        _KNOWN[name] = (frozenset(defaults) | frozenset(state_keys), frozenset(defaults))
        return rule
    return decorate


def get_rule(name: str) -> UpdateRule:
    """Return the rule called ``name``; an unknown name lists the known ones."""
    try:
        return RULES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown update rule {name!r}; known rules: "
                         f"{', '.join(sorted(RULES))}") from None


def check_hyperparameters(name: str, config: Mapping[str, Any], *,
                          allow_state: bool = True) -> None:
    """Raise ``ValueError`` for a key rule ``name`` does not know or a value out of range.

    With ``allow_state=False`` the state keys (``velocity``, ``m``, ``t``, ...) are refused too,
    as in a Solver's ``optim_config``, which is shared by every parameter.
    """
    rule = get_rule(name)
    if not isinstance(config, Mapping):
        raise TypeError(f"{name}: config must be a dict, got {type(config).__name__}")
    all_keys, hyper_keys = _KNOWN[name]
    known = all_keys if allow_state else hyper_keys
    for key, value in config.items():
        if key not in known:
            state_note = ""
            if not allow_state and key in rule.state_keys:
                state_note = f" ({key!r} is per-parameter state, kept by the Solver)"
            raise ValueError(f"{name}: unknown config key {key!r}{state_note}; "
                             f"{name} accepts {', '.join(sorted(known))}")
        if key in hyper_keys:
            check.number(name, f"config[{key!r}]", value, **_RANGES.get(key, {}))
        elif key == "t" and (type(value) is not int or value < 0):
            _step_count(name, value)


def _step_count(rule: str, value: Any) -> int:
    return check.integer(rule, "config['t']", value, low=0,
                         expected="a non-negative integer step count")


def _setup(rule: str, w: np.ndarray, dw: np.ndarray, config: Config | None) -> Config:
    """Check ``w``/``dw``, fill in the defaults and refuse unknown keys; return ``config``."""
    check.float_array(rule, "w", w)
    check.float_array(rule, "dw", dw)
    check.same_dtype(rule, w=w, dw=dw)
    if dw.shape != w.shape:
        raise ValueError(f"{rule}: dw must have w's shape {w.shape}, got {dw.shape}")
    if config is None:
        config = {}
    check_hyperparameters(rule, config)
    for key, value in RULES[rule].defaults.items():
        config.setdefault(key, value)
    return config


def _state(rule: str, config: Config, key: str, w: np.ndarray) -> np.ndarray:
    """Return ``config[key]`` as an array of ``w``'s shape and dtype, zeros when absent.

    An array of another float dtype is converted once (and stored back); a wrong shape is an
    error, since that state belongs to another parameter.
    """
    state = config.get(key)
    if state is None:
        state = np.zeros_like(w)
    else:
        state = np.asarray(state)
        if state.shape != w.shape:
            raise ValueError(f"{rule}: config[{key!r}] has shape {state.shape} but w has shape "
                             f"{w.shape}; each parameter needs its own config")
        if state.dtype != w.dtype or not state.flags.writeable:
            state = state.astype(w.dtype)
    config[key] = state
    return state


@register_rule("sgd", {"learning_rate": 1e-2})
def sgd(w: np.ndarray, dw: np.ndarray, config: Config | None = None
        ) -> tuple[np.ndarray, Config]:
    """Vanilla stochastic gradient descent: ``next_w = w - learning_rate * dw``."""
    config = _setup("sgd", w, dw, config)
    lr = float(config["learning_rate"])
    next_w = w - lr * dw
    return next_w, config


@register_rule("sgd_momentum", {"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",))
def sgd_momentum(w: np.ndarray, dw: np.ndarray, config: Config | None = None
                 ) -> tuple[np.ndarray, Config]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw``; ``next_w = w + v``.

    ``config["velocity"]`` (zeros at first) is updated in place.
    """
    config = _setup("sgd_momentum", w, dw, config)
    lr, mu = float(config["learning_rate"]), float(config["momentum"])
    v = _state("sgd_momentum", config, "velocity", w)
    v *= mu
    next_w = np.multiply(dw, lr)
    v -= next_w
    np.add(w, v, out=next_w)
    return next_w, config


@register_rule("nesterov", {"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",))
def nesterov(w: np.ndarray, dw: np.ndarray, config: Config | None = None
             ) -> tuple[np.ndarray, Config]:
    """Nesterov momentum (Sutskever et al. 2013), in the form of the CS231n notes.

    Nesterov evaluates the gradient at the look-ahead point ``theta + mu * v``. Storing that
    point as the parameter, ``w = theta + mu * v``, turns the update into one that uses the
    gradient at ``w`` itself (which is what the model just computed)::

        v_prev = v
        v      = mu * v - lr * dw
        next_w = w - mu * v_prev + (1 + mu) * v      # = w + mu * v - lr * dw

    ``config["velocity"]`` (zeros at first) is updated in place.
    """
    config = _setup("nesterov", w, dw, config)
    lr, mu = float(config["learning_rate"]), float(config["momentum"])
    v = _state("nesterov", config, "velocity", w)
    step = np.multiply(dw, lr)
    v *= mu
    v -= step
    next_w = np.multiply(v, mu)
    next_w += w
    next_w -= step
    return next_w, config


@register_rule("rmsprop", {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
               ("cache",))
def rmsprop(w: np.ndarray, dw: np.ndarray, config: Config | None = None
            ) -> tuple[np.ndarray, Config]:
    """RMSProp: a running mean of squared gradients scales each coordinate's step::

        cache  = decay_rate * cache + (1 - decay_rate) * dw**2
        next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    ``config["cache"]`` (zeros at first) is updated in place.
    """
    config = _setup("rmsprop", w, dw, config)
    lr, rho = float(config["learning_rate"]), float(config["decay_rate"])
    eps = float(config["epsilon"])
    cache = _state("rmsprop", config, "cache", w)
    tmp = np.multiply(dw, dw)
    tmp *= 1.0 - rho
    cache *= rho
    cache += tmp
    denom = np.sqrt(cache)
    denom += eps
    np.multiply(dw, lr, out=tmp)
    tmp /= denom
    next_w = w - tmp
    return next_w, config


def _adam_step(rule: str, w: np.ndarray, dw: np.ndarray, config: Config) -> np.ndarray:
    """Advance Adam's moments (in place) and return the step ``lr * m_hat / (sqrt(v_hat)+eps)``."""
    lr, eps = float(config["learning_rate"]), float(config["epsilon"])
    b1, b2 = float(config["beta1"]), float(config["beta2"])
    m = _state(rule, config, "m", w)
    v = _state(rule, config, "v", w)
    t = _step_count(rule, config.get("t", 0)) + 1  # incremented before the bias correction
    config["t"] = t
    tmp = np.multiply(dw, 1.0 - b1)
    m *= b1
    m += tmp
    np.multiply(dw, dw, out=tmp)
    tmp *= 1.0 - b2
    v *= b2
    v += tmp
    np.divide(v, 1.0 - b2 ** t, out=tmp)   # v_hat
    np.sqrt(tmp, out=tmp)
    tmp += eps
    np.divide(m, tmp, out=tmp)             # m / (sqrt(v_hat) + eps)
    tmp *= lr / (1.0 - b1 ** t)
    return tmp


@register_rule("adam", {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
               ("m", "v", "t"))
def adam(w: np.ndarray, dw: np.ndarray, config: Config | None = None
         ) -> tuple[np.ndarray, Config]:
    """Adam (Kingma & Ba 2015) with bias correction, CS231n semantics::

        t      = t + 1                                  # before the bias correction
        m      = beta1 * m + (1 - beta1) * dw
        v      = beta2 * v + (1 - beta2) * dw**2
        m_hat  = m / (1 - beta1**t);   v_hat = v / (1 - beta2**t)
        next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    ``config["m"]`` and ``config["v"]`` (zeros at first) are updated in place; ``config["t"]``
    (0 at first) counts the steps taken.
    """
    config = _setup("adam", w, dw, config)
    next_w = w - _adam_step("adam", w, dw, config)
    return next_w, config


@register_rule("adamw", {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
                         "weight_decay": 1e-2}, ("m", "v", "t"))
def adamw(w: np.ndarray, dw: np.ndarray, config: Config | None = None
          ) -> tuple[np.ndarray, Config]:
    """AdamW (Loshchilov & Hutter 2019): Adam plus weight decay kept out of the moments::

        next_w = w - learning_rate * weight_decay * w - adam_step(dw)

    as ``torch.optim.AdamW`` (which multiplies ``w`` by ``1 - lr * wd`` before the Adam step).
    Unlike L2 regularization added to the loss, the decay is not rescaled by ``sqrt(v_hat)``.
    """
    config = _setup("adamw", w, dw, config)
    decay = float(config["learning_rate"]) * float(config["weight_decay"])
    next_w = w * (1.0 - decay)
    next_w -= _adam_step("adamw", w, dw, config)
    return next_w, config
