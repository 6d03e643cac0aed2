"""The image ops' rows of bench_ops.py: convolution and pooling at the shapes of a small convnet.

``build(op, dtype, rng)`` returns the fields of a ``bench_ops.Case`` (all but the op name).
The ``conv_*`` rows time the twin of ``handgrad.layers.conv`` (``handgrad.fast.conv``, what
``handgrad.fast.fastest`` gives the models), the ``im2col_*`` rows for comparison the readable
``handgrad.layers.conv`` itself; the PyTorch peer is ``F.conv2d`` (``F.max_pool2d``,
``F.avg_pool2d``) with autograd, and the textbook peer the im2col convolution and reshape
pooling of textbook.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CONV_BAR = 2.0   # conv forward+backward within 2x of F.conv2d
POOL_BAR = 2.5

# op name -> (readable module, (N, C, H, W), filters or None for pooling); the rows named in
# READABLE time that module itself, the others its twin where it has one
SHAPES = {
    "conv_c3": ("handgrad.layers.conv", (64, 3, 32, 32), 32),
    "conv_c32": ("handgrad.layers.conv", (64, 32, 16, 16), 64),
    "im2col_c3": ("handgrad.layers.conv", (64, 3, 32, 32), 32),
    "im2col_c32": ("handgrad.layers.conv", (64, 32, 16, 16), 64),
    "maxpool": ("handgrad.layers.maxpool", (64, 32, 32, 32), None),
    "avgpool": ("handgrad.layers.avgpool", (64, 32, 32, 32), None),
}
READABLE = ("im2col_c3", "im2col_c32")
OPS = tuple(SHAPES)


def _leaf(torch: Any, arr: np.ndarray) -> Any:
    return torch.from_numpy(np.array(arr, copy=True)).requires_grad_(True)


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy()


def build(op: str, dtype: np.dtype, rng: np.random.Generator) -> dict[str, Any]:
    module, (n, c, h, w), filters = SHAPES[op]
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    shape = "x".join(map(str, (n, c, h, w)))
    if filters is None:
        dout = rng.standard_normal((n, c, h // 2, w // 2)).astype(dtype)
        name = op

        def pool_setup(torch: Any):
            fn = getattr(torch.nn.functional, "max_pool2d" if name == "maxpool" else "avg_pool2d")
            xt, dt = _leaf(torch, x), torch.from_numpy(dout.copy())

            def run():
                out = fn(xt, 2, 2)
                return out, torch.autograd.grad(out, (xt,), dt)

            def convert(res):
                out, (dx,) = res
                return [_np(out), _np(dx)]

            return run, convert

        return dict(module=module, readable=op in READABLE, shape=f"{shape} 2x2", bar=POOL_BAR,
                    args=(x,), kwargs={"size": 2, "stride": 2}, dout=dout, names=("out", "dx"),
                    torch_setup=pool_setup)

    wt = (rng.standard_normal((filters, c, 3, 3)) / np.sqrt(9 * c)).astype(dtype)
    b = (0.1 * rng.standard_normal(filters)).astype(dtype)
    dout = rng.standard_normal((n, filters, h, w)).astype(dtype)

    def conv_setup(torch: Any):
        xt, wtt, bt = _leaf(torch, x), _leaf(torch, wt), _leaf(torch, b)
        dt = torch.from_numpy(dout.copy())

        def run():
            out = torch.nn.functional.conv2d(xt, wtt, bt, padding=1)
            return out, torch.autograd.grad(out, (xt, wtt, bt), dt)

        def convert(res):
            out, grads = res
            return [_np(out)] + [_np(g) for g in grads]

        return run, convert

    return dict(module=module, readable=op in READABLE, shape=f"{shape} F{filters}",
                bar=CONV_BAR, args=(x, wt, b), kwargs={"pad": 1}, dout=dout,
                names=("out", "dx", "dw", "db"),
                torch_setup=conv_setup)
