"""The four leaks of backpropagation, each reproduced next to its fix (``handgrad diagnose``).

Every scenario trains or probes small models on shipped or generated data, and returns a
:class:`Scenario`: a table (``headers``, ``rows``), the checks of the project's bars (each
with its measured value and whether it passes) and the raw numbers (``data``) the plots and
the tests use. The keyword arguments set the sizes; the defaults are the command's.

1. :func:`sigmoid`: a sigmoid net drawn with a huge weight scale saturates; its gradient, in
   units of its weights, is hundreds of times smaller than with Xavier init, and the loss
   stays flat.
2. :func:`relu`: too high a learning rate kills ReLU units for good.
3. :func:`rnn`: a recurrence with spectral radius 1.5 explodes the gradient over 50 steps,
   0.5 makes it vanish; clipping the gradient norm keeps training finite.
4. :func:`clipped`: clipping the error before squaring (a DQN bug) zeroes the gradient of
   every example whose error exceeds the clip; the Huber loss zeroes none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handgrad.diagnostics.activations import model_activation_stats
from handgrad.diagnostics.flow import norm
from handgrad.diagnostics.monitor import Monitor
from handgrad.diagnostics.recurrent import rnn_gradient_flow, spectral_radius
from handgrad.diagnostics.rules import sci
from handgrad.diagnostics.toy_models import Regressor, SequenceRegressor
from handgrad.diagnostics.zeroed import zero_examples

# Bars (the project's requirements), asserted by the tests and printed by the command.
SATURATION_BAR = 0.90            # the badly initialized sigmoid net saturates more than this
GRADIENT_SHRINK_BAR = 100.0      # ... and its relative first-layer gradient is this much smaller
EXPLODING_BAR = 1e3              # |dL/dh_0| / |dL/dh_50| at spectral radius 1.5 (ReLU)
VANISHING_BAR = 1e-3             # ... at spectral radius 0.5 (ReLU)


@dataclass(frozen=True)
class Check:
    """One bar: what is required, the measured value, and whether it holds."""

    description: str
    value: str
    passed: bool


@dataclass
class Scenario:
    name: str
    title: str
    setup: str
    headers: list[str]
    rows: list[list[str]]
    checks: list[Check] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _digits() -> dict[str, np.ndarray]:
    from handgrad.data import digits

    d = digits()
    return {k: d[k] for k in ("X_train", "y_train", "X_val", "y_val")}


def _solver(model: Any, data: dict[str, np.ndarray], seed: int, **options: Any) -> Any:
    from handgrad.optim.solver import Solver

    return Solver(model, data, verbose=False, seed=seed, **options)


# ----------------------------------------------------------------------------- 1. sigmoid
def sigmoid(seed: int = 0, *, hidden: int = 100, weight_scale: float = 300.0,
            epochs: int = 5, learning_rate: float = 1e-2, batch_size: int = 64,
            data: dict[str, np.ndarray] | None = None) -> Scenario:
    """A sigmoid net on the digits with ``N(0, weight_scale^2)`` weights vs Xavier init.

    Measured at initialization on the whole training set: the fraction of saturated hidden
    outputs, ``|dW1|`` and ``|dW1| / |W1|``; then the loss before and after ``epochs`` of
    Adam. The relative gradient is the one that matters: the absolute one is about the same
    in both nets, because the large weights above amplify the backward signal by as much as
    the saturated sigmoids shrink it.
    """
    from handgrad.models.fc import FullyConnectedNet

    data = data or _digits()
    X, y = data["X_train"], data["y_train"]
    configs: dict[str, dict[str, Any]] = {
        f"weight_scale={weight_scale:g}": {"weight_scale": weight_scale},
        'init="xavier"': {"init": "xavier"}}
    rows, runs = [], {}
    for label, options in configs.items():
        net = FullyConnectedNet([hidden], X.shape[1], int(y.max()) + 1, activation="sigmoid",
                                seed=seed, **options)
        stats = model_activation_stats(net, X)
        _, grads = net.loss(X, y)
        grad_w1 = norm(grads["W1"])
        relative = grad_w1 / norm(net.params["W1"])
        solver = _solver(net, data, seed, optim_config={"learning_rate": learning_rate},
                         batch_size=batch_size, num_epochs=epochs)
        solver.train()
        loss = solver.loss_history
        tail = float(np.mean(loss[-10:]))
        runs[label] = {"stats": stats, "saturated": stats[0].saturated, "grad_w1": grad_w1,
                       "relative": relative, "loss_start": loss[0], "loss_end": tail,
                       "val_acc": solver.best_val_acc, "solver": solver}
        saturated = stats[0].saturated  # a sigmoid layer: always measured
        assert saturated is not None
        rows.append([label, _pct(saturated), f"{grad_w1:.3g}", sci(relative),
                     f"{loss[0]:.4g}", f"{tail:.4g}", _pct(solver.best_val_acc)])
    bad, good = runs.values()
    shrink = good["relative"] / bad["relative"]
    steps = len(good["solver"].loss_history)
    checks = [
        Check(f"the weight_scale={weight_scale:g} net saturates > {SATURATION_BAR:.0%} of its "
              f"sigmoid outputs", _pct(bad["saturated"]), bad["saturated"] > SATURATION_BAR),
        Check(f"its first-layer gradient |dW1|/|W1| is >= {GRADIENT_SHRINK_BAR:g}x smaller "
              f"than with Xavier init", f"{shrink:.0f}x smaller", shrink >= GRADIENT_SHRINK_BAR),
    ]
    return Scenario(
        "sigmoid", "Saturated sigmoids: a huge weight scale vs Xavier init",
        f"digits, {X.shape[1]}-{hidden}-{int(y.max()) + 1} sigmoid net, Adam lr "
        f"{learning_rate:g}, batch {batch_size}, {steps} steps; statistics at initialization "
        f"on {X.shape[0]} training examples",
        ["init", "saturated", "|dW1|", "|dW1|/|W1|", "loss at start",
         f"loss after {steps} steps", "val acc"],
        rows, checks, {"runs": runs, "shrink": shrink})


# ----------------------------------------------------------------------------- 2. relu
def relu(seed: int = 0, *, hidden: tuple[int, ...] = (100, 100),
         learning_rates: tuple[float, float] = (1e-1, 1e-3), epochs: int = 5,
         batch_size: int = 64, every: int = 5,
         data: dict[str, np.ndarray] | None = None) -> Scenario:
    """A ReLU net on the digits trained with Adam at a high and at a sane learning rate.

    A :class:`~handgrad.diagnostics.monitor.Monitor` on the whole training set records the
    dead-unit fraction of every layer and the update ratios every ``every`` steps."""
    from handgrad.models.fc import FullyConnectedNet

    data = data or _digits()
    X, y = data["X_train"], data["y_train"]
    rows, runs = [], {}
    for lr in learning_rates:
        net = FullyConnectedNet(list(hidden), X.shape[1], int(y.max()) + 1, activation="relu",
                                seed=seed)
        monitor = Monitor(every=every, probe_size=X.shape[0], warn=False, seed=seed)
        solver = _solver(net, data, seed, optim_config={"learning_rate": lr},
                         batch_size=batch_size, num_epochs=epochs, callbacks=[monitor])
        solver.train()
        records = solver.history["diagnostics"]
        last = records[-1]
        dead = [layer["dead"] for layer in last["layers"]]
        label = f"lr {sci(lr)}"
        runs[label] = {"records": records, "dead": dead, "val_acc": solver.best_val_acc,
                       "warnings": monitor.warnings, "solver": solver}
        rows.append([label, *(_pct(d) for d in dead), _pct(solver.best_val_acc),
                     f"{np.mean(solver.loss_history[-10:]):.3g}"])
    steps = len(solver.loss_history)
    return Scenario(
        "relu", "Dead ReLUs: a learning rate too high vs a sane one",
        f"digits, {X.shape[1]}-{'-'.join(map(str, hidden))}-{int(y.max()) + 1} ReLU net (He "
        f"init), Adam, batch {batch_size}, {steps} steps; dead = zero on all {X.shape[0]} "
        f"training examples after the last step",
        ["learning rate", *(f"dead in layer {i}" for i in range(1, len(hidden) + 1)),
         "val acc", "final loss"],
        rows, [], {"runs": runs})


# ----------------------------------------------------------------------------- 3. rnn
def _sequence_task(n: int, steps: int, input_dim: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Inputs N(0, 1) (n, steps, D); target: the mean of the first input channel over time,
    scaled to unit variance (it needs every step)."""
    x = rng.standard_normal((n, steps, input_dim))
    return x, x[:, :, 0].sum(axis=1) / np.sqrt(steps)


def rnn(seed: int = 0, *, steps: int = 51, hidden: int = 32, input_dim: int = 4,
        batch: int = 16, radii: tuple[float, float] = (1.5, 0.5), clip_norm: float = 1.0,
        train_examples: int = 200, epochs: int = 10, learning_rate: float = 3e-2) -> Scenario:
    """Vanilla RNNs whose ``Wh`` has spectral radius 1.5 or 0.5, ReLU and tanh.

    The probe puts a gradient on the last of ``steps`` hidden states (h_0 .. h_50 for the
    default 51) and measures ``|dL/dh_t|`` back to the first. Then the exploding ReLU
    recurrence is trained with plain SGD on a task that needs every step, once without and
    once with ``clip_norm``."""
    from handgrad.optim.solver import TrainingDiverged

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, steps, input_dim))
    rows, curves, flows = [], {}, {}
    for activation in ("relu", "tanh"):
        for radius in radii:
            model = SequenceRegressor(input_dim, hidden, radius, activation, seed=seed)
            p = model.params
            flow = rnn_gradient_flow(x, np.zeros((batch, hidden)), p["Wx"], p["Wh"], p["b"],
                                     activation=activation, seed=seed)
            label = f"{activation}, radius {radius:g}"
            curves[label] = flow.norms
            flows[(activation, radius)] = flow
            first, last = flow.norms[0], flow.norms[-1]
            rows.append([activation, f"{flow.spectral_radius:.2f}", f"{first:.3g}",
                         f"{last:.3g}", sci(flow.ratio) if flow.ratio else "-",
                         f"{flow.per_step:.3g}" if flow.per_step else "-", flow.verdict])

    explode, vanish = flows[("relu", radii[0])], flows[("relu", radii[1])]
    X, Y = _sequence_task(train_examples + train_examples // 4, steps, input_dim, rng)
    data = {"X_train": X[:train_examples], "y_train": Y[:train_examples],
            "X_val": X[train_examples:], "y_val": Y[train_examples:]}
    training: dict[str, dict[str, Any]] = {}
    for clip in (None, clip_norm):
        model = SequenceRegressor(input_dim, hidden, radii[0], "relu", seed=seed)
        solver = _solver(model, data, seed, update_rule="sgd",
                         optim_config={"learning_rate": learning_rate}, batch_size=50,
                         num_epochs=epochs, clip_norm=clip)
        label = "no clipping" if clip is None else f"clip_norm={clip:g}"
        diverged = None
        with np.errstate(all="ignore"):
            try:
                solver.train()
            except TrainingDiverged as exc:
                diverged = exc.step
        loss = solver.loss_history
        finite = diverged is None and bool(np.all(np.isfinite(loss)))
        training[label] = {"grad_norms": list(solver.grad_norm_history), "loss": list(loss),
                           "diverged_at": diverged, "finite": finite,
                           "radius": spectral_radius(model.params["Wh"])}
    no_clip, with_clip = training.values()
    checks = [
        Check(f"ReLU, radius {radii[0]:g}: |dL/dh_0| >= {sci(EXPLODING_BAR)} x "
              f"|dL/dh_{steps - 1}|", f"{sci(explode.ratio) if explode.ratio else 'inf'} x",
              explode.ratio is None or explode.ratio >= EXPLODING_BAR),
        Check(f"ReLU, radius {radii[1]:g}: |dL/dh_0| <= {sci(VANISHING_BAR)} x "
              f"|dL/dh_{steps - 1}|",
              f"{sci(vanish.ratio) if vanish.ratio is not None else 'inf'} x",
              vanish.ratio is not None and vanish.ratio <= VANISHING_BAR),
        Check(f"with clip_norm={clip_norm:g} the exploding ReLU RNN trains "
              f"{len(with_clip['loss'])} steps with finite losses",
              "finite" if with_clip["finite"] else "not finite", with_clip["finite"]),
    ]
    outcome = []
    for label, run in training.items():
        if run["diverged_at"] is not None:
            outcome.append(f"{label}: diverged at step {run['diverged_at']} (loss or gradient "
                           f"not finite)")
        else:
            outcome.append(f"{label}: {len(run['loss'])} steps, loss {run['loss'][0]:.3g} -> "
                           f"{run['loss'][-1]:.3g}, spectral radius of Wh {radii[0]:g} -> "
                           f"{run['radius']:.2f}")
    return Scenario(
        "rnn", "Exploding and vanishing RNN gradients: spectral radius 1.5 vs 0.5",
        f"vanilla RNN, H={hidden}, {steps} steps (h_0 .. h_{steps - 1}), non-negative Wh "
        f"scaled to the radius, gradient put on h_{steps - 1} only; training: SGD lr "
        f"{learning_rate:g} on the ReLU radius-{radii[0]:g} net. " + "; ".join(outcome),
        ["activation", "radius", "|dL/dh_0|", f"|dL/dh_{steps - 1}|", "ratio", "per step",
         "verdict"],
        rows, checks, {"curves": curves, "flows": flows, "training": training,
                       "clip_norm": clip_norm, "no_clip": no_clip, "with_clip": with_clip})


# ----------------------------------------------------------------------------- 4. clipped
def q_values(n: int, input_dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Generated Q-value regression: states N(0, 1) (n, D) and values
    ``4 + 3 sin(s0) + 2 s1 s2``, far enough from an untrained net's outputs that most errors
    exceed a clip of 1, as a DQN's early TD errors do."""
    s = rng.standard_normal((n, input_dim))
    return s, 4.0 + 3.0 * np.sin(s[:, 0]) + 2.0 * s[:, 1] * s[:, 2]


def clipped(seed: int = 0, *, train_examples: int = 1000, input_dim: int = 8,
            hidden: int = 64, clip: float = 1.0, epochs: int = 10, learning_rate: float = 3e-3,
            batch_size: int = 64, every: int = 10) -> Scenario:
    """A Q-value regression trained with the squared loss of a clipped error vs Huber.

    Checks at initialization and after training, on the whole training set: with the
    clipped error, the examples with an exactly-zero gradient are exactly those whose error
    exceeds the clip; with Huber there are none."""
    rng = np.random.default_rng(seed)
    X, Y = q_values(train_examples + train_examples // 4, input_dim, rng)
    data = {"X_train": X[:train_examples], "y_train": Y[:train_examples],
            "X_val": X[train_examples:], "y_val": Y[train_examples:]}
    Xt, Yt = data["X_train"], data["y_train"]
    labels = {"clipped_error_mse": f"squared clipped error (clip {clip:g})",
              "huber": f"Huber (delta {clip:g})"}
    rows, runs, checks = [], {}, []
    for loss_name, label in labels.items():
        model = Regressor(input_dim, hidden, loss_name, clip, seed=seed)
        found = {}
        monitor = Monitor(every=every, probe_size=train_examples, warn=False, seed=seed)
        solver = _solver(model, data, seed, optim_config={"learning_rate": learning_rate},
                         batch_size=batch_size, num_epochs=epochs, callbacks=[monitor])
        for when in ("start", "end"):
            if when == "end":
                solver.train()
            over = np.abs(model.loss(Xt)[:, 0] - Yt) > clip
            zero = zero_examples(model.output_gradients(Xt, Yt))
            _, grads = model.loss(Xt, Yt)
            found[when] = {"over": over, "zero": zero,
                           "zero_w2": float(np.mean(grads["W2"] == 0))}
        runs[label] = {"found": found, "solver": solver,
                       "records": solver.history["diagnostics"]}
        start, end = found["start"], found["end"]
        rows.append([label, _pct(start["over"].mean()), _pct(start["zero"].mean()),
                     _pct(end["over"].mean()), _pct(end["zero"].mean()),
                     f"{solver.val_mse_history[0]:.3g}", f"{solver.val_mse_history[-1]:.3g}"])
        for when, f in found.items():
            if loss_name == "huber":
                checks.append(Check(f"Huber: no example has a zero gradient ({when} of "
                                    f"training)", f"{int(f['zero'].sum())} of {f['zero'].size}",
                                    not f["zero"].any()))
            else:
                same = bool(np.array_equal(f["zero"], f["over"]))
                checks.append(Check(f"clipped error: zero gradient on every example whose error "
                                    f"exceeds the clip, and only there ({when} of training)",
                                    f"{int(f['zero'].sum())} zero = {int(f['over'].sum())} "
                                    f"beyond" if same else
                                    f"{int(f['zero'].sum())} zero vs {int(f['over'].sum())} "
                                    f"beyond", same))
    steps = len(solver.loss_history)
    return Scenario(
        "clipped", "Clipped error vs Huber loss: zeroed gradients",
        f"generated Q-value regression, {input_dim}-{hidden}-1 ReLU net, Adam lr "
        f"{learning_rate:g}, batch {batch_size}, {steps} steps; counted on all "
        f"{train_examples} training examples",
        ["loss", "|error| > clip (start)", "zero gradient (start)", "|error| > clip (end)",
         "zero gradient (end)", "val MSE start", "val MSE end"],
        rows, checks, {"runs": runs})


RUNNERS: dict[str, Callable[..., Scenario]] = {"sigmoid": sigmoid, "relu": relu, "rnn": rnn,
                                               "clipped": clipped}
