"""Rebuild a trained model from a Solver checkpoint."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

# Model classes a checkpoint may name, by class name -> module.
MODEL_CLASSES = {
    "ConvNet": "handgrad.models.convnet",
    "FullyConnectedNet": "handgrad.models.fc",
    "RNNLanguageModel": "handgrad.models.rnn_lm",
}


def from_checkpoint(path: str | os.PathLike, which: str = "best") -> Any:
    """Return the model saved in the Solver checkpoint ``path``, with its trained parameters.

    The architecture comes from the checkpoint's ``model_class`` and ``model_config`` (what
    ``model.config()`` returned). ``which="best"`` loads the parameters with the best
    validation score (what the Solver restores at the end of training) when the checkpoint
    has them, else the last ones; ``which="last"`` loads the parameters as they were when the
    checkpoint was written. Batchnorm running statistics (the model's buffers) come with them.
    """
    import importlib

    from handgrad.optim import load_checkpoint

    if which not in ("best", "last"):
        raise ValueError(f"from_checkpoint: which must be 'best' or 'last', got {which!r}")
    saved = load_checkpoint(path)
    meta = saved["metadata"]
    class_name = str(meta.get("model_class") or "").rpartition(".")[2]
    config = meta.get("model_config")
    if class_name not in MODEL_CLASSES or not isinstance(config, dict):
        known = ", ".join(MODEL_CLASSES)
        raise ValueError(f"from_checkpoint: {os.fspath(path)!r} holds a model of class "
                         f"{meta.get('model_class')!r} with config {config!r}; only {known} "
                         f"with a stored config can be rebuilt")
    cls = getattr(importlib.import_module(MODEL_CLASSES[class_name]), class_name)
    model = cls(**config)

    use_best = which == "best" and saved["best_params"] is not None
    params = saved["best_params"] if use_best else saved["params"]
    buffers = (saved["best_buffers"] if use_best else saved["buffers"]) or {}
    if sorted(params) != sorted(model.params):
        raise ValueError(f"from_checkpoint: the checkpoint has parameters {sorted(params)} but "
                         f"{class_name}(**config) has {sorted(model.params)}")
    for name, value in params.items():
        own = model.params[name]
        if value.shape != own.shape:
            raise ValueError(f"from_checkpoint: parameter {name!r} has shape {value.shape} in "
                             f"the checkpoint but {own.shape} in the rebuilt model")
        model.params[name] = np.array(value, dtype=own.dtype)
    own_buffers = getattr(model, "buffers", None) or {}
    for name, value in buffers.items():
        if name not in own_buffers:
            raise ValueError(f"from_checkpoint: the checkpoint has buffer {name!r} that "
                             f"{class_name} does not have")
        np.copyto(own_buffers[name], value.astype(own_buffers[name].dtype, copy=False))
    return model
