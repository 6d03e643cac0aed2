"""The input makers under their old path, for starters written before the grading rooms.

The ``assignment.toml`` of such a starter names ``handgrad.grading.inputs:clip_grad_norm``;
specs name :mod:`handgrad.grading.authoring.inputs`, where makers live and new ones go.
"""

from __future__ import annotations

from handgrad.grading.authoring.inputs import clip_grad_norm

__all__ = ["clip_grad_norm"]
