"""Scratch timing of the elementwise layers and losses vs torch (same process, 0.3 s idle)."""
import sys
import time

import numpy as np
import torch

from handgrad.layers import relu, sigmoid, tanh
from handgrad.losses import huber, mse, softmax_cross_entropy as sce

torch.set_num_threads(2)
F = torch.nn.functional


def quiet(max_busy=0.15, timeout=120):
    """Wait until the CPUs are mostly idle (other processes skew the timings)."""
    t_end = time.time() + timeout
    while time.time() < t_end:
        with open("/proc/stat") as f:
            a = [int(v) for v in f.readline().split()[1:]]
        time.sleep(0.5)
        with open("/proc/stat") as f:
            b = [int(v) for v in f.readline().split()[1:]]
        d = [y - x for x, y in zip(a, b)]
        busy = 1 - (d[3] + d[4]) / max(sum(d), 1)
        if busy < max_busy:
            return busy
    return busy


def tm(fn, budget=0.4):
    for _ in range(3):
        fn()
    ts = []
    t0 = time.perf_counter()
    while len(ts) < 5 or time.perf_counter() - t0 < budget:
        a = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - a)
    time.sleep(0.3)
    return np.percentile(ts, 10) * 1e3


def cases(dt, rng):
    x = (rng.standard_normal((256, 4096)) * 2).astype(dt)
    d = rng.standard_normal((256, 4096)).astype(dt)
    for name, mod, tf in (("relu", relu, torch.relu), ("sigmoid", sigmoid, torch.sigmoid),
                          ("tanh", tanh, torch.tanh)):
        tx, td = torch.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(d)

        def hg(mod=mod):
            out, c = mod.forward(x)
            return out, mod.backward(d, c)

        def th(tf=tf, tx=tx, td=td):
            out = tf(tx)
            return out, torch.autograd.grad(out, (tx,), td)
        yield name, hg, th
    s = (rng.standard_normal((256, 1000)) * 2).astype(dt)
    y = rng.integers(0, 1000, 256)
    ts, ty = torch.from_numpy(s.copy()).requires_grad_(), torch.from_numpy(y)

    def hg_ce():
        loss, c = sce.forward(s, y)
        return loss, sce.backward(1.0, c)

    def th_ce():
        loss = F.cross_entropy(ts, ty)
        return loss, torch.autograd.grad(loss, (ts,))
    yield "softmax_ce", hg_ce, th_ce
    p = (rng.standard_normal((256, 1000)) * 2).astype(dt)
    t = rng.standard_normal((256, 1000)).astype(dt)
    tp, tt = torch.from_numpy(p.copy()).requires_grad_(), torch.from_numpy(t.copy()).requires_grad_()
    for name, mod, tf in (("huber", huber, F.huber_loss), ("mse", mse, F.mse_loss)):
        def hg(mod=mod):
            loss, c = mod.forward(p, t)
            return loss, mod.backward(1.0, c)

        def th(tf=tf):
            loss = tf(tp, tt)
            return loss, torch.autograd.grad(loss, (tp, tt))
        yield name, hg, th


def flat(res):
    out, g = res
    g = g if isinstance(g, tuple) else (g,)
    return [np.asarray(out.detach() if torch.is_tensor(out) else out)] + \
        [np.asarray(a.detach() if torch.is_tensor(a) else a) for a in g]


def main():
    only = sys.argv[1:]
    rounds = 3
    for dt in (np.float64, np.float32):
        for name, hg, th in cases(dt, np.random.default_rng(0)):
            if only and name not in only:
                continue
            a, b = flat(hg()), flat(th())
            err = max(float(np.max(np.abs(u.astype(np.float64) - v)) / np.max(np.abs(v)))
                      for u, v in zip(a, b, strict=True))
            dts = {str(u.dtype) for u in a}
            th_ms, hg_ms = [], []
            busy = quiet()
            for _ in range(rounds):
                th_ms.append(tm(th))
                hg_ms.append(tm(hg))
            t_, h_ = np.median(th_ms), np.median(hg_ms)
            print(f"{name:11s} {dt.__name__:8s} torch {t_:7.3f} ms  hg {h_:7.3f} ms  "
                  f"ratio {h_ / t_:5.2f}  err {err:.1e} {dts} busy {busy:.2f} "
                  f"[t {' '.join(f'{v:.2f}' for v in th_ms)} | h {' '.join(f'{v:.2f}' for v in hg_ms)}]",
                  flush=True)


if __name__ == "__main__":
    main()
