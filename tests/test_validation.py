"""handgrad._validation.scalar_dout: the upstream gradient every loss accepts."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad._validation import scalar_dout

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("dout", [2, 2.0, "np-scalar", "0-d"])
def test_accepts_python_numbers_and_scalars_of_the_loss_dtype(dtype, dout):
    if dout == "np-scalar":
        dout = dtype.type(2.0)
    elif dout == "0-d":
        dout = np.array(2.0, dtype=dtype)
    g = scalar_dout("op.backward", dout, dtype)
    assert type(g) is dtype.type and g == 2.0


@pytest.mark.parametrize("dout, error, match", [
    (np.float64(1.0), TypeError, r"op\.backward: dout has dtype float64 but the loss has "
                                 r"dtype float32"),
    (np.ones(1, np.float32), ValueError, r"op\.backward: dout must be a scalar like the loss, "
                                         r"got shape \(1,\)"),
    (True, TypeError, r"op\.backward: dout must be a real number .* got bool"),
    ("1.0", TypeError, r"op\.backward: dout must be a real number .* got str"),
])
def test_rejects_other_dtypes_shapes_and_types(dout, error, match):
    with pytest.raises(error, match=match):
        scalar_dout("op.backward", dout, F32)


def test_positive_real_accepts_numbers_above_zero_only():
    from handgrad._validation import positive_real

    assert positive_real("op", "delta", 1.5) == 1.5 and positive_real("op", "delta", 2) == 2
    assert positive_real("op", "delta", np.float32(0.5)) == np.float32(0.5)
    with pytest.raises(ValueError, match=r"op: delta must be > 0, got 0"):
        positive_real("op", "delta", 0)
    with pytest.raises(ValueError, match=r"op: delta must be > 0, got nan"):
        positive_real("op", "delta", float("nan"))
    with pytest.raises(TypeError, match=r"op: delta must be a positive real number, got bool"):
        positive_real("op", "delta", True)
    with pytest.raises(TypeError, match=r"got str"):
        positive_real("op", "delta", "1")
