"""The data channel: values round-trip as data; malformed or hostile bytes are refused."""

from __future__ import annotations

import io
import pickle
import struct

import numpy as np
import pytest

from handgrad.grading.sandbox import wire


def roundtrip(value: object) -> object:
    node, blobs = wire.encode(value)
    data = wire.frame({"type": "x", "value": node}, blobs)
    (header, got_blobs), = wire.FrameReader().feed(data)
    return wire.decode(header["value"], got_blobs)


def test_arrays_scalars_and_containers_round_trip() -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    value = {"x": x, "t": (1, 2.5, True, None, "s"), "l": [np.int64(3), np.float64(0.5)],
             "f": np.asfortranarray(np.ones((2, 3)))}
    got = wire.to_python(roundtrip(value))
    assert type(got["x"]) is np.ndarray and got["x"].dtype == np.float32
    np.testing.assert_array_equal(got["x"], x)
    assert got["t"] == (1, 2.5, True, None, "s")
    assert type(got["t"][1]) is float and type(got["t"][0]) is int
    assert got["l"] == [3, 0.5] and type(got["l"][1]) is np.float64
    np.testing.assert_array_equal(got["f"], np.ones((2, 3)))
    zero_d = roundtrip(np.array(2.0))
    assert type(zero_d) is np.ndarray and zero_d.shape == ()


def test_odd_values_become_bad_nodes_not_data() -> None:
    class Sub(np.ndarray):
        pass

    class MyList(list):
        pass

    assert roundtrip(np.zeros(3).view(Sub)) == wire.Bad("an ndarray subclass Sub")
    assert roundtrip(np.array([1, "a"], dtype=object)) == wire.Bad("an array of dtype object")
    assert "complex" in roundtrip(np.zeros(2, dtype=complex)).why
    assert "complex" in roundtrip(1j).why
    assert "subclass of list" in roundtrip(MyList([1])).why
    assert roundtrip(object()).why == "a object"
    assert "too large" in roundtrip(2 ** 70).why
    assert "non-string keys" in roundtrip({1: 2}).why


def _npy(header: str, payload: bytes) -> bytes:
    h = header.encode("latin1")
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + payload


def test_npy_reader_refuses_lies_pickles_and_objects() -> None:
    good = io.BytesIO()
    np.save(good, np.arange(3.0))
    np.testing.assert_array_equal(wire.read_npy(good.getvalue()), np.arange(3.0))
    huge = _npy("{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000000,), }", b"")
    with pytest.raises(wire.WireError, match="needs"):
        wire.read_npy(huge)
    objects = io.BytesIO()
    np.save(objects, np.array([1, None], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError, match="not accepted"):
        wire.read_npy(objects.getvalue())
    with pytest.raises(wire.WireError):
        wire.read_npy(pickle.dumps(np.arange(3)))
    with pytest.raises(wire.WireError):
        wire.read_npy(b"\x93NUMPY\x01\x00garbage")
    structured = _npy("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }",
                      b"\0" * 8)
    with pytest.raises(wire.WireError, match="not accepted"):
        wire.read_npy(structured)


def test_frame_reader_is_incremental_and_strict() -> None:
    data = wire.frame({"type": "a"}, [b"xyz"]) + wire.frame({"type": "b"})
    reader = wire.FrameReader()
    got = []
    for i in range(len(data)):
        got += reader.feed(data[i:i + 1])
    assert [(h["type"], b) for h, b in got] == [("a", [b"xyz"]), ("b", [])]
    with pytest.raises(wire.WireError, match="marker"):
        wire.FrameReader().feed(b"HGW2" + b"\0" * 8)
    with pytest.raises(wire.WireError):
        wire.FrameReader().feed(b"HGW1" + struct.pack("<I", 1 << 30))
    with pytest.raises(wire.WireError, match="JSON"):
        wire.FrameReader().feed(b"HGW1" + struct.pack("<I", 3) + b"{x}")
    with pytest.raises(wire.WireError, match="constant"):
        raw = b'{"a": NaN}'
        wire.FrameReader().feed(b"HGW1" + struct.pack("<I", len(raw)) + raw)
    with pytest.raises(wire.WireError, match="more than"):
        wire.FrameReader(max_bytes=10).feed(b"x" * 11)


def test_decode_rejects_malformed_nodes() -> None:
    for node in ({"t": "a", "i": 5}, {"t": "zzz"}, {"t": "s", "i": 0, "py": "evil"}, [1],
                 {"t": "dict", "items": [[1, {"t": "n"}]]}):
        with pytest.raises(wire.WireError):
            wire.decode(node, [wire._npy(np.array(1.0))])
