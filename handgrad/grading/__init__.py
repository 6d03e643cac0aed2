"""Assignments and grading: solution markers, student starters and their notebooks, the
student's self-check, the sandboxed grader and its reports.

``check(...)`` runs the public checks of a starter folder from Python (see
:mod:`handgrad.grading.selfcheck`); ``handgrad assign``, ``handgrad check`` and
``handgrad grade`` are the commands.
"""

from __future__ import annotations

from handgrad.grading.selfcheck import CheckOutcome, CheckReport, check

__all__ = ["CheckOutcome", "CheckReport", "check"]
