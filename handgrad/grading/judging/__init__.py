"""Judging: what the grader computes, decides and writes.

- :mod:`~handgrad.grading.judging.draws`: the inputs of each check and their expected values,
  computed in the grader from the reference;
- :mod:`~handgrad.grading.judging.submission`: reading a submission folder or ``.zip`` safely;
- :mod:`~handgrad.grading.judging.runner`: :class:`~handgrad.grading.judging.runner.Grader`,
  one sandboxed worker per checked function, then
  :mod:`~handgrad.grading.judging.interpret` (what the worker's frames and its end mean) and
  :mod:`~handgrad.grading.judging.verdict` (the comparisons, failing closed);
- :mod:`~handgrad.grading.judging.scoring`: check results and points;
- :mod:`~handgrad.grading.judging.results`: ``results.json`` and ``grades.csv``;
- :mod:`~handgrad.grading.judging.batch`: a folder of submissions, graded in parallel;
- :mod:`~handgrad.grading.judging.gradescope`: the autograder zip and Gradescope's layout;
- :mod:`~handgrad.grading.judging.selection`, :mod:`~handgrad.grading.judging.selfcheck` and
  :mod:`~handgrad.grading.judging.table`: the student's self-check and its table.

This room may import the authoring and sandbox rooms; they never import it.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports, public_submodules

_WHERE = public_submodules(__path__)
__all__ = list(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
