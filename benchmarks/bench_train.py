"""Training throughput (examples/s) of a fully connected net on the shipped digits data.

    python benchmarks/bench_train.py                  # float32 and float64, 10 epochs
    python benchmarks/bench_train.py --dtype float64 --epochs 20 --quick

The net is 64 -> 100 (ReLU) -> 10 with softmax cross-entropy, trained with Adam, batch size 100.
It is trained three ways in the same run, from the same initial weights on the same batches:

- ``handgrad loop``: a plain loop over minibatches calling affine, relu,
  softmax_cross_entropy (the modules ``handgrad.fast.fastest`` gives: the tuned twins where
  there are any, as the models use) and handgrad.optim.adam;
- ``handgrad Solver``: handgrad.Solver on handgrad.models.FullyConnectedNet (it also measures
  train and validation accuracy once per epoch, as a real training run does);
- ``torch``: nn.Linear, nn.ReLU, nn.CrossEntropyLoss and torch.optim.Adam, CPU eager, with as
  many threads as numpy's BLAS.

Whatever is missing (a handgrad module not written yet, PyTorch not installed) is skipped and
named. In float64 the loop and torch must end with the same parameters (they do the same
arithmetic), which shows both trained the same net; the script says how close they came.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

try:
    from benchmarks import timing
except ImportError:  # run as a script: python benchmarks/bench_train.py
    import timing

HIDDEN = 100
BATCH = 100
DATA_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "digits.csv.gz"


# --- data ----------------------------------------------------------------------------------------


def load_digits(dtype: np.dtype) -> tuple[dict[str, np.ndarray], str]:
    """Return ``(data, source)``: X_train, y_train, X_val, y_val from handgrad.data.digits()
    when it exists, else from the shared CSV with a stratified 80/20 split of our own."""
    try:
        digits = importlib.import_module("handgrad.data").digits
        data = digits()
        if not all(k in data for k in ("X_train", "y_train", "X_val", "y_val")):
            raise KeyError("X_train/y_train/X_val/y_val")
        out = {k: np.asarray(data[k]) for k in ("X_train", "y_train", "X_val", "y_val")}
        for k in ("X_train", "X_val"):
            out[k] = out[k].reshape(len(out[k]), -1).astype(dtype)
        return out, "handgrad.data.digits()"
    except Exception as exc:  # not written yet, or another return type
        reason = f"{type(exc).__name__}: {exc}"
    with gzip.open(DATA_CSV, "rt") as f:
        raw = np.loadtxt(f, delimiter=",")
    x, y = (raw[:, :64] / 16.0).astype(dtype), raw[:, 64].astype(np.int64)
    rng = np.random.default_rng(0)
    train, val = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        cut = int(round(0.8 * len(idx)))
        train.append(idx[:cut])
        val.append(idx[cut:])
    tr, va = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    return ({"X_train": x[tr], "y_train": y[tr], "X_val": x[va], "y_val": y[va]},
            f"{DATA_CSV.name} with this script's 80/20 split "
            f"(handgrad.data.digits() unavailable: {reason})")


# --- the handgrad loop ---------------------------------------------------------------------------


def reference_adam(w: np.ndarray, dw: np.ndarray, config: dict | None = None):
    """CS231n Adam, used only when handgrad.optim.adam does not exist yet."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    config["m"] = b1 * config["m"] + (1 - b1) * dw
    config["v"] = b2 * config["v"] + (1 - b2) * dw * dw
    m_hat = config["m"] / (1 - b1 ** config["t"])
    v_hat = config["v"] / (1 - b2 ** config["t"])
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


def init_params(dtype: np.dtype, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "W1": (rng.standard_normal((64, HIDDEN)) * np.sqrt(2 / 64)).astype(dtype),
        "b1": np.zeros(HIDDEN, dtype=dtype),
        "W2": (rng.standard_normal((HIDDEN, 10)) * np.sqrt(2 / HIDDEN)).astype(dtype),
        "b2": np.zeros(10, dtype=dtype),
    }


def handgrad_loop(data, perms, init, lr) -> tuple[Callable[[], dict], list[str]]:
    """A callable that trains from ``init`` over ``perms`` and returns the final parameters."""
    notes = []
    from handgrad.fast import fastest

    affine = fastest("handgrad.layers.affine")
    relu = fastest("handgrad.layers.relu")
    sce = fastest("handgrad.losses.softmax_cross_entropy")
    adam = None
    for where in ("handgrad.optim", "handgrad.optim.rules"):
        try:
            adam = importlib.import_module(where).adam
            break
        except (ImportError, AttributeError):
            continue
    if adam is None:
        adam = reference_adam
        notes.append("handgrad.optim.adam not found: the loop uses this script's reference Adam")
    elif where != "handgrad.optim":
        notes.append(f"adam imported from {where} (handgrad.optim does not export it yet)")
    X, y = data["X_train"], data["y_train"]

    def train() -> dict[str, np.ndarray]:
        p = {k: v.copy() for k, v in init.items()}
        configs = {k: {"learning_rate": lr} for k in p}
        for perm in perms:
            for start in range(0, len(perm), BATCH):
                idx = perm[start:start + BATCH]
                xb, yb = X[idx], y[idx]
                a1, c1 = affine.forward(xb, p["W1"], p["b1"])
                h1, cr = relu.forward(a1)
                scores, c2 = affine.forward(h1, p["W2"], p["b2"])
                _, cl = sce.forward(scores, yb)
                dscores = sce.backward(1.0, cl)
                dh1, dW2, db2 = affine.backward(dscores, c2)
                da1 = relu.backward(dh1, cr)
                _, dW1, db1 = affine.backward(da1, c1)
                for k, g in (("W1", dW1), ("b1", db1), ("W2", dW2), ("b2", db2)):
                    p[k], configs[k] = adam(p[k], g, configs[k])
        return p

    return train, notes


def numpy_accuracy(p: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    h = np.maximum(X @ p["W1"] + p["b1"], 0)
    return float(np.mean(np.argmax(h @ p["W2"] + p["b2"], axis=1) == y))


# --- torch ---------------------------------------------------------------------------------------


def torch_loop(torch: Any, data, perms, init, lr) -> Callable[[], dict]:
    nn = torch.nn
    tdtype = torch.float64 if init["W1"].dtype == np.float64 else torch.float32
    X, y = torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"].astype(np.int64))
    tperms = [torch.from_numpy(p.astype(np.int64)) for p in perms]
    model = nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10)).to(tdtype)
    state = {"0.weight": torch.from_numpy(init["W1"].T.copy()),
             "0.bias": torch.from_numpy(init["b1"].copy()),
             "2.weight": torch.from_numpy(init["W2"].T.copy()),
             "2.bias": torch.from_numpy(init["b2"].copy())}
    criterion = nn.CrossEntropyLoss()

    def train() -> dict[str, np.ndarray]:
        model.load_state_dict(state)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for perm in tperms:
            for start in range(0, len(perm), BATCH):
                idx = perm[start:start + BATCH]
                opt.zero_grad()
                loss = criterion(model(X[idx]), y[idx])
                loss.backward()
                opt.step()
        m = model.state_dict()
        return {"W1": m["0.weight"].numpy().T, "b1": m["0.bias"].numpy(),
                "W2": m["2.weight"].numpy().T, "b2": m["2.bias"].numpy()}

    return train


# --- the Solver ----------------------------------------------------------------------------------


def solver_run(data, epochs, lr, dtype, seed) -> Callable[[], Any]:
    import handgrad

    Solver = handgrad.Solver
    FullyConnectedNet = importlib.import_module("handgrad.models").FullyConnectedNet

    def train():
        model = FullyConnectedNet([HIDDEN], input_dim=64, num_classes=10, dtype=dtype, seed=seed)
        solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": lr},
                        batch_size=BATCH, num_epochs=epochs, verbose=False)
        solver.train()
        return model, solver

    return train


# --- main ----------------------------------------------------------------------------------------


def run_dtype(dtype: np.dtype, args, torch, settings) -> list[str]:
    data, source = load_digits(dtype)
    n_train = len(data["y_train"])
    print(f"\n== {dtype.name}: {n_train} training / {len(data['y_val'])} validation examples "
          f"from {source}; {args.epochs} epochs of batch {BATCH}, Adam lr {args.lr:g}")
    rng = np.random.default_rng(args.seed)
    perms = [rng.permutation(n_train) for _ in range(args.epochs)]
    init = init_params(dtype, args.seed)
    peers: dict[str, Callable[[], Any]] = {}
    skipped: list[str] = []
    results: dict[str, Any] = {}

    try:
        loop, notes = handgrad_loop(data, perms, init, args.lr)
        for note in notes:
            print(f"note: {note}")
        results["handgrad loop"] = loop()
        peers["handgrad loop"] = loop
    except Exception as exc:
        skipped.append(f"handgrad loop ({type(exc).__name__}: {exc})")
    if args.solver:
        try:
            run = solver_run(data, args.epochs, args.lr, dtype, args.seed)
            model, _ = run()
            results["handgrad Solver"] = model.params
            peers["handgrad Solver"] = run
        except Exception as exc:
            skipped.append(f"handgrad Solver ({type(exc).__name__}: {exc})")
    if torch is not None:
        tl = torch_loop(torch, data, perms, init, args.lr)
        results["torch"] = tl()
        peers["torch"] = tl

    for name, p in results.items():
        acc_tr = numpy_accuracy(p, data["X_train"], data["y_train"])
        acc_va = numpy_accuracy(p, data["X_val"], data["y_val"])
        print(f"  {name:<16} after training: train acc {acc_tr:.3f}, val acc {acc_va:.3f}")
    if "handgrad loop" in results and "torch" in results:
        a, b = results["handgrad loop"], results["torch"]
        err = max(float(np.max(np.abs(a[k] - b[k]))) / float(np.max(np.abs(b[k]))) for k in a)
        print(f"  final parameters, handgrad loop vs torch: max scale-relative difference "
              f"{err:.1e}" + ("" if dtype == np.float64 else " (float32: rounding accumulates)"))
    if not peers:
        print("  nothing to time")
        return skipped

    m = timing.measure(peers, settings)
    stats = m.stats
    examples = n_train * args.epochs
    print(f"  {'':<16} {'ms/run':>9} {'examples/s':>12} {'spread':>7}"
          + ("   vs torch" if "torch" in stats else ""))
    for name, s in stats.items():
        line = f"  {name:<16} {s.median_ms:9.1f} {examples / s.median_ms * 1e3:12.0f} " \
               f"{s.spread:7.0%}"
        if "torch" in stats and name != "torch":
            # examples/s ratio: > 1 means handgrad trains faster than torch
            line += f"   {stats['torch'].median_ms / s.median_ms:.2f}x torch's examples/s"
        print(line)
    busy = "" if m.others_busy is None else f"; other processes used {m.others_busy:.0%} of " \
        f"the CPUs meanwhile"
    print(f"  ({m.attempts} attempt(s){busy}" + (")" if m.clean(settings) else
          "; still noisy or busy: figures unreliable, run again on a quiet machine)"))
    return skipped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="one short round: rough figures")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-solver", dest="solver", action="store_false",
                   help="skip the Solver-driven run")
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="before each attempt, wait up to this long for other processes to leave "
                        "the CPUs idle (default 60, 10 with --quick; 0: do not wait)")
    args = p.parse_args(argv)
    settings = timing.Settings.quick() if args.quick else timing.Settings(block_s=1.0)
    if args.wait is not None:
        settings = dataclasses.replace(settings, wait_quiet_s=max(args.wait, 0.0))
    threads = timing.numpy_blas_threads()
    info = timing.machine_info()
    torch = None
    torch_msg = "PyTorch disabled (--no-torch)"
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(threads)
            torch_msg = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
        except ImportError:
            torch_msg = "PyTorch is not installed: timing handgrad only"
    print(f"numpy {info['numpy']} ({threads} BLAS threads), {info['cpu_count']} x {info['cpu']}; "
          f"{torch_msg}")
    warning = timing.load_warning(info)
    if warning:
        print(warning)
    print("one run = training the whole net from its initial weights for all epochs; "
          "median over runs, peers alternating, idle between blocks")
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    skipped: list[str] = []
    for name in dtypes:
        skipped += run_dtype(np.dtype(name), args, torch, settings)
    if torch is None:
        skipped.append(f"torch ({torch_msg})")
    for s in dict.fromkeys(skipped):
        print(f"skipped: {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
