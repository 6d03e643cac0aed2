"""The typed contracts between the parts of handgrad: what a model, a trainer and a callback are.

These are :class:`typing.Protocol` classes: an object fits by having the members, without
inheriting from anything (CS231n's models fit :class:`Model` as they are). They sit at the
bottom of the package (they import NumPy only), so that the Solver, the models, the
diagnostics and the commands can all name them without importing each other.

- :class:`Model`: ``params`` (a dict of float arrays) and ``loss(X, y=None)``, returning the
  scores when ``y`` is None and ``(loss, grads)`` with ``grads`` keyed like ``params`` otherwise.
  The Solver also reads these optional members (not part of the protocol):

  - ``task``: ``"classification"`` or ``"regression"`` (default: classification for integer
    targets, regression for float targets);
  - ``num_classes``: the number of classes (default: the width of the scores);
  - ``config()``: the constructor keyword arguments, stored in checkpoints so that a tool can
    rebuild the model;
  - ``buffers``: a dict of arrays that are state but not trained (batchnorm running statistics);
    they must exist from construction on and be updated in place. They are checkpointed, kept
    with the best parameters and restored in place;
  - ``rng``: a ``np.random.Generator`` the model draws from (dropout); its state is checkpointed
    so that a resumed run repeats the same draws.

- :class:`Trainer`: what a callback may read from, and ask of, the Solver that calls it.
- :class:`Callback`: the hooks the Solver calls, and the state it keeps in checkpoints for
  them (:class:`handgrad.optim.callbacks.Callback` is a base class with hooks that do nothing).
"""

from __future__ import annotations

from typing import Any, Protocol, SupportsFloat, overload

import numpy as np

Grads = dict[str, np.ndarray]


class Model(Protocol):
    """A trainable model, CS231n style."""

    params: dict[str, np.ndarray]

    @overload
    def loss(self, X: np.ndarray, y: None = None) -> np.ndarray: ...
    @overload
    def loss(self, X: np.ndarray, y: np.ndarray) -> tuple[SupportsFloat, Grads]: ...
    def loss(self, X: np.ndarray, y: np.ndarray | None = None
             ) -> np.ndarray | tuple[SupportsFloat, Grads]:
        """Scores for ``X`` when ``y`` is None (test mode); else ``(loss, grads)``."""
        ...


class Trainer(Protocol):
    """The Solver as a callback sees it."""

    model: Model
    X_train: np.ndarray
    y_train: np.ndarray
    step: int
    epoch: int
    verbose: bool
    base_lr: float
    optim_configs: dict[str, dict[str, Any]]
    history: dict[str, list[Any]]

    def request_stop(self, reason: str) -> None:
        """Ask the trainer to stop after the current step."""
        ...


class Callback(Protocol):
    """The hooks a Solver calls (see :mod:`handgrad.optim.callbacks` for when)."""

    def on_train_begin(self, solver: Trainer) -> None: ...

    def on_step_begin(self, solver: Trainer, step: int) -> None: ...

    def on_step_end(self, solver: Trainer, step: int, loss: float, grads: Grads) -> None: ...

    def on_epoch_end(self, solver: Trainer, epoch: int) -> None: ...

    def on_train_end(self, solver: Trainer) -> None: ...

    def state(self) -> dict[str, Any]:
        """JSON-serializable state to keep in a checkpoint."""
        ...

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned."""
        ...
