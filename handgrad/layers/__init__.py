"""Layers: one module per layer, each with ``forward(...) -> (out, cache)`` and
``backward(dout, cache) -> grads`` (one gradient per float array argument of ``forward``)."""
