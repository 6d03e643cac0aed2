"""The sandbox: running student code in an isolated process, and the wire out of it.

- :mod:`~handgrad.grading.sandbox.process`: one worker process with limits, a scrubbed
  environment, its own folder (and uid as root); :class:`~handgrad.grading.sandbox.process.Limits`;
- :mod:`~handgrad.grading.sandbox.zygote` / :mod:`~handgrad.grading.sandbox.zygote_client`: the
  fork server that starts workers fast on Linux;
- :mod:`~handgrad.grading.sandbox.worker`, with :mod:`~handgrad.grading.sandbox.worker_setup`
  and :mod:`~handgrad.grading.sandbox.guard`: what runs inside (limits, dropping root, the
  audit hook and import guard, the call of the student's function);
- :mod:`~handgrad.grading.sandbox.bwrap`: the bubblewrap command line of one submission's
  kernel sandbox; :mod:`~handgrad.grading.sandbox.seccomp`: the BPF deny-list of system calls;
- :mod:`~handgrad.grading.sandbox.file_policy`: what a worker may read;
- :mod:`~handgrad.grading.sandbox.uids`: the dedicated uids of workers;
- :mod:`~handgrad.grading.sandbox.wire`: frames of JSON and ``.npy`` bytes, the only data that
  crosses the boundary.

This room imports only the standard library, NumPy and itself: never the authoring or judging
rooms, never ``handgrad.gradcheck`` (the worker is started as ``python -m
handgrad.grading.sandbox.worker`` and must load nothing a student could use).
"""

from __future__ import annotations

from handgrad._exports import lazy_exports, public_submodules

_WHERE = public_submodules(__path__)
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
