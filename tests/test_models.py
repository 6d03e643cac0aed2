"""Models: FullyConnectedNet, RNNLanguageModel and Sequential against numerical gradients and
values computed by hand, plus config round trips, checkpoints and the Solver."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from handgrad.models import (
    Affine,
    BatchNorm,
    FullyConnectedNet,
    ReLU,
    RNNLanguageModel,
    Sequential,
    Tanh,
    from_checkpoint,
)


def num_grad(f, x, h=1e-6):
    """Centred differences of the scalar f() with respect to the array x (perturbed in place)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = float(f())
        x[idx] = old - h
        minus = float(f())
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def assert_grads_match(model, X, y, tol=1e-6):
    _, grads = model.loss(X, y)
    assert grads.keys() == model.params.keys()
    for name, p in model.params.items():
        numeric = num_grad(lambda: model.loss(X, y)[0], p)
        analytic = grads[name]
        assert analytic.shape == p.shape and analytic.dtype == p.dtype
        scale = max(np.abs(numeric).max(), np.abs(analytic).max())
        if scale < 1e-7:
            # e.g. the bias before a batchnorm: the normalization removes it, the gradient is 0
            assert np.abs(analytic - numeric).max() < 1e-8, name
            continue
        diff = np.abs(analytic - numeric)
        err = diff / np.maximum(1e-8, np.abs(analytic) + np.abs(numeric))
        # tiny entries carry the round-off of the differences (~1e-10) in their relative error
        bad = (err > tol) & (diff > 1e-9)
        assert not bad.any(), f"{name}: relative error {err[bad].max():.2e}"


def relu(a):
    return np.maximum(a, 0)


def softmax_ce(scores, y):
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


# -------------------------------------------------------------------- FullyConnectedNet
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("normalization", [None, "batchnorm"])
def test_fc_gradients_each_activation(activation, normalization):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 5))
    y = rng.integers(0, 4, size=6)
    net = FullyConnectedNet([7, 6], input_dim=5, num_classes=4, activation=activation,
                            normalization=normalization, reg=0.1, seed=1)
    assert_grads_match(net, X, y)


@pytest.mark.parametrize("loss", ["huber", "mse"])
@pytest.mark.parametrize("normalization", [None, "batchnorm"])
def test_fc_gradients_regression_losses(loss, normalization):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5, 4))
    y = 2.0 * rng.standard_normal((5, 3))
    net = FullyConnectedNet([6], input_dim=4, num_classes=3, activation="tanh", loss=loss,
                            normalization=normalization, reg=0.05, seed=3)
    assert net.task == "regression"
    assert_grads_match(net, X, y)


def test_fc_regression_single_output_accepts_flat_targets():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 3))
    y = rng.standard_normal(5)
    net = FullyConnectedNet([4], input_dim=3, num_classes=1, loss="mse", seed=0)
    loss, _ = net.loss(X, y)
    scores = net.loss(X)
    assert scores.shape == (5, 1)
    assert loss == pytest.approx(np.mean((scores[:, 0] - y) ** 2), rel=1e-12)
    with pytest.raises(ValueError, match=r"shape \(5, 1\)"):
        net.loss(X, rng.standard_normal((5, 2)))


def test_fc_clipped_error_mse_loss_by_hand_gradients_and_training():
    from handgrad.optim import Solver

    rng = np.random.default_rng(8)
    X = rng.standard_normal((6, 4))
    y = 0.5 * rng.standard_normal((6, 2))
    y[0, 0] = 6.0  # far beyond the clip (1.0): that entry gets no gradient at all
    net = FullyConnectedNet([7], input_dim=4, num_classes=2, activation="tanh",
                            loss="clipped_error_mse", reg=0.05, seed=3)
    assert net.task == "regression" and net.config()["loss"] == "clipped_error_mse"
    p = net.params
    scores = np.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    expected = (0.5 * np.mean(np.clip(scores - y, -1.0, 1.0) ** 2)
                + 0.5 * 0.05 * ((p["W1"] ** 2).sum() + (p["W2"] ** 2).sum()))
    assert net.loss(X, y)[0] == pytest.approx(expected, rel=1e-12)
    assert_grads_match(net, X, y)
    plain = FullyConnectedNet([7], input_dim=4, num_classes=2, activation="tanh",
                              loss="clipped_error_mse", seed=3)
    _, grads = plain.loss(X[:1], y[:1])
    assert grads["b2"][0] == 0.0 and grads["b2"][1] != 0.0

    # it trains like the Huber net when the errors stay inside the clip
    X = rng.standard_normal((120, 4))
    y = 0.3 * np.tanh(X[:, :2] - X[:, 2:])
    data = {"X_train": X[:90], "y_train": y[:90], "X_val": X[90:], "y_val": y[90:]}
    for loss in ("huber", "clipped_error_mse"):
        net = FullyConnectedNet([16], input_dim=4, num_classes=2, loss=loss, seed=1)
        solver = Solver(net, data, optim_config={"learning_rate": 1e-2}, batch_size=30,
                        num_epochs=30, verbose=False, seed=0)
        solver.train()
        assert solver.val_mse_history[-1] < 0.3 * solver.val_mse_history[0], loss


def test_fc_forward_and_reg_by_hand():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    net = FullyConnectedNet([5], input_dim=3, num_classes=3, reg=0.7, seed=6)
    p = net.params
    scores = relu(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    np.testing.assert_allclose(net.loss(X), scores, rtol=1e-12)
    expected = softmax_ce(scores, y) + 0.5 * 0.7 * ((p["W1"] ** 2).sum() + (p["W2"] ** 2).sum())
    loss, grads = net.loss(X, y)
    assert loss == pytest.approx(expected, rel=1e-12)
    # the L2 term's gradient is reg * W, the data term's comes from the layers
    plain = FullyConnectedNet([5], input_dim=3, num_classes=3, reg=0.0, seed=6)
    _, plain_grads = plain.loss(X, y)
    np.testing.assert_allclose(grads["W1"], plain_grads["W1"] + 0.7 * p["W1"], rtol=1e-12)
    np.testing.assert_array_equal(grads["b1"], plain_grads["b1"])


def test_fc_initial_loss_is_log_num_classes_with_small_weights():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((50, 20))
    y = rng.integers(0, 10, size=50)
    for init in ("normal",):
        net = FullyConnectedNet([30, 30], 20, 10, init=init, seed=0)
        loss, _ = net.loss(X, y)
        assert loss == pytest.approx(math.log(10), abs=0.02)
    net = FullyConnectedNet([30], 20, 10, weight_scale=1e-4, seed=0)
    assert net.loss(X, y)[0] == pytest.approx(math.log(10), abs=1e-3)


def test_fc_init_scales():
    net = FullyConnectedNet([400, 300], 500, 10, init="he", seed=0)
    assert net.params["W1"].std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    net = FullyConnectedNet([400, 300], 500, 10, init="xavier", seed=0)
    assert net.params["W2"].std() == pytest.approx(math.sqrt(2 / 700), rel=0.02)
    net = FullyConnectedNet([400], 500, 10, init="normal", seed=0)
    assert net.params["W1"].std() == pytest.approx(1e-2, rel=0.02)
    net = FullyConnectedNet([400], 500, 10, init="he", weight_scale=0.3, seed=0)
    assert net.params["W1"].std() == pytest.approx(0.3, rel=0.02)
    assert np.all(net.params["b1"] == 0)


def test_fc_float32_end_to_end():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((6, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=6)
    net = FullyConnectedNet([8, 7], 5, 3, normalization="batchnorm", reg=0.1,
                            dtype=np.float32, seed=0)
    assert all(p.dtype == np.float32 for p in net.params.values())
    assert all(b.dtype == np.float32 for b in net.buffers.values())
    scores = net.loss(X)
    loss, grads = net.loss(X, y)
    assert scores.dtype == np.float32 and loss.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    # same seed in float64: the same net up to rounding
    net64 = FullyConnectedNet([8, 7], 5, 3, normalization="batchnorm", reg=0.1, seed=0)
    loss64, _ = net64.loss(X.astype(np.float64), y)
    assert float(loss) == pytest.approx(float(loss64), rel=1e-5)
    # float64 data into a float32 net is converted, and the result stays float32
    assert net.loss(X.astype(np.float64)).dtype == np.float32


def test_fc_config_round_trip():
    net = FullyConnectedNet([9, 4], 6, 3, activation="tanh", normalization="batchnorm",
                            reg=0.01, init="xavier", loss="softmax", dtype="float32", seed=11)
    config = json.loads(json.dumps(net.config()))
    again = FullyConnectedNet(**config)
    assert again.config() == net.config()
    assert config["dtype"] == "float32" and config["hidden_dims"] == [9, 4]
    for name in net.params:
        np.testing.assert_array_equal(again.params[name], net.params[name])
    assert (again.num_layers, again.input_dim, again.num_classes) == (3, 6, 3)


def test_fc_hidden_activations_match_manual_forward():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((5, 4))
    net = FullyConnectedNet([6, 3], 4, 2, activation="sigmoid", seed=2)
    p = net.params
    h1 = 1 / (1 + np.exp(-(X @ p["W1"] + p["b1"])))
    h2 = 1 / (1 + np.exp(-(h1 @ p["W2"] + p["b2"])))
    acts = net.hidden_activations(X)
    assert [(name, act) for name, act, _ in acts] == [("layer 1", "sigmoid"),
                                                     ("layer 2", "sigmoid")]
    np.testing.assert_allclose(acts[0][2], h1, rtol=1e-12)
    np.testing.assert_allclose(acts[1][2], h2, rtol=1e-12)


def test_fc_batchnorm_modes_and_hidden_activations_in_test_mode():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((8, 4)) * 3 + 1
    y = rng.integers(0, 3, size=8)
    net = FullyConnectedNet([5], 4, 3, normalization="batchnorm", seed=0)
    net.loss(X, y)  # train mode: running statistics move toward the batch's
    a = X @ net.params["W1"] + net.params["b1"]
    np.testing.assert_allclose(net.buffers["running_mean1"], 0.1 * a.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(net.buffers["running_var1"], 0.1 * a.var(axis=0), rtol=1e-12)
    before = {k: v.copy() for k, v in net.buffers.items()}
    net.params["gamma1"] = rng.uniform(0.5, 2, 5)
    net.params["beta1"] = rng.standard_normal(5)
    acts = net.hidden_activations(X)
    scores = net.loss(X)
    for k, v in net.buffers.items():  # test mode leaves them alone
        np.testing.assert_array_equal(v, before[k])
    rm, rv = before["running_mean1"], before["running_var1"]
    manual = relu(net.params["gamma1"] * (a - rm) / np.sqrt(rv + 1e-5) + net.params["beta1"])
    np.testing.assert_allclose(acts[0][2], manual, rtol=1e-10)
    np.testing.assert_allclose(scores, manual @ net.params["W2"] + net.params["b2"], rtol=1e-10)


def test_fc_buffers_write_through():
    net = FullyConnectedNet([3], 2, 2, normalization="batchnorm")
    net.buffers["running_var1"][...] = 4.0
    assert np.all(net.bn_params[0]["running_var"] == 4.0)
    net.buffers = {"running_mean1": np.array([1.0, 2.0, 3.0])}
    np.testing.assert_array_equal(net.bn_params[0]["running_mean"], [1, 2, 3])
    with pytest.raises(KeyError, match="unknown buffer"):
        net.buffers = {"running_mean9": np.zeros(3)}
    assert FullyConnectedNet([3], 2, 2).buffers == {}


@pytest.mark.parametrize("kwargs, match", [
    ({"activation": "gelu"}, "activation must be one of"),
    ({"hidden_dims": [4, 0]}, r"hidden_dims\[1\] must be an integer >= 1"),
    ({"hidden_dims": 4}, "hidden_dims must be a list"),
    ({"num_classes": 1}, "num_classes must be an integer >= 2"),
    ({"normalization": "layernorm"}, "normalization must be None or 'batchnorm'"),
    ({"reg": -1.0}, "reg must be a finite number >= 0"),
    ({"weight_scale": 0.0}, "weight_scale must be a finite number > 0"),
    ({"init": "glorot"}, "init must be one of"),
    ({"loss": "hinge"}, "loss must be one of"),
    ({"dtype": np.int32}, "dtype must be float32 or float64"),
    ({"seed": -3}, "seed must be None or an integer"),
])
def test_fc_constructor_validation(kwargs, match):
    args = {"hidden_dims": [4], "input_dim": 3, "num_classes": 2, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        FullyConnectedNet(**args)


def test_fc_bad_labels_are_reported_by_the_loss():
    net = FullyConnectedNet([4], 3, 2)
    with pytest.raises(ValueError, match="softmax_cross_entropy"):
        net.loss(np.zeros((2, 3)), np.array([0, 5]))


# --------------------------------------------------------------------------- Sequential
def test_sequential_equals_fully_connected_net_with_the_same_weights():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, size=6)
    fc = FullyConnectedNet([5], 4, 3, activation="tanh", normalization="batchnorm", reg=0.2,
                           seed=0)
    seq = Sequential([Affine(4, 5), BatchNorm(5), Tanh(), Affine(5, 3)], reg=0.2, seed=1)
    names = {"0.W": "W1", "0.b": "b1", "1.gamma": "gamma1", "1.beta": "beta1", "3.W": "W2",
             "3.b": "b2"}
    assert list(seq.params) == list(names)
    for s_name, f_name in names.items():
        seq.params[s_name] = rng.standard_normal(fc.params[f_name].shape)
        fc.params[f_name] = seq.params[s_name].copy()
    loss_s, grads_s = seq.loss(X, y)
    loss_f, grads_f = fc.loss(X, y)
    assert loss_s == pytest.approx(loss_f, rel=1e-12)
    for s_name, f_name in names.items():
        np.testing.assert_allclose(grads_s[s_name], grads_f[f_name], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(seq.loss(X), fc.loss(X), rtol=1e-12)
    assert list(seq.buffers) == ["1.running_mean", "1.running_var"]


def test_sequential_gradients_match_numerical():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((5, 3))
    y = rng.standard_normal((5, 2))
    seq = Sequential([Affine(3, 4), ReLU(), Affine(4, 2)], loss="huber", reg=0.1, seed=0)
    assert seq.task == "regression"
    assert_grads_match(seq, X, y)
    with pytest.raises(TypeError, match="layer objects"):
        Sequential([])


# ------------------------------------------------------------------------ RNN language model
def manual_rnn_lm_loss(model, X, y):
    p = model.params
    n, t = X.shape
    h = np.zeros((n, model.hidden_dim))
    total = 0.0
    for step in range(t):
        h = np.tanh(p["W_embed"][X[:, step]] @ p["Wx"] + h @ p["Wh"] + p["b"])
        scores = h @ p["W_vocab"] + p["b_vocab"]
        for i in range(n):
            if y[i, step] >= 0:
                row = scores[i] - scores[i].max()
                total -= row[y[i, step]] - np.log(np.exp(row).sum())
    return total / n


def test_rnn_lm_loss_by_hand_and_gradients():
    rng = np.random.default_rng(13)
    model = RNNLanguageModel(vocab="abcd", wordvec_dim=3, hidden_dim=5, seed=0)
    X = rng.integers(0, 4, size=(3, 4))
    y = rng.integers(0, 4, size=(3, 4))
    y[2, 3] = -1  # padding: ignored
    loss, _ = model.loss(X, y)
    assert loss == pytest.approx(manual_rnn_lm_loss(model, X, y), rel=1e-12)
    assert_grads_match(model, X, y, tol=1e-6)
    assert set(model.params) >= {"Wx", "Wh", "b"} and model.activation == "tanh"
    assert model.loss(X).shape == (3, 4, 4)


def test_rnn_lm_repeated_characters_accumulate_in_the_embedding():
    model = RNNLanguageModel(vocab="xy", wordvec_dim=2, hidden_dim=3, seed=1)
    X = np.array([[0, 0, 0, 1]])
    y = np.array([[0, 1, 1, 0]])
    _, grads = model.loss(X, y)
    numeric = num_grad(lambda: model.loss(X, y)[0], model.params["W_embed"])
    np.testing.assert_allclose(grads["W_embed"], numeric, rtol=1e-6, atol=1e-9)


def test_rnn_lm_sample_vocab_length_and_reproducibility():
    vocab = "\n abc"
    model = RNNLanguageModel(vocab=vocab, wordvec_dim=4, hidden_dim=6, seed=2)
    text = model.sample("ab", 40, temperature=1.0, seed=5)
    assert len(text) == 40 and set(text) <= set(vocab)
    assert model.sample("ab", 40, seed=5) == text
    assert model.sample("ab", 40, rng=np.random.default_rng(5)) == text
    assert model.sample("ab", 40, seed=6) != text
    assert model.sample("", 0) == ""
    # a tiny temperature makes every draw the argmax, whatever the seed
    cold = [model.sample("a", 15, temperature=1e-4, seed=s) for s in range(3)]
    assert cold[0] == cold[1] == cold[2]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.sample("abz", 5)
    with pytest.raises(ValueError, match="temperature must be"):
        model.sample("a", 5, temperature=0)
    with pytest.raises(ValueError, match="no vocab"):
        RNNLanguageModel(vocab_size=5).sample("a", 3)


def test_rnn_lm_greedy_sample_follows_the_scores():
    model = RNNLanguageModel(vocab="abc", wordvec_dim=3, hidden_dim=4, seed=3)
    text = model.sample("b", 6, temperature=1e-6, seed=0)
    seq = "b"
    for ch in text:  # each character is the argmax after the text so far
        X = np.array([[model.char_to_idx[c] for c in seq]])
        assert model.vocab[int(model.loss(X)[0, -1].argmax())] == ch
        seq += ch


def test_rnn_lm_validation_and_config():
    with pytest.raises(ValueError, match="give vocab_size or vocab"):
        RNNLanguageModel()
    with pytest.raises(ValueError, match="does not match"):
        RNNLanguageModel(vocab_size=3, vocab="ab")
    with pytest.raises(ValueError, match="distinct"):
        RNNLanguageModel(vocab="aab")
    model = RNNLanguageModel(vocab="ab", wordvec_dim=2, hidden_dim=3, dtype="float32", seed=4)
    with pytest.raises(TypeError, match="integer array"):
        model.loss(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="X's shape"):
        model.loss(np.zeros((2, 3), dtype=int), np.zeros((2, 4), dtype=int))
    again = RNNLanguageModel(**json.loads(json.dumps(model.config())))
    for k in model.params:
        np.testing.assert_array_equal(again.params[k], model.params[k])
        assert again.params[k].dtype == np.float32


# --------------------------------------------------------------------- Solver, checkpoints
def test_fc_overfits_a_small_set_with_the_solver():
    from handgrad.optim import Solver

    rng = np.random.default_rng(14)
    X = rng.standard_normal((50, 10))
    y = rng.integers(0, 5, size=50)
    net = FullyConnectedNet([40], 10, 5, seed=0)
    solver = Solver(net, {"X_train": X, "y_train": y, "X_val": X, "y_val": y},
                    optim_config={"learning_rate": 1e-2}, num_epochs=40, batch_size=25,
                    verbose=False, seed=0)
    solver.train()
    assert solver.check_accuracy(X, y) == 1.0


def test_rnn_lm_trains_with_the_solver_and_reports_char_accuracy():
    from handgrad.data import CharCorpus
    from handgrad.optim import Solver

    corpus = CharCorpus("abcabcabcabc\n" * 20)
    data = corpus.training_data(seq_len=6, stride=3, val_fraction=0.2)
    model = RNNLanguageModel(vocab=corpus.vocab, wordvec_dim=4, hidden_dim=16, seed=0)
    solver = Solver(model, data, optim_config={"learning_rate": 2e-2}, num_epochs=15,
                    batch_size=16, clip_norm=5.0, verbose=False, seed=0)
    solver.train()
    assert solver.loss_history[-1] < 0.3 * solver.loss_history[0]
    acc = solver.check_accuracy(data["X_val"], data["y_val"])
    assert acc == pytest.approx(model.accuracy(data["X_val"], data["y_val"]))
    assert acc > 0.9
    text = "ab" + model.sample("ab", 12, temperature=0.01, seed=0)
    follows = {"a": "b", "b": "c", "c": "a\n", "\n": "a"}  # the corpus's only bigrams
    assert all(nxt in follows[cur] for cur, nxt in zip(text[:-1], text[1:], strict=True)), text


def test_from_checkpoint_rebuilds_the_trained_net(tmp_path):
    from handgrad.optim import Solver

    rng = np.random.default_rng(15)
    X = rng.standard_normal((40, 6))
    y = rng.integers(0, 3, size=40)
    data = {"X_train": X[:30], "y_train": y[:30], "X_val": X[30:], "y_val": y[30:]}
    net = FullyConnectedNet([8], 6, 3, normalization="batchnorm", seed=0)
    path = tmp_path / "run.npz"
    solver = Solver(net, data, num_epochs=3, batch_size=10, verbose=False, seed=0,
                    checkpoint=path)
    solver.train()
    rebuilt = from_checkpoint(path)
    assert isinstance(rebuilt, FullyConnectedNet) and rebuilt.config() == net.config()
    for k in net.params:  # the Solver restored the best parameters into net
        np.testing.assert_array_equal(rebuilt.params[k], net.params[k])
    for k in net.buffers:
        np.testing.assert_array_equal(rebuilt.buffers[k], net.buffers[k])
    np.testing.assert_array_equal(rebuilt.loss(X), net.loss(X))
    with pytest.raises(ValueError, match="which must be"):
        from_checkpoint(path, which="first")
