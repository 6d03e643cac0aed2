"""Models built from handgrad's layer and loss modules (CS231n conventions): each holds
``params`` (a dict of arrays) and ``loss(X, y=None)``, which returns scores when ``y`` is None
and ``(loss, grads)`` otherwise, and declares ``task`` ("classification" or "regression") for
the Solver.

- :class:`FullyConnectedNet`: affine - [batchnorm] - activation stacks with any loss;
- :class:`RNNLanguageModel`: a character-level vanilla-RNN language model with ``sample``;
- :class:`Sequential` with the layer objects :class:`Affine`, :class:`ReLU`, :class:`Sigmoid`,
  :class:`Tanh` and :class:`BatchNorm`;
- :func:`from_checkpoint`: rebuild a trained model from a Solver checkpoint.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports

__all__ = ["Affine", "BatchNorm", "FullyConnectedNet", "RNNLanguageModel", "ReLU", "Sequential",
           "Sigmoid", "Tanh", "from_checkpoint"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "FullyConnectedNet": "fc",
    "RNNLanguageModel": "rnn_lm",
    "Sequential": "sequential",
    "Affine": "sequential",
    "ReLU": "sequential",
    "Sigmoid": "sequential",
    "Tanh": "sequential",
    "BatchNorm": "sequential",
    "from_checkpoint": "checkpoint",
})
