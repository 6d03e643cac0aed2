"""Tuned 2-D convolution: the twin of :mod:`handgrad.layers.conv`, with the identical contract.

``forward(x, w, b, stride=1, pad=0)`` and ``backward(dout, cache)`` take and return what the
readable layer does (same shapes, dtypes, values to rounding, and errors); see its docstring
for the math. The differences are all in how the work is laid out:

- **Channel-major columns.** The im2col matrix is ``cols`` of shape (K + 1, N * L): one row per
  (channel, filter row, filter column), one column per output pixel of every example, so the
  forward pass, dw and dcols are each one large matrix product (no per-example products),
  with operands that BLAS reads contiguously.
- **The bias inside the product.** Row K of ``cols`` is all ones and column K of the weight
  matrix is b, so ``out = [w | b] @ cols`` needs no separate pass to add b, and db comes out
  of the dw product as its last column.
- **Wide rows for stride 1.** The padded image of every (channel, example) is stored as one
  flat row of ``Hp * Wp`` values (plus a little zero slack). For stride 1, output row i read
  at filter offset (a, e) is then the contiguous run starting at ``(i + a) * Wp + e``, so
  every output pixel is computed on a grid ``Wp`` wide instead of ``Wo``: ``WW - 1`` extra
  columns per row, which forward drops and backward feeds with zero gradient. im2col and
  col2im become HH * WW copies/adds of long contiguous runs per channel instead of short rows.
  Other strides use the exact (N, Ho, Wo) grid and strided slices.
- **Threads for the memory-bound passes.** Padding, im2col and col2im run over blocks of
  channels on the thread pool of :mod:`handgrad._blocks` (NumPy releases the GIL in copies and
  adds); the matrix products use BLAS's own threads.
- **Views out.** ``out`` and ``dx`` are NCHW views of channel-major buffers (strides, not
  copies); every NumPy operation accepts them, ``np.ascontiguousarray`` makes a copy.

col2im as adds (the scatter) was measured against computing dx as a convolution of the padded
dout with the flipped filters: the flipped convolution builds a column matrix F * HH * WW rows
tall from dout, 4-10 times more memory traffic at the shapes of a small convnet, and lost
(benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handgrad import _validation as check
from handgrad._blocks import blockwise


@dataclass(frozen=True)
class Geometry:
    """Sizes of one convolution call, and the layout of its buffers."""

    n: int
    c: int
    h: int
    w: int
    f: int
    hh: int
    ww: int
    sh: int
    sw: int
    ph: int
    pw: int
    out_h: int
    out_w: int

    @property
    def hp(self) -> int:
        return self.h + 2 * self.ph

    @property
    def wp(self) -> int:
        return self.w + 2 * self.pw

    @property
    def wide(self) -> bool:
        """Stride 1: output rows are computed ``Wp`` wide, as runs of the flat padded image."""
        return self.sh == 1 and self.sw == 1

    @property
    def row(self) -> int:
        """Columns per output row in ``cols``: ``Wp`` on the wide grid, else ``Wo``."""
        return self.wp if self.wide else self.out_w

    @property
    def pixels(self) -> int:
        """Columns of ``cols`` per example."""
        return self.out_h * self.row

    @property
    def plane(self) -> int:
        """Values per (channel, example) in the flat padded buffers: the image and, on the
        wide grid, ``WW`` zeros that the last row's runs may read past its end."""
        return self.hp * self.wp + (self.ww if self.wide else 0)

    @property
    def k(self) -> int:
        return self.c * self.hh * self.ww


# (cols, wm, geometry): the columns (K + 1, N * L), the weights with the bias as last column
# (F, K + 1), and the sizes.
Cache = tuple[np.ndarray, np.ndarray, Geometry]


def _padded_image(flat: np.ndarray, g: Geometry) -> np.ndarray:
    """The (channels, N, Hp, Wp) image view of a block of flat padded buffers."""
    return flat[:, :, :g.hp * g.wp].reshape(flat.shape[0], g.n, g.hp, g.wp)


def _offsets(g: Geometry):
    """(k, a, e) for every position (a, e) inside the filter, k = a * WW + e."""
    for a in range(g.hh):
        for e in range(g.ww):
            yield a * g.ww + e, a, e


def _gather(g: Geometry):
    """im2col kernel over a block of channels: pad x into ``flat``, copy windows into cols."""
    def kernel(cols: np.ndarray, x_cnhw: np.ndarray, flat: np.ndarray) -> None:
        flat.fill(0)
        image = _padded_image(flat, g)
        image[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w] = x_cnhw
        blocks = cols.shape[0]
        for k, a, e in _offsets(g):
            dst = cols[:, k].reshape(blocks, g.n, g.out_h, g.row)
            if g.wide:
                start = a * g.wp + e
                run = flat[:, :, start:start + g.pixels]
                dst.reshape(blocks, g.n, g.pixels)[...] = run
            else:
                dst[...] = image[:, :, a:a + g.sh * g.out_h:g.sh, e:e + g.sw * g.out_w:g.sw]
    return kernel


def _scatter(g: Geometry):
    """col2im kernel over a block of channels: add the columns of dcols back into ``flat``."""
    def kernel(dcols: np.ndarray, flat: np.ndarray) -> None:
        flat.fill(0)
        image = _padded_image(flat, g)
        blocks = dcols.shape[0]
        for k, a, e in _offsets(g):
            src = dcols[:, k].reshape(blocks, g.n, g.out_h, g.row)
            if g.wide:
                start = a * g.wp + e
                flat[:, :, start:start + g.pixels] += src.reshape(blocks, g.n, g.pixels)
            else:
                image[:, :, a:a + g.sh * g.out_h:g.sh, e:e + g.sw * g.out_w:g.sw] += src
    return kernel


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int | tuple[int, int] = 1,
            pad: int | tuple[int, int] = 0) -> tuple[np.ndarray, Cache]:
    """Convolve x (N, C, H, W) with w (F, C, HH, WW) and add b (F,); returns ``(out, cache)``
    with out of shape (N, F, Ho, Wo), in x's dtype (an NCHW view of an (F, N, ...) buffer)."""
    (sh, sw), (ph, pw), (out_h, out_w) = check.conv_arguments(
        "conv.forward", x, w, b, stride, pad)
    g = Geometry(*x.shape, *w.shape[:1], *w.shape[2:], sh, sw, ph, pw, out_h, out_w)
    cols = np.empty((g.k + 1, g.n * g.pixels), dtype=x.dtype)
    cols[g.k] = 1                                   # the bias row
    flat = np.empty((g.c, g.n, g.plane), dtype=x.dtype)
    blockwise(_gather(g), cols[:g.k].reshape(g.c, g.hh * g.ww, -1), x.transpose(1, 0, 2, 3),
              flat)
    wm = np.concatenate([w.reshape(g.f, g.k), b[:, None]], axis=1)
    out = (wm @ cols).reshape(g.f, g.n, g.out_h, g.row)
    return out[:, :, :, :g.out_w].transpose(1, 0, 2, 3), (cols, wm, g)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dw, db)`` for an upstream gradient ``dout`` of shape (N, F, Ho, Wo); dx is
    an NCHW view of a (C, N, ...) buffer."""
    op = "conv.backward"
    cols, wm, g = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, (g.n, g.f, g.out_h, g.out_w), "to match the forward output")
    check.same_dtype(op, x=cols, dout=dout)
    # dout on the grid of cols, filters first and filters last (each product reads its own
    # layout contiguously); the extra columns of the wide grid get zeros.
    grid = np.empty((g.f, g.n, g.out_h, g.row), dtype=dout.dtype)
    grid[:, :, :, :g.out_w] = dout.transpose(1, 0, 2, 3)
    grid[:, :, :, g.out_w:] = 0
    grid_t = np.empty((g.n, g.out_h, g.row, g.f), dtype=dout.dtype)
    grid_t[:, :, :g.out_w] = dout.transpose(0, 2, 3, 1)
    grid_t[:, :, g.out_w:] = 0
    grid = grid.reshape(g.f, -1)
    dwm = cols @ grid_t.reshape(-1, g.f)            # (K + 1, F): dw transposed and, last, db
    dw = np.ascontiguousarray(dwm[:g.k].T).reshape(g.f, g.c, g.hh, g.ww)
    db = dwm[g.k].copy()
    dcols = np.ascontiguousarray(wm[:, :g.k].T) @ grid           # (K, N * L)
    flat = np.empty((g.c, g.n, g.plane), dtype=dout.dtype)
    blockwise(_scatter(g), dcols.reshape(g.c, g.hh * g.ww, -1), flat)
    dx = _padded_image(flat, g)[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w]
    return dx.transpose(1, 0, 2, 3), dw, db
