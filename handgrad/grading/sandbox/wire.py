"""The data channel between the grader and a sandboxed worker: frames of JSON plus ``.npy`` bytes.

Everything that crosses the process boundary is plain data. A *frame* is::

    b"HGW1" | u32 header length | header (UTF-8 JSON object) | for each blob: u64 length | bytes

and the header's ``"blobs"`` count says how many ``.npy`` blobs follow. Values travel as a
*tree*: JSON nodes for containers and small scalars, and references to blobs for arrays::

    {"t": "a", "i": 0}                  ndarray (blob 0)
    {"t": "s", "i": 1, "py": "float"}   scalar: 0-d blob; "py" is float/int/bool/np
    {"t": "tuple"|"list", "items": [...]}   {"t": "dict", "items": [[key, node], ...]}
    {"t": "n"}  None      {"t": "str", "v": "..."}
    {"t": "bad", "why": "an ndarray subclass Evil"}    what the worker refused to encode

The worker encodes with :func:`encode` (only exact ``np.ndarray``/number types become data;
anything else becomes a ``bad`` node that says what it was). The grader decodes with
:func:`decode`, which trusts nothing: the ``.npy`` header is parsed without unpickling and
checked against the length of the bytes actually received before any array is allocated, and
only boolean, integer and real floating dtypes are accepted. This module must stay importable
in the worker: it imports nothing but the standard library and NumPy, and holds no expected
values.
"""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib import format as npy_format

MAGIC = b"HGW1"
MAX_HEADER = 1 << 20          # bytes of JSON per frame
MAX_BLOBS = 4096
MAX_DEPTH = 12
MAX_NODES = 20000
MAX_STR = 4096
NUMERIC_KINDS = "biuf"


class WireError(ValueError):
    """Malformed data on the channel; the message says what was wrong."""


@dataclass(frozen=True)
class Scalar:
    """A decoded scalar: ``value`` is a 0-d array, ``py`` the type the worker saw."""

    value: np.ndarray
    py: str

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Bad:
    """A value the worker refused to send as data, e.g. an object array or a list subclass."""

    why: str


# ------------------------------------------------------------------------------- encoding


def encode(obj: Any) -> tuple[Any, list[bytes]]:
    """Turn ``obj`` into ``(node, blobs)``; never raises for odd values (they become ``bad``)."""
    blobs: list[bytes] = []
    counter = [0]
    node = _encode(obj, blobs, 0, counter)
    return node, blobs


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    npy_format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _encode(obj: Any, blobs: list[bytes], depth: int, counter: list[int]) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        return {"t": "bad", "why": "a structure with too many elements"}
    if depth > MAX_DEPTH:
        return {"t": "bad", "why": "a structure nested too deeply"}
    t = type(obj)
    if t is np.ndarray:
        if obj.dtype.hasobject:
            return {"t": "bad", "why": "an array of dtype object"}
        if obj.dtype.kind not in NUMERIC_KINDS or obj.dtype.fields is not None:
            return {"t": "bad", "why": f"an array of dtype {obj.dtype}"}
        blobs.append(_npy(obj))
        return {"t": "a", "i": len(blobs) - 1}
    if isinstance(obj, np.ndarray):
        return {"t": "bad", "why": f"an ndarray subclass {_name(t)}"}
    if t is bool:
        blobs.append(_npy(np.array(obj)))
        return {"t": "s", "i": len(blobs) - 1, "py": "bool"}
    if t is int:
        if not -(2 ** 63) <= obj < 2 ** 63:
            return {"t": "bad", "why": "an integer too large for int64"}
        blobs.append(_npy(np.array(obj, dtype=np.int64)))
        return {"t": "s", "i": len(blobs) - 1, "py": "int"}
    if t is float:
        blobs.append(_npy(np.array(obj, dtype=np.float64)))
        return {"t": "s", "i": len(blobs) - 1, "py": "float"}
    if isinstance(obj, np.generic) and t in _NUMPY_SCALARS:
        blobs.append(_npy(np.array(obj)))
        return {"t": "s", "i": len(blobs) - 1, "py": "np"}
    if obj is None:
        return {"t": "n"}
    if t is str:
        return {"t": "str", "v": obj[:MAX_STR]}
    if t is tuple or t is list:
        return {"t": t.__name__, "items": [_encode(v, blobs, depth + 1, counter) for v in obj]}
    if t is dict:
        items = []
        for k, v in obj.items():
            if type(k) is not str:
                return {"t": "bad", "why": "a dict with non-string keys"}
            items.append([k[:MAX_STR], _encode(v, blobs, depth + 1, counter)])
        return {"t": "dict", "items": items}
    if t is complex or isinstance(obj, np.complexfloating):
        return {"t": "bad", "why": "a complex number"}
    if isinstance(obj, (list, tuple, dict)):
        return {"t": "bad", "why": f"a {_name(t)} (a subclass of {_base_name(obj)})"}
    return {"t": "bad", "why": f"a {_name(t)}"}


_NUMPY_SCALARS = {np.float16, np.float32, np.float64, np.longdouble, np.int8, np.int16,
                  np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_}


def _name(t: type) -> str:
    try:
        name = t.__name__
        return name if isinstance(name, str) else "object"
    except Exception:
        return "object"


def _base_name(obj: Any) -> str:
    for base in (list, tuple, dict):
        if isinstance(obj, base):
            return base.__name__
    return "object"


def frame(header: dict[str, Any], blobs: Sequence[bytes] = ()) -> bytes:
    """One frame: the header (with ``"blobs"`` set) followed by the blobs."""
    header = dict(header, blobs=len(blobs))
    raw = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    parts = [MAGIC, struct.pack("<I", len(raw)), raw]
    for b in blobs:
        parts.append(struct.pack("<Q", len(b)))
        parts.append(b)
    return b"".join(parts)


# ------------------------------------------------------------------------------- decoding


class FrameReader:
    """Incremental parser: feed bytes, get complete ``(header, blobs)`` frames.

    Raises :class:`WireError` on the first malformed byte; after that the stream is dead.
    ``max_bytes`` bounds the total accepted, so a flood cannot exhaust the grader's memory.
    """

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.total = 0
        self.max_bytes = max_bytes

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], list[bytes]]]:
        self.total += len(data)
        if self.total > self.max_bytes:
            raise WireError(f"more than {self.max_bytes} bytes of results")
        self._buf += data
        out = []
        while True:
            got = self._next()
            if got is None:
                break
            out.append(got)
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        return out

    def _take(self, n: int) -> bytes | None:
        if len(self._buf) - self._cur < n:
            return None
        chunk = bytes(self._buf[self._cur:self._cur + n])
        self._cur += n
        return chunk

    def _next(self) -> tuple[dict[str, Any], list[bytes]] | None:
        self._cur = self._pos
        magic = self._take(4)
        if magic is None:
            return None
        if magic != MAGIC:
            raise WireError("bad frame marker")
        raw_len = self._take(4)
        if raw_len is None:
            return None
        (hlen,) = struct.unpack("<I", raw_len)
        if hlen > MAX_HEADER:
            raise WireError(f"frame header of {hlen} bytes")
        raw = self._take(hlen)
        if raw is None:
            return None
        try:
            header = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WireError(f"frame header is not JSON: {exc}") from None
        if not isinstance(header, dict):
            raise WireError("frame header is not a JSON object")
        nblobs = header.get("blobs", 0)
        if type(nblobs) is not int or not 0 <= nblobs <= MAX_BLOBS:
            raise WireError(f"bad blob count {nblobs!r}")
        blobs = []
        for _ in range(nblobs):
            raw_n = self._take(8)
            if raw_n is None:
                return None
            (n,) = struct.unpack("<Q", raw_n)
            if n > self.max_bytes:
                raise WireError(f"blob of {n} bytes")
            blob = self._take(n)
            if blob is None:
                return None
            blobs.append(blob)
        self._pos = self._cur
        return header, blobs


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def read_npy(blob: bytes) -> np.ndarray:
    """Parse ``.npy`` bytes without pickles and without trusting the header's size claims."""
    f = io.BytesIO(blob)
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(f, max_header_size=10000)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(f, max_header_size=10000)
        else:
            raise WireError(f"unsupported .npy version {version}")
    except WireError:
        raise
    except Exception as exc:  # numpy raises ValueError/SyntaxError/... on garbage
        raise WireError(f"not a valid .npy blob: {exc}") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
            or dtype.kind not in NUMERIC_KINDS:
        raise WireError(f"array of dtype {dtype} is not accepted")
    if not isinstance(shape, tuple) or len(shape) > 32 \
            or not all(type(d) is int and d >= 0 for d in shape):
        raise WireError(f"bad array shape {shape!r}")
    count = math.prod(shape)
    data = blob[f.tell():]
    if len(data) != count * dtype.itemsize:
        raise WireError(f"array of shape {shape} and dtype {dtype} needs "
                        f"{count * dtype.itemsize} bytes, got {len(data)}")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    arr = arr.reshape(shape, order="F" if fortran else "C")
    arr = np.array(arr, dtype=dtype.newbyteorder("="), order="C", copy=True)
    if type(arr) is not np.ndarray:  # pragma: no cover - np.array always gives ndarray here
        raise WireError("decoded value is not a plain ndarray")
    return arr


def decode(node: Any, blobs: list[bytes], *, depth: int = 0) -> Any:
    """Rebuild a tree from ``node``; arrays come out as plain ndarrays, scalars as Scalar.

    Raises :class:`WireError` for anything malformed.
    """
    if depth > MAX_DEPTH + 1:
        raise WireError("value nested too deeply")
    if not isinstance(node, dict):
        raise WireError(f"bad value node {type(node).__name__}")
    t = node.get("t")
    if t in ("a", "s"):
        i = node.get("i")
        if type(i) is not int or not 0 <= i < len(blobs):
            raise WireError(f"bad blob reference {i!r}")
        arr = read_npy(blobs[i])
        if t == "a":
            return arr
        py = node.get("py")
        if py not in ("float", "int", "bool", "np") or arr.shape != ():
            raise WireError("bad scalar node")
        return Scalar(arr, py)
    if t == "n":
        return None
    if t == "str":
        v = node.get("v")
        if not isinstance(v, str):
            raise WireError("bad string node")
        return v
    if t in ("tuple", "list"):
        items = node.get("items")
        if not isinstance(items, list):
            raise WireError("bad sequence node")
        seq = [decode(v, blobs, depth=depth + 1) for v in items]
        return tuple(seq) if t == "tuple" else seq
    if t == "dict":
        items = node.get("items")
        if not isinstance(items, list):
            raise WireError("bad dict node")
        out = {}
        for pair in items:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise WireError("bad dict item")
            out[pair[0]] = decode(pair[1], blobs, depth=depth + 1)
        return out
    if t == "bad":
        why = node.get("why")
        return Bad(why[:200] if isinstance(why, str) else "an unsupported value")
    raise WireError(f"unknown value node type {t!r}")


def to_python(value: Any) -> Any:
    """Turn a decoded tree into ordinary Python/NumPy values (Scalar -> its Python type)."""
    if isinstance(value, Scalar):
        item = value.value
        if value.py == "float":
            return float(item)
        if value.py == "int":
            return int(item)
        if value.py == "bool":
            return bool(item)
        return item[()]
    if isinstance(value, tuple):
        return tuple(to_python(v) for v in value)
    if isinstance(value, list):
        return [to_python(v) for v in value]
    if isinstance(value, dict):
        return {k: to_python(v) for k, v in value.items()}
    return value
