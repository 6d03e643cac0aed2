"""``handgrad train rnn``: a character-level RNN or LSTM language model on the shipped sonnets.

Trains embedding - RNN (or LSTM, ``--cell lstm``) - temporal affine - temporal softmax (or
continues ``--resume``), prints the loss per character and the next-character accuracy, the
throughput, and a text sample. The arguments are defined in :mod:`handgrad.models.command`.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from handgrad.models.command import (
    RNN_EPOCHS,
    epochs_for,
    error,
    make_solver,
    optimizer_line,
    plot_curves,
    stop_line,
    table,
    train_timed,
)


def _sequence_metrics(model: Any, X: Any, y: Any, batch_size: int = 100) -> tuple[float, float]:
    """(mean loss per character in nats, next-character accuracy) in test mode."""
    from handgrad.losses import temporal_softmax_cross_entropy as tsce

    total = right = 0.0
    count = 0
    for start in range(0, X.shape[0], batch_size):
        xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        scores = model.loss(xb)
        loss, _ = tsce.forward(scores, yb)
        total += float(loss) * xb.shape[0]
        right += float((scores.argmax(axis=2) == yb).sum())
        count += yb.size
    return total / count, right / count


def run(args: argparse.Namespace) -> int:
    from handgrad.data import sonnets
    from handgrad.models import from_checkpoint
    from handgrad.models.rnn_lm import RNNLanguageModel

    corpus = sonnets()
    unknown = sorted(set(args.prefix) - set(corpus.vocab))
    if unknown:
        return error(f"--prefix has characters that are not in the corpus: "
                     f"{''.join(unknown)!r}")
    stride = args.stride or max(1, args.seq_len // 2)
    data = corpus.training_data(seq_len=args.seq_len, val_fraction=0.1, stride=stride)
    if args.resume:
        model = from_checkpoint(args.resume, which="last")
        if not isinstance(model, RNNLanguageModel):
            raise ValueError(f"{args.resume} holds a {type(model).__name__}, not an RNN "
                             f"language model")
    else:
        model = RNNLanguageModel(vocab=corpus.vocab, wordvec_dim=args.wordvec,
                                 hidden_dim=args.hidden, activation=args.activation,
                                 dtype=np.dtype(args.dtype), seed=args.seed, cell=args.cell)
    solver = make_solver(args, model, data, epochs_for(args, RNN_EPOCHS),
                         args.batch_size or 50, args.lr or 2e-3, num_train_samples=1000,
                         print_every=50)
    print(f"handgrad train rnn: sonnets, {len(corpus.text):,} characters, vocabulary of "
          f"{corpus.vocab_size}; {len(data['X_train'])} train / {len(data['X_val'])} val "
          f"windows of {args.seq_len} characters (stride {stride})")
    cell = "LSTM" if model.cell == "lstm" else f"{model.activation} RNN"
    print(f"model: embedding {model.wordvec_dim} - {cell} {model.hidden_dim} - "
          f"softmax over {model.vocab_size}, {model.dtype.name}; {optimizer_line(args, solver)}")

    seconds, examples = train_timed(solver)
    rows = []
    for split in ("train", "val"):
        loss, acc = _sequence_metrics(model, data[f"X_{split}"], data[f"y_{split}"])
        rows.append([split, f"{data[f'y_{split}'].size:,}", f"{loss:.3f}",
                     f"{100 * acc:.1f}%"])
    print()
    print(table(["split", "characters", "loss/char", "next-char acc"], rows))
    if stopped := stop_line(solver):
        print(stopped)
    chars = examples * args.seq_len
    print(f"time {seconds:.1f} s, {examples / max(seconds, 1e-9):,.0f} windows/s "
          f"({chars / max(seconds, 1e-9):,.0f} characters/s); loss/char in nats "
          f"(uniform guessing: {math.log(model.vocab_size):.2f})")
    per_char = {"loss_history": [v / args.seq_len for v in solver.loss_history],
                "train_acc_history": solver.train_acc_history,
                "val_acc_history": solver.val_acc_history,
                "eval_epoch_history": solver.eval_epoch_history}
    plot_curves(args, per_char, f"char-{cell.split()[-1]} (H={model.hidden_dim}) on sonnets: "
                                f"loss per character, next-character accuracy")
    if args.sample:
        text = model.sample(args.prefix, args.sample, temperature=args.temperature,
                            seed=args.seed)
        print(f"\nsample (temperature {args.temperature:g}):\n{args.prefix}{text}")
    return 0
