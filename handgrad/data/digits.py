"""The shipped handwritten-digits set (UCI optdigits test set, 1,797 8x8 images; see
ATTRIBUTION.md), loaded offline from the package."""

from __future__ import annotations

import gzip
import io
from importlib import resources

import numpy as np

from handgrad import _validation as check
from handgrad.data.split import stratified_split

#: Fractions of each class that go to train, validation and test.
SPLIT = (0.70, 0.15, 0.15)


def load_digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """Return ``(pixels, labels)``: uint8 (1797, 64) integer pixels 0..16 and int64 labels."""
    raw = resources.files("handgrad.data").joinpath("digits.csv.gz").read_bytes()
    with gzip.open(io.BytesIO(raw), "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 65:
        raise ValueError(f"digits: expected 65 columns (64 pixels + label), got {table.shape}")
    return table[:, :64].astype(np.uint8), table[:, 64].copy()


def digits(split_seed: int | None = 0,
           dtype: type | np.dtype = np.float64) -> dict[str, np.ndarray]:
    """Load the shipped digits with a fixed stratified 70/15/15 split.

    Returns a dict with ``X_train`` (1258, 64), ``X_val`` (270, 64), ``X_test`` (269, 64) in
    ``dtype`` with pixels scaled from 0..16 to [0, 1] (divided by 16, not standardized, so a
    pixel keeps its meaning), and int64 labels ``y_train``, ``y_val``, ``y_test``.
    The split depends only on ``split_seed``; the default (0) is the one every result in the
    project refers to. The arrays are created in ``dtype`` once, here.
    """
    dtype = check.float_dtype("digits", dtype)
    pixels, labels = load_digits_raw()
    X = pixels.astype(dtype)
    X /= dtype.type(16)
    out: dict[str, np.ndarray] = {}
    for name, rows in zip(("train", "val", "test"), stratified_split(labels, SPLIT, split_seed),
                          strict=True):
        out[f"X_{name}"] = X[rows]
        out[f"y_{name}"] = labels[rows]
    return out
