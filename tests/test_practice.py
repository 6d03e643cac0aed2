"""handgrad.practice and `handgrad practice`: by-hand backpropagation drills.

The true values are checked three ways, none of which reads them back from the code: the tanh
neuron of the "backprop ninja" example worked by hand, centred differences of a forward pass
written here for every kind of problem, and closed-form gradients (softmax: p - onehot;
batchnorm: the one-line dx formula).
"""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
from fractions import Fraction

import pytest

from handgrad.cli import main
from handgrad.practice import (
    AnswerError,
    agrees,
    batchnorm_column,
    grade,
    interact,
    named,
    neuron,
    parse_answer,
    problems,
    rnn_step,
    softmax_cross_entropy,
)
from handgrad.practice.catalog import kinds_of

# --- the tanh neuron, by hand ----------------------------------------------------------------
# a = 0.5 * 2 + (-0.5) = 0.5;  h = tanh(0.5);  dh/da = 1 - tanh(0.5)^2
# dL/da = 0.4 * (1 - tanh(0.5)^2);  dL/dw = dL/da * x;  dL/dx = dL/da * w;  dL/db = dL/da
NINJA_LOCAL = 1 - math.tanh(0.5) ** 2
NINJA = {
    "dh/da": NINJA_LOCAL,
    "dL/da": 0.4 * NINJA_LOCAL,
    "dL/dw": 0.4 * NINJA_LOCAL * 2,
    "dL/dx": 0.4 * NINJA_LOCAL * 0.5,
    "dL/db": 0.4 * NINJA_LOCAL,
}
# the same, rounded on paper to three significant digits (tanh(0.5) = 0.46212)
NINJA_BY_HAND = {"dh/da": "0.786", "dL/da": "0.315", "dL/dw": "0.629", "dL/dx": "0.157",
                 "dL/db": "0.315"}


def test_the_tanh_neuron_example_gives_the_hand_worked_chain():
    for problem in (named("ninja"), neuron("tanh", w=0.5, x=2, b=-0.5, upstream=0.4)):
        assert problem.asked == tuple(NINJA)
        for name, value in NINJA.items():
            assert problem.key[name] == pytest.approx(value, rel=1e-12), name
        assert problem.given == {"w": 0.5, "x": 2.0, "b": -0.5, "dL/dh": 0.4}
        assert problem.check(NINJA_BY_HAND).all_right
    assert NINJA["dL/dw"] == pytest.approx(0.62916, abs=1e-5)


def test_the_tanh_neuron_solution_shows_every_step_in_order():
    text = str(named("ninja").solution())
    expected_in_order = [
        "a = w*x + b = 0.5*2 + (-0.5) = 0.5",
        "h = tanh(a) = tanh(0.5) = 0.46212",
        "local  dh/da = 1 - tanh(a)^2 = 1 - h^2 = 1 - 0.46212^2 = 0.78645   <- answer 0.786",
        "chain  dL/da = dL/dh * dh/da = 0.4 * 0.78645 = 0.31458   <- answer 0.315",
        "chain  dL/dw = dL/da * da/dw = dL/da * x = 0.31458 * 2 = 0.62916   <- answer 0.629",
        "chain  dL/dx = dL/da * da/dx = dL/da * w = 0.31458 * 0.5 = 0.15729   <- answer 0.157",
        "chain  dL/db = dL/da * da/db = dL/da * 1 = 0.31458 * 1 = 0.31458   <- answer 0.315",
    ]
    position = -1
    for line in expected_in_order:
        found = text.find(line)
        assert found > position, f"{line!r} missing or out of order in:\n{text}"
        position = found
    assert "Backward pass from dL/dh = 0.4" in text


def test_solution_markdown_is_a_table_with_the_asked_values_marked():
    markdown = named("ninja").solution()._repr_markdown_()
    assert "| pass | quantity | formula | with the numbers | value |" in markdown
    assert "| chain | **dL/dw** | `dL/da * da/dw = dL/da * x` | `0.31458 * 2` | **0.62916** " \
           "(answer 0.629) |" in markdown
    assert "| forward | h | `tanh(a)` | `tanh(0.5)` | 0.46212 |" in markdown


# --- every kind against centred differences of a forward written here ------------------------

def centred(f, point: dict, name: str, step: float = 1e-6) -> float:
    up, down = dict(point), dict(point)
    up[name] += step
    down[name] -= step
    return (f(up) - f(down)) / (2 * step)


def activation(name: str, a: float) -> float:
    if name == "tanh":
        return math.tanh(a)
    if name == "sigmoid":
        return 1 / (1 + math.exp(-a))
    return max(0.0, a)


def neuron_loss(kind: str, upstream: float):
    def loss(v: dict) -> float:
        a = v["b"] + sum(v[k] * v["x" + k[1:]] for k in v if k.startswith("w"))
        return upstream * activation(kind, a)
    return loss


def check_against_differences(problem, f, point, rel=1e-6, abs_=1e-9):
    for quantity in problem.asked:
        variable = quantity.split("/d", 1)[1]
        numeric = centred(f, point, variable)
        assert problem.key[quantity] == pytest.approx(numeric, rel=rel, abs=abs_), (
            f"{problem.title}: {quantity} = {problem.key[quantity]}, centred difference "
            f"{numeric}")


def neuron_point(problem) -> tuple[str, dict, float]:
    kind = problem.title.split()[0]
    given = dict(problem.given)
    upstream = given.pop("dL/dh")
    return kind, given, upstream


@pytest.mark.parametrize("seed", range(12))
def test_neuron_answers_match_centred_differences(seed):
    for problem in problems(seed=seed, count=3, kind="neuron"):
        kind, point, upstream = neuron_point(problem)
        a = point["b"] + sum(point[k] * point["x" + k[1:]] for k in point if k[0] == "w")
        if kind == "relu":
            assert abs(a) >= 0.1   # drawn away from the kink
        leaves = [q for q in problem.asked if q not in ("dh/da", "dL/da")]
        for quantity in leaves:
            numeric = centred(neuron_loss(kind, upstream), point, quantity[4:])
            assert problem.key[quantity] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
        # dh/da and dL/da: differentiate with respect to a itself
        local = centred(lambda v, k=kind: activation(k, v["a"]), {"a": a}, "a")
        assert problem.key["dh/da"] == pytest.approx(local, rel=1e-6, abs=1e-9)
        assert problem.key["dL/da"] == pytest.approx(upstream * local, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("kind,w,x,b,up,off", [
    ("sigmoid", 3, 2, 0, 1.0, False),                  # saturated: s(6)(1 - s(6))
    ("relu", 1.5, -2, 0.5, 0.8, True),                 # off: every gradient exactly 0
    ("relu", (0.5, -1), (2, 0.5), 0.25, -1.5, False),  # two inputs, on
    ("tanh", (0.1, 0.2), (3, -1.5), 0, 2.0, False),    # a = 0 exactly: tanh'(0) = 1
])
def test_constructed_neurons_match_centred_differences(kind, w, x, b, up, off):
    problem = neuron(kind, w=w, x=x, b=b, upstream=up)
    _, point, upstream = neuron_point(problem)
    for quantity in problem.asked[2:]:
        numeric = centred(neuron_loss(kind, upstream), point, quantity[4:])
        assert problem.key[quantity] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    if off:
        assert all(problem.key[q] == 0 for q in problem.asked)
        assert problem.check({q: "0" for q in problem.asked}).all_right
        assert "dead ReLU" in str(problem.solution())
    else:
        assert "dead ReLU" not in str(problem.solution())
    if kind == "sigmoid":
        s = 1 / (1 + math.exp(-6))
        assert problem.key["dh/da"] == pytest.approx(s * (1 - s), rel=1e-12)
    if kind == "tanh":
        assert problem.key["dh/da"] == 1.0


def softmax_loss(y: int, classes: int):
    def loss(v: dict) -> float:
        z = [v[f"z{k}"] for k in range(1, classes + 1)]
        return -z[y - 1] + math.log(sum(math.exp(t) for t in z))
    return loss


@pytest.mark.parametrize("seed", range(12))
def test_softmax_answers_match_centred_differences_and_p_minus_onehot(seed):
    for problem in problems(seed=seed, count=3, kind="softmax"):
        point = {k: v for k, v in problem.given.items() if k.startswith("z")}
        y = problem.given["y"]
        check_against_differences(problem, softmax_loss(y, 3), point)
        z = list(point.values())
        total = sum(math.exp(t) for t in z)
        for quantity in problem.asked:
            k = int(quantity[-1])
            p = math.exp(z[k - 1]) / total
            assert problem.key[quantity] == pytest.approx(p - (k == y), rel=1e-12)


def batchnorm_loss(n: int, eps: float):
    def loss(v: dict) -> float:
        x = [v[f"x{i}"] for i in range(1, n + 1)]
        mu = sum(x) / n
        var = sum((t - mu) ** 2 for t in x) / n
        y = [v["gamma"] * (t - mu) / math.sqrt(var + eps) + v["beta"] for t in x]
        return sum(v[f"g{i}"] * y[i - 1] for i in range(1, n + 1))
    return loss


def batchnorm_point(problem) -> tuple[dict, int, float]:
    n = sum(1 for k in problem.given if k.startswith("x"))
    point = {k: v for k, v in problem.given.items() if k[0] == "x" or k in ("gamma", "beta")}
    point.update({f"g{i}": problem.given[f"dL/dy{i}"] for i in range(1, n + 1)})
    return point, n, problem.given["eps"]


def batchnorm_dx(point: dict, n: int, eps: float, j: int) -> float:
    """The closed form: dx_j = gamma / (N s) * (N g_j - sum g - xhat_j * sum(g * xhat))."""
    x = [point[f"x{i}"] for i in range(1, n + 1)]
    g = [point[f"g{i}"] for i in range(1, n + 1)]
    mu = sum(x) / n
    s = math.sqrt(sum((t - mu) ** 2 for t in x) / n + eps)
    xhat = [(t - mu) / s for t in x]
    return point["gamma"] / (n * s) * (n * g[j - 1] - sum(g) - xhat[j - 1] * sum(
        gi * xi for gi, xi in zip(g, xhat, strict=True)))


@pytest.mark.parametrize("seed", range(12))
def test_batchnorm_answers_match_centred_differences_and_closed_form(seed):
    for problem in problems(seed=seed, count=3, kind="batchnorm"):
        point, n, eps = batchnorm_point(problem)
        assert n in (3, 4)
        check_against_differences(problem, batchnorm_loss(n, eps), point, rel=1e-6)
        j = int(problem.asked[2][len("dL/dx"):])
        assert problem.key[f"dL/dx{j}"] == pytest.approx(batchnorm_dx(point, n, eps, j),
                                                         rel=1e-9, abs=1e-12)
        assert problem.key["dL/dbeta"] == pytest.approx(sum(
            problem.given[f"dL/dy{i}"] for i in range(1, n + 1)), rel=1e-12)


def test_batchnorm_with_eps_and_an_exactly_zero_gradient():
    problem = batchnorm_column((1, 2, 4), gamma=1.5, beta=0, upstream=(0.1, 0.2, -0.3), ask=2,
                               eps=0.5)
    point, n, eps = batchnorm_point(problem)
    check_against_differences(problem, batchnorm_loss(n, eps), point)
    # the upstream gradients sum to 0 in decimals, so dL/dbeta is 0 exactly, as on paper
    assert problem.key["dL/dbeta"] == 0
    assert problem.check({"dbeta": 0})["dL/dbeta"].right


def rnn_loss(upstream: float):
    def loss(v: dict) -> float:
        return upstream * math.tanh(v["wx"] * v["x"] + v["wh"] * v["h_prev"] + v["b"])
    return loss


@pytest.mark.parametrize("seed", range(12))
def test_rnn_answers_match_centred_differences(seed):
    for problem in problems(seed=seed, count=3, kind="rnn"):
        point = dict(problem.given)
        upstream = point.pop("dL/dh")
        assert problem.asked == ("dL/dwx", "dL/dwh", "dL/dh_prev", "dL/db")
        assert -1 < point["h_prev"] < 1
        check_against_differences(problem, rnn_loss(upstream), point)


def test_torch_autograd_agrees_with_every_kind():
    torch = pytest.importorskip("torch")
    for problem in problems(seed=5, count=8):
        given = {k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
                 for k, v in problem.given.items()}
        if problem.kind in ("neuron", "rnn"):
            ws = [k for k in given if k.startswith("w")]
            inputs = {"w": "x", "w1": "x1", "w2": "x2", "wx": "x", "wh": "h_prev"}
            a = given["b"] + sum(given[w] * given[inputs[w]] for w in ws)
            kind = problem.title.split()[0] if problem.kind == "neuron" else "tanh"
            h = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[kind](a)
            loss = given["dL/dh"].detach() * h
        elif problem.kind == "softmax":
            z = torch.stack([given["z1"], given["z2"], given["z3"]])
            loss = -torch.log_softmax(z, 0)[int(problem.given["y"]) - 1]
        else:
            n = sum(1 for k in given if k.startswith("x"))
            x = torch.stack([given[f"x{i}"] for i in range(1, n + 1)])
            g = torch.tensor([problem.given[f"dL/dy{i}"] for i in range(1, n + 1)],
                             dtype=torch.float64)
            # torch's batch_norm refuses eps = 0 in training mode: normalize with its ops
            y = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + problem.given["eps"])
            loss = (g * (given["gamma"] * y + given["beta"])).sum()
        loss.backward()
        for quantity in problem.asked:
            variable = quantity.split("/d", 1)[1]
            if variable in given:
                assert problem.key[quantity] == pytest.approx(
                    given[variable].grad.item(), rel=1e-9, abs=1e-12), (problem.title, quantity)


# --- seeding ----------------------------------------------------------------------------------

def test_same_seed_same_set_and_longer_sets_extend_shorter_ones():
    assert problems(seed=7) == problems(seed=7)
    assert [str(p) for p in problems(seed=7)] == [str(p) for p in problems(seed=7)]
    assert problems(seed=7, count=6)[:3] == problems(seed=7, count=3)
    assert problems(seed=7) != problems(seed=8)


def test_kinds_take_turns_and_filter():
    assert [p.kind for p in problems(seed=1, count=6)] == [
        "neuron", "softmax", "batchnorm", "rnn", "neuron", "softmax"]
    assert {p.kind for p in problems(seed=1, count=5, kind="rnn")} == {"rnn"}
    assert [p.kind for p in problems(seed=1, count=4, kind=["softmax", "rnn"])] == [
        "softmax", "rnn", "softmax", "rnn"]
    assert kinds_of(["all", "rnn"]) == ("neuron", "softmax", "batchnorm", "rnn")
    with pytest.raises(ValueError, match="kind must be 'all' or one of"):
        problems(seed=1, kind="conv")
    with pytest.raises(ValueError, match="count must be an integer from 1 to 100"):
        problems(seed=1, count=0)
    with pytest.raises(TypeError, match="seed must be an integer"):
        problems(seed="7")


def test_drawn_numbers_are_nice_and_answers_workable():
    for problem in problems(seed=11, count=40):
        for name, value in problem.given.items():
            assert Fraction(repr(float(value))) * 10 == int(Fraction(repr(float(value))) * 10), (
                f"{problem.title}: {name} = {value} has more than one decimal")
        for quantity, value in problem.key.items():
            assert value == 0 or 1e-3 <= abs(value) <= 1e3, (problem.title, quantity, value)


def test_the_same_sheet_in_fresh_interpreters_with_other_hash_seeds():
    sheets = []
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        done = subprocess.run([sys.executable, "-m", "handgrad.cli", "practice", "--seed", "7",
                               "--count", "6", "--solutions"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        sheets.append(done.stdout)
    assert sheets[0] == sheets[1]
    assert "Practice set: handgrad practice --seed 7 --count 6 --kind all" in sheets[0]


# --- the three-significant-digit rule and reading answers ---------------------------------------

@pytest.mark.parametrize("answer,truth,right", [
    ("0.501", 0.5, True), ("0.499", 0.5, True),            # one unit of 0.001 either way
    ("0.5011", 0.5, False), ("0.4989", 0.5, False),        # just beyond
    ("1.01", 1.0, True), ("0.99", 1.0, True), ("1.011", 1.0, False),
    ("122.5", 123.5, True), ("124.5", 123.5, True), ("124.51", 123.5, False),
    ("0.0009775625", 2.0 ** -10, True),                    # 2^-10 = 0.0009765625, unit 1e-6
    ("0.0009775626", 2.0 ** -10, False),
    ("0.629", 0.62915818, True), ("0.63", 0.62915818, True), ("0.630", 0.62915818, True),
    ("0.628", 0.62915818, False), ("0.6", 0.62915818, False),
    ("-0.126", -0.1258, True), ("-1.26e-1", -0.1258, True), ("0.126", -0.1258, False),
    ("0", 0.0, True), ("-0", 0.0, True), ("0.0001", 0.0, False), ("0", 1e-3, False),
    ("1/3", 1 / 3, True), ("0.333", 1 / 3, True), ("0.332", 1 / 3, False),
])
def test_three_significant_digits_at_the_edges(answer, truth, right):
    assert agrees(parse_answer(answer), truth) is right


@pytest.mark.parametrize("text,value", [
    ("-0.126", Fraction(-126, 1000)), ("1.26e-1", Fraction(126, 1000)), ("1/3", Fraction(1, 3)),
    ("\u22120.5", Fraction(-1, 2)), ("  .5 ", Fraction(1, 2)), ("3.", Fraction(3)),
    ("+2", Fraction(2)), ("1 / 8e-1", Fraction(5, 4)), ("-2.5/4", Fraction(-5, 8)),
    ("1E3", Fraction(1000)),
])
def test_answers_are_read_exactly(text, value):
    assert parse_answer(text) == value


@pytest.mark.parametrize("text,reason", [
    ("abc", "write a decimal"), ("0,63", "decimal separator as a point"),
    ("1/0", "divides by zero"), ("nan", "finite"), ("-inf", "finite"), ("", "empty"),
    ("1e9999", "write a decimal"), ("--1", "write a decimal"), ("1..2", "write a decimal"),
    ("0x10", "write a decimal"), ("1_000", "write a decimal"), ("tanh(0.5)", "write a decimal"),
    ("1" * 101, "too long"),
])
def test_malformed_answers_say_why(text, reason):
    with pytest.raises(AnswerError, match=reason):
        parse_answer(text)


def test_check_from_python():
    problem = named("ninja")
    result = problem.check({"dL/dw": 0.63, "dx": "0.2", "dL/dB": "abc", "dh/da": None})
    assert [v.status for v in result.verdicts] == ["missing", "missing", "right", "wrong",
                                                   "malformed"]
    assert (result.right, result.total, result.all_right) == (1, 5, False)
    assert result["dL/dx"].expected == pytest.approx(NINJA["dL/dx"])
    assert "you wrote 0.2; it is 0.157 (0.15729)" in str(result)
    assert "| dL/dw | right |" in result._repr_markdown_()
    assert problem.check({"dL/dw": Fraction(629, 1000)})["dL/dw"].right
    assert not problem.check({"dL/dw": 0.628})["dL/dw"].right
    with pytest.raises(ValueError, match=r"'dL/dq' is not asked in this problem; it asks for "
                                         r"dh/da, dL/da, dL/dw, dL/dx, dL/db"):
        problem.check({"dL/dq": 1})
    with pytest.raises(ValueError, match="dL/dw is given twice, as 'dw' and as 'dL/dw'"):
        problem.check({"dw": 0.629, "dL/dw": 0.629})
    with pytest.raises(TypeError, match="must be a number or a string"):
        problem.check({"dL/dw": True})
    with pytest.raises(TypeError, match="answers must be a mapping"):
        problem.check([0.629])


def test_wrong_answers_that_match_a_known_slip_get_a_hint():
    problem = named("ninja")
    hints = {
        ("dL/dw", "0.8"): "missing the local derivative dh/da",          # 0.4 * 2
        ("dL/dw", "1.57"): "missing the upstream gradient dL/dh",        # 0.786 * 2
        ("dL/dw", "0.157"): "da/dw is x, not w",                         # dL/da * w
        ("dL/dx", "0.629"): "da/dx is w, not x",
        ("dh/da", "0.75"): "1 - a^2 uses a",                             # 1 - 0.5^2
        ("dL/da", "0.786"): "multiply it by the upstream gradient",
        ("dL/db", "-0.315"): "the size is right but the sign is not",
    }
    for (quantity, answer), hint in hints.items():
        verdict = problem.check({quantity: answer})[quantity]
        assert verdict.status == "wrong" and hint in verdict.detail, (quantity, answer, verdict)
    softmax = named("softmax")       # true class 1
    assert "true class also gets the -1" in softmax.check({"dz1": "0.659"})["dL/dz1"].detail
    assert "only the true class" in softmax.check({"dz2": "-0.758"})["dL/dz2"].detail


# --- constructors refuse bad numbers --------------------------------------------------------

@pytest.mark.parametrize("make,message", [
    (lambda: neuron("relu", w=0.1, x=3, b=-0.3, upstream=1), "exactly 0, where ReLU has a kink"),
    (lambda: neuron("gelu", w=1, x=1, b=0, upstream=1), "activation must be one of"),
    (lambda: neuron("tanh", w=(1, 2), x=1, b=0, upstream=1), "w has 2 numbers but x has 1"),
    (lambda: neuron("tanh", w=1, x=float("nan"), b=0, upstream=1), "x must be finite"),
    (lambda: neuron("tanh", w="1", x=1, b=0, upstream=1),
     "w must be a number or a sequence of one or two numbers, got str"),
    (lambda: neuron("tanh", w=(1, 2, 3), x=(1, 2, 3), b=0, upstream=1), "1 to 2 numbers, got 3"),
    (lambda: softmax_cross_entropy("abc", label=1), "logits must be a sequence of numbers"),
    (lambda: softmax_cross_entropy((1, 2, 3), label=0), "label must be a class number from 1"),
    (lambda: softmax_cross_entropy((1, 2, 3), label=1, ask=4), "ask must be a class number"),
    (lambda: softmax_cross_entropy((1, 200, 3), label=1), "within [-50, 50]"),
    (lambda: softmax_cross_entropy((1,), label=1), "2 to 6 numbers"),
    (lambda: batchnorm_column((2, 2, 2), 1, 0, (1, 2, 3)), "the variance is 0"),
    (lambda: batchnorm_column((1, 2, 3), 1, 0, (1, 2)), "upstream has 2 numbers but x has 3"),
    (lambda: batchnorm_column((1, 2, 3), 1, 0, (1, 2, 3), ask=4), "ask must be the number"),
    (lambda: rnn_step(1, 2, 3, 0.5, None, 1), "b must be a number, got NoneType"),
    (lambda: named("nope"), "no problem named 'nope'; the named problems are ninja"),
])
def test_constructors_refuse_bad_numbers_with_clear_errors(make, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("[", r"\[")):
        make()


def test_constructors_take_numpy_numbers_and_arrays():
    np = pytest.importorskip("numpy")
    problem = neuron("tanh", w=np.array([0.5]), x=np.array([2.0]), b=np.float32(-0.5),
                     upstream=np.float64(0.4))
    assert problem.check(NINJA_BY_HAND).all_right
    assert softmax_cross_entropy(np.array([2.0, 1.0, 0.1]), np.int64(1)).key == \
        named("softmax").key
    assert batchnorm_column(np.array([1.0, 2, 3, 6]), 2, 0.5, np.array([0.1, -0.2, 0.3, 0.4]),
                            ask=np.int64(1)).key == named("batchnorm").key


# --- the answers file -------------------------------------------------------------------------

def ninja_set():
    return [named("ninja"), named("softmax")]


ANSWERS = """\
# ninja, out of order, with aliases, comments and blank lines
1.dL/dw = 0.629        # right
1.dL/dx = 0.2          # wrong

1. dh/da = 7.86e-1     # right, spaces and scientific notation
1.dL/da = zero         # malformed
1.dL/db = 0.315
1.dL/db = 3.15e-1      # duplicate with the same value: fine
2.dL/dz1 = -0.341
2.dL/dz1 = -0.34       # duplicate with another value: neither counts
2.dL/dz2 =             # left empty: missing
3.dL/dw = 1            # no problem 3
2.dL/dq = 1            # not asked
what is this
"""


def test_answers_file_right_wrong_malformed_missing_out_of_order_duplicates():
    result = grade(ninja_set(), ANSWERS)
    first, second = result.results
    assert {v.quantity: v.status for v in first.verdicts} == {
        "dh/da": "right", "dL/da": "malformed", "dL/dw": "right", "dL/dx": "wrong",
        "dL/db": "right"}
    assert {v.quantity: v.status for v in second.verdicts} == {
        "dL/dz1": "duplicate", "dL/dz2": "missing", "dL/dz3": "missing"}
    assert [issue.line for issue in result.issues] == [12, 13, 14]
    assert "there is no problem 3; the set has problems 1 to 2" in str(result.issues[0])
    assert "problem 2 does not ask for dL/dq" in str(result.issues[1])
    assert "not in the form N.QUANTITY = VALUE" in str(result.issues[2])
    assert "line 9: -0.341, line 10: -0.34" in second["dL/dz1"].describe()
    assert result.score_line() == ("Score: 3/8 right (1 wrong, 1 malformed, 2 missing, "
                                   "1 duplicate, 3 lines not understood)")
    assert not result.all_right


def test_answers_file_lines_that_are_long_or_odd():
    text = "\n".join([
        "1." + " " * 990 + "x",           # no '=' after many spaces: not understood, at once
        "1.dw" + " " * 100_000 + "= 1",   # over the line limit
        "1 . dw = 0.629",                 # spaces around the point
        "1.=3", "=3", "12.", "1.dL/da = 0.315 = 0.3",
    ])
    result = grade([named("ninja")], text)
    assert [str(issue).split(":")[1].strip() for issue in result.issues] == [
        "not in the form N.QUANTITY = VALUE (e.g. 1.dL/dw = 0.629)",
        "longer than 1000 characters",
        "not in the form N.QUANTITY = VALUE (e.g. 1.dL/dw = 0.629)",
        "not in the form N.QUANTITY = VALUE (e.g. 1.dL/dw = 0.629)",
        "not in the form N.QUANTITY = VALUE (e.g. 1.dL/dw = 0.629)",
    ]
    assert all(len(str(issue)) < 200 for issue in result.issues)
    assert result.results[0]["dL/dw"].right
    assert result.results[0]["dL/da"].status == "malformed"


def test_answers_file_tolerates_crlf_and_a_byte_order_mark(tmp_path, capsys):
    path = tmp_path / "answers.txt"
    lines = [f"1.{q} = {v}" for q, v in NINJA_BY_HAND.items()]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    assert main(["practice", "--problem", "ninja", "--answers", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Score: 5/5 right" in out and "Worked solution: tanh neuron" in out


def test_command_grades_a_seeded_set_and_sets_the_exit_code(tmp_path, capsys):
    answers = tmp_path / "answers.txt"
    assert main(["practice", "--seed", "0", "--template"]) == 0
    template = capsys.readouterr().out
    assert template.startswith("# Practice set: handgrad practice --seed 0 --count 4")
    answers.write_text(template)
    assert main(["practice", "--seed", "0", "--answers", str(answers)]) == 1
    out = capsys.readouterr().out
    assert "Score: 0/17 right (17 missing)" in out

    # fill the template from independent computations of problem 4 (the RNN step) only
    rnn = problems(seed=0)[3]
    g = dict(rnn.given)
    a = g["wx"] * g["x"] + g["wh"] * g["h_prev"] + g["b"]
    da = g["dL/dh"] * (1 - math.tanh(a) ** 2)
    by_hand = {"dL/dwx": da * g["x"], "dL/dwh": da * g["h_prev"], "dL/dh_prev": da * g["wh"],
               "dL/db": da}
    filled = template
    for quantity, value in by_hand.items():
        filled = filled.replace(f"4.{quantity} = \n", f"4.{quantity} = {value:.3g}\n")
    answers.write_text(filled)
    assert main(["practice", "--seed", "0", "--answers", str(answers),
                 "--show-solution", "never"]) == 1
    out = capsys.readouterr().out
    assert "Problem 4: vanilla RNN step: 4/4 right" in out
    assert "Worked solution" not in out
    assert "Score: 4/17 right (13 missing)" in out


def test_command_exit_zero_only_when_everything_is_right(tmp_path, capsys):
    path = tmp_path / "a.txt"
    right = "\n".join(f"1.{q} = {v}" for q, v in NINJA_BY_HAND.items())
    path.write_text(right + "\n")
    assert main(["practice", "--problem", "ninja", "--answers", str(path),
                 "--show-solution", "wrong"]) == 0
    assert "Worked solution" not in capsys.readouterr().out
    path.write_text(right + "\nnonsense\n")          # every answer right, one bad line
    assert main(["practice", "--problem", "ninja", "--answers", str(path)]) == 1
    assert "1 line not understood" in capsys.readouterr().out
    path.write_text(right.replace("0.629", "0.628") + "\n")
    assert main(["practice", "--problem", "ninja", "--answers", str(path),
                 "--show-solution", "wrong"]) == 1
    out = capsys.readouterr().out
    assert "dL/dw  wrong      you wrote 0.628; it is 0.629 (0.629158)" in out
    assert "Worked solution: tanh neuron" in out


@pytest.mark.parametrize("argv,message", [
    (["--answers", "{missing}"], "the answers belong to a set: give the --seed"),
    (["--seed", "0", "--answers", "{missing}"], "cannot read the answers file"),
    (["--seed", "0", "--answers", "{dir}"], "not a regular file"),
    (["--seed", "0", "--answers", "{binary}"], "not UTF-8 text"),
    (["--seed", "0", "--answers", "{big}"], "larger than 1,000,000 bytes"),
    (["--problem", "ninja", "--seed", "3"], "cannot be combined with --seed"),
    (["--seed", "0", "--count", "0"], "--count must be from 1 to 100"),
    (["--seed", "0", "--template", "--solutions"], "--solutions prints the answer key"),
])
def test_command_usage_errors_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "binary").write_bytes(b"1.dw = 0.6\xff\xfe\n")
    (tmp_path / "big").write_bytes(b"# " + b"x" * 1_000_001)
    paths = {"missing": tmp_path / "nope.txt", "dir": tmp_path, "binary": tmp_path / "binary",
             "big": tmp_path / "big"}
    argv = [a.format(**paths) for a in argv]
    assert main(["practice", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_command_print_solutions_list_and_non_terminal_stdin(capsys, monkeypatch):
    assert main(["practice", "--seed", "3", "--print"]) == 0
    sheet = capsys.readouterr().out
    assert sheet.count("Problem ") == 4 and "Find, to 3 significant digits" in sheet
    assert "Worked solution" not in sheet
    assert main(["practice", "--seed", "3", "--solutions"]) == 0
    key = capsys.readouterr().out
    assert key.count("Worked solution") == 4 and "<- answer" in key
    assert main(["practice", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "ninja" in listing and "Kinds (--kind): all, neuron, softmax, batchnorm, rnn" in listing
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["practice", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Practice set: handgrad practice --seed 3")
    assert "standard input is not a terminal" in captured.err


# --- interactive mode -------------------------------------------------------------------------

def reader(lines):
    remaining = list(lines)

    def read(prompt: str) -> str:
        if not remaining:
            raise EOFError
        line = remaining.pop(0)
        if line is KeyboardInterrupt:
            raise KeyboardInterrupt
        return line
    return read


def test_interactive_session_judges_each_answer_and_shows_the_solution():
    out = io.StringIO()
    ended = interact([named("ninja")], title="t", out=out,
                     read=reader(["0.786", "", "zero", "?", "0.8", "0.157", "0.315"]))
    text = out.getvalue()
    assert ended.finished and not ended.interrupted and not ended.all_right
    assert [v.status for v in ended.result.verdicts] == ["right", "revealed", "wrong", "right",
                                                         "right"]
    assert "type a number, ? to see the value" in text
    assert "not a number: 'zero'" in text and "try again" in text
    assert "revealed: dL/da = 0.315 (0.314579)" in text
    assert "wrong: you wrote 0.8; it is 0.629 (0.629158); missing the local derivative" in text
    assert "Worked solution: tanh neuron" in text
    assert text.rstrip().endswith("Score: 3/5 right (1 wrong, 1 revealed)")


def test_interactive_session_ends_on_eof_quit_and_ctrl_c_with_the_score_so_far():
    for lines, interrupted in ((["0.786"], False), (["0.786", "q"], False),
                               (["0.786", KeyboardInterrupt], True)):
        out = io.StringIO()
        ended = interact([named("ninja"), named("rnn")], title="t", out=out, read=reader(lines))
        assert not ended.finished and ended.interrupted is interrupted
        assert "Score so far: 1/1 right, after 1 of 9 quantities" in out.getvalue()


def test_interactive_all_right_and_solution_policy():
    out = io.StringIO()
    ended = interact([named("ninja")], title="t", out=out, solutions="wrong",
                     read=reader(list(NINJA_BY_HAND.values())))
    assert ended.all_right and "Worked solution" not in out.getvalue()


def test_interactive_command_exit_codes(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(NINJA_BY_HAND.values()) + "\n"))
    assert main(["practice", "--problem", "ninja", "--interactive"]) == 0
    out = capsys.readouterr().out
    assert "1.dL/dw = 0.629\n  right" in out      # piped answers are echoed after the prompt
    monkeypatch.setattr(sys, "stdin", io.StringIO("0.786\n"))
    assert main(["practice", "--problem", "ninja", "--interactive"]) == 1

    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("builtins.input", interrupted)
    assert main(["practice", "--problem", "ninja", "--interactive"]) == 130
    assert "Score so far: 0/0 right" in capsys.readouterr().out
