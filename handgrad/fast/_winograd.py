"""Winograd F(2x2, 3x3): a 3x3, stride-1 convolution with 2.25x fewer multiplications.

The output is cut into tiles of 2x2 pixels; tile (ty, tx) reads the 4x4 patch ``d`` of the
padded input at rows 2ty .. 2ty+3 and columns 2tx .. 2tx+3. With the constant matrices

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]      (4, 4)
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]        (4, 3)
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]                                   (2, 4)

the tile of one filter g (3, 3) on one channel is exactly ``A^T [(G g G^T) * (B^T d B)] A``
(``*`` elementwise), and a sum over channels stays inside the brackets. So with the 16
entries of the 4x4 transforms as a leading axis k:

    U[k] = (G w G^T)[k]     (F, C)       the filters, transformed once per call
    V[k] = (B^T d B)[k]     (C, tiles)   the input patches
    M[k] = U[k] @ V[k]      (F, tiles)   16 products with inner size C instead of 9C
    out tile = A^T M A      (F, tiles, 2, 2), plus b

Backward is the exact gradient of these steps: ``dM = A dout_tile A^T``, then
``dU[k] = dM[k] @ V[k].T`` (summed over the tiles, and dw = G^T dU G) and
``dV[k] = U[k].T @ dM[k]``, whose patches ``B dV B^T`` are added back where they were read
(patches of neighbouring tiles overlap by two rows or columns). The results equal the
im2col convolution's to rounding: the transforms only add, subtract and halve, and the values
stay of the size of the inputs' (measured: max relative difference about 1e-6 in float32).

Layout, chosen so that every NumPy call runs over long contiguous runs:

- x is split by the parity of row and column into four planes per channel and example
  (``xq[c, n, pr, pc, Y, X] = xp[c, n, 2Y + pr, 2X + pc]``, xp padded), flattened over
  (Y, X). Entry (a, e) of the patch of tile (ty, tx) is then plane (a % 2, e % 2) at
  (ty + a // 2, tx + e // 2), so each row and column step of ``B^T d B`` is a shift of a
  whole flattened plane by one plane row or one element: 8 + 16 subtractions and additions
  of contiguous slices, instead of 16 gathers of stride-2 runs of a few elements.
- The tiles of a row are computed one past the last (tx = tw, "wide" rows) so that the
  flattened shifts stay in step; that column of tiles is computed and dropped (1/tw extra
  work in the products).
- The batch is processed in blocks of a few examples (BLOCK_BYTES of M per block), so that
  V, M and the output tiles of a block stay in the core's L2 cache between the passes.
- The output transform and its adjoint are small matrix products (16 -> 4 and 4 -> 16
  rows), one pass each.

Called by :mod:`handgrad.fast.conv` on one slice of the batch per thread; the caller checks
the arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)
KRON_G = np.kron(_G, _G)          # (16, 9): vec(G g G^T) = KRON_G @ vec(g), row-major vec
KRON_A = np.kron(_AT, _AT)        # (4, 16): vec(A^T m A) = KRON_A @ vec(m)

# Entry (1, 1) of A^T m A's input: row 1 of A^T is (1, 1), so a value added to M there reaches
# all four output pixels of the tile alike; the bias goes there (one pass over 1/16 of M).
BIAS_ENTRY = 5
BLOCK_BYTES = 2 << 20             # M of one block (16 * F * examples * tiles) at most this


@dataclass(frozen=True)
class Tiles:
    """Sizes of the tiling: x (N, C, H, W), F filters, padding (ph, pw), output (Ho, Wo)."""

    c: int
    h: int
    w: int
    f: int
    ph: int
    pw: int
    out_h: int
    out_w: int

    @property
    def th(self) -> int:               # rows of tiles
        return -(-self.out_h // 2)

    @property
    def tw(self) -> int:               # columns of tiles, without the extra one
        return -(-self.out_w // 2)

    @property
    def row(self) -> int:              # a plane row: tw + 1 entries
        return self.tw + 1

    @property
    def run(self) -> int:              # tiles of one example, wide rows: th * (tw + 1)
        return self.th * self.row

    @property
    def plane(self) -> int:            # one parity plane, flattened, plus one spare entry
        return (self.th + 1) * self.row + 1

    def block(self, itemsize: int) -> int:
        """Examples per block."""
        return max(1, BLOCK_BYTES // (16 * self.f * self.run * itemsize))


def parity_windows(t: Tiles, p: int, axis: int) -> tuple[slice, slice]:
    """For parity p of the padded rows (axis 0) or columns (axis 1): the plane indices that
    hold input pixels and the input rows or columns they hold (every second one)."""
    pad, size = (t.ph, t.h) if axis == 0 else (t.pw, t.w)
    start = (pad - p + 1) // 2                 # first plane index inside the input
    first = 2 * start + p - pad                # its input row or column: 0 or 1
    count = len(range(first, size, 2))
    return slice(start, start + count), slice(first, size, 2)


def filters(w: np.ndarray) -> np.ndarray:
    """U = G w G^T for every (filter, channel): (16, F, C)."""
    f, c = w.shape[:2]
    return (KRON_G.astype(w.dtype) @ w.reshape(f * c, 9).T).reshape(16, f, c)


def filter_gradient(du: np.ndarray) -> np.ndarray:
    """dw (F, C, 3, 3) from dU (16, F, C): the adjoint of :func:`filters`."""
    _, f, c = du.shape
    dw = (KRON_G.T.astype(du.dtype) @ du.reshape(16, f * c)).reshape(3, 3, f, c)
    return np.ascontiguousarray(dw.transpose(2, 3, 0, 1))


def _planes(t: Tiles, n: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """A zeroed parity-plane buffer (C, n, 2, 2, plane) and its (C, n, 2, 2, th+1, tw+1) view
    without the spare entry."""
    buf = np.zeros((t.c, n, 2, 2, t.plane), dtype=dtype)
    grid = buf[..., :t.plane - 1].reshape(t.c, n, 2, 2, t.th + 1, t.row)
    return buf, grid


def _input_transform(xq: np.ndarray, rows: np.ndarray, v: np.ndarray, t: Tiles) -> None:
    """V = B^T d B of every tile: xq (C, n, 2, 2, plane) -> v (16, C, n, run); ``rows`` is
    scratch (4, 2, C, n, run + 1)."""
    r, s = t.row, t.run
    for pc in range(2):                        # the rows of every patch: B^T d
        lo0, hi0 = xq[:, :, 0, pc, :s + 1], xq[:, :, 0, pc, r:r + s + 1]
        lo1, hi1 = xq[:, :, 1, pc, :s + 1], xq[:, :, 1, pc, r:r + s + 1]
        np.subtract(lo0, hi0, out=rows[0, pc])
        np.add(lo1, hi0, out=rows[1, pc])
        np.subtract(hi0, lo1, out=rows[2, pc])
        np.subtract(lo1, hi1, out=rows[3, pc])
    for k in range(4):                         # then the columns: (B^T d) B
        lo0, hi0 = rows[k, 0, ..., :s], rows[k, 0, ..., 1:]
        lo1, hi1 = rows[k, 1, ..., :s], rows[k, 1, ..., 1:]
        np.subtract(lo0, hi0, out=v[4 * k])
        np.add(lo1, hi0, out=v[4 * k + 1])
        np.subtract(hi0, lo1, out=v[4 * k + 2])
        np.subtract(lo1, hi1, out=v[4 * k + 3])


def _input_transform_adjoint(dv: np.ndarray, rows: np.ndarray, tmp: np.ndarray,
                             dxq: np.ndarray, t: Tiles) -> None:
    """The adjoint of :func:`_input_transform`: dv (16, C, n, run) -> dxq (C, n, 2, 2, plane),
    every entry written; ``rows`` as there, ``tmp`` scratch (C, n, run + 1)."""
    r, s = t.row, t.run
    for k in range(4):                         # columns: each input is read at shift 0 and 1
        d0, d1, d2, d3 = dv[4 * k], dv[4 * k + 1], dv[4 * k + 2], dv[4 * k + 3]
        even, odd, shifted = rows[k, 0], rows[k, 1], tmp[..., :s]
        np.add(d1, d2, out=shifted)
        shifted -= d0
        even[..., 0] = d0[..., 0]
        np.add(d0[..., 1:], shifted[..., :-1], out=even[..., 1:s])
        even[..., s] = shifted[..., s - 1]
        np.subtract(d1, d2, out=odd[..., :s])
        odd[..., :s] += d3
        odd[..., s] = 0
        odd[..., 1:] -= d3
    for pc in range(2):                        # rows: each plane is read at shift 0 and row
        d0, d1, d2, d3 = rows[0, pc], rows[1, pc], rows[2, pc], rows[3, pc]
        even, odd = dxq[:, :, 0, pc], dxq[:, :, 1, pc]
        np.add(d1, d2, out=tmp)
        tmp -= d0
        even[..., :r] = d0[..., :r]
        np.add(d0[..., r:], tmp[..., :s + 1 - r], out=even[..., r:s + 1])
        even[..., s + 1:] = tmp[..., s + 1 - r:]
        np.subtract(d1, d2, out=odd[..., :s + 1])
        odd[..., :s + 1] += d3
        odd[..., s + 1:] = 0
        odd[..., r:] -= d3


@dataclass
class Part:
    """What backward needs of one slice: the transformed input patches of its examples."""

    v: np.ndarray          # (16, C, n * run)


def forward_part(x: np.ndarray, u: np.ndarray, b: np.ndarray, out: np.ndarray,
                 t: Tiles) -> Part:
    """Convolve the examples of x (n, C, H, W) with the transformed filters u; write the
    result plus b into out (n, F, Ho, Wo)."""
    n, dtype = x.shape[0], x.dtype
    nb = min(n, t.block(x.itemsize))
    ka = KRON_A.astype(dtype)
    bias = b[:, None]
    v = np.empty((16, t.c, n * t.run), dtype=dtype)
    for lo in range(0, n, nb):
        hi = min(lo + nb, n)
        k = hi - lo
        if lo == 0 or k < nb:                        # scratch for blocks of k examples
            xq, grid = _planes(t, k, dtype)          # padding entries stay zero
            rows = np.empty((4, 2, t.c, k, t.run + 1), dtype=dtype)
            m = np.empty((16, t.f, k * t.run), dtype=dtype)
            y = np.empty((4, t.f, k, t.th, t.row), dtype=dtype)
        xt = x[lo:hi].transpose(1, 0, 2, 3)          # (C, k, H, W)
        for pr in range(2):
            ys, yx = parity_windows(t, pr, 0)
            for pc in range(2):
                xs, xx = parity_windows(t, pc, 1)
                grid[:, :, pr, pc, ys, xs] = xt[:, :, yx, xx]
        vb = v[:, :, lo * t.run:hi * t.run]
        _input_transform(xq, rows, vb.reshape(16, t.c, k, t.run), t)
        np.matmul(u, vb, out=m)
        m[BIAS_ENTRY] += bias                        # reaches all four pixels of each tile
        np.matmul(ka, m.reshape(16, -1), out=y.reshape(4, -1))
        for i in range(2):
            for j in range(2):
                dst = out[lo:hi, :, i::2, j::2]
                np.copyto(dst, y[2 * i + j].transpose(1, 0, 2, 3)[:, :, :dst.shape[2],
                                                                   :dst.shape[3]])
    return Part(v)


def backward_part(dout: np.ndarray, part: Part, u_t: np.ndarray, dx: np.ndarray,
                  t: Tiles) -> np.ndarray:
    """For the examples of dout (n, F, Ho, Wo): write their dx (n, C, H, W) into ``dx`` and
    return their share of dU (16, F, C); ``u_t`` is U transposed to (16, C, F)."""
    n, dtype = dout.shape[0], dout.dtype
    nb = min(n, t.block(dout.itemsize))
    ka_t = np.ascontiguousarray(KRON_A.T.astype(dtype))
    v = part.v
    du = np.zeros((16, t.f, t.c), dtype=dtype)
    for lo in range(0, n, nb):
        hi = min(lo + nb, n)
        k = hi - lo
        if lo == 0 or k < nb:                        # scratch for blocks of k examples
            dy = np.zeros((4, t.f, k, t.th, t.row), dtype=dtype)   # extra tiles stay zero
            dm = np.empty((16, t.f, k * t.run), dtype=dtype)
            dv = np.empty((16, t.c, k * t.run), dtype=dtype)
            rows = np.empty((4, 2, t.c, k, t.run + 1), dtype=dtype)
            tmp = np.empty((t.c, k, t.run + 1), dtype=dtype)
            dxq, grid = _planes(t, k, dtype)
        for i in range(2):
            for j in range(2):
                src = dout[lo:hi, :, i::2, j::2].transpose(1, 0, 2, 3)
                dy[2 * i + j, :, :, :src.shape[2], :src.shape[3]] = src
        np.matmul(ka_t, dy.reshape(4, -1), out=dm.reshape(16, -1))
        du += dm @ v[:, :, lo * t.run:hi * t.run].transpose(0, 2, 1)
        np.matmul(u_t, dm, out=dv)
        _input_transform_adjoint(dv.reshape(16, t.c, k, t.run), rows, tmp, dxq, t)
        dxt = dx[lo:hi].transpose(1, 0, 2, 3)       # (C, k, H, W)
        for pr in range(2):
            ys, yx = parity_windows(t, pr, 0)
            for pc in range(2):
                xs, xx = parity_windows(t, pc, 1)
                dxt[:, :, yx, xx] = grid[:, :, pr, pc, ys, xs]
    return du
