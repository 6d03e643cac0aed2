"""Reader for the CIFAR-10 "python version" files a user downloads (cifar-10-python.tar.gz,
extracted to a folder ``cifar-10-batches-py`` holding ``data_batch_1`` .. ``data_batch_5`` and
``test_batch``). handgrad does not ship or download CIFAR-10."""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"

# The only globals a CIFAR-10 batch needs to be rebuilt: numpy arrays and dtypes (old and new
# numpy module paths) and the codec helper Python 2 pickles use for byte strings.
_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except the numpy ones an array needs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch "
                                         f"holds only arrays, lists and strings")
        if module.startswith("numpy.core"):
            try:  # numpy >= 2 moved numpy.core to numpy._core
                return getattr(importlib.import_module("numpy._core" + module[10:]), name)
            except ImportError:
                pass
        return getattr(importlib.import_module(module), name)


def load_cifar10_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file: returns uint8 images (n, 3, 32, 32) and int64 labels (n,)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            batch = _ArraysOnlyUnpickler(fh, encoding="bytes").load()
    except FileNotFoundError:
        raise FileNotFoundError(f"load_cifar10: {path} does not exist") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as exc:
        raise ValueError(f"load_cifar10: {path} is not a CIFAR-10 python batch ({exc})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"load_cifar10: {path} does not hold a dict of arrays")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"load_cifar10: {path} lacks the 'data' and 'labels' entries "
                         f"(found {sorted(map(str, batch))})")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"load_cifar10: {path}: 'data' must be uint8 of shape (n, 3072), "
                         f"got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(f"load_cifar10: {path}: 'labels' must be {data.shape[0]} integers, "
                         f"got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"load_cifar10: {path}: labels must be in 0..9, "
                         f"found {int(labels.min())}..{int(labels.max())}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(path: str | Path, *, num_val: int = 1000,
                 dtype: type | np.dtype = np.float64) -> dict[str, np.ndarray]:
    """Load CIFAR-10 from the folder ``path`` (``cifar-10-batches-py``, or its parent).

    Returns ``X_train, y_train, X_val, y_val, X_test, y_test``: images (n, 3, 32, 32) in
    ``dtype`` with raw pixel values 0..255 (subtract a mean or scale as you prefer), labels
    int64. The validation set is the last ``num_val`` images of the training batches
    (CS231n's 49,000 / 1,000 split).

    The batches are Python pickles. Unpickling can run code, so load only files you
    downloaded yourself from a path you chose; the reader only accepts the numpy array and
    string objects a CIFAR-10 batch contains and refuses anything else.
    """
    root = Path(path)
    if not (root / TEST_BATCH).exists() and (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if not (root / n).is_file()]
    if missing:
        raise FileNotFoundError(f"load_cifar10: {root} lacks {', '.join(missing)}; expected the "
                                f"extracted cifar-10-batches-py folder")
    parts = [load_cifar10_batch(root / n) for n in TRAIN_BATCHES]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    X_test, y_test = load_cifar10_batch(root / TEST_BATCH)
    num_val = int(num_val)
    if not 0 <= num_val < X.shape[0]:
        raise ValueError(f"load_cifar10: num_val must be in [0, {X.shape[0]}), got {num_val}")
    n_train = X.shape[0] - num_val
    return {
        "X_train": X[:n_train].astype(dtype), "y_train": y[:n_train],
        "X_val": X[n_train:].astype(dtype), "y_val": y[n_train:],
        "X_test": X_test.astype(dtype), "y_test": y_test,
    }
