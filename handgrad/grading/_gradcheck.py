"""The pieces of :mod:`handgrad.gradcheck` the grader uses, in one place.

``numerical_gradient_array``, ``relative_errors`` and ``hint_for`` come from the gradient
checker; the grader imports them from here so the checker's module layout can change without
touching the grading code. Imported only by the grader process, never by a worker.
"""

from __future__ import annotations

from handgrad.gradcheck.numerical import (  # noqa: F401 - re-exported
    numerical_gradient_array,
    rel_error,
    relative_errors,
)
from handgrad.gradcheck.report import hint_for  # noqa: F401 - re-exported
