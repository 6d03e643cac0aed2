"""Reader for the MNIST IDX files a user downloads (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, gzipped
or not). handgrad does not ship or download MNIST.

IDX format: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the number of
dimensions, then each dimension as a big-endian uint32, then the data. Image files have magic
number 2051 (3 dimensions: n, rows, cols), label files 2049 (1 dimension: n).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_idx(path: str | Path, expected_magic: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzip detected from its content); returns a uint8 array."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"load_mnist: {path} is a damaged gzip file ({exc})") from None
    if len(raw) < 4:
        raise ValueError(f"load_mnist: {path} is too short to be an IDX file "
                         f"({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"load_mnist: {path} has magic number {magic:#010x}, not an "
                         f"unsigned-byte IDX file (0x00000801 labels, 0x00000803 images)")
    if expected_magic is not None and magic != expected_magic:
        raise ValueError(f"load_mnist: {path} has magic number {magic:#010x}, "
                         f"expected {expected_magic:#010x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"load_mnist: {path} is truncated inside its header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != size:
        raise ValueError(f"load_mnist: {path} declares shape {dims} ({size} bytes of data) "
                         f"but holds {len(raw) - header} bytes of data")
    return np.frombuffer(raw, dtype=np.uint8, count=size, offset=header).reshape(dims)


def _find(root: Path, stem: str) -> Path:
    # Mirrors name the files "train-images-idx3-ubyte" or "train-images.idx3-ubyte", .gz or not.
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"load_mnist: {root} has no {stem} (or {stem}.gz)")


def _load_pair(root: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _find(root, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(root, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.ndim != 3:
        raise ValueError(f"load_mnist: {images_path} must have 3 dimensions (n, rows, cols), "
                         f"got shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"load_mnist: {labels_path} has {labels.shape[0]} labels but "
                         f"{images_path} has {images.shape[0]} images")
    if labels.size and labels.max() > 9:
        raise ValueError(f"load_mnist: {labels_path} holds label {int(labels.max())}; "
                         f"labels must be 0..9")
    return images, labels.astype(np.int64)


def load_mnist(path: str | Path, *, num_val: int = 5000,
               dtype: type | np.dtype = np.float64) -> dict[str, np.ndarray]:
    """Load MNIST from the folder ``path`` holding the four IDX files.

    Returns ``X_train, y_train, X_val, y_val, X_test, y_test``: images (n, 28, 28) in
    ``dtype`` scaled to [0, 1] (divided by 255), labels int64. The validation set is the
    last ``num_val`` training images.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"load_mnist: {root} is not a folder")
    X, y = _load_pair(root, "train")
    X_test, y_test = _load_pair(root, "t10k")
    num_val = int(num_val)
    if not 0 <= num_val < X.shape[0]:
        raise ValueError(f"load_mnist: num_val must be in [0, {X.shape[0]}), got {num_val}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"load_mnist: dtype must be a float type, got {dtype}")
    scale = dtype.type(1.0 / 255.0)

    def scaled(images: np.ndarray) -> np.ndarray:
        out = images.astype(dtype)
        out *= scale  # in place: no second copy of the images
        return out

    n_train = X.shape[0] - num_val
    return {
        "X_train": scaled(X[:n_train]), "y_train": y[:n_train],
        "X_val": scaled(X[n_train:]), "y_val": y[n_train:],
        "X_test": scaled(X_test), "y_test": y_test,
    }
