"""Character-level language model: ``embedding - rnn|lstm - temporal affine - temporal softmax
CE``."""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from typing import Any, overload

import numpy as np

from handgrad import _validation as check
from handgrad.models import _common as c

RNN_ACTIVATIONS = ("tanh", "relu")
CELLS = ("rnn", "lstm")


class RNNLanguageModel:
    """A character language model with a vanilla-RNN or an LSTM cell, built from handgrad's
    layer modules.

    For input characters ``X`` (N, T) (vocabulary indices)::

        x = embedding(X, W_embed)                 # (N, T, D)
        h = rnn(x, h0=0, Wx, Wh, b)               # (N, T, H); or lstm(...) with cell="lstm"
        scores = temporal_affine(h, W_vocab, b_vocab)   # (N, T, V)
        loss = temporal_softmax_cross_entropy(scores, y, mask)

    Parameters (CS231n names): ``W_embed`` (V, D), ``Wx`` (D, G), ``Wh`` (H, G), ``b`` (G,),
    ``W_vocab`` (H, V), ``b_vocab`` (V,), where ``G = H`` for the RNN and ``G = 4H`` for the
    LSTM, whose four gates are stacked in the order i, f, o, g (see
    :mod:`handgrad.layers.lstm`). Initialization: ``W_embed ~ N(0, 1)``, ``Wx`` and ``Wh``
    scaled by ``1/sqrt(fan_in)``, ``W_vocab`` by ``1/sqrt(H)``, biases 0 except the LSTM's
    forget-gate bias ``b[H:2H] = 1`` (the memory is kept by default at the start, the usual
    choice since Gers et al. 2000). The hidden state (and the LSTM's cell state) starts at
    zero for every sequence. ``activation`` ("tanh" or "relu") is the RNN's; the LSTM's
    nonlinearities are fixed, so with ``cell="lstm"`` it must be "tanh".

    Targets ``y`` (N, T) are the next characters (``X`` shifted by one). A negative target
    marks padding: ``mask = y >= 0``, and padded positions add nothing to the loss. The loss
    is summed over the unmasked time steps and divided by N (CS231n's convention; see
    :mod:`handgrad.losses.temporal_softmax_cross_entropy`).

    ``task = "classification"``: the model classifies the next character at every position, so
    with the Solver the scores are (N, T, V), the labels (N, T), and the Solver's accuracy
    (``argmax`` over the last axis against ``y``, averaged over every position) is the
    next-character accuracy. :meth:`accuracy` computes the same while skipping padding.

    ``vocab`` (the characters, index order) lets :meth:`sample` turn indices into text;
    ``vocab_size`` may then be omitted.
    """

    task = "classification"

    def __init__(self, vocab_size: int | None = None, wordvec_dim: int = 64,
                 hidden_dim: int = 128, activation: str = "tanh", dtype: Any = np.float64,
                 seed: int | None = None, vocab: Iterable[str] | None = None,
                 cell: str = "rnn") -> None:
        owner = "RNNLanguageModel"
        self.vocab = None if vocab is None else "".join(vocab)
        if self.vocab is not None:
            if len(set(self.vocab)) != len(self.vocab) or not self.vocab:
                raise ValueError(f"{owner}: vocab must be distinct characters, got "
                                 f"{self.vocab!r}")
            if vocab_size is None:
                vocab_size = len(self.vocab)
            elif vocab_size != len(self.vocab):
                raise ValueError(f"{owner}: vocab_size {vocab_size} does not match the "
                                 f"{len(self.vocab)} characters of vocab")
        if vocab_size is None:
            raise ValueError(f"{owner}: give vocab_size or vocab")
        self.vocab_size = c.positive_int(owner, "vocab_size", vocab_size, 2)
        self.wordvec_dim = c.positive_int(owner, "wordvec_dim", wordvec_dim)
        self.hidden_dim = c.positive_int(owner, "hidden_dim", hidden_dim)
        self.activation = check.choice(owner, "activation", activation, RNN_ACTIVATIONS)
        self.cell = check.choice(owner, "cell", cell, CELLS)
        if self.cell == "lstm" and self.activation != "tanh":
            raise ValueError(f"{owner}: activation {activation!r} is for cell='rnn'; the "
                             f"LSTM's nonlinearities are fixed (leave activation='tanh')")
        self.dtype = check.float_dtype(owner, dtype)
        self.seed = c.seed_value(owner, seed)
        self.char_to_idx = ({ch: i for i, ch in enumerate(self.vocab)}
                            if self.vocab is not None else None)
        self.num_classes = self.vocab_size

        self._embedding = c.layer("embedding")
        self._rnn = c.layer(self.cell)
        self._taffine = c.layer("temporal_affine")
        self._loss = importlib.import_module("handgrad.losses.temporal_softmax_cross_entropy")

        V, D, H = self.vocab_size, self.wordvec_dim, self.hidden_dim
        G = 4 * H if self.cell == "lstm" else H
        rng = np.random.default_rng(self.seed)
        draws = {
            "W_embed": rng.standard_normal((V, D)),
            "Wx": rng.standard_normal((D, G)) / math.sqrt(D),
            "Wh": rng.standard_normal((H, G)) / math.sqrt(H),
            "b": np.zeros(G),
            "W_vocab": rng.standard_normal((H, V)) / math.sqrt(H),
            "b_vocab": np.zeros(V),
        }
        if self.cell == "lstm":
            draws["b"][H:2 * H] = 1.0       # the forget gate starts open
        self.params: dict[str, np.ndarray] = {k: v.astype(self.dtype) for k, v in draws.items()}

    def config(self) -> dict[str, Any]:
        """JSON-serializable constructor arguments (``RNNLanguageModel(**config)``)."""
        return {"vocab_size": self.vocab_size, "wordvec_dim": self.wordvec_dim,
                "hidden_dim": self.hidden_dim, "activation": self.activation,
                "dtype": self.dtype.name, "seed": self.seed, "vocab": self.vocab,
                "cell": self.cell}

    def __repr__(self) -> str:
        return (f"RNNLanguageModel(vocab_size={self.vocab_size}, wordvec_dim={self.wordvec_dim}, "
                f"hidden_dim={self.hidden_dim}, activation={self.activation!r}, "
                f"cell={self.cell!r}, dtype={self.dtype.name!r})")

    def _indices(self, name: str, X: Any) -> np.ndarray:
        if not isinstance(X, np.ndarray) or X.dtype.kind not in "iu" or X.ndim != 2:
            got = (f"{X.dtype} {X.shape}" if isinstance(X, np.ndarray) else type(X).__name__)
            raise TypeError(f"RNNLanguageModel.loss: {name} must be an integer array (N, T) "
                            f"of character indices, got {got}")
        return X

    def _scores(self, X: np.ndarray) -> tuple[np.ndarray, tuple]:
        p = self.params
        x, emb_cache = self._embedding.forward(X, p["W_embed"])
        h0 = np.zeros((X.shape[0], self.hidden_dim), dtype=self.dtype)
        options = {"activation": self.activation} if self.cell == "rnn" else {}
        h, rnn_cache = self._rnn.forward(x, h0, p["Wx"], p["Wh"], p["b"], **options)
        scores, aff_cache = self._taffine.forward(h, p["W_vocab"], p["b_vocab"])
        return scores, (emb_cache, rnn_cache, aff_cache)

    @overload
    def loss(self, X: np.ndarray, y: None = None) -> np.ndarray: ...
    @overload
    def loss(self, X: np.ndarray, y: np.ndarray) -> tuple[np.floating, dict[str, np.ndarray]]: ...
    def loss(self, X: np.ndarray, y: np.ndarray | None = None
             ) -> np.ndarray | tuple[np.floating, dict[str, np.ndarray]]:
        """Scores (N, T, V) when ``y`` is None; else ``(loss, grads)`` keyed like ``params``."""
        X = self._indices("X", X)
        if y is None:
            return self._scores(X)[0]
        y = self._indices("y", y)
        if y.shape != X.shape:
            raise ValueError(f"RNNLanguageModel.loss: y must have X's shape {X.shape}, "
                             f"got {y.shape}")
        scores, (emb_cache, rnn_cache, aff_cache) = self._scores(X)
        loss, loss_cache = self._loss.forward(scores, y, y >= 0)
        dscores = self._loss.backward(c.one(self.dtype), loss_cache)
        grads: dict[str, np.ndarray] = {}
        dh, grads["W_vocab"], grads["b_vocab"] = self._taffine.backward(dscores, aff_cache)
        dx, _dh0, grads["Wx"], grads["Wh"], grads["b"] = self._rnn.backward(dh, rnn_cache)
        grads["W_embed"] = self._embedding.backward(dx, emb_cache)
        return loss, {k: grads[k] for k in self.params}

    def accuracy(self, X: np.ndarray, y: np.ndarray, batch_size: int = 100) -> float:
        """Next-character accuracy: the fraction of positions with ``y >= 0`` predicted right."""
        X, y = self._indices("X", X), self._indices("y", y)
        right = total = 0
        for start in range(0, X.shape[0], batch_size):
            scores = self.loss(X[start:start + batch_size])
            yb = y[start:start + batch_size]
            mask = yb >= 0
            right += int(((scores.argmax(axis=2) == yb) & mask).sum())
            total += int(mask.sum())
        return right / total if total else 0.0

    # ------------------------------------------------------------------------------ sampling
    def sample(self, prefix: str = "", length: int = 200, temperature: float = 1.0,
               seed: int | None = None, rng: np.random.Generator | None = None) -> str:
        """Generate ``length`` characters that continue ``prefix`` (the prefix is not repeated).

        The prefix is fed through the cell's ``step_forward`` one character at a time (an empty
        prefix starts from a newline, or the first vocabulary character when there is none);
        each next character is drawn from ``softmax(scores / temperature)``: below 1 the text is
        more conservative, above 1 more adventurous. ``seed`` or ``rng`` make it reproducible.
        """
        owner = "RNNLanguageModel.sample"
        if self.vocab is None:
            raise ValueError(f"{owner}: the model has no vocab; build it with "
                             f"RNNLanguageModel(vocab=corpus.vocab, ...)")
        length = c.positive_int(owner, "length", length, 0)
        temperature = c.nonneg_float(owner, "temperature", temperature, positive=True)
        if rng is None:
            rng = np.random.default_rng(seed)
        assert self.char_to_idx is not None
        if not prefix:
            prefix = "\n" if "\n" in self.char_to_idx else self.vocab[0]
        unknown = sorted(set(prefix) - set(self.char_to_idx))
        if unknown:
            raise ValueError(f"{owner}: prefix has characters outside the vocabulary: "
                             f"{''.join(unknown)!r}")
        p = self.params
        h = np.zeros((1, self.hidden_dim), dtype=self.dtype)
        state = (h, np.zeros_like(h))       # (hidden state, cell state; unused by the RNN)
        for ch in prefix[:-1]:
            state = self._step(self.char_to_idx[ch], state)
        current = self.char_to_idx[prefix[-1]]
        out: list[str] = []
        inv_t = 1.0 / temperature
        for _ in range(length):
            state = self._step(current, state)
            h = state[0]
            logits = (h[0] @ p["W_vocab"] + p["b_vocab"]).astype(np.float64) * inv_t
            logits -= logits.max()
            cdf = np.cumsum(np.exp(logits))
            current = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")),
                          self.vocab_size - 1)
            out.append(self.vocab[current])
        return "".join(out)

    def _step(self, index: int, state: tuple[np.ndarray, np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray]:
        """One step from ``(h, c)``; the RNN has no cell state and passes ``c`` through."""
        p = self.params
        x = p["W_embed"][index][None, :]
        h, c_state = state
        if self.cell == "lstm":
            h, c_state, _ = self._rnn.step_forward(x, h, c_state, p["Wx"], p["Wh"], p["b"])
        else:
            h, _ = self._rnn.step_forward(x, h, p["Wx"], p["Wh"], p["b"],
                                          activation=self.activation)
        return h, c_state
