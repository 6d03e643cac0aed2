"""Data: spiral, the shipped digits and sonnets, and the CIFAR-10 / MNIST readers on tiny files
written here in the real formats."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from handgrad.data import (
    CharCorpus,
    digits,
    load_cifar10,
    load_mnist,
    sonnets,
    spiral,
    stratified_split,
)


# ---------------------------------------------------------------------------------- spiral
def test_spiral_shapes_balance_and_determinism():
    X, y = spiral(n_per_class=50, n_classes=4, seed=3)
    assert X.shape == (200, 2) and y.shape == (200,)
    assert X.dtype == np.float64 and y.dtype.kind == "i"
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50, 50])
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.max() <= 1.0 + 1e-12
    X2, y2 = spiral(n_per_class=50, n_classes=4, seed=3)
    np.testing.assert_array_equal(X, X2)
    X3, _ = spiral(n_per_class=50, n_classes=4, seed=4)
    assert not np.array_equal(X, X3)


def test_spiral_follows_its_formula_without_noise():
    X, y = spiral(n_per_class=5, n_classes=2, noise=0.0)
    r = np.linspace(0, 1, 5)
    t = np.linspace(4.0, 8.0, 5)  # class 1
    np.testing.assert_allclose(X[y == 1], np.c_[r * np.sin(t), r * np.cos(t)], atol=1e-15)
    with pytest.raises(ValueError, match="n_classes"):
        spiral(n_classes=1)


# ---------------------------------------------------------------------------------- digits
def test_digits_split_shapes_range_and_disjointness():
    d = digits()
    sizes = {k: v.shape[0] for k, v in d.items()}
    assert sizes["X_train"] + sizes["X_val"] + sizes["X_test"] == 1797
    for part in ("train", "val", "test"):
        X, y = d[f"X_{part}"], d[f"y_{part}"]
        assert X.shape == (y.shape[0], 64) and X.dtype == np.float64
        assert X.min() >= 0.0 and X.max() <= 1.0
        assert set(np.unique(y)) == set(range(10))
    assert d["X_train"].max() == 1.0  # 16 / 16
    assert abs(sizes["X_train"] / 1797 - 0.70) < 0.01
    assert abs(sizes["X_test"] / 1797 - 0.15) < 0.01
    # disjoint: no image row appears in two parts (rows of the file are distinct examples)
    rows = [set(map(bytes, (d[f"X_{p}"] * 16).astype(np.uint8))) for p in ("train", "val", "test")]
    assert not rows[0] & rows[1] and not rows[0] & rows[2] and not rows[1] & rows[2]


def test_digits_split_is_stratified_and_deterministic():
    d = digits()
    for part in ("train", "val", "test"):
        counts = np.bincount(d[f"y_{part}"], minlength=10)
        share = counts / counts.sum()
        assert share.max() - share.min() < 0.02
    again = digits()
    for k in d:
        np.testing.assert_array_equal(d[k], again[k])
    other = digits(split_seed=1)
    assert not np.array_equal(d["y_train"], other["y_train"])
    f32 = digits(dtype=np.float32)
    assert f32["X_train"].dtype == np.float32
    np.testing.assert_allclose(f32["X_train"], d["X_train"], rtol=0, atol=0)


def test_digits_first_row_matches_the_file():
    # first row of the shipped CSV: 0,0,5,13,9,1,0,0,... label 0
    pixels = np.array([0, 0, 5, 13, 9, 1, 0, 0]) / 16
    d = digits()
    found = [np.array_equal(x[:8], pixels) for x in d["X_train"]] + \
            [np.array_equal(x[:8], pixels) for x in d["X_val"]] + \
            [np.array_equal(x[:8], pixels) for x in d["X_test"]]
    assert any(found)


def test_stratified_split_partitions_every_index():
    y = np.array([0] * 10 + [1] * 20 + [2] * 7)
    parts = stratified_split(y, (0.5, 0.3, 0.2), seed=5)
    together = np.sort(np.concatenate(parts))
    np.testing.assert_array_equal(together, np.arange(y.size))
    assert np.bincount(y[parts[0]]).tolist() == [5, 10, 4]
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(y, (0.5, 0.6))


# --------------------------------------------------------------------------------- sonnets
def test_sonnets_corpus_vocab_and_round_trip():
    corpus = sonnets()
    assert 55 <= corpus.vocab_size <= 70
    assert corpus.vocab == "".join(sorted(set(corpus.text)))
    assert "\n" in corpus.vocab and "e" in corpus.vocab
    assert corpus.text.startswith("THE SONNETS")
    assert len(corpus.text) > 90_000
    snippet = "From fairest creatures we desire increase,\n"
    codes = corpus.encode(snippet)
    assert codes.dtype == np.int64 and codes.shape == (len(snippet),)
    assert corpus.decode(codes) == snippet
    assert [corpus.idx_to_char[i] for i in codes] == list(snippet)
    assert corpus.char_to_idx["\n"] == 0  # newline sorts first
    with pytest.raises(ValueError, match="not in the vocabulary"):
        corpus.encode("~")


def test_corpus_windows_shift_by_one():
    corpus = CharCorpus("abcdefghij")
    X, y = corpus.windows(3)
    assert X.shape == (3, 3)
    assert corpus.decode(X[0]) == "abc" and corpus.decode(y[0]) == "bcd"
    assert corpus.decode(X[2]) == "ghi" and corpus.decode(y[2]) == "hij"
    X2, y2 = corpus.windows(4, stride=2)
    assert [corpus.decode(r) for r in X2] == ["abcd", "cdef", "efgh"]
    assert [corpus.decode(r) for r in y2] == ["bcde", "defg", "fghi"]
    data = corpus.training_data(seq_len=2, val_fraction=0.3)
    assert [corpus.decode(r) for r in data["X_train"]] == ["ab", "cd", "ef"]
    assert [corpus.decode(r) for r in data["X_val"]] == ["hi"]
    with pytest.raises(ValueError, match="too few"):
        corpus.windows(10)


# ---------------------------------------------------------------------------------- CIFAR-10
def write_cifar(root, n_per_batch=4, seed=0):
    rng = np.random.default_rng(seed)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_per_batch).tolist()
        batches[name] = (data, labels)
        with open(root / name, "wb") as fh:  # the layout of the real (Python 2) files
            pickle.dump({b"batch_label": name.encode(), b"data": data, b"labels": labels,
                         b"filenames": [b"x.png"] * n_per_batch}, fh, protocol=2)
    return batches


def test_cifar10_reads_tiny_batches(tmp_path):
    batches = write_cifar(tmp_path)
    d = load_cifar10(tmp_path, num_val=3)
    assert d["X_train"].shape == (17, 3, 32, 32) and d["X_val"].shape == (3, 3, 32, 32)
    assert d["X_test"].shape == (4, 3, 32, 32) and d["X_train"].dtype == np.float64
    first = batches["data_batch_1"][0][0]
    # channel-major rows: the first 1024 values are the red plane, row by row
    np.testing.assert_array_equal(d["X_train"][0, 0, 0, :], first[:32])
    np.testing.assert_array_equal(d["X_train"][0, 1, 0, 0], first[1024])
    np.testing.assert_array_equal(d["y_test"], batches["test_batch"][1])
    np.testing.assert_array_equal(d["y_val"], batches["data_batch_5"][1][1:])


def test_cifar10_parent_folder_and_errors(tmp_path):
    inner = tmp_path / "cifar-10-batches-py"
    inner.mkdir()
    write_cifar(inner)
    assert load_cifar10(tmp_path, num_val=0)["X_train"].shape[0] == 20
    (inner / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_cifar10(tmp_path)


def test_cifar10_rejects_corrupt_and_foreign_pickles(tmp_path):
    write_cifar(tmp_path)
    good = (tmp_path / "data_batch_2").read_bytes()
    (tmp_path / "data_batch_2").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="data_batch_2 is not a CIFAR-10 python batch"):
        load_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("should never run",))

    (tmp_path / "data_batch_2").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(ValueError, match=r"refusing to load \w+\.print"):
        load_cifar10(tmp_path)
    with open(tmp_path / "data_batch_2", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(ValueError, match=r"\(n, 3072\)"):
        load_cifar10(tmp_path)
    with open(tmp_path / "data_batch_2", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, fh)
    with pytest.raises(ValueError, match="labels must be in 0..9"):
        load_cifar10(tmp_path)


# ------------------------------------------------------------------------------------ MNIST
def idx_bytes(array, magic):
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root, n_train=6, n_test=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        arrays[prefix] = (images, labels)
        for kind, arr, magic in (("images-idx3", images, 2051), ("labels-idx1", labels, 2049)):
            raw = idx_bytes(arr, magic)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (root / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_tiny_idx_files(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    d = load_mnist(tmp_path, num_val=2)
    assert d["X_train"].shape == (4, 28, 28) and d["X_val"].shape == (2, 28, 28)
    assert d["X_test"].shape == (3, 28, 28)
    np.testing.assert_allclose(d["X_train"][1], arrays["train"][0][1] / 255.0, rtol=1e-15)
    np.testing.assert_array_equal(d["y_val"], arrays["train"][1][4:])
    np.testing.assert_array_equal(d["y_test"], arrays["t10k"][1])
    assert d["y_test"].dtype == np.int64
    assert 0.0 <= d["X_test"].min() and d["X_test"].max() <= 1.0
    assert load_mnist(tmp_path, num_val=0, dtype=np.float32)["X_train"].dtype == np.float32


def test_mnist_errors_name_the_problem(tmp_path):
    write_mnist(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    labels = tmp_path / "train-labels-idx1-ubyte"
    good = images.read_bytes()

    images.write_bytes(good[:-5])
    with pytest.raises(ValueError, match=r"declares shape \(6, 28, 28\)"):
        load_mnist(tmp_path, num_val=1)
    images.write_bytes(struct.pack(">I", 2049) + good[4:])
    with pytest.raises(ValueError, match="magic number 0x00000801, expected 0x00000803"):
        load_mnist(tmp_path, num_val=1)
    images.write_bytes(b"\x12\x34\x56\x78" + good[4:])
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        load_mnist(tmp_path, num_val=1)
    images.write_bytes(good)
    labels.write_bytes(idx_bytes(np.zeros(5, np.uint8), 2049))
    with pytest.raises(ValueError, match="5 labels but .* 6 images"):
        load_mnist(tmp_path, num_val=1)
    labels.write_bytes(idx_bytes(np.full(6, 12, np.uint8), 2049))
    with pytest.raises(ValueError, match="label 12"):
        load_mnist(tmp_path, num_val=1)
    labels.write_bytes(gzip.compress(idx_bytes(np.zeros(6, np.uint8), 2049))[:-8])
    with pytest.raises(ValueError, match="damaged gzip"):
        load_mnist(tmp_path, num_val=1)
    labels.unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path)
