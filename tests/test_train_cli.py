"""`handgrad train` in process (small, fast runs) and handgrad.plots."""

from __future__ import annotations

import re

import numpy as np
import pytest

from handgrad.cli import main
from handgrad.plots import plot_training, smooth

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_train_fc_spiral_prints_table_and_writes_png(tmp_path, capsys):
    plot = tmp_path / "curves" / "spiral.png"
    ckpt = tmp_path / "run.npz"
    code = main(["train", "fc", "--data", "spiral", "--epochs", "2", "--hidden", "20",
                 "--plot", str(plot), "--checkpoint", str(ckpt), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    for split in ("train", "val", "test"):
        assert re.search(rf"^{split}\s+\d+\s+\d+\.\d%$", out, re.MULTILINE), out
    assert re.search(r"time \d+\.\d s, [\d,]+ examples/s", out)
    assert "2-20-3 relu" in out and f"curves written to {plot}" in out
    assert plot.read_bytes().startswith(PNG_MAGIC)
    assert ckpt.exists()
    assert "(Epoch" not in out  # --quiet

    # resume the same run for one more epoch: the table again, from epoch 2
    code = main(["train", "fc", "--data", "spiral", "--epochs", "3", "--resume", str(ckpt),
                 "--no-plot", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "resumed at epoch 2" in out and "curves written" not in out

    # resuming on other data is refused with a message that says why, before any training
    code = main(["train", "fc", "--data", "digits", "--resume", str(ckpt), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert ("holds a net for 2 features and 3 classes, but --data digits has 64 features "
            "and 10 classes") in captured.err


def test_train_fc_progress_lines_when_not_quiet(tmp_path, capsys):
    code = main(["train", "fc", "--data", "spiral", "--epochs", "1", "--hidden", "8",
                 "--no-plot", "--dtype", "float64", "--normalization", "batchnorm"])
    out = capsys.readouterr().out
    assert code == 0
    assert "(Epoch 1 / 1) train acc" in out and "float64" in out and "batchnorm" in out


def test_train_rnn_small_run_prints_table_and_sample(tmp_path, capsys):
    plot = tmp_path / "rnn.png"
    code = main(["train", "rnn", "--epochs", "1", "--hidden", "12", "--wordvec", "6",
                 "--seq-len", "10", "--stride", "2000", "--batch-size", "16", "--sample", "40",
                 "--prefix", "Thy ", "--plot", str(plot), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^train\s+[\d,]+\s+\d\.\d{3}\s+\d+\.\d%$", out, re.MULTILINE), out
    assert re.search(r"^val\s+[\d,]+\s+\d\.\d{3}\s+\d+\.\d%$", out, re.MULTILINE), out
    assert "sample (temperature 0.8):" in out
    sample = out.split("sample (temperature 0.8):\n", 1)[1]
    assert sample.startswith("Thy ") and len(sample.rstrip("\n")) >= 40
    assert plot.read_bytes().startswith(PNG_MAGIC)


class SteppingClock:
    """Stands in for time.monotonic: every read is ``step`` seconds after the one before."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_train_rnn_minutes_stops_on_the_time_budget(monkeypatch, tmp_path, capsys):
    # every clock read is 1000 s later: the budget is spent at the end of the first step
    monkeypatch.setattr("handgrad.optim.callbacks.monotonic", SteppingClock(1000.0))
    ckpt = tmp_path / "rnn.npz"
    code = main(["train", "rnn", "--minutes", "3", "--hidden", "8", "--wordvec", "4",
                 "--seq-len", "8", "--stride", "800", "--batch-size", "4", "--sample", "0",
                 "--checkpoint", str(ckpt), "--no-plot", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "batch 4, up to 10000 epochs or 3 min, clip norm 5" in out, out
    m = re.search(r"^stopped early: time budget of 3 min spent, at step 1 "
                  r"\(epoch (0\.\d+) of 10000\)$", out, re.MULTILINE)
    assert m, out
    assert re.search(r"^val\s+[\d,]+\s+\d\.\d{3}\s+\d+\.\d%$", out, re.MULTILINE), out
    assert "sample" not in out

    # the checkpoint holds the state after that step; --minutes adds to a resumed run
    from handgrad.optim import load_checkpoint

    meta = load_checkpoint(ckpt)["metadata"]
    assert meta["step"] == 1 and meta["stop_reason"] == "time budget of 3 min spent"
    code = main(["train", "rnn", "--resume", str(ckpt), "--minutes", "1", "--sample", "0",
                 "--seq-len", "8", "--stride", "800", "--no-plot", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "resumed at epoch 0" in out and "up to 10000 epochs or 1 min" in out
    assert "stopped early: time budget of 1 min spent, at step 2 " in out, out


def test_train_fc_minutes_with_epochs_trains_them_when_time_is_left(monkeypatch, capsys):
    monkeypatch.setattr("handgrad.optim.callbacks.monotonic", SteppingClock(0.0))
    code = main(["train", "fc", "--data", "spiral", "--minutes", "0.5", "--epochs", "2",
                 "--hidden", "8", "--no-plot", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "batch 64, up to 2 epochs or 0.5 min" in out, out
    assert "stopped early" not in out
    assert re.search(r"parameters of the best validation accuracy at epoch [0-2]$", out,
                     re.MULTILINE), out

    monkeypatch.setattr("handgrad.optim.callbacks.monotonic", SteppingClock(10.0))
    code = main(["train", "fc", "--data", "spiral", "--minutes", "0.5", "--hidden", "8",
                 "--no-plot", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    # 420 training points, batch 64: 7 steps per epoch; 10 s per clock read, 30 s budget
    assert "stopped early: time budget of 30 s spent, at step 3 (epoch 0.457143 of 10000)" \
        in out, out
    assert re.search(r"^test\s+\d+\s+\d+\.\d%$", out, re.MULTILINE), out


@pytest.mark.parametrize("argv, message", [
    (["train", "fc", "--lr", "-1"], "argument --lr: must be > 0, got -1"),
    (["train", "fc", "--hidden", "0"], "argument --hidden: must be > 0, got 0"),
    (["train", "fc", "--epochs", "two"], "argument --epochs: expected an integer, got 'two'"),
    (["train", "fc", "--data", "mnist"], "argument --data: invalid choice: 'mnist'"),
    (["train", "fc", "--update", "lbfgs"], "argument --update: invalid choice"),
    (["train", "rnn", "--temperature", "0"], "argument --temperature: must be > 0"),
    (["train"], "required: MODEL"),
])
def test_bad_arguments_exit_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_update_choices_are_the_registered_rules():
    # The parser keeps its own list so that building it does not import the Solver.
    from handgrad.models.command import UPDATE_RULES
    from handgrad.optim.rules import RULES

    assert sorted(UPDATE_RULES) == sorted(RULES)


def test_errors_after_parsing_are_one_line_not_tracebacks(tmp_path, capsys):
    code = main(["train", "fc", "--resume", str(tmp_path / "missing.npz"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("handgrad train: error: load_checkpoint: no checkpoint at")
    assert "Traceback" not in err
    # checked before any training starts
    code = main(["train", "rnn", "--prefix", "Thy ~", "--quiet", "--no-plot"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "--prefix has characters that are not in the corpus: '~'" in captured.err


# ------------------------------------------------------------------------------------- plots
class FakeSolver:
    def __init__(self, steps, epochs, offset=0.0):
        self.loss_history = list(2.0 * np.exp(-np.arange(steps) / 30) + offset)
        self.train_acc_history = list(np.linspace(0.1, 0.9, epochs))
        self.val_acc_history = list(np.linspace(0.1, 0.8, epochs))


def test_plot_training_one_run_and_several(tmp_path):
    one = plot_training(FakeSolver(120, 6), tmp_path / "a" / "one.png", title="one run")
    assert one == tmp_path / "a" / "one.png"
    assert one.read_bytes().startswith(PNG_MAGIC)
    runs = {"adam": FakeSolver(120, 6),
            "sgd": {"loss": [2.0, 1.5, 1.2], "train_acc": [0.2, 0.5], "val_acc": [0.2, 0.4]},
            "regression": {"loss_history": [1.0, 0.5], "val_mse_history": [0.9, 0.4]}}
    many = plot_training(runs, tmp_path / "many.png")
    assert many.read_bytes().startswith(PNG_MAGIC)
    # written atomically: nothing but the two PNGs is left behind
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["many.png", "one.png"]


def test_plot_training_rejects_what_it_cannot_draw(tmp_path):
    with pytest.raises(ValueError, match="histories must be a Solver"):
        plot_training({"a": {"loss_history": []}}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="histories must be a Solver"):
        plot_training(42, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_smooth_is_a_centred_moving_average():
    steps, avg = smooth(np.array([0.0, 3.0, 6.0, 3.0, 0.0]), window=3)
    np.testing.assert_allclose(avg, [3.0, 4.0, 3.0])
    np.testing.assert_allclose(steps, [1.0, 2.0, 3.0])


def metric_lines(monkeypatch, histories, tmp_path):
    """Draw ``histories``; return the metric panel's lines as {label: (x, y)}."""
    import handgrad.plots as plots

    drawn = []
    original = plots.save

    def keep(fig, path):
        drawn.append(fig)
        return original(fig, path)

    monkeypatch.setattr(plots, "save", keep)
    plot_training(histories, tmp_path / "m.png")
    ax_metric = drawn[-1].axes[1]
    return {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata()))
            for ln in ax_metric.get_lines()}


def test_plot_training_puts_evaluations_at_their_epochs(monkeypatch, tmp_path):
    # a run stopped half-way through its third epoch (Solver attribute names)
    stopped = {"loss_history": [1.0, 0.8, 0.7], "train_acc_history": [0.1, 0.5, 0.7, 0.8],
               "val_acc_history": [0.1, 0.4, 0.6, 0.65],
               "eval_epoch_history": [0.0, 1.0, 2.0, 2.5]}
    lines = metric_lines(monkeypatch, stopped, tmp_path)
    assert lines["val"] == ([0.0, 1.0, 2.0, 2.5], [0.1, 0.4, 0.6, 0.65])
    assert lines["train"][0] == [0.0, 1.0, 2.0, 2.5]
    # the checkpoint names, in a comparison of runs
    runs = {"ckpt": {"loss": [1.0], "val_mse": [0.9, 0.5], "eval_epoch": [3.0, 3.25]},
            "plain": {"loss": [1.0], "val_mse": [0.9, 0.5, 0.4]}}
    lines = metric_lines(monkeypatch, runs, tmp_path)
    assert lines["ckpt val"][0] == [3.0, 3.25]
    assert lines["plain val"][0] == [0.0, 1.0, 2.0]  # no epochs recorded: 0, 1, 2, ...


def test_train_fc_diagnose_prints_the_monitor_warnings(capsys):
    # huge sigmoid weights saturate the hidden layer: the Monitor warns once
    code = main(["train", "fc", "--data", "spiral", "--epochs", "2", "--activation", "sigmoid",
                 "--weight-scale", "50", "--batch-size", "8", "--diagnose", "--no-plot",
                 "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "diagnostics (every 50 steps, 3 records in the history): 1 warning" in out
    assert re.search(r"^  - layer 1 \(sigmoid\): \d+% of units saturated; .*xavier", out,
                     re.MULTILINE), out
    code = main(["train", "fc", "--data", "spiral", "--epochs", "2", "--hidden", "20",
                 "--diagnose", "--no-plot", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "diagnostics (every 50 steps, 1 record in the history): no warnings" in out
