"""Assignments and grading, in three rooms (see ``grading/README.md`` for the flow):

- :mod:`handgrad.grading.authoring`: solution markers and derivation regions, the assignment
  spec, the student starter, its notebook and the helpers the notebook calls;
- :mod:`handgrad.grading.sandbox`: process isolation for student code, and the wire that is
  the only thing crossing into and out of it;
- :mod:`handgrad.grading.judging`: the draws and their expected values, verdicts, scores, the
  runner, the student's self-check, the gradebook and Gradescope output.

Entry points (each imported on first use):

- students: ``check(...)`` runs the public checks of a starter folder and prints the table of
  ``handgrad check`` (:mod:`handgrad.grading.judging.selfcheck`); the cells of a starter's
  notebook import their helpers from :mod:`handgrad.grading.notebook`;
- instructors: :func:`handgrad.grading.authoring.spec.load` reads an assignment
  (:class:`Assignment`, :class:`SpecError`), :func:`handgrad.grading.authoring.starter.write`
  writes its starter, :class:`Grader` / :func:`run_checks` grade one submission under
  :class:`Limits`, :func:`grade_batch` grades a folder into ``results.json`` files and
  ``grades.csv``, :func:`build_autograder_zip` and :func:`grade_gradescope` serve Gradescope.

``handgrad assign``, ``handgrad check`` and ``handgrad grade`` are the commands
(:mod:`handgrad.commands`).
"""

from __future__ import annotations

from handgrad._exports import lazy_exports

__all__ = [
    "Assignment", "CheckOutcome", "CheckReport", "CheckResult", "Grader", "Limits", "SpecError",
    "SubmissionResult", "build_autograder_zip", "check", "grade_batch", "grade_gradescope",
    "run_checks",
]
# Nothing is imported here at once: the sandboxed worker imports this package on its way to
# handgrad.grading.sandbox.worker, and must load nothing but its own room.
__getattr__, __dir__ = lazy_exports(__name__, {
    "Assignment": "authoring.spec",
    "SpecError": "authoring.spec",
    "CheckOutcome": "judging.selfcheck",
    "CheckReport": "judging.selfcheck",
    "check": "judging.selfcheck",
    "CheckResult": "judging.scoring",
    "SubmissionResult": "judging.scoring",
    "Grader": "judging.runner",
    "run_checks": "judging.runner",
    "grade_batch": "judging.batch",
    "build_autograder_zip": "judging.gradescope",
    "grade_gradescope": "judging.gradescope",
    "Limits": "sandbox.process",
})
