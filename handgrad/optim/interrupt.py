"""Ctrl-C during ``Solver.train()``: finish the step, save, then raise.

A KeyboardInterrupt that lands in the middle of an update (half the parameters changed, the
optimizer state of the others not) would leave a state that no checkpoint can describe. So
while ``train()`` runs, the first Ctrl-C (SIGINT) only asks the Solver to stop
(``request_stop(INTERRUPTED)``): it finishes the current step and stops as after any stop
request (evaluation, checkpoint, best parameters restored, ``on_train_end``; see "Stopping
early" in :mod:`handgrad.optim.callbacks`), and ``train()`` then raises
:class:`TrainingInterrupted`, a KeyboardInterrupt, so that a script still stops where it was
interrupted. The checkpoint written at the stop resumes bit for bit. A second Ctrl-C raises
KeyboardInterrupt at once, leaving the last checkpoint as it was.

A KeyboardInterrupt raised by a callback hook (``on_train_begin``, ``on_step_begin``,
``on_step_end``, ``on_epoch_end``) counts as the first Ctrl-C: the hook runs between steps.
The handler is installed only in the main thread and only when SIGINT has Python's default
handler (an application that handles SIGINT itself keeps its own behaviour).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

INTERRUPTED = "interrupted (Ctrl-C)"


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by ``Solver.train()`` after it stopped cleanly on Ctrl-C.

    ``step`` and ``epoch`` (a fraction inside an epoch) tell where training stopped;
    ``checkpoint`` is the path of the checkpoint holding exactly that state, or None when
    the Solver has no checkpoint (or had not written one yet).
    """

    def __init__(self, step: int, epoch: float, checkpoint: Path | None) -> None:
        where = f"training interrupted at step {step} (epoch {epoch:g})"
        saved = f"; checkpoint {str(checkpoint)!r}" if checkpoint is not None else ""
        super().__init__(where + saved)
        self.step = step
        self.epoch = epoch
        self.checkpoint = checkpoint


@contextlib.contextmanager
def first_sigint_calls(on_interrupt: Callable[[], None]) -> Iterator[None]:
    """While active, the first SIGINT calls ``on_interrupt()`` instead of raising
    KeyboardInterrupt; the next one raises as usual. A no-op outside the main thread or when
    SIGINT does not have Python's default handler."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        on_interrupt()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)
