"""Character corpora for language models; ``sonnets()`` loads the shipped Shakespeare sonnets."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources

import numpy as np


class CharCorpus:
    """A text with its character vocabulary.

    Attributes: ``text`` (str), ``vocab`` (str of the distinct characters, sorted),
    ``char_to_idx`` (dict), ``idx_to_char`` (list), ``data`` (int64 array: the encoded text).
    """

    def __init__(self, text: str, vocab: Iterable[str] | None = None) -> None:
        if not isinstance(text, str) or len(text) < 2:
            raise ValueError("CharCorpus: text must be a str of at least 2 characters")
        self.text = text
        self.vocab = "".join(sorted(set(text) if vocab is None else set(vocab)))
        self.char_to_idx = {ch: i for i, ch in enumerate(self.vocab)}
        self.idx_to_char = list(self.vocab)
        self.data = self.encode(text)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.text)

    def __repr__(self) -> str:
        return f"CharCorpus({len(self.text)} characters, vocabulary of {self.vocab_size})"

    def encode(self, text: str) -> np.ndarray:
        """Map a string to an int64 array of vocabulary indices (unknown characters raise)."""
        try:
            return np.fromiter((self.char_to_idx[ch] for ch in text), dtype=np.int64,
                               count=len(text))
        except KeyError as exc:
            raise ValueError(f"CharCorpus.encode: character {exc.args[0]!r} is not in the "
                             f"vocabulary") from None

    def decode(self, indices: Iterable[int]) -> str:
        """Map vocabulary indices back to a string."""
        idx = np.asarray(indices)
        if idx.size and (idx.min() < 0 or idx.max() >= self.vocab_size):
            raise ValueError(f"CharCorpus.decode: indices must be in [0, {self.vocab_size})")
        return "".join(self.idx_to_char[i] for i in idx.reshape(-1).tolist())

    def windows(self, seq_len: int, stride: int | None = None, start: int = 0,
                stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Cut ``(X, y)`` training windows, both int64 (N, seq_len), with ``y`` = X shifted by one.

        Window ``i`` covers characters ``start + i*stride`` to ``start + i*stride + seq_len`` of
        ``data[start:stop]``; ``y[i, t]`` is the character after ``X[i, t]``. ``stride`` defaults
        to ``seq_len`` (windows tile the text without overlap).
        """
        seq_len = int(seq_len)
        stride = seq_len if stride is None else int(stride)
        if seq_len < 1 or stride < 1:
            raise ValueError(f"CharCorpus.windows: seq_len and stride must be >= 1, "
                             f"got {seq_len} and {stride}")
        data = self.data[start:stop]
        count = (data.size - 1 - seq_len) // stride + 1
        if count < 1:
            raise ValueError(f"CharCorpus.windows: {data.size} characters are too few for a "
                             f"window of {seq_len} plus one target")
        offsets = (np.arange(count) * stride)[:, None] + np.arange(seq_len)[None, :]
        return data[offsets], data[offsets + 1]

    def training_data(self, seq_len: int = 50, val_fraction: float = 0.1,
                      stride: int | None = None) -> dict[str, np.ndarray]:
        """Windows for the Solver: ``X_train, y_train`` from the first ``1 - val_fraction`` of
        the text, ``X_val, y_val`` from the rest (disjoint, no overlap at the cut)."""
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"CharCorpus.training_data: val_fraction must be in (0, 1), "
                             f"got {val_fraction}")
        cut = int(round(len(self.data) * (1.0 - val_fraction)))
        X_train, y_train = self.windows(seq_len, stride, stop=cut)
        X_val, y_val = self.windows(seq_len, seq_len, start=cut)
        return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


def sonnets() -> CharCorpus:
    """Shakespeare's Sonnets (shipped; see ATTRIBUTION.md) as a character corpus.

    About 96,000 characters with a vocabulary of 62 (letters, punctuation,
    space and newline).
    """
    text = resources.files("handgrad.data").joinpath("sonnets.txt").read_text(encoding="ascii")
    return CharCorpus(text.replace("\r\n", "\n"))
