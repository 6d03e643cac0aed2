"""The gradient checker: numerical gradients, relative errors, per-op checks, the registry.

::

    from handgrad.gradcheck import check_op, check_registry
    report = check_op("affine")                   # inputs drawn from the registry entry
    report = check_op(my_module, x, w, b, mode="sparse", num_checks=20)
    print(report)                                 # a table; report.passed is the verdict

``handgrad gradcheck`` runs :func:`check_registry` from the command line.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports

__all__ = [
    "CONTRACT_CHECKS", "KINK_MARGIN", "REGISTRY", "ContractError", "GradCheckError",
    "GradCheckReport", "InputReport", "OpSpec", "WorstEntry", "check_op", "check_registry",
    "get", "hint_for", "numerical_gradient", "numerical_gradient_array", "register",
    "rel_error", "relative_errors",
]
__getattr__, __dir__ = lazy_exports(__name__, {
    "CONTRACT_CHECKS": "check",
    "check_op": "check",
    "check_registry": "check",
    "numerical_gradient": "numerical",
    "numerical_gradient_array": "numerical",
    "rel_error": "numerical",
    "relative_errors": "numerical",
    "REGISTRY": "registry",
    "OpSpec": "registry",
    "get": "registry",
    "register": "registry",
    "ContractError": "report",
    "GradCheckError": "report",
    "GradCheckReport": "report",
    "InputReport": "report",
    "WorstEntry": "report",
    "hint_for": "report",
    "KINK_MARGIN": "sampling",
})
