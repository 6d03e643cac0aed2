"""Diagnostics: make the leaks of backpropagation visible, with numbers and pictures.

Detectors (each works on arrays, and on models through a ``model_...`` variant; each returns
a small dataclass with ``summary()``):

- :func:`activation_stats` / :func:`model_activation_stats`: mean, std, saturated fraction
  (sigmoid/tanh local gradient below 0.01) and a histogram per layer;
- :func:`dead_units` / :func:`model_dead_units`: ReLU units that are zero on every example
  (and nearly dead ones, active on under 1%);
- :func:`gradient_flow` / :func:`model_gradient_flow`: gradient norms, gradient and update
  sizes relative to the parameters, layer-to-layer gradient ratios;
- :func:`rnn_gradient_flow` / :func:`model_recurrent_flow`: ``||dL/dh_t||`` at every time
  step, the spectral radius of ``Wh`` and a verdict (exploding / vanishing / healthy);
- :func:`zeroed_gradients`: exactly-zero gradient entries per parameter and per example.

:class:`Monitor` is a Solver callback that records all of them every N steps and warns
the first time something is wrong; :mod:`handgrad.diagnostics.plots` draws them;
``handgrad diagnose`` (:mod:`handgrad.commands.diagnose`) reproduces four classic leaks
next to their fixes.
"""

from __future__ import annotations

from handgrad._exports import lazy_exports

_WHERE = {
    "ActivationStats": "activations",
    "activation_stats": "activations",
    "model_activation_stats": "activations",
    "saturated_fraction": "activations",
    "local_gradient": "activations",
    "DeadUnits": "dead",
    "dead_units": "dead",
    "model_dead_units": "dead",
    "GradientFlow": "flow",
    "gradient_flow": "flow",
    "model_gradient_flow": "flow",
    "update_ratios": "flow",
    "layer_ratios": "flow",
    "RecurrentFlow": "recurrent",
    "recurrent_flow": "recurrent",
    "rnn_gradient_flow": "recurrent",
    "model_recurrent_flow": "recurrent",
    "spectral_radius": "recurrent",
    "hidden_grad_norms": "recurrent",
    "ZeroedGradients": "zeroed",
    "zeroed_gradients": "zeroed",
    "zero_fraction": "zeroed",
    "zero_examples": "zeroed",
    "Finding": "rules",
    "Thresholds": "rules",
    "findings": "rules",
    "snapshot": "record",
    "Monitor": "monitor",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
