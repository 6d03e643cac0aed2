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

from handgrad._exports import lazy_exports

_LAYER_OBJECTS = ("Affine", "Attention", "AvgPool", "BatchNorm", "Conv", "Dropout", "GroupNorm",
                  "LSTM", "LayerNorm", "MaxPool", "ReLU", "Sigmoid", "SpatialBatchNorm", "Tanh")
__all__ = sorted(["ConvNet", "FullyConnectedNet", "RNNLanguageModel", "Sequential",
                  "from_checkpoint", *_LAYER_OBJECTS])
__getattr__, __dir__ = lazy_exports(__name__, {
    "ConvNet": "convnet",
    "FullyConnectedNet": "fc",
    "RNNLanguageModel": "rnn_lm",
    "Sequential": "sequential",
    **{name: "sequential" for name in _LAYER_OBJECTS},
    "from_checkpoint": "checkpoint",
})
