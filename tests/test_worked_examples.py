"""Worked examples from the handout, computed through the library's layers.

The tanh neuron: z = w * x + b, h = tanh(z), with w = 0.5, x = 2, b = -0.5 and an upstream
gradient dL/dh = 0.4. By hand:

    z = 0.5 * 2 - 0.5 = 0.5
    h = tanh(0.5) = 0.4621
    dL/dz = dL/dh * (1 - h^2) = 0.4 * 0.7864 = 0.3146
    dL/dw = dL/dz * x = 0.6292,  dL/dx = dL/dz * w = 0.1573,  dL/db = dL/dz = 0.3146
"""

from __future__ import annotations

import numpy as np
import pytest

from handgrad.layers import affine, tanh


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_neuron(dtype):
    x = np.array([[2.0]], dtype=dtype)
    w = np.array([[0.5]], dtype=dtype)
    b = np.array([-0.5], dtype=dtype)

    z, affine_cache = affine.forward(x, w, b)
    h, tanh_cache = tanh.forward(z)
    dz = tanh.backward(np.array([[0.4]], dtype=dtype), tanh_cache)
    dx, dw, db = affine.backward(dz, affine_cache)

    expected = {"z": (z, 0.5), "h": (h, 0.4621), "dL/dz": (dz, 0.3146),
                "dL/dw": (dw, 0.6292), "dL/dx": (dx, 0.1573), "dL/db": (db, 0.3146)}
    for name, (value, by_hand) in expected.items():
        assert value.dtype == dtype, name
        assert value.size == 1, name
        assert round(float(value.item()), 4) == by_hand, f"{name} = {value.item()}"
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
