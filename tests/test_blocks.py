"""handgrad.fast._blocks: block-by-block, multi-threaded kernels give the serial results exactly."""

from __future__ import annotations

import multiprocessing
import warnings

import numpy as np
import pytest

from handgrad.fast import _blocks, clipped_error_mse, relu, sigmoid, tanh


@pytest.fixture
def threads():
    before = _blocks.get_num_threads()
    yield _blocks.set_num_threads
    _blocks.set_num_threads(before)


def _run_ops(x, dout):
    s, cs = sigmoid.forward(x)
    t, ct = tanh.forward(x)
    r, cr = relu.forward(x)
    loss, cc = clipped_error_mse.forward(x, dout, clip=0.5)
    return [s, sigmoid.backward(dout, cs), t, tanh.backward(dout, ct), r, relu.backward(dout, cr),
            np.asarray(loss), *clipped_error_mse.backward(1.0, cc)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_do_not_change_results(threads, dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 3.0, (257, 1999)).astype(dtype)   # many blocks, ragged last one
    dout = rng.normal(size=x.shape).astype(dtype)
    threads(1)
    serial = _run_ops(x, dout)
    threads(3)
    threaded = _run_ops(x, dout)
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)


def test_blockwise_covers_every_row_once_in_order(threads):
    threads(2)
    n = 100_003
    data = np.arange(n, dtype=np.float64)
    out = np.zeros(n)

    def kernel(o, d):
        o += d + 1
        return (float(d[0]), d.size)

    results = _blocks.blockwise(kernel, out, data)
    np.testing.assert_array_equal(out, data + 1)
    starts = [r[0] for r in results]
    assert starts == sorted(starts) and starts[0] == 0
    assert sum(r[1] for r in results) == n


def test_errors_in_any_block_propagate(threads):
    threads(2)
    x = np.zeros(400_000)

    def kernel(o):
        if o[-1:].ctypes.data == x[-1:].ctypes.data:   # the last block, whichever thread runs it
            raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError, match="boom"):
        _blocks.blockwise(kernel, x)


def test_warnings_as_errors_reach_worker_threads(threads):
    threads(2)
    x = np.full(400_000, -1.0)
    out = np.empty_like(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning):
            _blocks.elementwise(lambda o, v: np.log(v, out=o), out, x)


def test_errstate_reaches_worker_threads(threads):
    threads(2)
    x = np.full(400_000, -1.0)
    out = np.empty_like(x)
    with np.errstate(invalid="raise"):
        with pytest.raises(FloatingPointError):
            _blocks.elementwise(lambda o, v: np.sqrt(v, out=o), out, x)
    with np.errstate(invalid="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _blocks.elementwise(lambda o, v: np.sqrt(v, out=o), out, x)
    assert np.all(np.isnan(out))


def test_elementwise_refuses_non_contiguous_outputs():
    out = np.zeros((4, 6))[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        _blocks.elementwise(lambda o, v: np.copyto(o, v), out, np.ones((4, 3)))


def test_set_num_threads_validates():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="set_num_threads"):
            _blocks.set_num_threads(bad)


def test_constant_is_read_only():
    zeros = _blocks.constant(0.0, np.float32)
    assert zeros.dtype == np.float32 and not zeros.flags.writeable
    assert zeros.size * zeros.itemsize >= _blocks.BLOCK_BYTES


def _child_sum(queue):
    x = np.ones(1_000_000)
    out, _ = sigmoid.forward(x)
    queue.put(float(out.sum()))


def test_pool_survives_fork(threads):
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    threads(2)
    sigmoid.forward(np.ones(1_000_000))    # the parent's pool exists now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # fork with threads running
        child = ctx.Process(target=_child_sum, args=(queue,))
        child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == pytest.approx(1e6 / (1 + np.exp(-1.0)))
