"""Update rules: CS231n notebook test vectors, hand-computed steps, contract, PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from handgrad.optim import (
    RULES,
    adam,
    adamw,
    get_rule,
    nesterov,
    rmsprop,
    sgd,
    sgd_momentum,
)

N, D = 4, 5


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """CS231n's relative error."""
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def lin(a: float, b: float) -> np.ndarray:
    return np.linspace(a, b, num=N * D).reshape(N, D)


def entries(a: np.ndarray) -> list[float]:
    return [float(x) for x in a.ravel()]


# ---------------------------------------------------------------- CS231n FullyConnectedNets
# Inputs of the notebook's checks; the expected arrays are the notebook's published values
# (8 decimals). Each rule's output is checked against them to all 8 published decimals and,
# to 1e-12, against the formula written out again below with Python floats, one entry at a
# time, with no NumPy arithmetic.

PUBLISHED_MOMENTUM_W = [
    [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
    [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
    [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
    [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]]
PUBLISHED_MOMENTUM_V = [
    [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
    [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
    [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
    [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]]
PUBLISHED_RMSPROP_W = [
    [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
    [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
    [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
    [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]]
PUBLISHED_RMSPROP_CACHE = [
    [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
    [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
    [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
    [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]]
PUBLISHED_ADAM_W = [
    [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
    [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
    [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
    [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]]
PUBLISHED_ADAM_V = [
    [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
    [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
    [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
    [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]]
PUBLISHED_ADAM_M = [
    [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
    [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
    [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
    [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]]


def assert_published(got: np.ndarray, published: list[list[float]]) -> None:
    """Equal to every published decimal (within half a unit of the 8th) and rel. error < 2e-7.

    The notebook itself reports 1.14e-7 for Adam's next_w: its entry 0.01971428 is rounded
    from 0.0197142755, and rounding alone gives 4.5e-9 / 0.039 = 1.1e-7 there.
    """
    expected = np.asarray(published)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 5.0001e-9
    assert rel_error(got, expected) < 2e-7


def test_sgd_momentum_cs231n_vector():
    w, dw, v = lin(-0.4, 0.6), lin(-0.6, 0.4), lin(0.6, 0.9)
    w_in, v_in = entries(w), entries(v)
    config = {"learning_rate": 1e-3, "velocity": v}
    next_w, config = sgd_momentum(w, dw, config=config)

    # v = 0.9 * v - 1e-3 * dw;  next_w = w + v, entry by entry.
    exp_v = [0.9 * vi - 1e-3 * gi for vi, gi in zip(v_in, entries(dw), strict=True)]
    exp_w = [wi + vi for wi, vi in zip(w_in, exp_v, strict=True)]
    # By hand, entry [0, 0]: v = 0.9*0.6 - 1e-3*(-0.6) = 0.54 + 0.0006 = 0.5406,
    # next_w = -0.4 + 0.5406 = 0.1406; entry [3, 4]: v = 0.9*0.9 - 1e-3*0.4 = 0.8096,
    # next_w = 0.6 + 0.8096 = 1.4096.
    assert exp_v[0] == pytest.approx(0.5406, abs=1e-15)
    assert exp_w[-1] == pytest.approx(1.4096, abs=1e-15)
    assert rel_error(next_w, np.reshape(exp_w, (N, D))) < 1e-12
    assert rel_error(config["velocity"], np.reshape(exp_v, (N, D))) < 1e-12
    assert_published(next_w, PUBLISHED_MOMENTUM_W)
    assert_published(config["velocity"], PUBLISHED_MOMENTUM_V)


def test_rmsprop_cs231n_vector():
    w, dw, cache = lin(-0.4, 0.6), lin(-0.6, 0.4), lin(0.6, 0.9)
    w_in, c_in = entries(w), entries(cache)
    next_w, config = rmsprop(w, dw, config={"learning_rate": 1e-2, "cache": cache})

    exp_c = [0.99 * ci + 0.01 * gi * gi for ci, gi in zip(c_in, entries(dw), strict=True)]
    exp_w = [wi - 1e-2 * gi / (math.sqrt(ci) + 1e-8)
             for wi, gi, ci in zip(w_in, entries(dw), exp_c, strict=True)]
    # By hand, entry [0, 0]: cache = 0.99*0.6 + 0.01*0.36 = 0.594 + 0.0036 = 0.5976,
    # sqrt(0.5976) = 0.773046, next_w = -0.4 + 0.006 / 0.773046 = -0.4 + 0.0077615 = -0.3922385.
    assert exp_c[0] == pytest.approx(0.5976, abs=1e-15)
    assert exp_w[0] == pytest.approx(-0.3922385, abs=1e-7)
    assert rel_error(next_w, np.reshape(exp_w, (N, D))) < 1e-12
    assert rel_error(config["cache"], np.reshape(exp_c, (N, D))) < 1e-12
    assert_published(next_w, PUBLISHED_RMSPROP_W)
    assert_published(config["cache"], PUBLISHED_RMSPROP_CACHE)


def test_adam_cs231n_vector():
    w, dw = lin(-0.4, 0.6), lin(-0.6, 0.4)
    m, v = lin(0.6, 0.9), lin(0.7, 0.5)
    w_in, m_in, v_in = entries(w), entries(m), entries(v)
    config = {"learning_rate": 1e-2, "m": m, "v": v, "t": 5}
    next_w, config = adam(w, dw, config=config)

    t = 6  # incremented before the bias correction
    exp_m = [0.9 * mi + 0.1 * gi for mi, gi in zip(m_in, entries(dw), strict=True)]
    exp_v = [0.999 * vi + 0.001 * gi * gi for vi, gi in zip(v_in, entries(dw), strict=True)]
    exp_w = [wi - 1e-2 * (mi / (1 - 0.9 ** t)) / (math.sqrt(vi / (1 - 0.999 ** t)) + 1e-8)
             for wi, mi, vi in zip(w_in, exp_m, exp_v, strict=True)]
    # By hand, entry [0, 0]: m = 0.9*0.6 + 0.1*(-0.6) = 0.48, v = 0.999*0.7 + 0.001*0.36 =
    # 0.69966; m_hat = 0.48 / (1 - 0.9^6) = 0.48 / 0.468559 = 1.024417, v_hat = 0.69966 /
    # (1 - 0.999^6) = 0.69966 / 0.0059850 = 116.903, sqrt = 10.8122;
    # next_w = -0.4 - 0.01 * 1.024417 / 10.8122 = -0.4 - 0.00094747 = -0.40094747.
    assert exp_m[0] == pytest.approx(0.48, abs=1e-15)
    assert exp_v[0] == pytest.approx(0.69966, abs=1e-15)
    assert exp_w[0] == pytest.approx(-0.40094747, abs=1e-8)
    assert config["t"] == 6
    assert rel_error(next_w, np.reshape(exp_w, (N, D))) < 1e-12
    assert rel_error(config["m"], np.reshape(exp_m, (N, D))) < 1e-12
    assert rel_error(config["v"], np.reshape(exp_v, (N, D))) < 1e-12
    assert_published(next_w, PUBLISHED_ADAM_W)
    assert_published(config["m"], PUBLISHED_ADAM_M)
    assert_published(config["v"], PUBLISHED_ADAM_V)


# ---------------------------------------------------------------- several steps by hand

def run(rule, w0: float, grads: list[float], **config) -> list[float]:
    """Apply ``rule`` to a scalar parameter (shape (1,)) with the given gradients."""
    w = np.array([w0])
    out = []
    for g in grads:
        w, config = rule(w, np.array([g]), config)
        out.append(float(w[0]))
    return out


def test_sgd_steps_by_hand():
    # 1 - 0.1*2 = 0.8; 0.8 - 0.1*(-1) = 0.9; 0.9 - 0.1*0.5 = 0.85
    assert run(sgd, 1.0, [2.0, -1.0, 0.5], learning_rate=0.1) == pytest.approx(
        [0.8, 0.9, 0.85], abs=1e-15)
    # default learning rate 1e-2: 1 - 0.01*2 = 0.98
    assert run(sgd, 1.0, [2.0]) == pytest.approx([0.98], abs=1e-15)


def test_sgd_momentum_steps_by_hand():
    # lr 0.1, mu 0.9, g = 1, 1, -2:
    # v1 = -0.1,                 w1 = 0.9
    # v2 = 0.9*(-0.1) - 0.1 = -0.19,   w2 = 0.71
    # v3 = 0.9*(-0.19) + 0.2 = 0.029,  w3 = 0.739
    assert run(sgd_momentum, 1.0, [1.0, 1.0, -2.0], learning_rate=0.1) == pytest.approx(
        [0.9, 0.71, 0.739], abs=1e-14)


def test_nesterov_steps_by_hand():
    # next_w = w + mu*v_new - lr*g with v_new = mu*v - lr*g (lr 0.1, mu 0.9), g = 1, 1, -2:
    # v1 = -0.1,   w1 = 1 + 0.9*(-0.1) - 0.1 = 0.81
    # v2 = -0.19,  w2 = 0.81 + 0.9*(-0.19) - 0.1 = 0.81 - 0.171 - 0.1 = 0.539
    # v3 = 0.029,  w3 = 0.539 + 0.9*0.029 + 0.2 = 0.539 + 0.0261 + 0.2 = 0.7651
    assert run(nesterov, 1.0, [1.0, 1.0, -2.0], learning_rate=0.1) == pytest.approx(
        [0.81, 0.539, 0.7651], abs=1e-14)


def test_nesterov_equals_the_textbook_lookahead_form():
    # Sutskever: v = mu*v - lr*grad(theta + mu*v); theta += v. With w = theta + mu*v the rule
    # sees grad(w). On f(x) = 0.5 * a * x^2 (grad a*x) both forms must give the same w.
    a, lr, mu = 3.0, 0.05, 0.9
    theta, v = 2.0, 0.0
    w, config = np.array([theta + mu * v]), {"learning_rate": lr, "momentum": mu}
    for _ in range(5):
        v = mu * v - lr * a * (theta + mu * v)
        theta += v
        w, config = nesterov(w, a * w, config)
        assert float(w[0]) == pytest.approx(theta + mu * v, abs=1e-12)


def test_rmsprop_steps_by_hand():
    # lr 0.1, decay 0.9, g = 1, -1:
    # c1 = 0.1*1 = 0.1,         w1 = 1 - 0.1/(sqrt(0.1) + 1e-8) = 1 - 0.3162277 = 0.6837722
    # c2 = 0.09 + 0.1 = 0.19,   w2 = 0.6837722 + 0.1/sqrt(0.19) = 0.6837722 + 0.2294157 = 0.9131880
    got = run(rmsprop, 1.0, [1.0, -1.0], learning_rate=0.1, decay_rate=0.9)
    assert got == pytest.approx([0.6837722, 0.9131880], abs=1e-7)


def test_adam_steps_by_hand():
    # lr 0.1, beta1 0.9, beta2 0.999, eps 1e-8; g = 0.5, -0.25, 1.0.
    # t=1: m = 0.05, v = 0.00025; m_hat = 0.05/0.1 = 0.5, v_hat = 0.00025/0.001 = 0.25,
    #      step = 0.1*0.5/(0.5 + 1e-8) = 0.099999998          -> w = 0.900000002
    # t=2: m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225;
    #      m_hat = 0.02/0.19 = 0.1052632, v_hat = 0.00031225/0.001999 = 0.1562031,
    #      sqrt = 0.3952254, step = 0.01052632/0.3952254 = 0.0266337 -> w = 0.8733663
    # t=3: m = 0.018 + 0.1 = 0.118, v = 0.00031193775 + 0.001 = 0.00131193775;
    #      m_hat = 0.118/0.271 = 0.4354244, v_hat = 0.00131193775/0.002997001 = 0.4377502,
    #      sqrt = 0.6616269, step = 0.04354244/0.6616269 = 0.0658112 -> w = 0.8075551
    got = run(adam, 1.0, [0.5, -0.25, 1.0], learning_rate=0.1)
    assert got == pytest.approx([0.900000002, 0.8733663, 0.8075551], abs=1e-7)


def test_adamw_steps_by_hand():
    # lr 0.1, wd 0.5, g = 0.5 twice (the Adam part is 0.1*0.5/(0.5+1e-8) = 0.099999998 both
    # times, since m_hat = 0.5 and v_hat = 0.25 for a constant gradient of 0.5):
    # w1 = 2 - 0.1*0.5*2 - 0.099999998 = 2 - 0.1 - 0.099999998 = 1.800000002
    # w2 = 1.800000002*(1 - 0.05) - 0.099999998 = 1.7100000019 - 0.099999998 = 1.6100000039
    got = run(adamw, 2.0, [0.5, 0.5], learning_rate=0.1, weight_decay=0.5)
    assert got == pytest.approx([1.800000002, 1.6100000039], abs=1e-12)


def test_adamw_without_decay_is_adam():
    rng = np.random.default_rng(0)
    w, g = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    a, _ = adam(w, g, {"learning_rate": 0.01})
    b, _ = adamw(w, g, {"learning_rate": 0.01, "weight_decay": 0.0})
    assert np.array_equal(a, b)


# ---------------------------------------------------------------- contract

ALL = [sgd, sgd_momentum, nesterov, rmsprop, adam, adamw]


def test_registry():
    assert RULES == {"sgd": sgd, "sgd_momentum": sgd_momentum, "nesterov": nesterov,
                     "rmsprop": rmsprop, "adam": adam, "adamw": adamw}
    assert get_rule("adam") is adam
    with pytest.raises(ValueError, match="unknown update rule 'adma'.*adam, adamw, nesterov"):
        get_rule("adma")


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.__name__)
def test_defaults_filled_in(rule):
    w = np.ones((2, 3))
    _, config = rule(w, np.ones((2, 3)))
    expected = {"sgd": {"learning_rate": 1e-2},
                "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
                "nesterov": {"learning_rate": 1e-2, "momentum": 0.9},
                "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
                "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
                "adamw": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999,
                          "epsilon": 1e-8, "weight_decay": 1e-2}}[rule.__name__]
    for key, value in expected.items():
        assert config[key] == value
    state = {"sgd": [], "sgd_momentum": ["velocity"], "nesterov": ["velocity"],
             "rmsprop": ["cache"], "adam": ["m", "v"], "adamw": ["m", "v"]}[rule.__name__]
    assert sorted(k for k, v in config.items() if isinstance(v, np.ndarray)) == sorted(state)


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.__name__)
def test_float32_stays_float32_and_w_is_not_mutated(rule):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    w_before = w.copy()
    config = {}
    for _ in range(3):
        dw = rng.normal(size=(4, 3)).astype(np.float32)
        next_w, config = rule(w, dw, config)
        assert next_w.dtype == np.float32 and next_w.shape == (4, 3)
        assert np.array_equal(w, w_before)  # the caller's array is untouched
        assert not np.array_equal(next_w, w)
        for value in config.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32
            else:
                assert type(value) in (float, int)
        w = next_w
        w_before = w.copy()


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.__name__)
def test_float32_agrees_with_float64(rule):
    rng = np.random.default_rng(2)
    w64, c64, c32 = rng.normal(size=(5, 4)), {}, {}
    w32 = w64.astype(np.float32)
    for _ in range(4):
        g = rng.normal(size=(5, 4))
        w64, c64 = rule(w64, g, c64)
        w32, c32 = rule(w32, g.astype(np.float32), c32)
    assert np.allclose(w32, w64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.__name__)
def test_unknown_key_is_named(rule):
    with pytest.raises(ValueError, match=rf"{rule.__name__}: unknown config key 'lr'"):
        rule(np.ones(3), np.ones(3), {"lr": 0.1})


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.__name__)
def test_shape_and_dtype_mismatch(rule):
    with pytest.raises(ValueError, match="dw must have w's shape"):
        rule(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(TypeError, match="dtype"):
        rule(np.ones(3), np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match="w must have dtype float32 or float64"):
        rule(np.ones(3, dtype=np.int64), np.ones(3, dtype=np.int64))


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="momentum.*in \\[0, 1\\)"):
        sgd_momentum(np.ones(2), np.ones(2), {"momentum": 1.5})
    with pytest.raises(ValueError, match="learning_rate"):
        sgd(np.ones(2), np.ones(2), {"learning_rate": float("nan")})
    with pytest.raises(TypeError, match="learning_rate.*number"):
        sgd(np.ones(2), np.ones(2), {"learning_rate": "0.1"})
    with pytest.raises(ValueError, match="config\\['velocity'\\] has shape \\(3,\\)"):
        sgd_momentum(np.ones(2), np.ones(2), {"velocity": np.zeros(3)})
    with pytest.raises(ValueError, match=r"config\['t'\] must be a non-negative integer"):
        adam(np.ones(2), np.ones(2), {"t": -1})


def test_state_updated_in_place_and_state_of_other_dtype_converted():
    v = np.zeros(3)
    _, config = sgd_momentum(np.ones(3), np.ones(3), {"velocity": v})
    assert config["velocity"] is v and np.all(v == -0.01)
    v64 = np.zeros(3)
    _, config = sgd_momentum(np.ones(3, np.float32), np.ones(3, np.float32), {"velocity": v64})
    assert config["velocity"].dtype == np.float32 and np.all(v64 == 0)


def test_same_config_object_returned():
    config = {"learning_rate": 0.5}
    _, out = adam(np.ones(2), np.ones(2), config)
    assert out is config and config["t"] == 1


# ---------------------------------------------------------------- PyTorch cross-check

def torch_steps(opt_factory, w0: np.ndarray, grads: list[np.ndarray]) -> np.ndarray:
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = opt_factory([p])
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return p.detach().numpy()


@pytest.mark.parametrize("name", ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam",
                                  "adamw"])
def test_matches_torch(name):
    """Same updates as torch.optim over 6 steps at a constant learning rate.

    torch keeps momentum as ``buf = mu*buf + g`` and steps by ``lr*buf``; CS231n keeps
    ``v = -lr*buf``: identical while lr is constant (they differ once lr changes).
    """
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) * s for s in (1.0, 0.1, 3.0, 1.0, 0.01, 2.0)]
    lr = 0.05
    factories = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=lr),
        "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=lr, momentum=0.9),
        "nesterov": lambda ps: torch.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
        "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=0.99, eps=1e-8),
        "adam": lambda ps: torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8),
        "adamw": lambda ps: torch.optim.AdamW(ps, lr=lr, betas=(0.9, 0.999), eps=1e-8,
                                              weight_decay=1e-2),
    }
    expected = torch_steps(factories[name], w0, grads)
    w, config = w0.copy(), {"learning_rate": lr}
    for g in grads:
        w, config = RULES[name](w, g, config)
    assert np.allclose(w, expected, rtol=1e-12, atol=1e-13)
    assert not np.allclose(w, w0)
