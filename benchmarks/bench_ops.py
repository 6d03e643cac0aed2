"""Time forward+backward of every seed op against PyTorch CPU eager and a textbook NumPy version.

    python benchmarks/bench_ops.py                    # every op, float32 and float64
    python benchmarks/bench_ops.py --ops affine rnn --dtype float32 --quick
    python benchmarks/bench_ops.py --json results.json --no-torch

Every row is verified before it is timed: handgrad's output and every gradient must match
PyTorch autograd (float64 to 1e-9, float32 to 1e-4, relative to the largest reference entry);
a row that does not match is reported as a mismatch and not timed. Each row times the module
``handgrad.fast.fastest`` gives for its op (the tuned twin where there is one, as the models
use), except the comparison rows of the readable modules (``im2col_*``, ``*_readable``). The
columns are median milliseconds of one forward plus one backward, the ratio handgrad/torch
against the speed bar (1.2x for the matrix-bound affine and rnn, 1.3x for lstm, 1.5x for
attention, 2.0x for convolution, 2.5x for the rest) and the ratio handgrad/textbook.
See benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handgrad.fast import fastest

try:
    from benchmarks import image_cases, sequence_cases, textbook, timing
except ImportError:  # run as a script: python benchmarks/bench_ops.py
    import image_cases
    import sequence_cases
    import textbook
    import timing

MATRIX_BAR = 1.2
MEMORY_BAR = 2.5
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}


@dataclass
class Case:
    """One op at one shape and dtype: inputs for handgrad and, when asked, the torch version."""

    op: str
    module: str                       # the readable module; its twin is timed unless readable
    shape: str
    bar: float
    args: tuple[Any, ...]             # forward's positional arguments (NumPy)
    kwargs: dict[str, Any]
    dout: Any                         # upstream gradient for backward (1.0 for losses)
    names: tuple[str, ...]            # "out" followed by the gradient names, in order
    fresh_args: Callable[[], tuple[Any, ...]] | None = None  # for ops with a mutable bn_param
    torch_setup: Callable[[Any], tuple[Callable[[], Any], Callable[[Any], list[np.ndarray]]]] \
        | None = None
    notes: list[str] = field(default_factory=list)
    readable: bool = False            # time the readable module itself (a comparison row)


def _as_tuple(grads: Any) -> tuple[np.ndarray, ...]:
    return (grads,) if isinstance(grads, np.ndarray) else tuple(grads)


def numpy_runner(mod: Any, case: Case, fresh: bool = False) -> Callable[[], Any]:
    """A callable doing one forward and one backward of ``mod`` on ``case``'s inputs."""
    forward, backward = mod.forward, mod.backward
    kwargs, dout = case.kwargs, case.dout
    # Each runner owns its arguments when one of them is mutable state (bn_param).
    own_args = case.fresh_args() if case.fresh_args else case.args

    def run() -> tuple[Any, Any]:
        args = case.fresh_args() if (fresh and case.fresh_args) else own_args
        out, cache = forward(*args, **kwargs)
        return out, backward(dout, cache)

    return run


# --- torch helpers -------------------------------------------------------------------------------


def _leaf(torch: Any, arr: np.ndarray) -> Any:
    return torch.from_numpy(np.array(arr, copy=True)).requires_grad_(True)


def _const(torch: Any, arr: np.ndarray) -> Any:
    return torch.from_numpy(np.array(arr, copy=True))


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy()


def _torch_elementwise(fn_name: str, x: np.ndarray, dout: np.ndarray):
    def setup(torch: Any):
        fn = getattr(torch, fn_name)
        xt, dt = _leaf(torch, x), _const(torch, dout)

        def run():
            out = fn(xt)
            return out, torch.autograd.grad(out, (xt,), dt)

        def convert(res):
            out, (dx,) = res
            return [_np(out), _np(dx)]

        return run, convert

    return setup


def _torch_loss(fn_name: str, pred: np.ndarray, target: np.ndarray, **kw: Any):
    def setup(torch: Any):
        fn = getattr(torch.nn.functional, fn_name)
        pt, tt = _leaf(torch, pred), _leaf(torch, target)

        def run():
            loss = fn(pt, tt, **kw)
            return loss, torch.autograd.grad(loss, (pt, tt))

        def convert(res):
            loss, (dp, dt) = res
            return [_np(loss), _np(dp), _np(dt)]

        return run, convert

    return setup


# --- the cases -----------------------------------------------------------------------------------


def make_case(op: str, dtype: np.dtype, seed: int) -> Case:
    rng = np.random.default_rng(seed)

    def randn(*shape: int, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale + shift).astype(dtype)

    if op == "affine":
        x, w, b = randn(256, 3072), randn(3072, 512, scale=0.02), randn(512)
        dout = randn(256, 512)

        def setup(torch):
            xt, wt, bt, dt = _leaf(torch, x), _leaf(torch, w), _leaf(torch, b), _const(torch, dout)

            def run():
                out = xt @ wt + bt
                return out, torch.autograd.grad(out, (xt, wt, bt), dt)

            def convert(res):
                out, grads = res
                return [_np(out)] + [_np(g) for g in grads]

            return run, convert

        return Case(op, "handgrad.layers.affine", "256x3072 -> 512", MATRIX_BAR, (x, w, b), {},
                    dout, ("out", "dx", "dw", "db"), torch_setup=setup)

    if op in ("relu", "sigmoid", "tanh"):
        x = randn(256, 4096, scale=2.0)
        dout = randn(256, 4096)
        return Case(op, f"handgrad.layers.{op}", "256x4096", MEMORY_BAR, (x,), {}, dout,
                    ("out", "dx"), torch_setup=_torch_elementwise(op, x, dout))

    if op == "batchnorm":
        x = randn(256, 1024, scale=2.0, shift=1.0)
        gamma, beta = randn(1024, scale=0.1, shift=1.0), randn(1024, scale=0.1)
        dout = randn(256, 1024)
        eps, momentum = 1e-5, 0.9
        bn_param = {"mode": "train", "eps": eps, "momentum": momentum}

        def fresh():
            return (x, gamma, beta, {"mode": "train", "eps": eps, "momentum": momentum})

        def setup(torch):
            xt, gt, bt = _leaf(torch, x), _leaf(torch, gamma), _leaf(torch, beta)
            dt = _const(torch, dout)
            rm = torch.zeros(1024, dtype=xt.dtype)
            rv = torch.ones(1024, dtype=xt.dtype)
            f = torch.nn.functional.batch_norm

            def run():
                # torch's momentum weighs the new batch: 1 - handgrad's momentum.
                out = f(xt, rm, rv, gt, bt, training=True, momentum=1 - momentum, eps=eps)
                return out, torch.autograd.grad(out, (xt, gt, bt), dt)

            def convert(res):
                out, grads = res
                return [_np(out)] + [_np(g) for g in grads]

            return run, convert

        return Case(op, "handgrad.layers.batchnorm", "256x1024 train", MEMORY_BAR,
                    (x, gamma, beta, bn_param), {}, dout, ("out", "dx", "dgamma", "dbeta"),
                    fresh_args=fresh, torch_setup=setup)

    if op == "softmax_ce":
        scores = randn(256, 1000, scale=2.0)
        y = rng.integers(0, 1000, size=256)

        def setup(torch):
            st, yt = _leaf(torch, scores), torch.from_numpy(y.astype(np.int64))

            def run():
                loss = torch.nn.functional.cross_entropy(st, yt)
                return loss, torch.autograd.grad(loss, (st,))

            def convert(res):
                loss, (ds,) = res
                return [_np(loss), _np(ds)]

            return run, convert

        return Case(op, "handgrad.losses.softmax_cross_entropy", "256x1000", MEMORY_BAR,
                    (scores, y), {}, 1.0, ("loss", "dscores"), torch_setup=setup)

    if op in ("huber", "mse"):
        pred, target = randn(256, 1000, scale=2.0), randn(256, 1000)
        if op == "huber":
            return Case(op, "handgrad.losses.huber", "256x1000 delta=1", MEMORY_BAR,
                        (pred, target), {"delta": 1.0}, 1.0, ("loss", "dpred", "dtarget"),
                        torch_setup=_torch_loss("huber_loss", pred, target, delta=1.0))
        return Case(op, "handgrad.losses.mse", "256x1000", MEMORY_BAR, (pred, target), {}, 1.0,
                    ("loss", "dpred", "dtarget"), torch_setup=_torch_loss("mse_loss", pred, target))

    if op == "rnn":
        n, t_len, d, h = 64, 50, 128, 256
        x = randn(n, t_len, d)
        h0 = randn(n, h, scale=0.1)
        wx = randn(d, h, scale=1 / np.sqrt(d))
        wh = randn(h, h, scale=0.5 / np.sqrt(h))
        b = randn(h, scale=0.1)
        dout = randn(n, t_len, h)

        def setup(torch):
            tdtype = torch.float64 if dtype == np.float64 else torch.float32
            rnn = torch.nn.RNN(d, h, batch_first=True, nonlinearity="tanh", dtype=tdtype)
            with torch.no_grad():
                rnn.weight_ih_l0.copy_(torch.from_numpy(wx.T.copy()))
                rnn.weight_hh_l0.copy_(torch.from_numpy(wh.T.copy()))
                rnn.bias_ih_l0.copy_(torch.from_numpy(b.copy()))
                rnn.bias_hh_l0.zero_()
            xt, h0t, dt = _leaf(torch, x), _leaf(torch, h0[None]), _const(torch, dout)
            params = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)

            def run():
                out, _ = rnn(xt, h0t)
                return out, torch.autograd.grad(out, (xt, h0t, *params), dt)

            def convert(res):
                out, (dx, dh0, dwih, dwhh, dbih, _dbhh) = res
                return [_np(out), _np(dx), _np(dh0)[0], _np(dwih).T, _np(dwhh).T, _np(dbih)]

            return run, convert

        return Case(op, "handgrad.layers.rnn", "N64 T50 D128 H256", MATRIX_BAR,
                    (x, h0, wx, wh, b), {"activation": "tanh"}, dout,
                    ("h", "dx", "dh0", "dWx", "dWh", "db"), torch_setup=setup)

    if op == "dropout":
        x, dout = randn(256, 4096), randn(256, 4096)
        keep_prob, mask_seed = 0.5, seed + 1
        dropout_param = {"mode": "train", "keep_prob": keep_prob, "seed": mask_seed}

        def setup(torch):
            # PyTorch cannot draw handgrad's mask: the row is timed with F.dropout, what a
            # PyTorch user writes, and verified against autograd of x * mask / keep_prob with
            # the mask handgrad documents (default_rng(seed).random(shape) < keep_prob).
            xt, dt = _leaf(torch, x), _const(torch, dout)
            mask = torch.from_numpy(np.random.default_rng(mask_seed).random(x.shape) < keep_prob)

            def run():
                out = torch.nn.functional.dropout(xt, p=1 - keep_prob, training=True)
                return out, torch.autograd.grad(out, (xt,), dt)

            def convert(res):
                out = xt * mask / keep_prob
                (dx,) = torch.autograd.grad(out, (xt,), dt)
                return [_np(out), _np(dx)]

            return run, convert

        return Case(op, "handgrad.layers.dropout", f"256x4096 keep {keep_prob:g}", MEMORY_BAR,
                    (x, dropout_param), {}, dout, ("out", "dx"), torch_setup=setup)

    if op == "layernorm":
        x = randn(256, 1024, scale=2.0, shift=1.0)
        gamma, beta = randn(1024, scale=0.1, shift=1.0), randn(1024, scale=0.1)
        dout = randn(256, 1024)

        def setup(torch):
            xt, gt, bt = _leaf(torch, x), _leaf(torch, gamma), _leaf(torch, beta)
            dt = _const(torch, dout)

            def run():
                out = torch.nn.functional.layer_norm(xt, (1024,), gt, bt, eps=1e-5)
                return out, torch.autograd.grad(out, (xt, gt, bt), dt)

            def convert(res):
                out, grads = res
                return [_np(out)] + [_np(g) for g in grads]

            return run, convert

        return Case(op, "handgrad.layers.layernorm", "256x1024", MEMORY_BAR, (x, gamma, beta),
                    {}, dout, ("out", "dx", "dgamma", "dbeta"), torch_setup=setup)

    if op in ("spatial_bn", "groupnorm"):
        x = randn(64, 32, 16, 16, scale=2.0, shift=1.0)
        gamma, beta = randn(32, scale=0.1, shift=1.0), randn(32, scale=0.1)
        dout = randn(64, 32, 16, 16)
        names = ("out", "dx", "dgamma", "dbeta")
        if op == "groupnorm":
            def gn_setup(torch):
                xt, gt, bt = _leaf(torch, x), _leaf(torch, gamma), _leaf(torch, beta)
                dt = _const(torch, dout)

                def run():
                    out = torch.nn.functional.group_norm(xt, 8, gt, bt, eps=1e-5)
                    return out, torch.autograd.grad(out, (xt, gt, bt), dt)

                def convert(res):
                    out, grads = res
                    return [_np(out)] + [_np(g) for g in grads]

                return run, convert

            return Case(op, "handgrad.layers.groupnorm", "64x32x16x16 G=8", MEMORY_BAR,
                        (x, gamma, beta), {"G": 8}, dout, names, torch_setup=gn_setup)

        def sbn_fresh():
            return (x, gamma, beta, {"mode": "train", "eps": 1e-5, "momentum": 0.9})

        def sbn_setup(torch):
            xt, gt, bt = _leaf(torch, x), _leaf(torch, gamma), _leaf(torch, beta)
            dt = _const(torch, dout)
            rm, rv = torch.zeros(32, dtype=xt.dtype), torch.ones(32, dtype=xt.dtype)

            def run():
                out = torch.nn.functional.batch_norm(xt, rm, rv, gt, bt, training=True,
                                                     momentum=0.1, eps=1e-5)
                return out, torch.autograd.grad(out, (xt, gt, bt), dt)

            def convert(res):
                out, grads = res
                return [_np(out)] + [_np(g) for g in grads]

            return run, convert

        return Case(op, "handgrad.layers.spatial_batchnorm", "64x32x16x16 train", MEMORY_BAR,
                    sbn_fresh(), {}, dout, names, fresh_args=sbn_fresh, torch_setup=sbn_setup)

    if op == "svm":
        scores = randn(256, 1000, scale=2.0)
        y = rng.integers(0, 1000, size=256)

        def setup(torch):
            st, yt = _leaf(torch, scores), torch.from_numpy(y.astype(np.int64))

            def run():
                loss = torch.nn.functional.multi_margin_loss(st, yt)
                return loss, torch.autograd.grad(loss, (st,))

            def convert(res):
                # multi_margin_loss also divides by the number of classes: handgrad's is C times it
                loss, (ds,) = res
                return [_np(loss) * 1000, _np(ds) * 1000]

            return run, convert

        return Case(op, "handgrad.losses.svm", "256x1000", MEMORY_BAR, (scores, y), {}, 1.0,
                    ("loss", "dscores"), torch_setup=setup)

    if op in image_cases.OPS:
        return Case(op, **image_cases.build(op, dtype, rng))
    if op in sequence_cases.OPS:
        return Case(op, **sequence_cases.build(op, dtype, rng))

    raise ValueError(f"unknown op {op!r}")


OPS = ("affine", "relu", "sigmoid", "tanh", "batchnorm", "softmax_ce", "huber", "mse", "rnn",
       "dropout", "layernorm", "spatial_bn", "groupnorm", "svm", *image_cases.OPS,
       *sequence_cases.OPS)


# --- verification --------------------------------------------------------------------------------


def scale_error(a: Any, ref: np.ndarray) -> float:
    """max|a - ref| / max|ref| (the error relative to the reference's scale)."""
    a, ref = np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf")
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(a - ref))) if ref.size else 0.0
    return diff / scale if scale > 0 else diff


def verify(name: str, case: Case, got: list[Any], ref: list[np.ndarray],
           dtype: np.dtype, check_dtype: bool) -> tuple[bool, str]:
    """Compare ``got`` (out, grads) with ``ref``; return (ok, message naming the worst entry)."""
    tol = TOLERANCE[np.dtype(dtype).name]
    if len(got) != len(ref):
        return False, f"{name} returned {len(got) - 1} gradients, expected {len(ref) - 1}"
    worst, worst_name = 0.0, ""
    for label, a, r in zip(case.names, got, ref, strict=True):
        if check_dtype and np.asarray(a).dtype != np.dtype(dtype):
            return False, f"{name} {label} has dtype {np.asarray(a).dtype}, expected {dtype}"
        if np.shape(a) != np.shape(r):
            return False, f"{name} {label} has shape {np.shape(a)}, expected {np.shape(r)}"
        err = scale_error(a, r)
        if not err <= worst:  # also catches NaN
            worst, worst_name = err, label
    ok = worst <= tol
    return ok, f"{name} worst {worst_name or '-'} error {worst:.1e} (tol {tol:.0e})"


def flat_result(res: Any) -> list[Any]:
    out, grads = res
    return [out, *_as_tuple(grads)]


# --- the run -------------------------------------------------------------------------------------


def run_row(op: str, dtype: np.dtype, args: argparse.Namespace, torch: Any,
            settings: timing.Settings) -> dict[str, Any]:
    case = make_case(op, dtype, args.seed)
    row: dict[str, Any] = {"op": op, "shape": case.shape, "dtype": np.dtype(dtype).name,
                           "bar": case.bar if torch is not None else None}
    try:
        mod = importlib.import_module(case.module) if case.readable else fastest(case.module)
    except Exception as exc:  # a module not written yet, or broken
        row["status"] = f"skipped: {case.module} not importable ({type(exc).__name__}: {exc})"
        return row
    row["module"] = mod.__name__
    peers: dict[str, Callable[[], Any]] = {}
    hg = numpy_runner(mod, case)
    tb = numpy_runner(textbook.OPS[op], case) if not args.no_textbook else None

    try:
        hg_res = flat_result(numpy_runner(mod, case, fresh=True)())
    except Exception as exc:
        row["status"] = f"error: handgrad raised {type(exc).__name__}: {exc}"
        return row

    checks = []
    if torch is not None:
        t_run, t_convert = case.torch_setup(torch)
        ref = t_convert(t_run())
        ref_name = "torch"
    else:
        ref = flat_result(numpy_runner(textbook.OPS[op], case, fresh=True)())
        ref_name = "textbook"
    ok, msg = verify("handgrad", case, hg_res, ref, dtype, check_dtype=True)
    checks.append(msg)
    if not ok:
        row["status"] = f"MISMATCH vs {ref_name}: {msg}"
        return row
    peers["handgrad"] = hg
    if torch is not None:
        peers["torch"] = t_run
    if tb is not None:
        tb_ok, tb_msg = verify("textbook", case, flat_result(
            numpy_runner(textbook.OPS[op], case, fresh=True)()), ref, dtype, check_dtype=False)
        checks.append(tb_msg)
        if tb_ok:
            peers["textbook"] = tb
        else:
            row["textbook_status"] = f"mismatch, not timed: {tb_msg}"
    row["verify"] = "; ".join(checks)

    m = timing.measure(peers, settings)
    stats = m.stats
    row["status"] = "ok"
    row["attempts"] = m.attempts
    row["spread"] = m.spread
    row["others_busy"] = m.others_busy
    row["waited_s"] = m.waited_s
    row["clean"] = m.clean(settings)
    for name, s in stats.items():
        row[f"{name}_ms"] = s.median_ms
        row[f"{name}_spread"] = s.spread
        row[f"{name}_reps"] = s.reps
    if "torch" in stats:
        row["ratio_torch"] = stats["handgrad"].median_ms / stats["torch"].median_ms
        row["verdict"] = "ok" if row["ratio_torch"] <= case.bar else "MISS"
    if "textbook" in stats:
        row["ratio_textbook"] = stats["handgrad"].median_ms / stats["textbook"].median_ms
    return row


COLUMNS = ("op", "shape", "dtype", "handgrad ms", "torch ms", "hg/torch", "textbook ms",
           "hg/textbook", "spread", "busy", "bar", "verdict")
WIDTHS = (10, 18, 7, 11, 9, 8, 11, 11, 8, 5, 5, 7)


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_row(row: dict[str, Any]) -> str:
    head = [row["op"], row["shape"], row["dtype"]]
    if row.get("status") != "ok":
        return "  ".join(f"{c:<{w}}" for c, w in zip(head, WIDTHS, strict=False)) \
            + "  " + row["status"]
    spread = _fmt(row.get("spread"), ".0%")
    if row.get("attempts", 1) > 1:
        spread += f" r{row['attempts'] - 1}"
    if not row.get("clean", True):
        spread += "!"
    cells = head + [
        _fmt(row.get("handgrad_ms"), ".3f"), _fmt(row.get("torch_ms"), ".3f"),
        _fmt(row.get("ratio_torch"), ".2f"), _fmt(row.get("textbook_ms"), ".3f"),
        _fmt(row.get("ratio_textbook"), ".2f"), spread, _fmt(row.get("others_busy"), ".0%"),
        _fmt(row.get("bar"), ".1f"), row.get("verdict", "-"),
    ]
    left = {0, 1, 2, 11}
    return "  ".join(f"{c:<{w}}" if i in left else f"{c:>{w}}"
                     for i, (c, w) in enumerate(zip(cells, WIDTHS, strict=True)))


def header() -> str:
    left = {0, 1, 2, 11}
    line = "  ".join(f"{c:<{w}}" if i in left else f"{c:>{w}}"
                     for i, (c, w) in enumerate(zip(COLUMNS, WIDTHS, strict=True)))
    return line + "\n" + "-" * len(line)


def load_torch(args: argparse.Namespace, threads: int) -> tuple[Any, str]:
    if args.no_torch:
        return None, "PyTorch disabled (--no-torch): handgrad verified against the textbook version"
    try:
        import torch
    except ImportError:
        return None, ("PyTorch is not installed: timing handgrad (and the textbook version) only; "
                      "handgrad verified against the textbook version")
    torch.set_num_threads(threads)
    return torch, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ops", nargs="+", choices=OPS, default=list(OPS), metavar="NAME",
                   help=f"ops to time (default: all of {', '.join(OPS)})")
    p.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    p.add_argument("--quick", action="store_true", help="fewer reps and one round: rough figures")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--no-torch", action="store_true", help="do not import PyTorch")
    p.add_argument("--no-textbook", action="store_true", help="skip the textbook NumPy column")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS",
                   help="before each attempt, wait up to this long for other processes to leave "
                        "the CPUs idle (default 60, 10 with --quick; 0: do not wait)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = timing.Settings.quick() if args.quick else timing.Settings()
    if args.wait is not None:
        settings = dataclasses.replace(settings, wait_quiet_s=max(args.wait, 0.0))
    threads = timing.numpy_blas_threads()
    torch, torch_msg = load_torch(args, threads)
    info = timing.machine_info()
    print(f"numpy {info['numpy']} ({threads} BLAS threads), python {info['python']}, "
          f"{info['cpu_count']} x {info['cpu']}; {torch_msg}")
    warning = timing.load_warning(info)
    if warning:
        print(warning)
    print(f"median of forward+backward; {settings.rounds} alternating round(s) of ~"
          f"{settings.block_s:g} s per peer, >= {settings.min_reps} reps, {settings.idle_s:g} s "
          f"idle after every block; spread = (p75-p25)/median, worst peer; busy = share of the "
          f"CPUs other processes used meanwhile; rN = re-measured N times; ! = still noisy or "
          f"busy (figures unreliable)\n")
    dtypes = [np.float32, np.float64] if args.dtype == "both" else [np.dtype(args.dtype).type]
    rows = []
    print(header(), flush=True)
    for op in args.ops:
        for dtype in dtypes:
            row = run_row(op, np.dtype(dtype), args, torch, settings)
            rows.append(row)
            print(format_row(row), flush=True)
    misses = [r for r in rows if r.get("verdict") == "MISS"]
    unreliable = [r for r in rows if r.get("status") == "ok" and not r.get("clean", True)]
    bad = [r for r in rows if r.get("status") != "ok"]
    print()
    for r in rows:
        if "textbook_status" in r:
            print(f"note: {r['op']} {r['dtype']} textbook {r['textbook_status']}")
    if torch is not None:
        print(f"bars: affine and rnn <= {MATRIX_BAR}x torch, conv <= {image_cases.CONV_BAR}x, "
              f"lstm <= {sequence_cases.LSTM_BAR}x, attention <= {sequence_cases.ATTENTION_BAR}x, "
              f"the rest <= {MEMORY_BAR}x; "
              f"{len(misses)} MISS, {len(bad)} row(s) not timed")
        for r in misses:
            print(f"  MISS {r['op']} {r['dtype']}: {r['ratio_torch']:.2f}x torch "
                  f"(bar {r['bar']}x)")
    if unreliable:
        print(f"{len(unreliable)} row(s) marked ! were measured while the machine was busy or "
              f"noisy: run them again (--ops ...) on a quiet machine before quoting them")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "torch": torch_msg, "settings": vars(settings),
                       "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, f, indent=2)
        print(f"wrote {args.json}")
    return 1 if any(r["status"].startswith(("MISMATCH", "error")) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
