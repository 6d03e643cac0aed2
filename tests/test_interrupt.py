"""Ctrl-C during training: the Solver finishes the step, saves, raises TrainingInterrupted, and
the checkpoint resumes bit for bit; `handgrad train` reports it and exits with 130."""

from __future__ import annotations

import shlex
import signal

import numpy as np
import pytest

from handgrad.cli import main
from handgrad.data import spiral, stratified_split
from handgrad.models import FullyConnectedNet
from handgrad.optim import Callback, Solver, TrainingInterrupted, load_checkpoint
from handgrad.optim.interrupt import INTERRUPTED


def data():
    X, y = spiral(n_per_class=40, n_classes=3, seed=0)
    train, val, _ = stratified_split(y, (0.7, 0.15, 0.15), seed=0)
    return {"X_train": X[train], "y_train": y[train], "X_val": X[val], "y_val": y[val]}


def solver(**kwargs):
    net = FullyConnectedNet([16], input_dim=2, num_classes=3, seed=3)
    # 84 examples in batches of 20: 5 steps per epoch; subsampled evaluations use the generator
    return Solver(net, data(), batch_size=20, num_epochs=3, num_train_samples=30,
                  lr_decay=0.9, verbose=False, seed=7, **kwargs)


class Interrupt(Callback):
    """Ctrl-C during step ``at``: a real SIGINT, or a KeyboardInterrupt raised by the hook."""

    def __init__(self, at, how, hook="on_step_end"):
        self.at, self.how, self.hook = at, how, hook

    def _fire(self, step):
        if step != self.at:
            return
        if self.how == "signal":
            signal.raise_signal(signal.SIGINT)
        else:
            raise KeyboardInterrupt

    def on_step_begin(self, solver, step):
        if self.hook == "on_step_begin":
            self._fire(step)

    def on_step_end(self, solver, step, loss, grads):
        if self.hook == "on_step_end":
            self._fire(step)


@pytest.mark.parametrize("how, hook", [("signal", "on_step_begin"), ("signal", "on_step_end"),
                                       ("raise", "on_step_begin"), ("raise", "on_step_end")])
def test_ctrl_c_finishes_the_step_saves_and_resumes_bit_for_bit(tmp_path, how, hook):
    full = solver(checkpoint=tmp_path / "full.npz")
    full.train()

    path = tmp_path / "run.npz"
    stopped = solver(checkpoint=path, callbacks=[Interrupt(7, how, hook)])
    with pytest.raises(TrainingInterrupted) as info:
        stopped.train()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    assert info.value.step == 8 and info.value.epoch == pytest.approx(1 + 60 / 84)
    assert info.value.checkpoint == path
    assert stopped.stopped_early and stopped.stop_reason == INTERRUPTED
    meta = load_checkpoint(path)["metadata"]
    assert meta["step"] == 8 and meta["stop_reason"] == INTERRUPTED
    assert stopped.loss_history == full.loss_history[:8]

    resumed = Solver.resume(path, FullyConnectedNet([16], input_dim=2, num_classes=3, seed=99),
                            data())
    resumed.train()
    assert resumed.loss_history == full.loss_history
    assert resumed.grad_norm_history == full.grad_norm_history
    # the last epoch end's checkpoints hold the last parameters (before the best come back)
    last, expected = load_checkpoint(path), load_checkpoint(tmp_path / "full.npz")
    for name, value in expected["params"].items():
        assert np.array_equal(last["params"][name], value), name


@pytest.mark.parametrize("first, second", [("signal", "raise"), ("raise", "signal")])
def test_a_second_ctrl_c_stops_at_once_and_leaves_the_last_checkpoint(tmp_path, first, second):
    path = tmp_path / "run.npz"
    run = solver(checkpoint=path, callbacks=[Interrupt(7, first, "on_step_begin"),
                                             Interrupt(7, second, "on_step_end")])
    with pytest.raises(KeyboardInterrupt) as info:
        run.train()
    assert not isinstance(info.value, TrainingInterrupted)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert load_checkpoint(path)["metadata"]["step"] == 5  # the first epoch end's


def test_without_a_checkpoint_the_exception_says_none(tmp_path):
    run = solver(callbacks=[Interrupt(2, "raise")])
    with pytest.raises(TrainingInterrupted, match="at step 3") as info:
        run.train()
    assert info.value.checkpoint is None and run.step == 3


def test_an_application_handler_for_sigint_is_left_alone():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        run = solver(callbacks=[Interrupt(2, "signal")])
        run.train()  # the application's handler got the signal; training went on
        assert seen == [signal.SIGINT] and run.step == 15 and not run.stopped_early
    finally:
        signal.signal(signal.SIGINT, previous)


def test_train_command_reports_the_checkpoint_and_how_to_resume(tmp_path, monkeypatch, capsys):
    from handgrad.diagnostics import Monitor

    common = ["--data", "spiral", "--hidden", "12", "--epochs", "2", "--diagnose",
              "--no-plot", "--quiet"]
    full = tmp_path / "full.npz"
    assert main(["train", "fc", *common, "--checkpoint", str(full)]) == 0
    capsys.readouterr()

    original = Monitor.on_step_end

    def interrupt_at_step_3(self, solver, step, loss, grads):
        if step == 3:
            raise KeyboardInterrupt
        original(self, solver, step, loss, grads)

    monkeypatch.setattr(Monitor, "on_step_end", interrupt_at_step_3)
    path = tmp_path / "run.npz"
    assert main(["train", "fc", *common, "--checkpoint", str(path)]) == 130
    err = capsys.readouterr().err
    assert "handgrad train: interrupted at step 4 (epoch 0.6" in err
    assert f"checkpoint written to {path}" in err
    resume = err.split("resume with: ", 1)[1].splitlines()[0]
    assert resume == (f"handgrad train fc --data spiral --resume {shlex.quote(str(path))} "
                      f"--epochs 2 --diagnose")
    assert load_checkpoint(path)["metadata"]["step"] == 4

    monkeypatch.setattr(Monitor, "on_step_end", original)
    assert main([*shlex.split(resume)[1:], "--no-plot", "--quiet"]) == 0
    done, expected = load_checkpoint(path), load_checkpoint(full)
    assert done["metadata"]["step"] == expected["metadata"]["step"]
    np.testing.assert_array_equal(done["histories"]["loss"], expected["histories"]["loss"])
    for name, value in expected["params"].items():
        assert np.array_equal(done["params"][name], value), name


def test_train_command_without_a_checkpoint_says_so(monkeypatch, capsys):
    from handgrad.diagnostics import Monitor

    def interrupt(self, solver, step, loss, grads):
        raise KeyboardInterrupt

    monkeypatch.setattr(Monitor, "on_step_end", interrupt)
    code = main(["train", "fc", "--data", "spiral", "--hidden", "8", "--epochs", "1",
                 "--diagnose", "--no-plot", "--quiet"])
    err = capsys.readouterr().err
    assert code == 130
    assert "interrupted at step 1 " in err and "pass --checkpoint PATH" in err
