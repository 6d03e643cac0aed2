"""handgrad: neural-network layers whose backward passes are written by hand, in NumPy.

Every layer and loss is a module with ``forward(...) -> (out, cache)`` and
``backward(dout, cache) -> grads``; ``handgrad.gradcheck`` proves each one against numerical
gradients. See the README for the quick start.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Solver", "__version__"]


def __getattr__(name: str):
    # The Solver pulls in tqdm and the update rules; import it only when asked for.
    if name == "Solver":
        from handgrad.optim.solver import Solver

        return Solver
    raise AttributeError(f"module 'handgrad' has no attribute {name!r}")
