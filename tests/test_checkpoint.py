"""Checkpoints: exact resume, atomic writes, no pickle, divergence keeps the last good one."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from handgrad.optim import Callback, Solver, TrainingDiverged, load_checkpoint, schedules


class NoisySoftmax:
    """Softmax regression with input dropout drawn from its own generator (``rng``) and a
    running mean of the inputs (a buffer, updated in place in train mode, used in test mode)."""

    def __init__(self, d=2, c=3, seed=0, p_drop=0.2):
        self.d, self.c, self.seed, self.p_drop = d, c, seed, p_drop
        rng = np.random.default_rng(seed)
        self.params = {"W": 0.5 * rng.normal(size=(d, c)), "b": np.zeros(c)}
        self.buffers = {"running_mean": np.zeros(d)}
        self.rng = np.random.default_rng(seed + 1000)
        self.num_classes = c
        self.fail_at = None  # (train call number, parameter) that gets a NaN gradient
        self.calls = 0

    def config(self):
        return {"d": self.d, "c": self.c, "seed": self.seed, "p_drop": self.p_drop}

    def loss(self, X, y=None):
        W, b = self.params["W"], self.params["b"]
        if y is None:
            return (X - self.buffers["running_mean"]) @ W + b
        self.calls += 1
        mean = self.buffers["running_mean"]
        mean *= 0.9
        mean += 0.1 * X.mean(axis=0)
        keep = (self.rng.random(X.shape) >= self.p_drop) / (1 - self.p_drop)
        Xd = (X - mean) * keep
        scores = Xd @ W + b
        n = X.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        dscores = np.exp(log_probs)
        dscores[np.arange(n), y] -= 1
        dscores /= n
        grads = {"W": Xd.T @ dscores, "b": dscores.sum(axis=0)}
        if self.fail_at is not None and self.calls == self.fail_at[0]:
            grads[self.fail_at[1]][0] = np.nan
        return -log_probs[np.arange(n), y].mean(), grads


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(190, 2))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return {"X_train": X[:150], "y_train": y[:150], "X_val": X[150:], "y_val": y[150:]}


OPTIONS = dict(update_rule="adam", optim_config={"learning_rate": 5e-2}, lr_decay=0.9,
               batch_size=20, num_epochs=5, num_train_samples=100, verbose=False, seed=3)
STEPS_PER_EPOCH = 8  # ceil(150 / 20)


class Interrupt(Exception):
    pass


class Killer(Callback):
    """Stops the run at the start of ``step``, as a kill would."""

    def __init__(self, step):
        self.at = step

    def on_step_begin(self, solver, step):
        if step == self.at:
            raise Interrupt


class Counter(Callback):
    """A callback with state: counts the steps it has seen and records them in history."""

    def __init__(self):
        self.seen = 0

    def on_step_end(self, solver, step, loss, grads):
        self.seen += 1
        solver.history.setdefault("seen", []).append(self.seen)

    def state(self):
        return {"seen": self.seen}

    def load_state(self, state):
        self.seen = state["seen"]


def uninterrupted(tmp_path, **kwargs):
    options = {**OPTIONS, **kwargs}
    model = NoisySoftmax(seed=0)
    solver = Solver(model, make_data(), checkpoint=tmp_path / "full.npz",
                    callbacks=[Counter()], **options)
    solver.train()
    return model, solver


def assert_same_run(model_a, solver_a, model_b, solver_b):
    for name in model_a.params:
        assert np.array_equal(model_a.params[name], model_b.params[name])
    assert np.array_equal(model_a.buffers["running_mean"], model_b.buffers["running_mean"])
    assert solver_a.loss_history == solver_b.loss_history
    assert solver_a.grad_norm_history == solver_b.grad_norm_history
    assert solver_a.lr_history == solver_b.lr_history
    assert solver_a.train_acc_history == solver_b.train_acc_history
    assert solver_a.val_acc_history == solver_b.val_acc_history
    assert solver_a.best_epoch == solver_b.best_epoch
    assert solver_a.step == solver_b.step
    assert solver_a.history == solver_b.history


@pytest.mark.parametrize("kill_at, every", [(19, None), (13, 3)])
def test_resume_after_a_kill_ends_exactly_as_an_uninterrupted_run(tmp_path, kill_at, every):
    model_a, solver_a = uninterrupted(tmp_path, checkpoint_every=every)
    assert solver_a.best_epoch not in (0, None)

    path = tmp_path / "killed.npz"
    model_b = NoisySoftmax(seed=0)
    solver_b = Solver(model_b, make_data(), checkpoint=path, checkpoint_every=every,
                      callbacks=[Counter(), Killer(kill_at)], **OPTIONS)
    with pytest.raises(Interrupt):
        solver_b.train()
    saved = load_checkpoint(path)
    if every is None:  # the last epoch boundary: 2 epochs of 8 steps
        assert saved["metadata"]["step"] == 16 and saved["epoch_perm"] is None
    else:  # the last multiple of 3 inside the epoch
        assert saved["metadata"]["step"] == 12 and saved["epoch_perm"] is not None
        assert saved["metadata"]["epoch_pos"] == (12 - STEPS_PER_EPOCH) * 20

    # A fresh process: a model with other initial values, generator state and buffers.
    model_c = NoisySoftmax(seed=42)
    model_c.buffers["running_mean"][:] = 7.0
    solver_c = Solver.resume(path, model_c, make_data(), callbacks=[Counter()])
    assert solver_c.step == saved["metadata"]["step"]
    solver_c.train()
    assert_same_run(model_a, solver_a, model_c, solver_c)
    assert solver_c.history["seen"] == list(range(1, 41))


def test_train_two_epochs_then_resume_to_four(tmp_path):
    model_a, solver_a = uninterrupted(tmp_path, num_epochs=4)
    path = tmp_path / "two.npz"
    model_b = NoisySoftmax(seed=0)
    Solver(model_b, make_data(), checkpoint=path, callbacks=[Counter()],
           **{**OPTIONS, "num_epochs": 2}).train()
    model_c = NoisySoftmax(seed=0)
    solver_c = Solver.resume(path, model_c, make_data(), num_epochs=4, callbacks=[Counter()])
    solver_c.train()
    assert_same_run(model_a, solver_a, model_c, solver_c)
    assert len(solver_c.val_acc_history) == 5


def test_resume_rebuilds_a_builtin_schedule(tmp_path):
    sched = schedules.linear_warmup(5, schedules.cosine(min_lr=1e-3))
    options = {**OPTIONS, "lr_decay": 1.0, "lr_schedule": sched}
    model_a = NoisySoftmax()
    solver_a = Solver(model_a, make_data(), **options)
    solver_a.train()
    path = tmp_path / "s.npz"
    with pytest.raises(Interrupt):
        Solver(NoisySoftmax(), make_data(), checkpoint=path, callbacks=[Killer(30)],
               **options).train()
    model_c = NoisySoftmax()
    solver_c = Solver.resume(path, model_c, make_data())
    assert solver_c.lr_schedule == sched
    solver_c.train()
    assert solver_c.lr_history == solver_a.lr_history
    assert all(np.array_equal(model_a.params[k], model_c.params[k]) for k in model_a.params)


def test_checkpoint_contents_load_without_pickle(tmp_path):
    model, solver = uninterrupted(tmp_path, num_epochs=2)
    path = tmp_path / "full.npz"
    with np.load(path, allow_pickle=False) as npz:
        for key in npz.files:  # every entry is a plain array
            assert npz[key].dtype != object
        meta = json.loads(npz["metadata"].item())
    assert meta["format"] == "handgrad-checkpoint" and meta["format_version"] == 1
    assert meta["solver"]["update_rule"] == "adam"
    assert meta["solver"]["optim_config"] == {"learning_rate": 5e-2}
    assert meta["model_class"].endswith("NoisySoftmax")
    assert meta["model_config"] == model.config()
    assert meta["epoch"] == 2 and meta["step"] == 16
    assert meta["rng_state"] == solver.rng.bit_generator.state

    saved = load_checkpoint(path)
    assert set(saved["params"]) == {"W", "b"}
    for name in ("W", "b"):
        assert np.array_equal(saved["best_params"][name], solver.best_params[name])
        config = saved["optim_configs"][name]
        assert config["t"] == 16 and config["learning_rate"] == pytest.approx(5e-2 * 0.81)
        assert np.array_equal(config["m"], solver.optim_configs[name]["m"])
        assert np.array_equal(config["v"], solver.optim_configs[name]["v"])
    assert saved["histories"]["loss"].tolist() == solver.loss_history
    assert saved["histories"]["grad_norm"].tolist() == solver.grad_norm_history
    assert saved["histories"]["val_acc"].tolist() == solver.val_acc_history
    assert saved["history"] == {"seen": list(range(1, 17))}
    assert meta["callbacks"] == [{"class": "Counter", "state": {"seen": 16}}]
    assert set(saved["buffers"]) == {"running_mean"}


def test_float32_checkpoint_keeps_dtypes(tmp_path):
    class F32(NoisySoftmax):
        def __init__(self):
            super().__init__()
            self.params = {k: v.astype(np.float32) for k, v in self.params.items()}
            self.buffers = {"running_mean": np.zeros(2, np.float32)}

        def loss(self, X, y=None):
            out = super().loss(X, y)
            if y is None:
                return out.astype(np.float32)
            return out[0], {k: v.astype(np.float32) for k, v in out[1].items()}

    model = F32()
    path = tmp_path / "f32.npz"
    Solver(model, make_data(), checkpoint=path, **{**OPTIONS, "num_epochs": 1}).train()
    saved = load_checkpoint(path)
    assert all(v.dtype == np.float32 for v in saved["params"].values())
    assert saved["optim_configs"]["W"]["m"].dtype == np.float32
    solver = Solver.resume(path, F32(), make_data(), num_epochs=2)
    solver.train()
    assert all(v.dtype == np.float32 for v in solver.model.params.values())


def test_crash_while_writing_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    model = NoisySoftmax()
    solver = Solver(model, make_data(), checkpoint=path, **{**OPTIONS, "num_epochs": 3})
    real_savez = np.savez
    calls = {"n": 0}

    def savez_that_dies_the_second_time(file, **arrays):
        calls["n"] += 1
        if calls["n"] == 2:
            file.write(b"PK\x03\x04 half a zip archive")
            raise OSError("No space left on device")
        return real_savez(file, **arrays)

    monkeypatch.setattr(np, "savez", savez_that_dies_the_second_time)
    with pytest.raises(OSError, match="No space left"):
        solver.train()
    saved = load_checkpoint(path)  # the epoch-1 checkpoint, intact
    assert saved["metadata"]["epoch"] == 1 and saved["metadata"]["step"] == STEPS_PER_EPOCH
    assert os.listdir(tmp_path) == ["c.npz"]  # no temporary file left behind
    monkeypatch.setattr(np, "savez", real_savez)
    resumed = Solver.resume(path, NoisySoftmax(), make_data())
    resumed.train()
    assert resumed.epoch == 3


def test_nan_gradient_names_step_and_parameter_and_keeps_the_checkpoint(tmp_path):
    path = tmp_path / "n.npz"
    snapshot = {}

    class Snapshot(Callback):
        def on_step_begin(self, solver, step):
            if step == 20:
                snapshot["bytes"] = path.read_bytes()
                snapshot["params"] = {k: v.copy() for k, v in solver.model.params.items()}

    model = NoisySoftmax()
    model.fail_at = (21, "b")  # the 21st training call is step 20 (epoch 3 of 5)
    solver = Solver(model, make_data(), checkpoint=path, callbacks=[Snapshot()], **OPTIONS)
    with pytest.raises(TrainingDiverged) as info:
        solver.train()
    err = info.value
    assert isinstance(err, RuntimeError)
    assert err.step == 20 and err.epoch == 2 and err.param == "b"
    assert "step 20 (epoch 3 of 5)" in str(err) and "gradient of 'b' contains NaN" in str(err)
    assert str(path) in str(err)
    assert path.read_bytes() == snapshot["bytes"]  # untouched since epoch 2 ended
    assert load_checkpoint(path)["metadata"]["step"] == 16
    assert len(solver.loss_history) == 20 and solver.step == 20  # the bad update was not made
    for name, value in model.params.items():
        assert np.array_equal(value, snapshot["params"][name])


def test_resume_refuses_what_cannot_continue(tmp_path):
    path = tmp_path / "r.npz"
    Solver(NoisySoftmax(), make_data(), checkpoint=path, **{**OPTIONS, "num_epochs": 1}).train()
    with pytest.raises(ValueError, match="cannot change batch_size"):
        Solver.resume(path, NoisySoftmax(), make_data(), batch_size=10)
    with pytest.raises(TypeError, match="unknown option.*learning_rate"):
        Solver.resume(path, NoisySoftmax(), make_data(), learning_rate=0.1)
    with pytest.raises(ValueError, match=r"parameter 'W' is \(2, 3\) float64 in the checkpoint "
                                         r"but \(3, 3\)"):
        data = make_data()
        data = {k: (np.c_[v, v[:, :1]] if k.startswith("X") else v) for k, v in data.items()}
        Solver.resume(path, NoisySoftmax(d=3), data)
    with pytest.raises(ValueError, match="trained on 150 examples, data has 149"):
        data = make_data()
        data["X_train"], data["y_train"] = data["X_train"][:149], data["y_train"][:149]
        Solver.resume(path, NoisySoftmax(), data)

    def custom(base_lr, step, steps_per_epoch, total_steps):
        return base_lr

    path2 = tmp_path / "custom.npz"
    Solver(NoisySoftmax(), make_data(), checkpoint=path2,
           **{**OPTIONS, "num_epochs": 1, "lr_decay": 1.0, "lr_schedule": custom}).train()
    with pytest.raises(ValueError, match="custom lr_schedule.*pass it again"):
        Solver.resume(path2, NoisySoftmax(), make_data())
    Solver.resume(path2, NoisySoftmax(), make_data(), lr_schedule=custom, num_epochs=2).train()


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable .npz checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.ones(2))
    with pytest.raises(ValueError, match="not a handgrad checkpoint"):
        load_checkpoint(other)


def test_model_without_config_or_buffers(tmp_path):
    class Plain:
        def __init__(self):
            self.params = {"W": np.zeros((2, 3))}

        def loss(self, X, y=None):
            scores = X @ self.params["W"]
            if y is None:
                return scores
            return 1.0, {"W": np.full((2, 3), 0.1)}

    path = tmp_path / "p.npz"
    Solver(Plain(), make_data(), checkpoint=path, **{**OPTIONS, "num_epochs": 1}).train()
    saved = load_checkpoint(path)
    assert saved["metadata"]["model_config"] is None
    assert saved["buffers"] == {} and saved["metadata"]["model_rng_state"] is None
