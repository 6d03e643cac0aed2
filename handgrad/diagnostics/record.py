"""One diagnostics record of a model on a probe batch: every detector, as plain JSON values.

The record (a dict) holds what applies to the model:

- ``layers``: per hidden layer (models with ``hidden_activations``), the activation
  statistics (``mean``, ``std``, ``saturated``, ``zero``) and, for ReLU layers, ``dead`` and
  ``nearly_dead``; with ``histograms=True`` also ``counts`` and ``edges``;
- ``weights``: the weight matrices in order (``weights[i]`` feeds ``layers[i]``);
- ``grad_norms``, ``param_norms``, ``relative``, ``layer_ratios`` and, when the parameters
  before the step are given, ``update_ratios`` (see :mod:`.flow`);
- ``zero_fraction`` per parameter and, for regression, ``zero_examples`` (see
  :mod:`.zeroed`);
- ``recurrent``: the RNN probe (vanilla-RNN models with ``Wx``, ``Wh``, ``b``; see
  :mod:`.recurrent`).

Values that are not finite (a diverging run) are stored as None, so the record is strict JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from handgrad.diagnostics import flow as gf
from handgrad.diagnostics.activations import HISTOGRAM_BINS, activation_stats
from handgrad.diagnostics.dead import dead_units
from handgrad.diagnostics.recurrent import (
    EXPLODING_RATIO,
    VANISHING_RATIO,
    model_recurrent_flow,
)
from handgrad.diagnostics.zeroed import model_output_gradients, zero_examples, zero_fraction

RECURRENT_PROBE = 32  # sequences used for the RNN probe


def _task(model: Any, y: np.ndarray) -> str:
    task = getattr(model, "task", None)
    if task in ("classification", "regression"):
        return task
    return "regression" if np.asarray(y).dtype.kind == "f" else "classification"


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (strict JSON), and NumPy
    scalars turned into Python numbers."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def snapshot(model: Any, X: np.ndarray, y: np.ndarray, *,
             grads: Mapping[str, np.ndarray] | None = None,
             before: Mapping[str, np.ndarray] | None = None, histograms: bool = False,
             exploding: float = EXPLODING_RATIO, vanishing: float = VANISHING_RATIO,
             seed: int = 0) -> dict[str, Any]:
    """Run every detector that applies to ``model`` on the probe ``(X, y)``.

    ``grads``: the gradients to measure (default: computed on the probe, without changing
    batchnorm running statistics); ``before``: the parameters before the last update (for
    the update ratios).
    """
    params = model.params
    record: dict[str, Any] = {"task": _task(model, y), "weights": gf.weight_names(params)}

    layers = []
    get = getattr(model, "hidden_activations", None)
    if callable(get):
        for name, act, out in get(X):
            stats = activation_stats(out, act, layer=name,
                                     bins=HISTOGRAM_BINS if histograms else None
                                     ).to_dict(histogram=histograms)
            if act == "relu":
                dead = dead_units(out, layer=name)
                stats["dead"], stats["nearly_dead"] = dead.dead, dead.nearly_dead
            layers.append(stats)
    record["layers"] = layers

    if grads is None:
        _, grads = gf.loss_and_grads(model, X, y)
    flow = gf.gradient_flow(grads, params, before).to_dict()
    record.update(flow)
    if record["update_ratios"] is None:
        del record["update_ratios"]
    record["zero_fraction"] = {k: zero_fraction(g) for k, g in grads.items()}

    # Exactly-zero loss gradients per example flag a clipped regression loss; a softmax
    # example fit perfectly has one legitimately, so classification skips this forward pass.
    out_grads = (model_output_gradients(model, X, y) if record["task"] == "regression"
                 else None)
    record["zero_examples"] = (None if out_grads is None
                               else float(zero_examples(out_grads).mean()))

    record["recurrent"] = None
    # the probe runs the vanilla RNN's recurrence; an LSTM (cell="lstm") is left out
    if all(k in params for k in ("Wx", "Wh", "b")) and getattr(model, "cell", "rnn") == "rnn":
        flow_rnn = model_recurrent_flow(model, X[:RECURRENT_PROBE], seed=seed,
                                        exploding=exploding, vanishing=vanishing)
        record["recurrent"] = flow_rnn.to_dict()
    return json_safe(record)
