"""handgrad.fast._parts: batch slices on threads with BLAS on one thread, and the tuned LSTM
and attention computed that way match the readable modules."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from handgrad.fast import _blocks, _parts
from handgrad.fast import attention as fast_attention
from handgrad.fast import lstm as fast_lstm
from handgrad.layers import attention, lstm

needs_threadpoolctl = pytest.mark.skipif(_parts.ThreadpoolController is None,
                                         reason="threadpoolctl is not installed")


@pytest.fixture
def threads():
    before = _blocks.get_num_threads()
    yield _blocks.set_num_threads
    _blocks.set_num_threads(before)


@needs_threadpoolctl
@pytest.mark.parametrize("n, min_size, count, expected", [
    (10, 4, 2, [slice(0, 5), slice(5, 10)]),
    (11, 4, 3, [slice(0, 5), slice(5, 11)]),            # only two slices of at least 4
    (7, 4, 2, [slice(0, 7)]),                           # too small to cut
    (9, 1, 3, [slice(0, 3), slice(3, 6), slice(6, 9)]),
    (5, 1, 1, [slice(0, 5)]),                           # one thread
])
def test_batch_slices(threads, n, min_size, count, expected):
    threads(count)
    assert _parts.batch_slices(n, min_size) == expected


def test_without_threadpoolctl_there_is_one_slice(threads, monkeypatch):
    threads(2)
    monkeypatch.setattr(_parts, "ThreadpoolController", None)
    assert _parts.batch_slices(100, 1) == [slice(0, 100)]


@needs_threadpoolctl
def test_map_slices_runs_each_slice_once_on_its_own_thread(threads):
    threads(2)
    slices = _parts.batch_slices(8, 1)
    seen = []

    def work(s):
        seen.append((s, threading.get_ident(), _parts.batch_slices(8, 1)))
        return s.stop - s.start

    assert _parts.map_slices(work, slices) == [4, 4]
    assert sorted((s.start for s, _, _ in seen)) == [0, 4]
    assert len({ident for _, ident, _ in seen}) == 2
    assert all(inner == [slice(0, 8)] for _, _, inner in seen)   # no slices within a slice
    assert len(_parts.batch_slices(8, 1)) == 2                  # and again outside


@needs_threadpoolctl
def test_map_slices_limits_blas_meanwhile_and_restores_it(threads):
    threads(2)
    controller = _parts._controller()
    before = [lib.num_threads for lib in controller.select(user_api="blas").lib_controllers]
    during = []
    _parts.map_slices(lambda s: during.append(
        [lib.num_threads for lib in _parts._controller().select(user_api="blas")
         .lib_controllers]), [slice(0, 1), slice(1, 2)])
    after = [lib.num_threads for lib in _parts._controller().select(user_api="blas")
             .lib_controllers]
    assert after == before
    assert all(n == 1 for counts in during for n in counts)


@needs_threadpoolctl
def test_map_slices_waits_for_every_thread_and_raises_the_error(threads):
    threads(2)
    finished = []

    def work(s):
        if s.start == 0:
            raise ValueError("slice 0 failed")
        finished.append(s)
        return s

    with pytest.raises(ValueError, match="slice 0 failed"):
        _parts.map_slices(work, [slice(0, 1), slice(1, 2)])
    assert finished == [slice(1, 2)]


# --- the tuned ops, cut into slices ------------------------------------------------------


def _lstm_args(rng, n, dtype):
    t_steps, d, hidden = 6, 5, 7
    return tuple(a.astype(dtype) for a in (
        rng.standard_normal((n, t_steps, d)), np.tanh(rng.standard_normal((n, hidden))),
        rng.standard_normal((d, 4 * hidden)) / np.sqrt(d),
        rng.standard_normal((hidden, 4 * hidden)) / np.sqrt(hidden),
        rng.standard_normal(4 * hidden) * 0.5))


@needs_threadpoolctl
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_lstm_in_slices_matches_the_readable_version(threads, dtype, rtol):
    threads(2)
    n = 2 * fast_lstm.MIN_SLICE + 3
    rng = np.random.default_rng(1)
    args = _lstm_args(rng, n, dtype)
    h_fast, cache_fast = fast_lstm.forward(*args)
    assert len(cache_fast.slices) == 2
    h, cache = lstm.forward(*args)
    np.testing.assert_allclose(h_fast, h, rtol=rtol, atol=rtol)
    dh = rng.standard_normal(h.shape).astype(dtype)
    grads = fast_lstm.backward(dh, cache_fast, return_hidden_grads=True)
    for g_fast, g in zip(grads, lstm.backward(dh, cache, return_hidden_grads=True),
                         strict=True):
        assert g_fast.dtype == dtype and g_fast.shape == g.shape
        np.testing.assert_allclose(g_fast, g, rtol=rtol, atol=rtol * np.max(np.abs(g)))
    again = fast_lstm.backward(dh, cache_fast, return_hidden_grads=True)
    assert all(np.array_equal(a, b) for a, b in zip(grads, again, strict=True))
    threads(1)
    h_one, cache_one = fast_lstm.forward(*args)
    assert len(cache_one.slices) == 1
    np.testing.assert_allclose(h_one, h_fast, rtol=rtol, atol=rtol)


@needs_threadpoolctl
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("options", [{}, {"causal": True}, {"per_sequence_mask": True}])
def test_attention_in_slices_matches_the_readable_version(threads, dtype, rtol, options):
    threads(2)
    n, t_steps, d_model = 2 * fast_attention.MIN_SLICE + 1, 9, 8
    assert len(_parts.batch_slices(n, fast_attention.MIN_SLICE)) == 2
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, t_steps, d_model)).astype(dtype)
    params = [(rng.standard_normal((d_model, d_model)) / np.sqrt(d_model)).astype(dtype)
              for _ in range(4)] + [(rng.standard_normal(d_model) * 0.5).astype(dtype)
                                    for _ in range(4)]
    kwargs = {"num_heads": 2, "causal": options.get("causal", False)}
    if options.get("per_sequence_mask"):
        kwargs["mask"] = rng.random((n, t_steps, t_steps)) < 0.6
    out_fast, cache_fast = fast_attention.forward(x, *params, **kwargs)
    out, cache = attention.forward(x, *params, **kwargs)
    np.testing.assert_allclose(out_fast, out, rtol=rtol, atol=rtol * np.max(np.abs(out)))
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = fast_attention.backward(dout, cache_fast)
    for g_fast, g in zip(grads, attention.backward(dout, cache), strict=True):
        assert g_fast.dtype == dtype and g_fast.shape == g.shape
        np.testing.assert_allclose(g_fast, g, rtol=rtol,
                                   atol=rtol * max(np.max(np.abs(g)), 1e-300))
    again = fast_attention.backward(dout, cache_fast)
    assert all(np.array_equal(a, b) for a, b in zip(grads, again, strict=True))
