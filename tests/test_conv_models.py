"""ConvNet, the LSTM language model and Sequential's image and sequence layers: gradients
against numerical gradients, values worked independently, config errors, checkpoints, and the
``handgrad train cnn`` / ``train rnn --cell lstm`` commands on tiny runs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from test_models import assert_grads_match

from handgrad.cli import main
from handgrad.models import (
    LSTM,
    Affine,
    Attention,
    AvgPool,
    BatchNorm,
    Conv,
    ConvNet,
    Dropout,
    GroupNorm,
    LayerNorm,
    MaxPool,
    ReLU,
    RNNLanguageModel,
    Sequential,
    SpatialBatchNorm,
    Tanh,
    from_checkpoint,
)

# ------------------------------------------------------------------------------------ ConvNet


def tiny_images(n=4, shape=(2, 4, 4), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)), rng.integers(0, classes, n)


@pytest.mark.parametrize("kwargs", [
    {},
    {"normalization": "spatial_batchnorm", "reg": 0.1},
    {"num_filters": [3], "pool": 1, "hidden_dims": [], "filter_size": 2, "pad": 0},
])
def test_convnet_gradients_match_numerical(kwargs):
    X, y = tiny_images()
    config = {"input_dim": (2, 4, 4), "num_filters": [3, 4], "hidden_dims": [5],
              "num_classes": 3, "seed": 1, **kwargs}
    net = ConvNet(**config)
    assert_grads_match(net, X, y, tol=1e-5)


def test_convnet_gradients_with_dropout_match_numerical_for_a_fixed_mask():
    X, y = tiny_images()
    net = ConvNet(input_dim=(2, 4, 4), num_filters=[3], hidden_dims=[7], num_classes=3,
                  keep_prob=0.6, seed=2)
    state = net.rng.bit_generator.state

    def loss_and_grads():
        net.rng.bit_generator.state = state      # the same mask at every call
        return ConvNet.loss(net, X, y)

    net.loss = lambda X_, y_=None: loss_and_grads() if y_ is not None else ConvNet.loss(net, X_)
    assert_grads_match(net, X, y, tol=1e-5)
    # some hidden units really were dropped: the masks of two different draws differ
    net.rng.bit_generator.state = state
    first = ConvNet.loss(net, X, y)[1]["W2"]
    second = ConvNet.loss(net, X, y)[1]["W2"]
    assert not np.allclose(first, second)


def test_convnet_scores_by_hand_for_one_filter():
    """A 1x1 conv of weight 2 and bias 1, relu, a 2x2 max pool, then an identity affine."""
    net = ConvNet(input_dim=(1, 2, 2), num_filters=[1], filter_size=1, pool=2, hidden_dims=[],
                  num_classes=2)
    net.params["W1"][...] = 2.0
    net.params["b1"][...] = 1.0
    net.params["W2"][...] = [[1.0, -1.0]]
    net.params["b2"][...] = [0.5, 0.0]
    X = np.array([[[[0.5, -3.0], [1.5, -1.0]]]])
    # conv: 2x + 1 = [[2, -5], [4, -1]]; relu: [[2, 0], [4, 0]]; max: 4
    np.testing.assert_allclose(net.loss(X), [[4.5, -4.0]])
    loss, _ = net.loss(X, np.array([0]))
    assert loss == pytest.approx(math.log(1 + math.exp(-8.5)))


def test_convnet_accepts_flat_rows_and_float32():
    X, y = tiny_images(shape=(1, 4, 4), classes=2)
    net = ConvNet(input_dim=(1, 4, 4), num_filters=[2], hidden_dims=[3], num_classes=2,
                  dtype=np.float32, seed=0)
    flat = net.loss(X.reshape(4, 16))
    assert flat.dtype == np.float32
    np.testing.assert_array_equal(flat, net.loss(X))
    loss, grads = net.loss(X.astype(np.float32), y)
    assert loss.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("kwargs, match", [
    ({"input_dim": (1, 2, 2), "num_filters": [2], "filter_size": 5, "pad": 0},
     r"conv stage 1 gets 2x2 images, too small for 5x5 filters with pad 0"),
    ({"input_dim": (1, 8, 8), "num_filters": [2, 2, 2, 2]},
     r"conv stage 4 gets 1x1 images|pool of conv stage 4 does not tile its 1x1 output"),
    ({"input_dim": (1, 6, 6), "num_filters": [2, 2]},
     r"the 2x2 pool of conv stage 2 does not tile its 3x3 output"),
    ({"input_dim": (8, 8)}, r"input_dim must be \(C, H, W\)"),
    ({"normalization": "batchnorm"}, r"normalization must be None or 'spatial_batchnorm'"),
    ({"keep_prob": 1.5}, r"keep_prob .* in \(0, 1\]"),
    ({"num_classes": 1}, r"num_classes must be an integer >= 2"),
])
def test_convnet_bad_configs_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvNet(**kwargs)


def test_convnet_rejects_images_of_another_shape():
    net = ConvNet(input_dim=(1, 4, 4), num_filters=[2], hidden_dims=[], num_classes=2)
    with pytest.raises(ValueError, match=r"X must be \(N, 1, 4, 4\) or \(N, 16\), got shape"):
        net.loss(np.zeros((2, 1, 5, 5)))


def test_convnet_config_round_trip_and_seeded_init():
    net = ConvNet(num_filters=[4], hidden_dims=[6], normalization="spatial_batchnorm", seed=3)
    again = ConvNet(**net.config())
    assert again.config() == net.config()
    for name in net.params:
        np.testing.assert_array_equal(net.params[name], again.params[name])
    # He initialization: std sqrt(2 / fan_in) for the conv (fan_in 1 * 3 * 3) and the affine
    big = ConvNet(num_filters=[64], hidden_dims=[], seed=0)
    assert big.params["W1"].std() == pytest.approx(math.sqrt(2 / 9), rel=0.1)
    assert big.params["W2"].std() == pytest.approx(math.sqrt(2 / (64 * 16)), rel=0.05)
    assert set(net.buffers) == {"running_mean1", "running_var1"}


def test_convnet_batchnorm_test_mode_uses_running_statistics():
    X, y = tiny_images(n=6)
    net = ConvNet(input_dim=(2, 4, 4), num_filters=[3], hidden_dims=[], num_classes=3,
                  normalization="spatial_batchnorm", seed=0)
    before = net.loss(X)
    net.loss(X, y)                                   # train mode: updates the statistics
    assert not np.allclose(net.buffers["running_mean1"], 0)
    after = net.loss(X)
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(after, net.loss(X))   # test mode changes nothing


def test_convnet_overfits_and_round_trips_through_a_checkpoint(tmp_path):
    from handgrad.optim import Solver

    X, y = tiny_images(n=20, shape=(1, 4, 4), classes=2, seed=4)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    net = ConvNet(input_dim=(1, 4, 4), num_filters=[4], hidden_dims=[8], num_classes=2,
                  normalization="spatial_batchnorm", keep_prob=0.9, seed=0)
    ckpt = tmp_path / "cnn.npz"
    solver = Solver(net, data, optim_config={"learning_rate": 1e-2}, batch_size=10,
                    num_epochs=30, seed=0, verbose=False, checkpoint=str(ckpt))
    solver.train()
    assert solver.best_val_acc == 1.0
    again = from_checkpoint(ckpt)
    assert isinstance(again, ConvNet) and again.config() == net.config()
    np.testing.assert_array_equal(again.loss(X), net.loss(X))


# ------------------------------------------------------------------------ the LSTM language model


def test_lstm_language_model_gradients_match_numerical():
    model = RNNLanguageModel(vocab_size=5, wordvec_dim=3, hidden_dim=4, cell="lstm", seed=0)
    assert model.params["Wx"].shape == (3, 16) and model.params["Wh"].shape == (4, 16)
    np.testing.assert_array_equal(model.params["b"], np.repeat([0.0, 1.0, 0.0, 0.0], 4))
    rng = np.random.default_rng(1)
    X = rng.integers(0, 5, (3, 4))
    y = rng.integers(0, 5, (3, 4))
    y[0, -1] = -1                                      # one padded position
    assert_grads_match(model, X, y, tol=1e-5)


def test_lstm_language_model_one_step_by_hand():
    """T = 1 from a zero state: c = i * g and h = o * tanh(c), computed here from scratch."""
    model = RNNLanguageModel(vocab_size=2, wordvec_dim=1, hidden_dim=1, cell="lstm", seed=0)
    p = model.params
    p["W_embed"][...] = [[0.5], [-1.0]]
    p["Wx"][...] = [[1.0, 2.0, -1.0, 0.5]]
    p["b"][...] = [0.0, 1.0, 0.5, 0.0]
    p["W_vocab"][...] = [[2.0, -1.0]]
    p["b_vocab"][...] = 0.0

    def sig(a):
        return 1 / (1 + math.exp(-a))

    x = -1.0                                           # the embedding of character 1
    i, o, g = sig(1.0 * x), sig(-1.0 * x + 0.5), math.tanh(0.5 * x)
    h = o * math.tanh(i * g)
    np.testing.assert_allclose(model.loss(np.array([[1]]))[0, 0], [2 * h, -h])


def test_lstm_language_model_samples_and_round_trips_the_cell(tmp_path):
    from handgrad.optim import Solver

    vocab = "ab\n"
    model = RNNLanguageModel(vocab=vocab, wordvec_dim=4, hidden_dim=6, cell="lstm", seed=0)
    text = model.sample("ab", 30, seed=1)
    assert len(text) == 30 and set(text) <= set(vocab)
    assert text == model.sample("ab", 30, seed=1)
    X = np.array([[0, 1, 0, 1], [1, 0, 1, 0]])
    y = np.array([[1, 0, 1, 0], [0, 1, 0, 1]])
    ckpt = tmp_path / "lstm.npz"
    Solver(model, {"X_train": X, "y_train": y, "X_val": X, "y_val": y}, batch_size=2,
           num_epochs=2, verbose=False, checkpoint=str(ckpt)).train()
    again = from_checkpoint(ckpt)                     # the best parameters, as the Solver kept
    assert again.cell == "lstm" and again.config() == model.config()
    np.testing.assert_array_equal(again.loss(X), model.loss(X))


def test_lstm_language_model_rejects_an_rnn_activation():
    with pytest.raises(ValueError, match="activation 'relu' is for cell='rnn'"):
        RNNLanguageModel(vocab_size=3, cell="lstm", activation="relu")
    with pytest.raises(ValueError, match="cell"):
        RNNLanguageModel(vocab_size=3, cell="gru")


# -------------------------------------------------------------------------------- Sequential


@pytest.mark.parametrize("layers, shape", [
    ([Conv(2, 3, 3, pad=1), ReLU(), MaxPool(2), Affine(3 * 2 * 2, 3)], (2, 4, 4)),
    ([Conv(2, 3, (2, 3), stride=(1, 2), pad=(0, 1)), AvgPool(2, stride=1), Affine(3 * 2 * 2, 3)],
     (2, 4, 5)),
    ([Conv(2, 4, 3, pad=1), SpatialBatchNorm(4), Tanh(), Affine(4 * 16, 3)], (2, 4, 4)),
    ([Conv(2, 4, 3, pad=1), GroupNorm(4, groups=2), Tanh(), Affine(4 * 16, 3)], (2, 4, 4)),
    ([Affine(6, 5), LayerNorm(5), Tanh(), Affine(5, 3)], (6,)),
    ([LSTM(3, 4), Affine(5 * 4, 3)], (5, 3)),
    ([Attention(4, num_heads=2, causal=True), LayerNorm(4), Affine(5 * 4, 3)], (5, 4)),
])
def test_sequential_new_layers_gradients_match_numerical(layers, shape):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, *shape))
    y = np.array([0, 1, 2, 1])
    net = Sequential(layers, reg=0.05, seed=0)
    assert_grads_match(net, X, y, tol=1e-5)


def test_sequential_dropout_is_train_only_and_seeded():
    X = np.ones((50, 40))
    net = Sequential([Dropout(0.5), Affine(40, 2)], seed=0)
    np.testing.assert_array_equal(net.loss(X), net.loss(X))     # test mode: the identity
    w = net.params["1.W"]
    np.testing.assert_allclose(net.loss(X), X @ w)
    _, grads = net.loss(X, np.zeros(50, dtype=int))
    # the gradient of W comes from the kept inputs only, scaled by 1 / keep_prob = 2
    kept = np.count_nonzero(grads["1.W"][:, 0])
    assert 0.3 * 40 < kept <= 40
    again = Sequential([Dropout(0.5), Affine(40, 2)], seed=0)
    np.testing.assert_array_equal(again.loss(X, np.zeros(50, dtype=int))[1]["1.W"],
                                  grads["1.W"])
    assert isinstance(net.rng, np.random.Generator)


def test_sequential_spatial_batchnorm_buffers_and_modes():
    X = np.random.default_rng(0).standard_normal((5, 2, 3, 3)) * 3 + 1
    net = Sequential([SpatialBatchNorm(2), Affine(18, 2)], seed=0)
    assert set(net.buffers) == {"0.running_mean", "0.running_var"}
    net.loss(X, np.zeros(5, dtype=int))
    # momentum 0.9: running_mean = 0.1 * (the channel means over the batch and the pixels)
    np.testing.assert_allclose(net.buffers["0.running_mean"], 0.1 * X.mean(axis=(0, 2, 3)))
    assert repr(net.layers[0]) == "SpatialBatchNorm(2)" and isinstance(net.layers[0], BatchNorm)


def test_sequential_layer_objects_check_their_arguments():
    with pytest.raises(ValueError, match="Attention: num_heads 3 must divide dim 4"):
        Attention(4, num_heads=3)
    with pytest.raises(ValueError, match=r"Dropout: keep_prob .* in \(0, 1\]"):
        Dropout(2.0)
    with pytest.raises(ValueError, match="Conv: in_channels must be an integer >= 1"):
        Conv(0, 2, 3)


# ---------------------------------------------------------------------------------- commands


def test_train_cnn_tiny_run_table_plot_and_resume(tmp_path, capsys):
    ckpt, plot = tmp_path / "cnn.npz", tmp_path / "cnn.png"
    code = main(["train", "cnn", "--epochs", "1", "--filters", "4", "--hidden", "8",
                 "--checkpoint", str(ckpt), "--plot", str(plot), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "digits as 1x8x8 images (1258 train / 270 val / 269 test examples)" in out
    assert "model: 1x8x8 - conv3 4 sbn - pool2 - 8 - 10" in out
    for split, n in (("train", 1258), ("val", 270), ("test", 269)):
        assert re.search(rf"^{split}\s+{n}\s+\d+\.\d%$", out, re.MULTILINE), out
    assert plot.read_bytes().startswith(b"\x89PNG") and ckpt.is_file()
    code = main(["train", "cnn", "--epochs", "2", "--resume", str(ckpt), "--no-plot",
                 "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "resumed at epoch 1" in out and "conv3 4 sbn" in out
    assert isinstance(from_checkpoint(ckpt), ConvNet)


def test_train_cnn_refuses_a_checkpoint_of_another_model(tmp_path, capsys):
    ckpt = tmp_path / "fc.npz"
    assert main(["train", "fc", "--epochs", "1", "--hidden", "8", "--checkpoint", str(ckpt),
                 "--no-plot", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "cnn", "--resume", str(ckpt), "--no-plot", "--quiet"]) == 2
    assert "holds a FullyConnectedNet, not a convolutional net" in capsys.readouterr().err


def test_train_rnn_lstm_tiny_run(tmp_path, capsys):
    code = main(["train", "rnn", "--cell", "lstm", "--epochs", "1", "--hidden", "8",
                 "--wordvec", "4", "--seq-len", "10", "--stride", "2000", "--batch-size", "16",
                 "--sample", "20", "--no-plot", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "model: embedding 4 - LSTM 8 - softmax over" in out
    assert re.search(r"^val\s+[\d,]+\s+\d\.\d{3}\s+\d+\.\d%$", out, re.MULTILINE), out


def test_diagnose_reads_a_convnet_checkpoint_and_skips_the_rnn_probe_for_an_lstm(tmp_path,
                                                                                 capsys):
    from handgrad.diagnostics.record import snapshot

    ckpt = tmp_path / "cnn.npz"
    assert main(["train", "cnn", "--epochs", "1", "--filters", "2", "--hidden", "4",
                 "--checkpoint", str(ckpt), "--no-plot", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["diagnose", "--model", str(ckpt), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "(ConvNet, trained 1 epoch(s)" in out and "W1: |grad|" in out
    model = RNNLanguageModel(vocab_size=4, wordvec_dim=3, hidden_dim=5, cell="lstm", seed=0)
    X = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    record = snapshot(model, X, np.roll(X, -1, axis=1))
    assert record["recurrent"] is None and set(record["grad_norms"]) == set(model.params)
