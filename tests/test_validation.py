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


def test_real_in_checks_the_interval_and_its_open_ends():
    from handgrad._validation import real_in

    assert real_in("op", "p", 1, 0, 1, low_open=True) == 1.0
    assert real_in("op", "p", np.float32(0.25), 0, 1) == 0.25
    assert real_in("op", "p", 0, 0, 1) == 0.0
    with pytest.raises(ValueError, match=r"op: p must be in \(0, 1\], got 0\.0"):
        real_in("op", "p", 0.0, 0, 1, low_open=True)
    with pytest.raises(ValueError, match=r"op: p must be in \[0, 1\), got 1\.0"):
        real_in("op", "p", 1.0, 0, 1, high_open=True)
    with pytest.raises(ValueError, match=r"got nan"):
        real_in("op", "p", float("nan"), 0, 1)
    with pytest.raises(TypeError, match=r"op: p must be a real number, got bool"):
        real_in("op", "p", False, 0, 1)


def test_positive_int_and_seed():
    from handgrad._validation import positive_int, seed

    assert positive_int("op", "G", 3) == 3 and positive_int("op", "G", np.int64(2)) == 2
    assert type(positive_int("op", "G", np.int32(2))) is int
    with pytest.raises(ValueError, match=r"op: G must be a positive integer, got 0"):
        positive_int("op", "G", 0)
    for bad in (2.0, True, "2", None):
        with pytest.raises(TypeError, match=r"op: G must be a positive integer, got "):
            positive_int("op", "G", bad)
    assert seed("op", "seed", 0) == 0 and seed("op", "seed", np.uint8(7)) == 7
    with pytest.raises(ValueError, match=r"op: seed must be an integer >= 0, got -3"):
        seed("op", "seed", -3)
    with pytest.raises(TypeError, match=r"op: seed must be an integer >= 0, got float"):
        seed("op", "seed", 1.0)


def test_param_dict_names_unknown_and_missing_keys():
    from handgrad._validation import param_dict

    param = {"mode": "train"}
    assert param_dict("op", "p", param, ("mode", "eps"), {"mode": "'train' or 'test'"}) is param
    with pytest.raises(TypeError, match=r"op: p must be a dict, got list"):
        param_dict("op", "p", [("mode", "train")], ("mode",), {})
    with pytest.raises(ValueError, match=r"op: unknown p key\(s\) 'epz', 'x'; allowed: 'mode', "
                                         r"'eps'"):
        param_dict("op", "p", {"mode": "train", "x": 1, "epz": 2}, ("mode", "eps"), {})
    with pytest.raises(ValueError, match=r"op: p must have a 'mode' key, 'train' or 'test'"):
        param_dict("op", "p", {"eps": 1.0}, ("mode", "eps"), {"mode": "'train' or 'test'"})


def test_dtype_is():
    from handgrad._validation import dtype_is

    dtype_is("op", "dout", np.ones(2), F64, "x")
    with pytest.raises(TypeError, match=r"op: dout has dtype float32 but x has dtype float64"):
        dtype_is("op", "dout", np.ones(2, np.float32), F64, "x")



def test_bn_param_checks_and_creates_the_running_statistics():
    from handgrad._validation import bn_param

    param = {"mode": "train"}
    mode, eps, momentum, mean, var = bn_param("op", param, 3, F32, "x's channels")
    assert (mode, eps, momentum) == ("train", 1e-5, 0.9)
    assert param["running_mean"] is mean and mean.dtype == F32 and mean.shape == (3,)
    assert param["running_var"] is var and not var.any()
    with pytest.raises(ValueError, match=r"op: bn_param\['running_mean'\] must have shape \(3,\) "
                                         r"to match x's channels, got \(2,\)"):
        bn_param("op", {"mode": "test", "running_mean": np.zeros(2)}, 3, F64, "x's channels")
    with pytest.raises(TypeError, match=r"op: bn_param\['running_var'\] has dtype float64 but x "
                                        r"has dtype float32"):
        bn_param("op", {"mode": "test", "running_var": np.ones(3)}, 3, F32)
    read_only = np.zeros(3)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match=r"running_mean'\] is read-only, but train mode"):
        bn_param("op", {"mode": "train", "running_mean": read_only}, 3, F64)
    bn_param("op", {"mode": "test", "running_mean": read_only}, 3, F64)   # test mode reads only
    with pytest.raises(ValueError, match=r"running_var'\] has negative entries"):
        bn_param("op", {"mode": "test", "running_var": -np.ones(3)}, 3, F64)
    with pytest.raises(ValueError, match=r"op: bn_param\['momentum'\] must be in \[0, 1\], "
                                         r"got 1\.5"):
        bn_param("op", {"mode": "train", "momentum": 1.5}, 3, F64)
    with pytest.raises(ValueError, match=r"op: bn_param\['eps'\] must be in \(0, inf\], got 0\.0"):
        bn_param("op", {"mode": "train", "eps": 0.0}, 3, F64)
