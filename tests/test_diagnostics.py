"""The detectors of handgrad.diagnostics on constructed inputs with known answers, the rules
that turn records into findings, and the Solver Monitor (warns once, stays quiet on a healthy
net, records JSON, survives a checkpoint and resume)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from handgrad import diagnostics as dg
from handgrad.diagnostics.monitor import Monitor
from handgrad.diagnostics.rules import Thresholds, findings, sci
from handgrad.diagnostics.toy_models import Regressor, SequenceRegressor
from handgrad.models import FullyConnectedNet
from handgrad.optim import Solver

# ------------------------------------------------------------------------------ activations


def test_sigmoid_saturation_on_hand_made_outputs():
    # s(1 - s): 0.25, 0.004975, 0.004975, 0.16, 0.000999 -> three of five below 0.01
    out = np.array([[0.5, 0.005, 0.995], [0.2, 0.999, 0.5]])
    assert dg.saturated_fraction(out[:, :3].reshape(-1)[:5], "sigmoid") == pytest.approx(0.6)
    st = dg.activation_stats(out, "sigmoid", layer="layer 1")
    assert st.saturated == pytest.approx(3 / 6)
    assert st.mean == pytest.approx(np.mean(out)) and st.std == pytest.approx(np.std(out))
    assert sum(st.counts) == 6 and st.edges[0] == 0.0 and st.edges[-1] == 1.0
    assert "50.0% saturated" in st.summary() and "layer 1 (sigmoid)" in st.summary()


def test_tanh_saturation_and_threshold():
    # 1 - h^2: 1, 0.002, 0.002, 0.75, 0.0199 -> below 0.01: two; below 0.05: three
    out = np.array([0.0, 0.999, -0.999, 0.5, 0.99])
    assert dg.saturated_fraction(out, "tanh") == pytest.approx(0.4)
    assert dg.saturated_fraction(out, "tanh", threshold=0.05) == pytest.approx(0.6)
    st = dg.activation_stats(out, "tanh")
    assert st.edges[0] == -1.0 and st.edges[-1] == 1.0


def test_relu_stats_count_zeros_and_never_saturate():
    out = np.array([[0.0, 2.0], [0.0, 0.0], [3.0, 1.0]])
    st = dg.activation_stats(out, "relu")
    assert st.saturated is None and st.zero == pytest.approx(0.5)
    assert dg.saturated_fraction(out, "relu") == 0.0
    with pytest.raises(ValueError, match="activation must be"):
        dg.activation_stats(out, "gelu")


def test_model_activation_stats_match_a_textbook_forward_pass():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6))
    net = FullyConnectedNet([8, 5], 6, 3, activation="sigmoid", weight_scale=3.0, seed=1)
    p = net.params
    h1 = 1 / (1 + np.exp(-(X @ p["W1"] + p["b1"])))
    h2 = 1 / (1 + np.exp(-(h1 @ p["W2"] + p["b2"])))
    stats = dg.model_activation_stats(net, X)
    assert [s.layer for s in stats] == ["layer 1", "layer 2"]
    for st, h in zip(stats, (h1, h2), strict=True):
        assert st.saturated == pytest.approx(np.mean(h * (1 - h) < 0.01))
        assert st.mean == pytest.approx(h.mean())


# ------------------------------------------------------------------------------ dead units


def test_exactly_thirty_percent_dead():
    rng = np.random.default_rng(0)
    out = np.abs(rng.standard_normal((200, 10))) + 0.1
    out[:, [0, 3, 7]] = 0.0             # dead: 3 of 10 units
    out[:, 5] = 0.0
    out[17, 5] = 1.0                    # active on 1 of 200 = 0.5%: nearly dead
    out[:, 6] = 0.0
    out[:4, 6] = 1.0                    # active on 4 of 200 = 2%: alive
    d = dg.dead_units(out, layer="layer 2")
    assert d.dead == pytest.approx(0.30)
    assert d.nearly_dead == pytest.approx(0.10)
    assert d.dead_indices == [0, 3, 7] and d.units == 10 and d.examples == 200
    assert "30.0% of 10 units dead" in d.summary()


def test_dead_units_of_a_model_and_of_time_steps():
    net = FullyConnectedNet([10], 4, 3, activation="relu", seed=0)
    net.params["b1"][[1, 4, 8]] = -1e3  # these units can never fire on inputs of this size
    X = np.random.default_rng(1).uniform(-1, 1, (50, 4))
    (d,) = dg.model_dead_units(net, X)
    assert d.dead >= 0.30 and {1, 4, 8} <= set(d.dead_indices)
    seq = np.ones((3, 5, 4))
    seq[:, :, 2] = 0.0                  # (N, T, H): unit 2 zero at every step of every example
    d = dg.dead_units(seq)
    assert d.dead == pytest.approx(0.25) and d.examples == 15
    assert dg.model_dead_units(FullyConnectedNet([4], 4, 3, activation="tanh"), X) == []


# ------------------------------------------------------------------------------ gradient flow


def test_update_ratio_relative_gradient_and_layer_ratios():
    before = {"W1": np.array([[3.0, 4.0]]), "b1": np.zeros(2)}
    after = {"W1": np.array([[3.0, 4.5]]), "b1": np.array([0.1, 0.0])}
    ratios = dg.update_ratios(before, after)
    assert ratios["W1"] == pytest.approx(0.1)   # |(0, 0.5)| / |(3, 4)|
    assert ratios["b1"] is None                  # no relative size from zero
    grads = {"W1": np.full((2, 2), 1.0), "b1": np.ones(2), "W2": np.full((2, 2), 4.0)}
    params = {"W1": np.full((2, 2), 10.0), "b1": np.ones(2), "W2": np.full((2, 2), 2.0)}
    flow = dg.gradient_flow(grads, params)
    assert flow.grad_norms["W1"] == pytest.approx(2.0) and flow.grad_norms["W2"] == 8.0
    assert flow.relative["W1"] == pytest.approx(0.1) and flow.relative["W2"] == 2.0
    assert flow.layer_ratios == {"W1/W2": pytest.approx(0.25)}
    assert "W1/W2 0.25" in flow.summary()


def test_update_ratio_of_an_sgd_step_is_lr_times_gradient_over_weight():
    rng = np.random.default_rng(2)
    net = FullyConnectedNet([7], 5, 3, seed=0)
    X, y = rng.standard_normal((20, 5)), rng.integers(0, 3, 20)
    before = {k: v.copy() for k, v in net.params.items()}
    _, grads = net.loss(X, y)
    lr = 1e-2
    after = {k: before[k] - lr * grads[k] for k in before}
    flow = dg.gradient_flow(grads, after, before)
    for name in ("W1", "W2"):
        expected = lr * np.sqrt(np.sum(grads[name] ** 2)) / np.sqrt(np.sum(before[name] ** 2))
        assert flow.update_ratios[name] == pytest.approx(expected, rel=1e-12)


def test_model_gradient_flow_leaves_batchnorm_statistics_alone():
    net = FullyConnectedNet([6], 4, 3, normalization="batchnorm", seed=0)
    X = np.random.default_rng(3).standard_normal((10, 4))
    before = {k: v.copy() for k, v in net.buffers.items()}
    flow = dg.model_gradient_flow(net, X, np.arange(10) % 3)
    assert set(flow.grad_norms) == set(net.params)
    for k, v in net.buffers.items():
        np.testing.assert_array_equal(v, before[k])


# ------------------------------------------------------------------------------ recurrent


def _positive_relu_rnn(diag: float, steps: int, n: int = 3, d: int = 2, h: int = 4):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.0, (n, steps, d))       # positive inputs, positive weights and bias:
    Wx = rng.uniform(0.1, 0.5, (d, h))             # every pre-activation stays positive, so the
    b = np.full(h, 0.1)                            # ReLU is the identity (the linear regime)
    return x, np.zeros((n, h)), Wx, diag * np.eye(h), b


@pytest.mark.parametrize("diag, verdict", [(1.1, "exploding"), (0.9, "vanishing"),
                                           (1.0, "healthy")])
def test_diagonal_wh_grows_the_gradient_by_its_entry_per_step(diag, verdict):
    steps = 60
    x, h0, Wx, Wh, b = _positive_relu_rnn(diag, steps)
    dlast = np.random.default_rng(1).standard_normal((3, 4))
    flow = dg.rnn_gradient_flow(x, h0, Wx, Wh, b, activation="relu", dlast=dlast)
    norms = np.array(flow.norms)
    expected = np.linalg.norm(dlast) * diag ** np.arange(steps - 1, -1, -1)
    np.testing.assert_allclose(norms, expected, rtol=1e-10)
    assert flow.ratio == pytest.approx(diag ** (steps - 1), rel=1e-10)
    assert flow.per_step == pytest.approx(diag, rel=1e-10)
    assert flow.spectral_radius == pytest.approx(diag)
    assert flow.verdict == verdict and verdict in flow.summary()


def test_spectral_radius_of_a_rotation_and_verdict_thresholds():
    c, s = np.cos(0.3), np.sin(0.3)
    assert dg.spectral_radius(0.7 * np.array([[c, -s], [s, c]])) == pytest.approx(0.7)
    from handgrad.diagnostics.recurrent import verdict

    assert verdict(1e2 + 1) == "exploding" and verdict(None) == "exploding"
    assert verdict(1e-2 / 2) == "vanishing" and verdict(1.0) == "healthy"
    with pytest.raises(ValueError, match="square"):
        dg.spectral_radius(np.zeros((2, 3)))


def test_hidden_grad_norms_and_tanh_with_zero_recurrence_vanishes():
    g = np.zeros((2, 3, 2))
    g[0, 1] = [3.0, 4.0]
    np.testing.assert_allclose(dg.hidden_grad_norms(g), [0, 5, 0])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3))
    flow = dg.rnn_gradient_flow(x, np.zeros((2, 4)), rng.standard_normal((3, 4)),
                                np.zeros((4, 4)), np.zeros(4))
    assert flow.norms[0] == 0.0 and flow.ratio == 0.0 and flow.verdict == "vanishing"


def test_model_recurrent_flow_on_a_language_model():
    from handgrad.models import RNNLanguageModel

    model = RNNLanguageModel(vocab_size=7, wordvec_dim=3, hidden_dim=5, seed=0)
    X = np.random.default_rng(0).integers(0, 7, (4, 9))
    flow = dg.model_recurrent_flow(model, X)
    assert flow.steps == 9 and flow.activation == "tanh"
    assert flow.spectral_radius == pytest.approx(
        np.max(np.abs(np.linalg.eigvals(model.params["Wh"]))))
    with pytest.raises(TypeError, match="recurrent parameters"):
        dg.model_recurrent_flow(FullyConnectedNet([3], 2, 2), np.zeros((2, 2)))


# ------------------------------------------------------------------------------ zeroed


def test_zero_fractions_per_parameter_and_per_example():
    assert dg.zero_fraction(np.array([[0.0, 1.0], [0.0, 0.0]])) == pytest.approx(0.75)
    rows = np.array([[0.0, 0.0], [0.0, 1e-300], [2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_array_equal(dg.zero_examples(rows), [True, False, False, True])
    z = dg.zeroed_gradients({"W": np.array([0.0, 3.0])}, rows)
    assert z.per_param == {"W": 0.5} and z.examples == 0.5 and z.zero_indices == [0, 3]
    assert "50.0% of examples" in z.summary()


def test_per_example_zero_gradients_of_the_clipped_regressor():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 3)), rng.normal(0.0, 3.0, 30)
    model = Regressor(3, 8, "clipped_error_mse", 1.0, seed=0)
    over = np.abs(model.loss(X)[:, 0] - y) > 1.0
    from handgrad.diagnostics.zeroed import model_output_gradients

    mask = dg.zero_examples(model_output_gradients(model, X, y))
    np.testing.assert_array_equal(mask, over)
    huber = Regressor(3, 8, "huber", 1.0, seed=0)
    assert not dg.zero_examples(model_output_gradients(huber, X, y)).any()


# ------------------------------------------------------------------------------ rules


def test_sci_formats_powers_of_ten():
    assert sci(2e-4) == "2e-4" and sci(1e12) == "1e12" and sci(0.3) == "0.3"
    assert sci(0) == "0" and sci(-3e-6) == "-3e-6"


def test_findings_messages_and_thresholds():
    record = {
        "step": 150, "epoch": 2, "task": "regression", "weights": ["W1", "W2"],
        "layers": [{"layer": "layer 1", "activation": "sigmoid", "saturated": 0.97},
                   {"layer": "layer 2", "activation": "relu", "saturated": None,
                    "dead": 0.41}],
        "relative": {"W1": 1e-6}, "update_ratios": {"W1": 0.3, "b1": 5.0, "W2": 1e-3},
        "zero_examples": 0.8, "zero_fraction": {"W1": 0.0},
        "recurrent": {"norms": [1.0] * 51, "ratio": 1e12, "spectral_radius": 1.5,
                      "activation": "relu"},
    }
    found = findings(record, learning_rate=0.1)
    messages = [f.message for f in found]
    assert messages[0] == ('layer 1 (sigmoid): 97% of units saturated; gradient reaching W1 '
                           'is 1e-6 of its size; lower weight_scale or use init="xavier"')
    assert messages[1] == ("layer 2 (relu): 41% of units dead at step 150 (epoch 3); "
                           "learning rate 0.1 may be too high")
    assert any(m.startswith("W1: each update changes it by 0.3 of its size") for m in messages)
    assert not any(m.startswith("b1") for m in messages)   # biases are not judged
    assert any(m.startswith("rnn: dL/dh_0 is 1e12 times dL/dh_50; clip gradients (clip_norm)")
               for m in messages)
    assert any("use the Huber loss" in m for m in messages)
    assert [f.kind for f in found] == ["saturated", "dead", "update_high", "exploding",
                                       "zero_examples"]
    quiet = findings(record, Thresholds(saturated=0.99, dead=0.5, update_high=1.0,
                                        exploding=1e13, zero_examples=0.9))
    assert quiet == []
    record["task"] = "classification"   # a perfectly fit softmax example has a zero gradient
    assert not any(f.kind == "zero_examples" for f in findings(record))


# ------------------------------------------------------------------------------ Monitor


def _digits(n=300):
    from handgrad.data import digits

    d = digits()
    return {"X_train": d["X_train"][:n], "y_train": d["y_train"][:n],
            "X_val": d["X_val"][:100], "y_val": d["y_val"][:100]}


def _train(net, data, monitor, **options):
    options = {"optim_config": {"learning_rate": 1e-2}, "batch_size": 50, "num_epochs": 2,
               "verbose": False, "seed": 0, **options}
    solver = Solver(net, data, callbacks=[monitor], **options)
    solver.train()
    return solver


def test_monitor_warns_once_on_a_saturated_net(capsys, caplog):
    data = _digits()
    net = FullyConnectedNet([30], 64, 10, activation="sigmoid", weight_scale=300.0, seed=0)
    monitor = Monitor(every=3, probe_size=100)
    with caplog.at_level(logging.WARNING, logger="handgrad.diagnostics"):
        solver = _train(net, data, monitor, verbose=True, print_every=1000)
    err = capsys.readouterr().err
    saturated = [w for w in monitor.warnings if "saturated" in w]
    assert len(saturated) == 1
    assert saturated[0].startswith("layer 1 (sigmoid): ")
    assert "% of units saturated; gradient reaching W1 is " in saturated[0]
    assert saturated[0].endswith('of its size; lower weight_scale or use init="xavier"')
    assert err.count("diagnostics: layer 1 (sigmoid)") == 1
    assert sum("saturated" in r.getMessage() for r in caplog.records) == 1
    records = solver.history["diagnostics"]
    assert [r["step"] for r in records] == [0, 3, 6, 9, 12]
    assert all(r["layers"][0]["saturated"] > 0.9 for r in records)   # still saturated ...
    assert sum(len(r["warnings"]) for r in records) == len(monitor.warnings)  # ... said once
    json.dumps(solver.history, allow_nan=False)


def test_monitor_is_quiet_on_healthy_nets(capsys):
    data = _digits()
    for net in (FullyConnectedNet([30], 64, 10, activation="sigmoid", init="xavier", seed=0),
                FullyConnectedNet([30, 30], 64, 10, activation="relu", seed=0)):
        monitor = Monitor(every=2, probe_size=100)
        solver = _train(net, data, monitor, optim_config={"learning_rate": 1e-3}, verbose=True,
                        print_every=1000)
        assert monitor.warnings == []
        assert len(solver.history["diagnostics"]) == 7
    assert "diagnostics:" not in capsys.readouterr().err


def test_monitor_dead_units_message_and_silence_when_not_verbose(capsys):
    data = _digits()
    net = FullyConnectedNet([40, 40], 64, 10, activation="relu", seed=0)
    monitor = Monitor(every=2, probe_size=200)
    _train(net, data, monitor, optim_config={"learning_rate": 1e-1}, num_epochs=3)
    dead = [w for w in monitor.warnings if "dead" in w]
    assert dead and dead[0].startswith("layer 1 (relu): ")
    assert "% of units dead at step " in dead[0]
    assert dead[0].endswith("learning rate 0.1 may be too high")
    assert capsys.readouterr().err == ""   # verbose=False prints nothing


def test_monitor_recurrent_and_zeroed_gradient_warnings():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 51, 4))
    data = {"X_train": x[:30], "y_train": x[:30, :, 0].sum(1), "X_val": x[30:],
            "y_val": x[30:, :, 0].sum(1)}
    monitor = Monitor(every=2)
    _train(SequenceRegressor(4, 8, 1.5, "relu", seed=0), data, monitor, update_rule="sgd",
           optim_config={"learning_rate": 1e-3}, clip_norm=1.0, batch_size=10, num_epochs=1)
    assert any(w.startswith("rnn: dL/dh_0 is ") and "clip gradients (clip_norm)" in w
               for w in monitor.warnings)

    X = rng.standard_normal((200, 3))
    data = {"X_train": X[:150], "y_train": 5.0 + X[:150, 0], "X_val": X[150:],
            "y_val": 5.0 + X[150:, 0]}
    monitor = Monitor(every=2)
    _train(Regressor(3, 8, "clipped_error_mse", 1.0, seed=0), data, monitor, num_epochs=1)
    assert any(w.startswith("loss: ") and "use the Huber loss" in w for w in monitor.warnings)
    monitor = Monitor(every=2)
    _train(Regressor(3, 8, "huber", 1.0, seed=0), data, monitor, num_epochs=1)
    assert not any("loss:" in w for w in monitor.warnings)


def test_monitor_state_survives_checkpoint_and_resume(tmp_path):
    data = _digits(200)
    path = tmp_path / "run.npz"
    net = FullyConnectedNet([20], 64, 10, activation="sigmoid", weight_scale=300.0, seed=0)
    first = Monitor(every=2, probe_size=50)
    _train(net, data, first, num_epochs=1, checkpoint=path)
    assert first.warnings
    net2 = FullyConnectedNet([20], 64, 10, activation="sigmoid", weight_scale=300.0, seed=0)
    second = Monitor(every=2, probe_size=50)
    solver = Solver.resume(path, net2, data, num_epochs=2, callbacks=[second])
    assert second.warnings == first.warnings
    solver.train()
    assert second.warnings == first.warnings          # nothing repeated after the resume
    steps = [r["step"] for r in solver.history["diagnostics"]]
    assert steps == sorted(set(steps)) and steps[-1] == solver.step - solver.step % 2


def test_monitor_rejects_bad_options():
    with pytest.raises(ValueError, match="every"):
        Monitor(every=0)
    with pytest.raises(TypeError, match="unknown threshold"):
        Monitor(saturation=0.5)
    assert Monitor(dead=0.5).thresholds.dead == 0.5


def test_vanishing_advice_depends_on_the_radius_and_non_finite_records_stay_json():
    rec = {"norms": [1.0] * 50, "ratio": 1e-15, "spectral_radius": 0.5, "activation": "tanh"}
    (small,) = findings({"recurrent": rec})
    assert small.kind == "vanishing" and "0.50 < 1: initialize Wh nearer 1" in small.message
    (large,) = findings({"recurrent": {**rec, "spectral_radius": 1.8}})
    assert "1.80, so saturated tanh units block the gradient" in large.message

    from handgrad.diagnostics.record import json_safe

    record = json_safe({"a": [np.float32(np.inf), 1.5, np.nan], "b": {"c": np.int64(3)}})
    assert record == {"a": [None, 1.5, None], "b": {"c": 3}}
    (boom,) = findings({"recurrent": {**rec, "ratio": None, "spectral_radius": None}})
    assert boom.message == ("rnn: dL/dh_0 is not finite; clip gradients (clip_norm) or lower "
                            "the spectral radius of Wh (now not finite)")
    assert dg.spectral_radius(np.array([[np.inf, 0.0], [0.0, 1.0]])) == np.inf
