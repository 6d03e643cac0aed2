"""The gradient checker: numerical gradients, relative errors, per-op checks, the registry.

::

    from handgrad.gradcheck import check_op, check_registry
    report = check_op("affine")                   # inputs drawn from the registry entry
    report = check_op(my_module, x, w, b, mode="sparse", num_checks=20)
    print(report)                                 # a table; report.passed is the verdict

``handgrad gradcheck`` runs :func:`check_registry` from the command line.
"""

from __future__ import annotations

from handgrad.gradcheck.check import CONTRACT_CHECKS, check_op, check_registry
from handgrad.gradcheck.numerical import (
    numerical_gradient,
    numerical_gradient_array,
    rel_error,
    relative_errors,
)
from handgrad.gradcheck.registry import REGISTRY, OpSpec, get, register
from handgrad.gradcheck.report import (
    ContractError,
    GradCheckError,
    GradCheckReport,
    InputReport,
    WorstEntry,
    hint_for,
)
from handgrad.gradcheck.sampling import KINK_MARGIN

__all__ = [
    "CONTRACT_CHECKS",
    "KINK_MARGIN",
    "REGISTRY",
    "ContractError",
    "GradCheckError",
    "GradCheckReport",
    "InputReport",
    "OpSpec",
    "WorstEntry",
    "check_op",
    "check_registry",
    "get",
    "hint_for",
    "numerical_gradient",
    "numerical_gradient_array",
    "register",
    "rel_error",
    "relative_errors",
]
