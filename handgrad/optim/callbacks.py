"""Solver callbacks: hooks that watch (never drive) training.

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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from handgrad.optim.solver import Solver


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, solver: Solver) -> None:
        pass

    def on_step_begin(self, solver: Solver, step: int) -> None:
        pass

    def on_step_end(self, solver: Solver, step: int, loss: float,
                    grads: dict[str, np.ndarray]) -> None:
        pass

    def on_epoch_end(self, solver: Solver, epoch: int) -> None:
        pass

    def on_train_end(self, solver: Solver) -> None:
        pass

    def state(self) -> dict[str, Any]:
        """JSON-serializable state to keep in a checkpoint (override when resuming matters)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned."""
