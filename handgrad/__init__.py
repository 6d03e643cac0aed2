"""handgrad: neural-network layers whose backward passes are written by hand, in NumPy.

Every layer and loss is a module with ``forward(...) -> (out, cache)`` and
``backward(dout, cache) -> grads``; ``handgrad.gradcheck`` proves each one against numerical
gradients. See the README for the quick start.

Public here: ``__version__`` and ``Solver`` (:class:`handgrad.optim.Solver`). The packages:
``layers``, ``losses``, ``fast`` (the ops), ``gradcheck``, ``optim``, ``models``, ``data``,
``diagnostics``, ``grading``, ``practice`` and ``commands`` (the ``handgrad`` command).
"""

from __future__ import annotations

from handgrad._exports import lazy_exports

__version__ = "0.1.0"

__all__ = ["Solver", "__version__"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "Solver": "optim.solver",   # pulls in tqdm and the update rules: imported when asked for
})
