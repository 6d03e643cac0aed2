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

from __future__ import annotations

from handgrad._exports import lazy_exports

__all__ = [
    "RULES", "Callback", "NonFiniteGradientError", "Solver", "TimeBudget", "TrainingDiverged",
    "TrainingInterrupted", "adam", "adamw", "clip_grad_norm", "clip_grad_value", "get_rule",
    "global_norm", "load_checkpoint", "nesterov", "register_rule", "rmsprop", "schedules",
    "sgd", "sgd_momentum",
]
__getattr__, __dir__ = lazy_exports(__name__, {
    "schedules": "schedules",
    "Callback": "callbacks",
    "TimeBudget": "callbacks",
    "load_checkpoint": "checkpoint",
    "NonFiniteGradientError": "clipping",
    "clip_grad_norm": "clipping",
    "clip_grad_value": "clipping",
    "global_norm": "clipping",
    "TrainingInterrupted": "interrupt",
    "RULES": "rules",
    "adam": "rules",
    "adamw": "rules",
    "get_rule": "rules",
    "nesterov": "rules",
    "register_rule": "rules",
    "rmsprop": "rules",
    "sgd": "rules",
    "sgd_momentum": "rules",
    "Solver": "solver",
    "TrainingDiverged": "solver",
})
