"""The helpers a starter's notebook imports: ``from handgrad.grading.notebook import ...``.

This is the path that generated ``handout.ipynb`` files and ``assignments/*/notebook.py`` name,
so it stays put for notebooks written by any version; the helpers live in
:mod:`handgrad.grading.authoring.notebook`, which documents them.
"""

from __future__ import annotations

from handgrad.grading.authoring.notebook import (
    check_gradients,
    dead_relu_figure,
    gradient_flow_figure,
    saturation_figure,
    skip_if_stubbed,
    starter_status,
    student_module,
)

__all__ = ["check_gradients", "dead_relu_figure", "gradient_flow_figure", "saturation_figure",
           "skip_if_stubbed", "starter_status", "student_module"]
