"""Tuned twins of the readable layers: the same contract, the same errors, faster.

Every module here mirrors one module of :mod:`handgrad.layers` or :mod:`handgrad.losses`
(``handgrad.fast.lstm`` is the twin of ``handgrad.layers.lstm``): same functions, same
arguments, same results to rounding, same error messages. The readable module is the one to
read, teach from and hand out; the twin is the one to train with. It buys its speed with
preallocated buffers, in-place work and algebraic rearrangements that would obscure the math,
and each twin's docstring says which. The tests check every twin against its readable version.
"""
