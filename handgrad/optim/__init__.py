"""Optimization: update rules, gradient clipping, learning-rate schedules and the Solver.

- ``sgd, sgd_momentum, nesterov, rmsprop, adam, adamw``: ``next_w, config = rule(w, dw, config)``
  (see :mod:`handgrad.optim.rules`); ``RULES`` maps names to them.
- ``clip_grad_norm(grads, max_norm)``, ``clip_grad_value(grads, clip_value)``: in place.
- :mod:`handgrad.optim.schedules`: ``lr = schedule(base_lr, step, steps_per_epoch, total_steps)``.
- ``Solver(model, data, ...)``: training with histories, best-parameter tracking, progress,
  atomic checkpoints (``load_checkpoint(path)`` reads one) and ``Solver.resume``.
- ``Callback``: the hooks a Solver calls (:mod:`handgrad.optim.callbacks`); ``TimeBudget(seconds)``
  stops training on a wall-clock budget.
- Ctrl-C during ``Solver.train()`` stops after the current step, writes the checkpoint and
  raises ``TrainingInterrupted`` (a KeyboardInterrupt); see :mod:`handgrad.optim.interrupt`.
"""

from handgrad.optim import schedules
from handgrad.optim.callbacks import Callback, TimeBudget
from handgrad.optim.checkpoint import load_checkpoint
from handgrad.optim.clipping import (
    NonFiniteGradientError,
    clip_grad_norm,
    clip_grad_value,
    global_norm,
)
from handgrad.optim.interrupt import TrainingInterrupted
from handgrad.optim.rules import (
    RULES,
    adam,
    adamw,
    get_rule,
    nesterov,
    register_rule,
    rmsprop,
    sgd,
    sgd_momentum,
)
from handgrad.optim.solver import Solver, TrainingDiverged

__all__ = [
    "RULES",
    "Callback",
    "NonFiniteGradientError",
    "Solver",
    "TimeBudget",
    "TrainingDiverged",
    "TrainingInterrupted",
    "adam",
    "adamw",
    "clip_grad_norm",
    "clip_grad_value",
    "get_rule",
    "global_norm",
    "load_checkpoint",
    "nesterov",
    "register_rule",
    "rmsprop",
    "schedules",
    "sgd",
    "sgd_momentum",
]
