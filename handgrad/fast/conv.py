"""Tuned 2-D convolution: the twin of :mod:`handgrad.layers.conv`, with the identical contract.

``forward(x, w, b, stride=1, pad=0)`` and ``backward(dout, cache)`` take and return what the
readable layer does (same shapes, dtypes, values to rounding, and errors); see its docstring
for the math. The readable layer computes the convolution as matrix products over an im2col
matrix; the twin picks, per call, one of three layouts (K = C*HH*WW rows per output pixel,
F filters):

- **Winograd** for 3x3 filters at stride 1 with at least WINOGRAD_MIN_CHANNELS channels and
  filters (the inner layers of a convnet): Winograd's F(2x2, 3x3) algorithm
  (:mod:`handgrad.fast._winograd`), 16 products with inner size C instead of one with 9C,
  2.25x fewer multiplications than im2col, and no im2col matrix (the cache holds the
  transformed input, 16 values per channel and 2x2 output tile where im2col keeps 36). The
  batch is cut into one slice per thread (:mod:`handgrad.fast._parts`), each running its
  examples start to end with BLAS on one thread; dx is written in NCHW, dw summed over the
  slices in slice order.
- **Channel-major** when K >= F (every layer after the first in a small convnet): ``cols``
  (K + 1, N*Ho*Wo), with x copied once to channel-major order (C, N, Hp, Wp) while it is
  padded. The forward pass, dw and dcols are then one large matrix product each, instead of
  N small ones, which is what the readable layer's per-example products cost most on these
  shapes; dout is copied once to (F, N*Ho*Wo). col2im adds into a channel-major buffer.
- **Per example** when K < F (a first layer on RGB images): ``cols`` (N, K + 1, Ho*Wo), the
  readable layer's layout, with batched products that read x and dout and write out in NCHW
  directly; here dout is the larger matrix, and copying it to another layout would cost more
  than the products gain.

In the two im2col layouts, row K of ``cols`` is all ones and column K of the weight matrix is
b, so the bias needs no pass of its own and db comes out of the dw product. In the
channel-major layout ``out`` and ``dx`` are NCHW views of (F, N, ...) and (C, N, ...) buffers
(strides, not copies); every NumPy operation accepts them, and ``np.ascontiguousarray`` makes a
copy.

The options measured (benchmarks/README.md): channel-last columns (the textbook layout, which
needs two layout copies and a separate pass for the bias); a "wide" and a "tall" layout that
turn im2col and col2im into long contiguous runs at stride 1 by computing on the padded grid,
which cost more in the larger products than they saved in the copies; dx as a convolution of
the padded dout with the flipped filters instead of col2im, which builds a column matrix
F*HH*WW rows tall from dout and lost in every case; and threads for the copies, which were
slower on two cores shared with BLAS's threads. In the Winograd layout threads do pay: each
runs whole slices of the batch, so no BLAS thread waits or spins between the passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from handgrad import _validation as check
from handgrad.fast import _winograd
from handgrad.fast._parts import batch_slices, map_slices


@dataclass(frozen=True)
class Geometry:
    """Sizes of one convolution call."""

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
    def k(self) -> int:
        return self.c * self.hh * self.ww

    @property
    def channel_major(self) -> bool:
        """Use the channel-major layout (see the module docstring)."""
        return self.k >= self.f

    @property
    def winograd(self) -> bool:
        """Use Winograd F(2x2, 3x3) (see the module docstring)."""
        return ((self.hh, self.ww, self.sh, self.sw) == (3, 3, 1, 1)
                and min(self.c, self.f) >= WINOGRAD_MIN_CHANNELS)

    def tiles(self) -> _winograd.Tiles:
        return _winograd.Tiles(self.c, self.h, self.w, self.f, self.ph, self.pw,
                               self.out_h, self.out_w)


# Winograd's products have C (forward, dw) and F (dx) as their inner size: with fewer channels
# or filters than this they run far below BLAS's speed, and im2col wins.
WINOGRAD_MIN_CHANNELS = 16
# Examples per thread at least in the Winograd layout (one slice of the batch per thread).
MIN_SLICE = 4


@dataclass(frozen=True)
class WinogradParts:
    """The slices of the batch computed on separate threads and the cache of each."""

    slices: list[slice]
    parts: list[_winograd.Part]


# (layout, data, weights, geometry): "channel-major", "per-example" or "winograd"; the columns
# (im2col) or the slices' transformed inputs (Winograd); the weights with the bias as last
# column (F, K + 1), or the transformed filters (16, F, C); and the sizes.
Cache = tuple[str, np.ndarray | WinogradParts, np.ndarray, Geometry]
Grads = tuple[np.ndarray, np.ndarray, np.ndarray]


def _weights(w: np.ndarray, b: np.ndarray, g: Geometry) -> np.ndarray:
    return np.concatenate([w.reshape(g.f, g.k), b[:, None]], axis=1)


# --- channel-major layout ------------------------------------------------------------------

def _window_views(image: np.ndarray, g: Geometry) -> np.ndarray:
    """Filter offset (a, e) of every output pixel of a (C, N, Hp, Wp) image, as a view
    (C, HH, WW, N, Ho, Wo)."""
    windows = sliding_window_view(image, (g.hh, g.ww), axis=(2, 3))[:, :, ::g.sh, ::g.sw]
    return windows.transpose(0, 4, 5, 1, 2, 3)


def _channel_forward(x: np.ndarray, wm: np.ndarray, g: Geometry
                     ) -> tuple[np.ndarray, np.ndarray]:
    xp = np.zeros((g.c, g.n, g.hp, g.wp), dtype=x.dtype)
    xp[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w] = x.transpose(1, 0, 2, 3)
    cols = np.empty((g.k + 1, g.n * g.out_h * g.out_w), dtype=x.dtype)
    cols[g.k] = 1                                   # the bias row
    np.copyto(cols[:g.k].reshape(g.c, g.hh, g.ww, g.n, g.out_h, g.out_w), _window_views(xp, g))
    out = (wm @ cols).reshape(g.f, g.n, g.out_h, g.out_w)
    return out.transpose(1, 0, 2, 3), cols


def _channel_backward(dout: np.ndarray, cols: np.ndarray, wm: np.ndarray, g: Geometry) -> Grads:
    d2 = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(g.f, -1)   # (F, N*Ho*Wo)
    dwm = d2 @ cols.T                               # (F, K + 1): dw, then db
    dcols = np.ascontiguousarray(wm[:, :g.k].T) @ d2                         # (K, N*Ho*Wo)
    dcols = dcols.reshape(g.c, g.hh, g.ww, g.n, g.out_h, g.out_w)
    dxp = np.zeros((g.c, g.n, g.hp, g.wp), dtype=dout.dtype)
    for a in range(g.hh):
        for e in range(g.ww):
            dxp[:, :, a:a + g.sh * g.out_h:g.sh, e:e + g.sw * g.out_w:g.sw] += dcols[:, a, e]
    dx = dxp[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w].transpose(1, 0, 2, 3)
    return dx, np.ascontiguousarray(dwm[:, :g.k]), dwm[:, g.k].copy()


# --- per-example layout ---------------------------------------------------------------------

def _example_forward(x: np.ndarray, wm: np.ndarray, g: Geometry
                     ) -> tuple[np.ndarray, np.ndarray]:
    xp = np.zeros((g.n, g.c, g.hp, g.wp), dtype=x.dtype)
    xp[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w] = x
    windows = sliding_window_view(xp, (g.hh, g.ww), axis=(2, 3))[:, :, ::g.sh, ::g.sw]
    cols = np.empty((g.n, g.k + 1, g.out_h * g.out_w), dtype=x.dtype)
    cols[:, g.k] = 1                                # the bias row
    np.copyto(cols[:, :g.k].reshape(g.n, g.c, g.hh, g.ww, g.out_h, g.out_w),
              windows.transpose(0, 1, 4, 5, 2, 3))
    out = wm @ cols                                 # (N, F, Ho*Wo)
    return out.reshape(g.n, g.f, g.out_h, g.out_w), cols


def _example_backward(dout: np.ndarray, cols: np.ndarray, wm: np.ndarray, g: Geometry) -> Grads:
    d3 = dout.reshape(g.n, g.f, g.out_h * g.out_w)
    dwm = (d3 @ cols.transpose(0, 2, 1)).sum(axis=0)                  # (F, K + 1)
    dcols = np.ascontiguousarray(wm[:, :g.k].T) @ d3                  # (N, K, Ho*Wo)
    dcols = dcols.reshape(g.n, g.c, g.hh, g.ww, g.out_h, g.out_w)
    dxp = np.zeros((g.n, g.c, g.hp, g.wp), dtype=dout.dtype)
    for a in range(g.hh):
        for e in range(g.ww):
            dxp[:, :, a:a + g.sh * g.out_h:g.sh, e:e + g.sw * g.out_w:g.sw] += dcols[:, :, a, e]
    dx = dxp[:, :, g.ph:g.ph + g.h, g.pw:g.pw + g.w]
    return dx, np.ascontiguousarray(dwm[:, :g.k]), dwm[:, g.k].copy()


# --- Winograd layout -----------------------------------------------------------------------

def _winograd_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, g: Geometry
                      ) -> tuple[np.ndarray, WinogradParts, np.ndarray]:
    t = g.tiles()
    u = _winograd.filters(w)
    out = np.empty((g.n, g.f, g.out_h, g.out_w), dtype=x.dtype)
    slices = batch_slices(g.n, MIN_SLICE)
    parts = map_slices(lambda s: _winograd.forward_part(x[s], u, b, out[s], t), slices)
    return out, WinogradParts(slices, parts), u


def _winograd_backward(dout: np.ndarray, data: WinogradParts, u: np.ndarray, g: Geometry
                       ) -> Grads:
    t = g.tiles()
    u_t = np.ascontiguousarray(u.transpose(0, 2, 1))
    dx = np.empty((g.n, g.c, g.h, g.w), dtype=dout.dtype)

    def run(s: slice) -> tuple[np.ndarray, np.ndarray]:
        part = data.parts[data.slices.index(s)]
        du = _winograd.backward_part(dout[s], part, u_t, dx[s], t)
        return du, dout[s].sum(axis=(0, 2, 3))

    per_slice = map_slices(run, data.slices)
    du, db = per_slice[0]
    for more in per_slice[1:]:                      # sums over the batch, in slice order
        du, db = du + more[0], db + more[1]
    return dx, _winograd.filter_gradient(du), db


# --- the op ---------------------------------------------------------------------------------

def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int | tuple[int, int] = 1,
            pad: int | tuple[int, int] = 0) -> tuple[np.ndarray, Cache]:
    """Convolve x (N, C, H, W) with w (F, C, HH, WW) and add b (F,); returns ``(out, cache)``
    with out of shape (N, F, Ho, Wo), in x's dtype."""
    (sh, sw), (ph, pw), (out_h, out_w) = check.conv_arguments(
        "conv.forward", x, w, b, stride, pad)
    (n, c, h, width), (f, _, hh, ww) = x.shape, w.shape
    g = Geometry(n, c, h, width, f, hh, ww, sh, sw, ph, pw, out_h, out_w)
    if g.winograd:
        out, data, u = _winograd_forward(x, w, b, g)
        return out, ("winograd", data, u, g)
    wm = _weights(w, b, g)
    if g.channel_major:
        out, cols = _channel_forward(x, wm, g)
        return out, ("channel-major", cols, wm, g)
    out, cols = _example_forward(x, wm, g)
    return out, ("per-example", cols, wm, g)


def backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dw, db)`` for an upstream gradient ``dout`` of shape (N, F, Ho, Wo)."""
    op = "conv.backward"
    layout, data, wm, g = cache
    check.float_array(op, "dout", dout)
    check.shape_is(op, "dout", dout, (g.n, g.f, g.out_h, g.out_w), "to match the forward output")
    check.same_dtype(op, x=wm, dout=dout)           # wm has x's dtype
    if isinstance(data, WinogradParts):
        dx, dw, db = _winograd_backward(dout, data, wm, g)
    elif layout == "channel-major":
        dx, dw, db = _channel_backward(dout, data, wm, g)
    else:
        dx, dw, db = _example_backward(dout, data, wm, g)
    return dx, dw.reshape(g.f, g.c, g.hh, g.ww), db
