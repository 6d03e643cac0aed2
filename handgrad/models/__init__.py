"""Models built from handgrad's layer and loss modules (CS231n conventions): each holds
``params`` (a dict of arrays) and ``loss(X, y=None)``, which returns scores when ``y`` is None
and ``(loss, grads)`` otherwise, and declares ``task`` ("classification" or "regression") for
the Solver.

- :class:`FullyConnectedNet`: affine - [batchnorm] - activation stacks with any loss;
- :class:`ConvNet`: conv - [spatial batchnorm] - relu - [max pool] stacks, then affine - relu -
  [dropout] layers and a softmax;
- :class:`RNNLanguageModel`: a character-level language model with a vanilla-RNN or an LSTM
  cell (``cell="rnn"|"lstm"``), with ``sample``;
- :class:`Sequential` with the layer objects :class:`Affine`, :class:`ReLU`, :class:`Sigmoid`,
  :class:`Tanh`, :class:`BatchNorm`, :class:`Conv`, :class:`MaxPool`, :class:`AvgPool`,
  :class:`SpatialBatchNorm`, :class:`GroupNorm`, :class:`LayerNorm`, :class:`Dropout`,
  :class:`LSTM` and :class:`Attention`;
- :func:`from_checkpoint`: rebuild a trained model from a Solver checkpoint.
"""

from __future__ import annotations

import importlib

_LAYER_OBJECTS = ("Affine", "Attention", "AvgPool", "BatchNorm", "Conv", "Dropout", "GroupNorm",
                  "LSTM", "LayerNorm", "MaxPool", "ReLU", "Sigmoid", "SpatialBatchNorm", "Tanh")
__all__ = sorted(["ConvNet", "FullyConnectedNet", "RNNLanguageModel", "Sequential",
                  "from_checkpoint", *_LAYER_OBJECTS])

_WHERE = {
    "ConvNet": "handgrad.models.convnet",
    "FullyConnectedNet": "handgrad.models.fc",
    "RNNLanguageModel": "handgrad.models.rnn_lm",
    "Sequential": "handgrad.models.sequential",
    **{name: "handgrad.models.sequential" for name in _LAYER_OBJECTS},
    "from_checkpoint": "handgrad.models.checkpoint",
}


def __getattr__(name: str):
    # Imported on first use, so that building the `handgrad` command parser stays light.
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'handgrad.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
