"""Solver callbacks: hooks that watch training and may end it early.

Subclass :class:`Callback` and override what you need; pass instances as
``Solver(..., callbacks=[...])``. The Solver calls, in order::

    on_train_begin(solver)
    for every step:  on_step_begin(solver, step)   # before the loss and gradients
                     on_step_end(solver, step, loss, grads)   # after the parameter update
    after each epoch: on_epoch_end(solver, epoch)
    on_train_end(solver)

``step`` counts minibatch updates from 0 over the whole run (it continues after a resume),
``grads`` is the dict of gradients the update used (after clipping). ``epoch`` is the 0-based
index of the epoch that just ended; at that point the Solver has already decayed the learning
rate, measured the accuracies and updated the best parameters, and it writes the checkpoint
right after the callbacks return. ``on_train_end`` runs after the best parameters are restored;
it is not called when training stops with an exception. A callback may record
JSON-serializable values in ``solver.history[key]`` (a list per key); the Solver keeps that
history in its checkpoints.

Stopping early
--------------
A callback ends training with ``solver.request_stop(reason)`` (the first request counts;
``train()`` forgets requests made before it started). Where the Solver stops:

- asked in ``on_step_begin`` or ``on_step_end``: it finishes that step. If the step was the
  last of its epoch, the epoch ends as usual (lr decay, evaluation, ``on_epoch_end``,
  checkpoint) and training stops there. Otherwise the Solver evaluates right after the step:
  one more entry in the metric histories, whose ``eval_epoch_history`` entry has a fraction
  (2.5: half-way through the third epoch), considered for the best parameters like any other;
  there is no lr decay and no ``on_epoch_end`` for the unfinished epoch. Then it writes the
  checkpoint (if the Solver has one);
- asked in ``on_epoch_end``: after that epoch's checkpoint;
- asked in ``on_train_begin``: before the first step (after the initial evaluation).

Then, as at a normal end, it restores the best parameters and calls ``on_train_end``.
``solver.stopped_early`` is True and ``solver.stop_reason`` holds the reason when training
ended before ``num_epochs`` (a request during the very last step changes nothing).

A checkpoint written at a stop holds the exact state after the last step: parameters,
optimizer state, the epoch's shuffle and position, and the generator, which the stop's
evaluation does not touch (its subsample comes from a copy). ``Solver.resume`` from it
continues with the next step, and the updates, losses and parameters then match the
uninterrupted run bit for bit; the stop's evaluation stays in the metric histories and may
remain the best parameters. A stop never rewinds anything: a resumed run always continues from
the last checkpoint written.

:class:`TimeBudget` is the built-in callback that stops on a wall-clock budget. Ctrl-C is
a stop request too (reason ``"interrupted (Ctrl-C)"``), after which ``train()`` raises
``TrainingInterrupted``; so is a KeyboardInterrupt raised by a hook. See
:mod:`handgrad.optim.interrupt`.
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic
from typing import Any

import numpy as np

from handgrad import validation as check
from handgrad.contracts import Trainer


class Callback:
    """Base class: every hook does nothing. (Any object with these methods fits the
    :class:`handgrad.contracts.Callback` protocol the Solver takes; subclassing this one is
    the short way.)"""

    def on_train_begin(self, solver: Trainer) -> None:
        pass

    def on_step_begin(self, solver: Trainer, step: int) -> None:
        pass

    def on_step_end(self, solver: Trainer, step: int, loss: float,
                    grads: dict[str, np.ndarray]) -> None:
        pass

    def on_epoch_end(self, solver: Trainer, epoch: int) -> None:
        pass

    def on_train_end(self, solver: Trainer) -> None:
        pass

    def state(self) -> dict[str, Any]:
        """JSON-serializable state to keep in a checkpoint (override when resuming matters)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned."""


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


class TimeBudget(Callback):
    """Stop training once ``seconds`` of wall-clock time have passed since ``train()`` began.

    The clock starts in ``on_train_begin`` and is read after every step and every epoch end;
    when ``clock() - start >= seconds`` the callback calls ``solver.request_stop`` (see
    "Stopping early" above), so at least one step runs and a run overshoots the budget by
    at most one step plus one evaluation (and that epoch end's work, if the step ended an
    epoch). ``clock`` is a function returning seconds, ``time.monotonic`` by default; tests
    pass a fake one. The budget is not part of checkpoints: every ``train()`` call, a resumed
    run's too, gets the whole budget. ``elapsed`` holds the seconds counted at the last check.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] | None = None):
        seconds = check.number("TimeBudget", "seconds", seconds, low=0.0)
        if clock is not None and not callable(clock):
            raise TypeError(f"TimeBudget: clock must be a function returning seconds, "
                            f"got {clock!r}")
        self.seconds = seconds
        self.clock = monotonic if clock is None else clock
        self.start: float | None = None
        self.elapsed = 0.0

    @property
    def reason(self) -> str:
        """The reason given to ``request_stop``."""
        return f"time budget of {_duration(self.seconds)} spent"

    def on_train_begin(self, solver: Trainer) -> None:
        self.start = self.clock()
        self.elapsed = 0.0

    def _check(self, solver: Trainer) -> None:
        if self.start is None:
            return
        self.elapsed = self.clock() - self.start
        if self.elapsed >= self.seconds:
            solver.request_stop(self.reason)

    def on_step_end(self, solver: Trainer, step: int, loss: float,
                    grads: dict[str, np.ndarray]) -> None:
        self._check(solver)

    def on_epoch_end(self, solver: Trainer, epoch: int) -> None:
        self._check(solver)
