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
fractions, independently of :mod:`handgrad.layers`. ``handgrad practice`` is the command.
"""

from __future__ import annotations

from handgrad.practice.answers_file import SetResult, grade
from handgrad.practice.batchnorm import batchnorm_column
from handgrad.practice.catalog import NAMED, named, problems
from handgrad.practice.checking import STATUSES, CheckResult, Mistake, Verdict
from handgrad.practice.neuron import neuron
from handgrad.practice.numeric import AnswerError, agrees, parse_answer
from handgrad.practice.problem import KINDS, Problem
from handgrad.practice.rnn import rnn_step
from handgrad.practice.session import SessionResult, interact
from handgrad.practice.softmax import softmax_cross_entropy
from handgrad.practice.steps import Solution, Step

__all__ = [
    "KINDS", "NAMED", "STATUSES", "AnswerError", "CheckResult", "Mistake", "Problem",
    "SessionResult", "SetResult", "Solution", "Step", "Verdict", "agrees", "batchnorm_column",
    "grade", "interact", "named", "neuron", "parse_answer", "problems", "rnn_step",
    "softmax_cross_entropy",
]
