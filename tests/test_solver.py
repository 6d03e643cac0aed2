"""The Solver: overfitting sanity check, reproducibility, validation, histories, output."""

from __future__ import annotations

import io
import math
import sys

import numpy as np
import pytest

import handgrad
from handgrad.layers import affine
from handgrad.optim import Callback, Solver, TrainingDiverged, schedules


class TwoLayerNet:
    """affine - relu - affine - softmax cross-entropy, written out for the tests."""

    def __init__(self, input_dim=2, hidden_dim=50, num_classes=3, weight_scale=0.5, reg=0.0,
                 seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": (weight_scale * rng.normal(size=(input_dim, hidden_dim))).astype(dtype),
            "b1": np.zeros(hidden_dim, dtype=dtype),
            "W2": (weight_scale * rng.normal(size=(hidden_dim, num_classes))).astype(dtype),
            "b2": np.zeros(num_classes, dtype=dtype),
        }
        self.reg = reg
        self.num_classes = num_classes
        self.train_calls = 0

    def loss(self, X, y=None):
        p = self.params
        h, c1 = affine.forward(X, p["W1"], p["b1"])
        a = np.maximum(h, 0)
        scores, c2 = affine.forward(a, p["W2"], p["b2"])
        if y is None:
            return scores
        self.train_calls += 1
        n = X.shape[0]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_probs[np.arange(n), y].mean()
        loss += 0.5 * self.reg * ((p["W1"] ** 2).sum() + (p["W2"] ** 2).sum())
        dscores = np.exp(log_probs)
        dscores[np.arange(n), y] -= 1
        dscores /= n
        da, dW2, db2 = affine.backward(dscores, c2)
        _, dW1, db1 = affine.backward(da * (h > 0), c1)
        grads = {"W1": dW1 + self.reg * p["W1"], "b1": db1,
                 "W2": dW2 + self.reg * p["W2"], "b2": db2}
        return loss, grads


def spiral(n_per_class, n_classes=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(n_classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, n_per_class) + rng.normal(0, 0.2, n_per_class)
        X.append(np.c_[r * np.sin(t), r * np.cos(t)])
        y.append(np.full(n_per_class, k))
    X, y = np.concatenate(X).astype(dtype), np.concatenate(y)
    order = rng.permutation(len(y))
    return X[order], y[order]


def spiral_data(n_train=150, n_val=60, seed=0, dtype=np.float64):
    X, y = spiral((n_train + n_val) // 3, seed=seed, dtype=dtype)
    return {"X_train": X[:n_train], "y_train": y[:n_train],
            "X_val": X[n_train:], "y_val": y[n_train:]}


# ---------------------------------------------------------------- training

def test_overfits_50_examples():
    """CS231n's sanity check: a small net drives 50 training examples to 100% accuracy."""
    data = spiral_data(n_train=50, n_val=40, seed=1)
    model = TwoLayerNet(hidden_dim=100, seed=1)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 2e-2},
                    batch_size=25, num_epochs=150, verbose=False, seed=0)
    solver.train()
    assert solver.train_acc_history[0] < 0.7
    assert solver.train_acc_history[-1] == 1.0  # after the last epoch
    assert solver.loss_history[-1] < 0.1 * solver.loss_history[0]
    # the restored (best validation) parameters fit the training set too
    assert solver.check_accuracy(data["X_train"], data["y_train"]) == 1.0


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "nesterov", "rmsprop", "adam", "adamw"])
def test_every_rule_lowers_the_loss(rule):
    data = spiral_data(seed=2)
    lr = {"sgd": 0.5, "sgd_momentum": 0.1, "nesterov": 0.1}.get(rule, 1e-2)
    solver = Solver(TwoLayerNet(seed=2), data, update_rule=rule,
                    optim_config={"learning_rate": lr}, batch_size=50, num_epochs=15,
                    verbose=False, seed=0)
    solver.train()
    first, last = np.mean(solver.loss_history[:3]), np.mean(solver.loss_history[-3:])
    assert last < 0.8 * first
    assert solver.best_val_acc > 0.5


def test_same_seed_same_result_and_other_seed_differs():
    def run(seed):
        model = TwoLayerNet(seed=3)
        solver = Solver(model, spiral_data(seed=3), num_epochs=3, batch_size=32,
                        num_train_samples=50, verbose=False, seed=seed)
        solver.train()
        return model.params, solver

    p1, s1 = run(7)
    p2, s2 = run(7)
    p3, _ = run(8)
    assert all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert s1.loss_history == s2.loss_history
    assert s1.train_acc_history == s2.train_acc_history
    assert not all(np.array_equal(p1[k], p3[k]) for k in p1)


class IndexModel:
    """One weight; X holds each example's index; records what each training batch held."""

    def __init__(self):
        self.params = {"w": np.zeros(1)}
        self.batches = []

    def loss(self, X, y=None):
        scores = np.zeros((X.shape[0], 2))
        if y is None:
            return scores
        self.batches.append(X[:, 0].astype(int).tolist())
        return 0.0, {"w": np.zeros(1)}


def index_data(n=23):
    X = np.arange(n, dtype=np.float64)[:, None]
    return {"X_train": X, "y_train": np.zeros(n, dtype=int), "X_val": X[:5],
            "y_val": np.zeros(5, dtype=int)}


def test_minibatches_are_shuffled_without_replacement():
    model = IndexModel()
    solver = Solver(model, index_data(23), update_rule="sgd", batch_size=5, num_epochs=3,
                    verbose=False, seed=0)
    solver.train()
    assert solver.steps_per_epoch == 5  # ceil(23 / 5)
    assert len(model.batches) == 15
    assert [len(b) for b in model.batches[:5]] == [5, 5, 5, 5, 3]
    epochs = [sum(model.batches[i:i + 5], []) for i in (0, 5, 10)]
    for seen in epochs:
        assert sorted(seen) == list(range(23))
    assert epochs[0] != epochs[1] and epochs[0] != list(range(23))


def test_per_parameter_configs_are_separate_copies():
    optim_config = {"learning_rate": 1e-2}
    model = TwoLayerNet(seed=4)
    solver = Solver(model, spiral_data(seed=4), update_rule="sgd_momentum",
                    optim_config=optim_config, num_epochs=1, verbose=False, seed=0)
    solver.train()
    assert optim_config == {"learning_rate": 1e-2}  # the caller's dict is untouched
    assert set(solver.optim_configs) == {"W1", "b1", "W2", "b2"}
    assert solver.optim_configs["W1"] is not solver.optim_configs["W2"]
    for name, config in solver.optim_configs.items():
        assert config["velocity"].shape == model.params[name].shape


def test_float32_training_stays_float32():
    data = spiral_data(seed=5, dtype=np.float32)
    model = TwoLayerNet(seed=5, dtype=np.float32)
    solver = Solver(model, data, num_epochs=2, verbose=False, seed=0)
    solver.train()
    for name, p in model.params.items():
        assert p.dtype == np.float32
        for value in solver.optim_configs[name].values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32


def test_lr_decay_per_epoch():
    solver = Solver(TwoLayerNet(seed=6), spiral_data(seed=6), update_rule="sgd",
                    optim_config={"learning_rate": 0.4}, lr_decay=0.5, batch_size=50,
                    num_epochs=3, verbose=False, seed=0)
    solver.train()
    # 150 examples / 50 = 3 steps per epoch at 0.4, 0.2, 0.1; after the last epoch 0.05
    assert solver.lr_history == pytest.approx([0.4] * 3 + [0.2] * 3 + [0.1] * 3, abs=1e-15)
    assert all(c["learning_rate"] == pytest.approx(0.05) for c in solver.optim_configs.values())


def test_lr_schedule_sets_every_step():
    sched = schedules.linear_warmup(3, schedules.cosine())
    solver = Solver(TwoLayerNet(seed=6), spiral_data(seed=6), update_rule="sgd",
                    optim_config={"learning_rate": 0.4}, lr_schedule=sched, batch_size=50,
                    num_epochs=2, verbose=False, seed=0)
    solver.train()
    assert solver.lr_history == [sched(0.4, s, 3, 6) for s in range(6)]
    # warmup: 0.4 * 1/3 at step 0; cosine at step 3 of 6 is exactly half the base: 0.2
    assert solver.lr_history[0] == pytest.approx(0.4 / 3)
    assert solver.lr_history[3] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="either lr_decay or lr_schedule"):
        Solver(TwoLayerNet(), spiral_data(), lr_decay=0.9, lr_schedule="cosine")


class StepRecorder(Callback):
    def __init__(self):
        self.calls = []
        self.before = self.after = None

    def on_train_begin(self, solver):
        self.calls.append("train_begin")

    def on_step_begin(self, solver, step):
        self.calls.append(("step_begin", step))
        self.before = {k: v.copy() for k, v in solver.model.params.items()}

    def on_step_end(self, solver, step, loss, grads):
        self.calls.append(("step_end", step))
        self.after = {k: v.copy() for k, v in solver.model.params.items()}
        self.grads = {k: v.copy() for k, v in grads.items()}
        solver.history.setdefault("loss_x2", []).append(2 * loss)

    def on_epoch_end(self, solver, epoch):
        self.calls.append(("epoch_end", epoch))

    def on_train_end(self, solver):
        self.calls.append("train_end")


def test_callbacks_order_and_history():
    rec = StepRecorder()
    solver = Solver(TwoLayerNet(seed=7), spiral_data(seed=7), batch_size=75, num_epochs=2,
                    verbose=False, seed=0, callbacks=[rec])
    solver.train()
    assert rec.calls == ["train_begin", ("step_begin", 0), ("step_end", 0), ("step_begin", 1),
                         ("step_end", 1), ("epoch_end", 0), ("step_begin", 2),
                         ("step_end", 2), ("step_begin", 3), ("step_end", 3),
                         ("epoch_end", 1), "train_end"]
    assert solver.history["loss_x2"] == [2 * v for v in solver.loss_history]
    with pytest.raises(TypeError, match="subclass handgrad.optim.callbacks.Callback"):
        Solver(TwoLayerNet(), spiral_data(), callbacks=[object()])


def test_clipping_recorded_in_grad_norm_history():
    rec = StepRecorder()
    lr, max_norm = 0.1, 0.05
    solver = Solver(TwoLayerNet(seed=8, weight_scale=2.0), spiral_data(seed=8),
                    update_rule="sgd", optim_config={"learning_rate": lr}, clip_norm=max_norm,
                    batch_size=150, num_epochs=1, verbose=False, seed=0, callbacks=[rec])
    solver.train()
    assert len(solver.grad_norm_history) == solver.step == 1
    norm = solver.grad_norm_history[0]
    assert norm > 10 * max_norm  # recorded before clipping
    # sgd moved every parameter by -lr * clipped grad: the step's global norm is lr * max_norm
    moved = math.sqrt(sum(float(((rec.before[k] - rec.after[k]) ** 2).sum()) for k in rec.after))
    assert moved == pytest.approx(lr * max_norm * norm / (norm + 1e-6), rel=1e-9)
    clipped = math.sqrt(sum(float((g ** 2).sum()) for g in rec.grads.values()))
    assert clipped == pytest.approx(max_norm, rel=1e-6)


def test_clip_value_then_norm():
    rec = StepRecorder()
    solver = Solver(TwoLayerNet(seed=8, weight_scale=2.0), spiral_data(seed=8),
                    update_rule="sgd", clip_value=1e-3, batch_size=150, num_epochs=1,
                    verbose=False, seed=0, callbacks=[rec])
    solver.train()
    assert max(float(np.abs(g).max()) for g in rec.grads.values()) == pytest.approx(1e-3)
    assert solver.grad_norm_history[0] > 1e-2


class DialModel:
    """One weight w that rises by lr each step (loss = -w); the val examples (label 0) are
    classified right only while 1.5 < w < 2.5, so the best validation accuracy is at w = 2."""

    def __init__(self, nan_scores=False):
        self.params = {"w": np.zeros(1)}
        self.nan_scores = nan_scores

    def loss(self, X, y=None):
        w = float(self.params["w"][0])
        if y is None:
            scores = np.tile([1.0 - abs(w - 2.0), 0.5], (X.shape[0], 1))
            return scores * np.nan if self.nan_scores else scores
        return -w, {"w": -np.ones(1)}


def dial_data():
    X = np.zeros((4, 1))
    return {"X_train": X[:1], "y_train": np.zeros(1, dtype=int), "X_val": X,
            "y_val": np.zeros(4, dtype=int)}


def test_best_params_restored():
    model = DialModel()
    solver = Solver(model, dial_data(), update_rule="sgd", optim_config={"learning_rate": 1.0},
                    batch_size=1, num_epochs=4, verbose=False)
    solver.train()
    assert solver.val_acc_history == [0.0, 0.0, 1.0, 0.0, 0.0]  # before training, epochs 1-4
    assert solver.best_val_acc == 1.0 and solver.best_epoch == 2
    assert model.params["w"][0] == 2.0  # not the last value, 4.0
    assert solver.restored_best


def test_no_finite_validation_keeps_last_params_and_says_so():
    model = DialModel(nan_scores=True)
    solver = Solver(model, dial_data(), update_rule="sgd", optim_config={"learning_rate": 1.0},
                    batch_size=1, num_epochs=3, verbose=False)
    with pytest.warns(RuntimeWarning, match="never a finite number.*keeping the last"):
        solver.train()
    assert all(math.isnan(v) for v in solver.val_acc_history)
    assert solver.best_params is None and not solver.restored_best
    assert model.params["w"][0] == 3.0


class LinearRegression:
    task = "regression"

    def __init__(self, d=3, k=2, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": 0.1 * rng.normal(size=(d, k)), "b": np.zeros(k)}

    def loss(self, X, y=None):
        pred = X @ self.params["W"] + self.params["b"]
        if y is None:
            return pred
        diff = pred - y
        n = X.shape[0]
        return 0.5 * (diff ** 2).sum() / n, {"W": X.T @ diff / n, "b": diff.sum(0) / n}


def test_regression_tracks_mse():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    W = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]])
    Y = X @ W + 0.01 * rng.normal(size=(200, 2))
    data = {"X_train": X[:150], "y_train": Y[:150], "X_val": X[150:], "y_val": Y[150:]}
    model = LinearRegression()
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 0.05},
                    batch_size=30, num_epochs=30, verbose=False, seed=0)
    solver.train()
    assert solver.task == "regression" and solver.metric == "mse"
    assert solver.train_acc_history == [] and solver.val_acc_history == []
    assert len(solver.val_mse_history) == 31
    assert solver.val_metric_history is solver.val_mse_history
    assert solver.val_mse_history[-1] < 1e-3 < solver.val_mse_history[0]
    assert solver.best_val_metric == min(solver.val_mse_history)
    assert solver.best_val_acc is None
    # the metric is the plain mean squared error over every output entry
    pred = model.loss(data["X_val"])
    assert solver.evaluate(data["X_val"], data["y_val"]) == pytest.approx(
        float(((pred - data["y_val"]) ** 2).mean()), rel=1e-12)
    with pytest.raises(ValueError, match="accuracy is not defined for a regression"):
        solver.check_accuracy(data["X_val"], data["y_val"])


def test_check_accuracy_in_batches_and_subsampled():
    model = TwoLayerNet(seed=9)
    data = spiral_data(seed=9)
    solver = Solver(model, data, verbose=False, seed=0)
    scores = model.loss(data["X_val"])
    expected = float(np.mean(np.argmax(scores, axis=1) == data["y_val"]))
    for bs in (1, 7, 100):
        assert solver.check_accuracy(data["X_val"], data["y_val"], batch_size=bs) == expected
    sub = solver.check_accuracy(data["X_train"], data["y_train"], num_samples=10)
    assert sub * 10 == round(sub * 10)


# ---------------------------------------------------------------- errors before training

def bad(**changes):
    data = spiral_data(seed=10)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("data, kwargs, error, match", [
    (bad(X_val=None), {}, ValueError, "data is missing 'X_val'"),
    (bad(y_train=np.zeros(149, dtype=int)), {}, ValueError,
     "X_train has 150 examples but y_train has 149"),
    (bad(X_val=np.where(np.arange(120).reshape(60, 2) == 7, np.nan, 1.0)), {}, ValueError,
     r"X_val contains nan at index \(3, 1\)"),
    (bad(X_train=np.full((150, 2), np.inf)), {}, ValueError, "X_train contains inf"),
    (bad(y_val=np.full(60, 3)), {}, ValueError,
     r"y_val holds label 3 at index 0, outside \[0, 3\)"),
    (bad(y_train=np.full(150, -1)), {}, ValueError, "y_train holds label -1"),
    (bad(y_train=np.zeros(150, dtype=np.float64)), {"model_task": "classification"}, TypeError,
     "y_train must hold integer class labels"),
    (bad(y_train=np.zeros(150, dtype=np.float64)), {}, ValueError,
     "integer class labels make this a classification problem"),
    (bad(X_train=[[0.0, 1.0]] * 150), {}, TypeError, r"data\['X_train'\] must be a numpy array"),
    (bad(), {"update_rule": "adma"}, ValueError,
     "unknown update rule 'adma'; known rules: adam, adamw, nesterov, rmsprop, sgd"),
    (bad(), {"optim_config": {"lr": 1e-3}}, ValueError,
     "adam: unknown config key 'lr'"),
    (bad(), {"optim_config": {"m": 0.0}}, ValueError, "'m' is per-parameter state"),
    (bad(), {"batch_size": 0}, ValueError, "batch_size must be a positive int"),
    (bad(), {"clip_norm": -1.0}, ValueError, "clip_norm must be a positive finite number"),
    (bad(), {"checkpoint": "/nonexistent-dir/x.npz"}, ValueError, "does not exist"),
])
def test_bad_input_fails_before_training(data, kwargs, error, match):
    model = TwoLayerNet(seed=10)
    task = kwargs.pop("model_task", None)
    if task:
        model.task = task
    with pytest.raises(error, match=match):
        Solver(model, data, verbose=False, **kwargs)
    assert model.train_calls == 0


def test_bad_model():
    class NoParams:
        def loss(self, X, y=None):
            return X

    with pytest.raises(TypeError, match="non-empty dict `params`"):
        Solver(NoParams(), spiral_data())
    model = TwoLayerNet()
    model.params["W1"] = model.params["W1"].astype(int)
    with pytest.raises(TypeError, match=r"params\['W1'\] must be a float numpy array"):
        Solver(model, spiral_data())


def test_non_finite_loss_stops_training():
    class Exploding(TwoLayerNet):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            if y is not None and self.train_calls == 3:
                return np.float64(np.inf), out[1]
            return out

    solver = Solver(Exploding(seed=11), spiral_data(seed=11), batch_size=50, verbose=False)
    with pytest.raises(TrainingDiverged, match="at step 2 .*the loss is inf") as info:
        solver.train()
    assert info.value.step == 2 and info.value.param is None
    assert solver.step == 2 and len(solver.loss_history) == 2

    class NaNEverywhere(TwoLayerNet):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            if y is not None and self.train_calls == 5:
                out[1]["W2"][1, 1] = np.nan
                return np.float64(np.nan), out[1]
            return out

    solver = Solver(NaNEverywhere(seed=11), spiral_data(seed=11), batch_size=50, verbose=False)
    with pytest.raises(TrainingDiverged, match="at step 4 .*the loss is nan .*'W2'") as info:
        solver.train()
    assert info.value.step == 4 and info.value.epoch == 1 and info.value.param == "W2"


def test_gradient_mismatch_is_named():
    class Missing(TwoLayerNet):
        def loss(self, X, y=None):
            out = super().loss(X, y)
            if y is None:
                return out
            del out[1]["b1"]
            return out

    with pytest.raises(ValueError, match=r"missing \['b1'\]"):
        Solver(Missing(), spiral_data(), verbose=False).train()


# ---------------------------------------------------------------- output

def small_solver(**kwargs):
    return Solver(TwoLayerNet(seed=12), spiral_data(seed=12), batch_size=50, num_epochs=2,
                  seed=0, **kwargs)


def test_plain_lines_when_not_a_terminal(capsys):
    small_solver(print_every=2).train()
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("(Epoch 0 / 2) train acc: ")
    assert lines[1].startswith("(Iteration 1 / 6) loss: ")
    assert [ln.split(")")[0] for ln in lines if ln.startswith("(Iteration")] == [
        "(Iteration 1 / 6", "(Iteration 2 / 6", "(Iteration 4 / 6", "(Iteration 6 / 6"]
    assert sum(ln.startswith("(Epoch") for ln in lines) == 3
    assert "val acc: " in lines[-1]
    assert err == ""


def test_silent_when_not_verbose(capsys):
    small_solver(verbose=False).train()
    assert capsys.readouterr() == ("", "")


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal(monkeypatch, capsys):
    fake = FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    small_solver().train()
    out, _ = capsys.readouterr()
    assert out == ""  # no plain lines
    text = fake.getvalue()
    assert "6/6" in text and "loss=" in text and "val_acc=" in text
    assert "(Epoch 2 / 2) train acc" in text


def test_exported_at_top_level():
    assert handgrad.Solver is Solver
