"""Training progress for the Solver: a tqdm bar on a terminal, plain lines otherwise.

Mode ``"bar"`` (``verbose`` and stderr is a terminal) shows one tqdm bar on stderr with the
loss and the last accuracy as postfix and writes one line per epoch above it. Mode ``"lines"``
(``verbose`` but stderr is a file, a pipe or a notebook) prints CS231n-style lines on stdout::

    (Iteration 100 / 1000) loss: 1.234567
    (Epoch 1 / 10) train acc: 0.812000; val acc: 0.790000

Mode ``"none"`` (``verbose=False``) prints nothing.

Without a total (``total_steps=None``: a run a time budget may end at any step) the bar shows
the step count and the rate but no total and no ETA, and the lines read
``(Iteration 100) loss: 1.234567``.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any


def choose_mode(verbose: bool) -> str:
    if not verbose:
        return "none"
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        tty = bool(isatty and isatty())
    except ValueError:  # closed stream
        tty = False
    return "bar" if tty else "lines"


def _width() -> dict[str, Any]:
    """Follow the terminal's size; a pseudo-terminal without a size reports 0 x 0, which
    makes tqdm draw nothing, so fall back to $COLUMNS x $LINES or 80 x 24 then."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
        if size.columns > 0 and size.lines > 0:
            return {"dynamic_ncols": True}
    except (OSError, ValueError, AttributeError):
        pass
    fallback = shutil.get_terminal_size()
    return {"ncols": fallback.columns, "nrows": fallback.lines}


class Progress:
    """Reports steps and epochs in one of the three modes (see the module docstring)."""

    def __init__(self, verbose: bool, total_steps: int | None, initial_step: int,
                 print_every: int):
        self.mode = choose_mode(verbose)
        self.total = total_steps
        self.print_every = print_every
        self._bar: Any = None
        self._postfix: dict[str, str] = {"loss": "?"}
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=initial_step, file=sys.stderr,
                             unit="step", leave=True, **_width())

    def step(self, step: int, loss: float) -> None:
        """Report update number ``step`` (0-based) and its loss."""
        if self.mode == "lines":
            if step == 0 or (step + 1) % self.print_every == 0:
                of = "" if self.total is None else f" / {self.total}"
                print(f"(Iteration {step + 1}{of}) loss: {loss:.6f}", flush=True)
        elif self.mode == "bar":
            self._postfix["loss"] = f"{loss:.4g}"
            self._bar.set_postfix(self._postfix, refresh=False)
            self._bar.update(1)

    def message(self, text: str, **postfix: float) -> None:
        """An epoch summary: a line (above the bar in bar mode)."""
        if self.mode == "lines":
            print(text, flush=True)
        elif self.mode == "bar":
            self._postfix.update({k: f"{v:.4g}" for k, v in postfix.items()})
            self._bar.set_postfix(self._postfix, refresh=False)
            self._bar.write(text, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
