"""Authoring: what an instructor writes and what a student receives.

- :mod:`~handgrad.grading.authoring.markers`: ``# BEGIN SOLUTION`` regions, found and stubbed;
- :mod:`~handgrad.grading.authoring.derivations`: ``BEGIN DERIVATION`` regions of docstrings;
- :mod:`~handgrad.grading.authoring.leakcheck`: solution text that must not reach a starter;
- :mod:`~handgrad.grading.authoring.spec`: ``assignment.toml`` (checks, points, sizes) and the
  student file layout (:func:`~handgrad.grading.authoring.spec.student_files`);
- :mod:`~handgrad.grading.authoring.inputs`: input makers of ``kind = "function"`` checks;
- :mod:`~handgrad.grading.authoring.starter`: the student starter folder;
- :mod:`~handgrad.grading.authoring.handout_notebook` and
  :mod:`~handgrad.grading.authoring.ipynb`: its ``handout.ipynb``;
- :mod:`~handgrad.grading.authoring.notebook`: the helpers that notebook's cells call (public
  as :mod:`handgrad.grading.notebook`).

This room imports nothing from the sandbox or the judging rooms.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports, public_submodules

_WHERE = public_submodules(__path__)
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
