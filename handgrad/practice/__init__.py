"""Backpropagation by hand: small computational graphs with numbers, checked answers and
worked solutions.

::

    from handgrad.practice import problems, named

    p = problems(seed=0)[0]          # the first problem of the set `handgrad practice --seed 0`
    print(p)                         # the graph, the numbers, the upstream gradient, what to find
    result = p.check({"dL/dw": 0.629, "dL/db": "3.15e-1"})
    print(result)                    # right / wrong (with the true value) / malformed / missing
    print(p.solution())              # the forward pass, each local derivative, each product

    ninja = named("ninja")           # the tanh neuron: w = 0.5, x = 2, b = -0.5, dL/dh = 0.4

Problems, check results and solutions render as Markdown in Jupyter. Kinds: a neuron
(:func:`neuron`, tanh, sigmoid or ReLU, one or two inputs), softmax with cross-entropy
(:func:`softmax_cross_entropy`), one batchnorm column (:func:`batchnorm_column`) and one vanilla
RNN step (:func:`rnn_step`). Answers agree when they are within one unit of the third
significant digit (:func:`agrees`). The values are computed from the math with Python floats and
fractions, independently of :mod:`handgrad.layers`. ``handgrad practice``
(:mod:`handgrad.commands.practice`) is the command.

``neuron`` is a function named like the module that defines it, so it is imported here at once
(see :mod:`handgrad._exports`); every other name on first use.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports
from handgrad.practice.neuron import neuron

__all__ = [
    "KINDS", "NAMED", "STATUSES", "AnswerError", "CheckResult", "Mistake", "Problem",
    "SessionResult", "SetResult", "Solution", "Step", "Verdict", "agrees", "batchnorm_column",
    "grade", "interact", "named", "neuron", "parse_answer", "problems", "rnn_step",
    "softmax_cross_entropy",
]
__getattr__, __dir__ = lazy_exports(__name__, {
    "SetResult": "answers_file",
    "grade": "answers_file",
    "batchnorm_column": "batchnorm",
    "NAMED": "catalog",
    "named": "catalog",
    "problems": "catalog",
    "STATUSES": "checking",
    "CheckResult": "checking",
    "Mistake": "checking",
    "Verdict": "checking",
    "AnswerError": "numeric",
    "agrees": "numeric",
    "parse_answer": "numeric",
    "KINDS": "problem",
    "Problem": "problem",
    "rnn_step": "rnn",
    "SessionResult": "session",
    "interact": "session",
    "softmax_cross_entropy": "softmax",
    "Solution": "steps",
    "Step": "steps",
})
