"""The four leak scenarios of `handgrad diagnose` meet the project's bars, the command prints
them and writes valid PNG pictures, and `--model` diagnoses a trained checkpoint.

The bars are measured at initialization (sigmoid), on an untrained probe (rnn) or on the whole
training set (clipped), at the command's own sizes; only the training runs are shortened."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad import cli
from handgrad.diagnostics import plots, scenarios

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    from matplotlib.image import imread

    data = path.read_bytes()
    if not data.startswith(PNG):
        return False
    image = imread(path)
    return image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.fixture(scope="module")
def sigmoid():
    return scenarios.sigmoid(epochs=1)


@pytest.fixture(scope="module")
def rnn():
    return scenarios.rnn(epochs=4)


@pytest.fixture(scope="module")
def clipped():
    return scenarios.clipped(epochs=2)


def test_saturated_sigmoid_bars(sigmoid):
    bad, good = sigmoid.data["runs"].values()
    assert bad["saturated"] > 0.90
    assert good["saturated"] < 0.01
    assert good["relative"] / bad["relative"] >= 100
    assert sigmoid.passed and len(sigmoid.checks) == 2
    # the bad net's loss starts huge and barely moves; Xavier's falls
    assert bad["loss_start"] > 100 * good["loss_start"]
    assert good["loss_end"] < 0.9 * good["loss_start"]


def test_saturation_bar_holds_for_other_seeds():
    for seed in (1, 2):
        s = scenarios.sigmoid(seed, epochs=1)
        assert s.passed, [c for c in s.checks if not c.passed]


def test_exploding_and_vanishing_rnn_bars(rnn):
    flows = rnn.data["flows"]
    explode, vanish = flows[("relu", 1.5)], flows[("relu", 0.5)]
    assert len(explode.norms) == 51
    assert explode.norms[0] >= 1e3 * explode.norms[50]
    assert vanish.norms[0] <= 1e-3 * vanish.norms[50]
    assert explode.verdict == "exploding" and vanish.verdict == "vanishing"
    assert explode.spectral_radius == pytest.approx(1.5)
    no_clip, with_clip = rnn.data["no_clip"], rnn.data["with_clip"]
    assert no_clip["diverged_at"] is not None and not no_clip["finite"]
    assert with_clip["finite"] and np.all(np.isfinite(with_clip["loss"]))
    assert with_clip["radius"] < 1.5      # clipped SGD pulls the recurrence back
    assert rnn.passed


def test_clipped_error_bars(clipped):
    clip_run, huber_run = clipped.data["runs"].values()
    for when in ("start", "end"):
        found = clip_run["found"][when]
        assert found["over"].any()
        np.testing.assert_array_equal(found["zero"], found["over"])
        assert not huber_run["found"][when]["zero"].any()
    assert clipped.passed
    # Huber fits the Q-values faster than the clipped error, which ignores the large errors
    assert huber_run["solver"].val_mse_history[-1] < clip_run["solver"].val_mse_history[-1]


def test_relu_scenario_kills_units_at_the_high_learning_rate():
    s = scenarios.relu(epochs=1, every=10)
    high, sane = s.data["runs"].values()
    assert min(high["dead"]) > max(sane["dead"])
    assert high["records"][0]["step"] == 0 and high["records"][-1]["step"] == 20


def test_plots_are_valid_pngs(tmp_path, sigmoid, rnn, clipped):
    from handgrad.commands.diagnose import _plots

    written = []
    for scenario in (sigmoid, rnn, clipped):
        written += _plots(scenario, tmp_path)
    runs = {"a": clipped.data["runs"][next(iter(clipped.data["runs"]))]["records"]}
    written.append(plots.update_ratios_over_training(runs, tmp_path / "sub" / "u.png"))
    written.append(plots.dead_units_over_training(runs, tmp_path / "d.png"))
    assert len(written) == 5
    for path in written:
        assert path.exists() and _is_png(path), path
    assert not [p for p in tmp_path.rglob("*.tmp")]   # atomic writes leave no temporaries


@pytest.fixture()
def short_rnn(monkeypatch):
    """The rnn scenario at the command's sizes, with a shorter training run."""
    monkeypatch.setitem(scenarios.RUNNERS, "rnn",
                        lambda seed: scenarios.rnn(seed, epochs=2, train_examples=100))


def test_command_runs_a_scenario_and_writes_its_picture(tmp_path, capsys, short_rnn):
    code = cli.main(["diagnose", "--only", "rnn", "--out", str(tmp_path), "--seed", "0"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Exploding and vanishing RNN gradients" in out
    assert out.count("PASS") == 3 and "FAIL" not in out
    assert "all 3 checks pass" in out
    assert _is_png(tmp_path / "rnn-gradient-norms.png")


def test_command_fails_when_a_bar_fails(tmp_path, capsys, monkeypatch, short_rnn):
    monkeypatch.setattr(scenarios, "EXPLODING_BAR", 1e30)
    code = cli.main(["diagnose", "--only", "rnn", "--no-plots", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL  ReLU, radius 1.5" in out and "1 of 3 check(s) FAIL" in out
    assert not list(tmp_path.iterdir())


def test_command_diagnoses_a_checkpoint(tmp_path, capsys):
    from handgrad.data import digits
    from handgrad.models import FullyConnectedNet
    from handgrad.optim import Solver

    d = digits()
    data = {k: d[k][:200] for k in ("X_train", "y_train", "X_val", "y_val")}
    net = FullyConnectedNet([20], 64, 10, activation="sigmoid", weight_scale=50.0, seed=0)
    Solver(net, data, num_epochs=1, batch_size=50, verbose=False,
           checkpoint=tmp_path / "net.npz").train()
    code = cli.main(["diagnose", "--model", str(tmp_path / "net.npz"), "--out", str(tmp_path),
                     "--probe", "300"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "detectors on 300 digits training examples" in out
    assert "layer 1 (sigmoid): " in out and "% saturated" in out
    assert 'lower weight_scale or use init="xavier"' in out
    assert _is_png(tmp_path / "net-activations.png")


def test_command_argument_errors(tmp_path, capsys):
    assert cli.main(["diagnose", "--data", "digits"]) == 2
    assert "--data goes with --model" in capsys.readouterr().err
    assert cli.main(["diagnose", "--model", str(tmp_path / "missing.npz")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["diagnose", "--only", "nothing"])
