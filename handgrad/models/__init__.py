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

import importlib

__all__ = ["Affine", "BatchNorm", "FullyConnectedNet", "RNNLanguageModel", "ReLU", "Sequential",
           "Sigmoid", "Tanh", "from_checkpoint"]

_WHERE = {
    "FullyConnectedNet": "handgrad.models.fc",
    "RNNLanguageModel": "handgrad.models.rnn_lm",
    "Sequential": "handgrad.models.sequential",
    "Affine": "handgrad.models.sequential",
    "ReLU": "handgrad.models.sequential",
    "Sigmoid": "handgrad.models.sequential",
    "Tanh": "handgrad.models.sequential",
    "BatchNorm": "handgrad.models.sequential",
    "from_checkpoint": "handgrad.models.checkpoint",
}


def __getattr__(name: str):
    # Imported on first use, so that building the `handgrad` command parser stays light.
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'handgrad.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
