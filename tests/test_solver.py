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
from handgrad.optim.callbacks import TimeBudget


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


# ---------------------------------------------------------------- early stop

class StopAt(Callback):
    """Requests a stop in hook ``hook`` at step (or epoch) ``at``; records the hooks it sees
    and the parameters after every step."""

    def __init__(self, hook, at=None, reason="enough"):
        self.hook, self.at, self.reason = hook, at, reason
        self.calls, self.params_after = [], {}

    def _maybe(self, solver, hook, index=None):
        self.calls.append((hook, index) if index is not None else hook)
        if hook == self.hook and index == self.at:
            solver.request_stop(self.reason)

    def on_train_begin(self, solver):
        self._maybe(solver, "train_begin")

    def on_step_begin(self, solver, step):
        self._maybe(solver, "step_begin", step)

    def on_step_end(self, solver, step, loss, grads):
        self.params_after[step] = {k: v.copy() for k, v in solver.model.params.items()}
        self._maybe(solver, "step_end", step)

    def on_epoch_end(self, solver, epoch):
        self._maybe(solver, "epoch_end", epoch)

    def on_train_end(self, solver):
        self.calls.append("train_end")


def accuracy_by_hand(params, X, y):
    h = np.maximum(X @ params["W1"] + params["b1"], 0)
    return float(np.mean(np.argmax(h @ params["W2"] + params["b2"], axis=1) == y))


@pytest.mark.parametrize("hook", ["step_begin", "step_end"])
def test_request_stop_inside_an_epoch_finishes_the_step_then_evaluates(hook):
    # 150 examples, batch 25: 6 steps per epoch; the stop comes during step 8 (3rd of epoch 2)
    data = spiral_data(seed=13)
    stop = StopAt(hook, at=8, reason="loss is low enough")
    solver = Solver(TwoLayerNet(seed=13), data, batch_size=25, num_epochs=5, verbose=False,
                    seed=0, num_train_samples=None, callbacks=[stop])
    solver.train()
    assert stop.calls[stop.calls.index(("step_begin", 8)):] == [
        ("step_begin", 8), ("step_end", 8), "train_end"]
    assert [c for c in stop.calls if c[0] == "epoch_end"] == [("epoch_end", 0)]
    assert solver.stopped_early and solver.stop_reason == "loss is low enough"
    assert solver.step == 9 and solver.epoch == 1
    assert len(solver.loss_history) == len(solver.grad_norm_history) == len(
        solver.lr_history) == 9
    # one evaluation before training, one per epoch, one at the stop (3 of 6 steps in)
    assert solver.eval_epoch_history == [0.0, 1.0, 1.5]
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 3
    last = stop.params_after[8]
    assert solver.val_acc_history[-1] == accuracy_by_hand(last, data["X_val"], data["y_val"])
    assert solver.train_acc_history[-1] == accuracy_by_hand(last, data["X_train"],
                                                            data["y_train"])


def test_the_evaluation_at_a_stop_can_give_the_best_parameters():
    # DialModel: w = number of steps (lr 1); val accuracy is 1 only at w = 2, i.e. after the
    # second of the 4 steps of epoch 1: only the evaluation at a stop there sees it
    data = dial_data()
    data["X_train"], data["y_train"] = np.zeros((4, 1)), np.zeros(4, dtype=int)
    model = DialModel()
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 1.0},
                    batch_size=1, num_epochs=3, verbose=False,
                    callbacks=[StopAt("step_end", at=1)])
    solver.train()
    assert solver.val_acc_history == [0.0, 1.0] and solver.eval_epoch_history == [0.0, 0.5]
    assert solver.best_epoch == 0.5 and solver.restored_best
    assert model.params["w"][0] == 2.0


def test_request_stop_at_an_epoch_end_or_before_training():
    stop = StopAt("epoch_end", at=1)
    solver = Solver(TwoLayerNet(seed=14), spiral_data(seed=14), batch_size=50, num_epochs=4,
                    verbose=False, seed=0, callbacks=[stop])
    solver.train()
    assert solver.stopped_early and solver.step == 6 and solver.epoch == 2
    assert solver.eval_epoch_history == [0.0, 1.0, 2.0]
    assert stop.calls[-2:] == [("epoch_end", 1), "train_end"]

    # asked during the last step of an epoch: that epoch ends as usual, with its lr decay
    stop = StopAt("step_end", at=2)
    solver = Solver(TwoLayerNet(seed=14), spiral_data(seed=14), update_rule="sgd",
                    optim_config={"learning_rate": 0.4}, lr_decay=0.5, batch_size=50,
                    num_epochs=4, verbose=False, seed=0, callbacks=[stop])
    solver.train()
    assert solver.stopped_early and solver.step == 3 and solver.epoch == 1
    assert solver.eval_epoch_history == [0.0, 1.0]
    assert stop.calls[-3:] == [("step_end", 2), ("epoch_end", 0), "train_end"]
    assert solver.optim_configs["W1"]["learning_rate"] == pytest.approx(0.2)

    stop = StopAt("train_begin", reason="nothing to do")
    model = TwoLayerNet(seed=14)
    before = {k: v.copy() for k, v in model.params.items()}
    solver = Solver(model, spiral_data(seed=14), verbose=False, callbacks=[stop])
    solver.train()
    assert stop.calls == ["train_begin", "train_end"]
    assert solver.stopped_early and solver.stop_reason == "nothing to do"
    assert solver.step == 0 and solver.loss_history == [] and len(solver.val_acc_history) == 1
    assert all(np.array_equal(before[k], model.params[k]) for k in before)


def test_a_stop_during_the_last_step_is_not_an_early_stop():
    stop = StopAt("step_end", at=5)
    solver = Solver(TwoLayerNet(seed=15), spiral_data(seed=15), batch_size=50, num_epochs=2,
                    verbose=False, seed=0, callbacks=[stop])
    solver.train()
    assert solver.epoch == 2 and not solver.stopped_early and solver.stop_reason is None
    assert solver.eval_epoch_history == [0.0, 1.0, 2.0]


def test_request_stop_keeps_the_first_reason_and_wants_a_string():
    solver = Solver(TwoLayerNet(seed=16), spiral_data(seed=16), batch_size=50, num_epochs=3,
                    verbose=False, seed=0,
                    callbacks=[StopAt("step_end", at=0, reason="first"),
                               StopAt("step_end", at=0, reason="second")])
    solver.train()
    assert solver.stop_reason == "first" and solver.step == 1
    with pytest.raises(TypeError, match="reason must be a non-empty str"):
        solver.request_stop(None)
    # a request made before train() is forgotten when it starts
    solver = Solver(TwoLayerNet(seed=16), spiral_data(seed=16), batch_size=50, num_epochs=1,
                    verbose=False, seed=0)
    solver.request_stop("too early")
    solver.train()
    assert solver.step == 3 and not solver.stopped_early


def test_stop_message_in_the_progress_lines(capsys):
    small_solver(print_every=100, callbacks=[StopAt("step_end", at=0, reason="why not")]).train()
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("(Epoch 0.333333 / 2) train acc: ")
    assert lines[-1] == "Stopped early at step 1 (epoch 0.333333 / 2): why not"


class FakeClock:
    """A clock that moves only when told: ``now`` seconds."""

    def __init__(self):
        self.now = 100.0
        self.reads = 0

    def __call__(self):
        self.reads += 1
        return self.now


class Ticker(Callback):
    """Every step takes ``seconds`` on the fake clock."""

    def __init__(self, clock, seconds):
        self.clock, self.seconds = clock, seconds

    def on_step_begin(self, solver, step):
        self.clock.now += self.seconds


@pytest.mark.parametrize("budget, steps", [(2.0, 4), (1.9, 4), (2.1, 5), (0.0, 1)])
def test_time_budget_stops_after_the_step_that_spends_it(budget, steps):
    clock = FakeClock()
    timer = TimeBudget(budget, clock=clock)
    # 150 examples, batch 25: 6 steps per epoch, each 0.5 s
    solver = Solver(TwoLayerNet(seed=17), spiral_data(seed=17), batch_size=25, num_epochs=3,
                    verbose=False, seed=0, callbacks=[Ticker(clock, 0.5), timer])
    solver.train()
    assert solver.step == steps and solver.stopped_early
    assert solver.stop_reason == f"time budget of {budget:g} s spent"
    assert timer.elapsed == 0.5 * steps
    assert solver.eval_epoch_history == [0.0, steps / 6]


def test_time_budget_ends_at_an_epoch_end_and_restarts_with_every_train():
    clock = FakeClock()
    timer = TimeBudget(3.0, clock=clock)
    solver = Solver(TwoLayerNet(seed=18), spiral_data(seed=18), batch_size=25, num_epochs=3,
                    verbose=False, seed=0, callbacks=[Ticker(clock, 0.5), timer])
    solver.train()  # spent after step 6, the last of epoch 1
    assert solver.step == 6 and solver.epoch == 1 and solver.stopped_early
    assert solver.eval_epoch_history == [0.0, 1.0]
    assert TimeBudget(180).reason == "time budget of 3 min spent"
    # a budget the run does not spend: all epochs, no stop
    solver = Solver(TwoLayerNet(seed=18), spiral_data(seed=18), batch_size=25, num_epochs=2,
                    verbose=False, seed=0, callbacks=[Ticker(clock, 0.5), TimeBudget(
                        6.0, clock=clock)])
    solver.train()
    assert solver.step == 12 and not solver.stopped_early


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf"), "3", True])
def test_time_budget_rejects_bad_budgets(seconds):
    with pytest.raises(ValueError, match="TimeBudget: seconds must be a finite number >= 0"):
        TimeBudget(seconds)


class LastParams(Callback):
    """Keeps the parameters at every epoch end (before the best ones are restored)."""

    def __init__(self):
        self.at_epoch_end = []

    def on_epoch_end(self, solver, epoch):
        self.at_epoch_end.append({k: v.copy() for k, v in solver.model.params.items()})


def test_a_stopped_run_resumes_exactly_from_its_checkpoint(tmp_path):
    from handgrad.optim import load_checkpoint

    # num_train_samples < 150: every evaluation draws a subsample from the Solver's generator
    options = dict(batch_size=20, num_epochs=3, num_train_samples=40, lr_decay=0.9,
                   verbose=False, seed=5)
    full = LastParams()
    solver_a = Solver(TwoLayerNet(seed=19), spiral_data(seed=19), callbacks=[full], **options)
    solver_a.train()

    path = tmp_path / "stopped.npz"
    solver_b = Solver(TwoLayerNet(seed=19), spiral_data(seed=19), checkpoint=path,
                      callbacks=[StopAt("step_end", at=10, reason="budget")], **options)
    solver_b.train()
    saved = load_checkpoint(path)
    meta = saved["metadata"]
    assert meta["step"] == 11 and meta["epoch"] == 1 and meta["epoch_pos"] == 60
    assert saved["epoch_perm"] is not None and meta["stop_reason"] == "budget"
    assert saved["histories"]["eval_epoch"].tolist() == [0.0, 1.0, 1.4]

    resumed = LastParams()
    solver_c = Solver.resume(path, TwoLayerNet(seed=99), spiral_data(seed=19),
                             callbacks=[resumed])
    assert solver_c.step == 11
    solver_c.train()
    assert not solver_c.stopped_early
    assert solver_c.loss_history == solver_a.loss_history
    assert solver_c.grad_norm_history == solver_a.grad_norm_history
    assert solver_c.lr_history == solver_a.lr_history
    for name, value in full.at_epoch_end[-1].items():
        assert np.array_equal(resumed.at_epoch_end[-1][name], value)
    # the same evaluations, plus the one at the stop
    assert solver_c.eval_epoch_history == [0.0, 1.0, 1.4, 2.0, 3.0]
    keep = [i for i, e in enumerate(solver_c.eval_epoch_history) if e != 1.4]
    assert [solver_c.val_acc_history[i] for i in keep] == solver_a.val_acc_history
    assert [solver_c.train_acc_history[i] for i in keep] == solver_a.train_acc_history


def test_a_checkpoint_without_evaluation_epochs_still_resumes(tmp_path):
    path = tmp_path / "old.npz"
    Solver(TwoLayerNet(seed=20), spiral_data(seed=20), batch_size=50, num_epochs=2,
           verbose=False, seed=0, checkpoint=path).train()
    with np.load(path) as npz:  # as written before evaluations recorded their epoch
        entries = {k: npz[k] for k in npz.files if k != "history/eval_epoch"}
    np.savez(path, **entries)
    solver = Solver.resume(path, TwoLayerNet(seed=20), spiral_data(seed=20), num_epochs=3)
    assert solver.eval_epoch_history == [0.0, 1.0, 2.0]
    solver.train()
    assert solver.eval_epoch_history == [0.0, 1.0, 2.0, 3.0]


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


def test_time_budget_exported_from_handgrad_optim():
    import handgrad.optim as optim

    assert optim.TimeBudget is TimeBudget and "TimeBudget" in optim.__all__


def test_no_total_in_the_progress_under_a_time_budget(monkeypatch, capsys):
    # a budget may end the run at any step: "(Iteration k / total)" would mislead
    small_solver(print_every=2, callbacks=[TimeBudget(1e9)]).train()
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("(Iteration")]
    assert [ln.split(")")[0] for ln in lines] == [
        "(Iteration 1", "(Iteration 2", "(Iteration 4", "(Iteration 6"]
    fake = FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    small_solver(callbacks=[TimeBudget(1e9)]).train()
    text = fake.getvalue()
    assert "6step" in text and "6/6" not in text and "loss=" in text


# ---------------------------------------------------------------- diagnose

def fc_solver(**kwargs):
    from handgrad.models import FullyConnectedNet

    net = FullyConnectedNet([20], input_dim=2, num_classes=3, seed=4)
    return Solver(net, spiral_data(seed=4), batch_size=3, num_epochs=2, verbose=False,
                  seed=0, **kwargs)


def test_diagnose_attaches_a_monitor_that_records_the_history(tmp_path):
    from handgrad.diagnostics import Monitor

    path = tmp_path / "run.npz"
    solver = fc_solver(diagnose=True, checkpoint=path)
    assert [type(cb) for cb in solver.callbacks] == [Monitor]
    solver.train()
    records = solver.history["diagnostics"]
    assert [r["step"] for r in records] == [0, 50, 100]  # 50 steps per epoch
    assert {"layers", "grad_norms", "update_ratios", "warnings"} <= set(records[-1])
    # the option is kept in the checkpoint: a resumed run diagnoses on
    resumed = Solver.resume(path, fc_solver().model, spiral_data(seed=4), num_epochs=3)
    assert resumed.diagnose and [type(cb) for cb in resumed.callbacks] == [Monitor]
    # one Monitor is enough
    own = Monitor(every=5)
    assert fc_solver(diagnose=True, callbacks=[own]).callbacks == [own]
    assert fc_solver().callbacks == []
