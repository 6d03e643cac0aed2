"""Timing harness shared by the benchmark scripts.

Method (see benchmarks/README.md):

- every callable is warmed up, then timed call by call in a block of at least ``min_reps``
  calls and about ``block_s`` seconds; the statistic is the median over all calls;
- the peers of one row (handgrad, PyTorch, the textbook NumPy version) alternate over
  ``rounds`` rounds, so a slow phase of the machine hits all of them alike;
- every timed block is followed by a short sleep (``idle_s``, 0.3 s by default) so that the
  block's thread pool goes idle before the next one starts. On a 2-core machine OpenBLAS worker
  threads spin for about 0.1 s after a threaded GEMM, and an OpenMP pool spins too; a block
  that starts while the other library's threads are spinning shares the cores with them and
  comes out 1.5-4x too slow;
- a row whose spread, (p75 - p25) / median, is above ``max_spread`` for any peer is measured
  again (up to ``retries`` more times) and the attempt with the smallest worst spread is kept.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stats:
    """Summary of one peer's per-call times, in milliseconds."""

    median_ms: float
    p25_ms: float
    p75_ms: float
    reps: int

    @property
    def spread(self) -> float:
        """(p75 - p25) / median: 0.05 is a quiet measurement, above 0.25 a noisy one."""
        return (self.p75_ms - self.p25_ms) / self.median_ms if self.median_ms > 0 else 0.0

    @classmethod
    def from_seconds(cls, samples: list[float]) -> Stats:
        ms = np.asarray(samples) * 1e3
        p25, med, p75 = np.percentile(ms, [25, 50, 75])
        return cls(float(med), float(p25), float(p75), len(samples))


@dataclass(frozen=True)
class Settings:
    """How long and how often to time; ``quick()`` gives a short, rougher run."""

    block_s: float = 0.5      # seconds of calls per timed block
    min_reps: int = 5         # at least this many calls per block
    max_reps: int = 5000
    warmup: int = 3           # untimed calls before each peer's first block
    rounds: int = 3           # peers alternate over this many rounds
    idle_s: float = 0.3       # sleep after every timed block
    max_spread: float = 0.25  # re-measure a row whose spread exceeds this
    retries: int = 2
    max_others_busy: float = 0.15  # ... or while other processes use more of the CPUs than this
    wait_quiet_s: float = 60.0      # wait up to this long for a quiet machine before an attempt

    @classmethod
    def quick(cls) -> Settings:
        return cls(block_s=0.15, min_reps=3, warmup=2, rounds=1, retries=1, wait_quiet_s=10.0)


def idle(settings: Settings) -> None:
    """Let every thread pool (OpenBLAS, OpenMP) stop spinning before the next timed block."""
    time.sleep(settings.idle_s)


def _block(fn: Callable[[], object], reps: int) -> list[float]:
    samples = []
    clock = time.perf_counter
    for _ in range(reps):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    return samples


def _calibrate(fn: Callable[[], object], settings: Settings) -> int:
    """Warm ``fn`` up and return how many calls make one block of about ``block_s`` seconds."""
    t0 = time.perf_counter()
    for _ in range(max(settings.warmup, 1)):
        fn()
    per_call = (time.perf_counter() - t0) / max(settings.warmup, 1)
    reps = math.ceil(settings.block_s / per_call) if per_call > 0 else settings.max_reps
    return int(min(max(reps, settings.min_reps), settings.max_reps))


def measure_once(peers: Mapping[str, Callable[[], object]],
                 settings: Settings) -> dict[str, Stats]:
    """Time every peer in alternating rounds; return each peer's stats over all its calls."""
    reps = {}
    for name, fn in peers.items():
        reps[name] = _calibrate(fn, settings)
        idle(settings)
    samples: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(settings.rounds):
        for name, fn in peers.items():
            samples[name] += _block(fn, reps[name])
            idle(settings)
    return {name: Stats.from_seconds(s) for name, s in samples.items()}


@dataclass(frozen=True)
class Measurement:
    """The kept attempt of one row and how it was obtained."""

    stats: dict[str, Stats]
    attempts: int
    others_busy: float | None   # share of all CPUs other processes used during the kept attempt
    waited_s: float             # time spent waiting for the machine to become quiet

    @property
    def spread(self) -> float:
        return worst_spread(self.stats)

    def clean(self, settings: Settings) -> bool:
        busy_ok = self.others_busy is None or self.others_busy <= settings.max_others_busy
        return self.spread <= settings.max_spread and busy_ok


def measure(peers: Mapping[str, Callable[[], object]], settings: Settings) -> Measurement:
    """Like ``measure_once``, but measured again (up to ``retries`` times) while the attempt is
    noisy (a peer's spread above ``max_spread``) or other processes used more than
    ``max_others_busy`` of the machine. Before each attempt, waits up to ``wait_quiet_s`` for
    the machine to be quiet. Keeps the first clean attempt, else the one with the least
    interference (then the smallest spread)."""
    kept: Measurement | None = None
    waited = 0.0
    for attempt in range(1, settings.retries + 2):
        waited += wait_quiet(settings)
        before = cpu_snapshot()
        stats = measure_once(peers, settings)
        current = Measurement(stats, attempt, others_busy_since(before), waited)
        if kept is None or _rank(current, settings) < _rank(kept, settings):
            kept = current
        if current.clean(settings):
            break
    assert kept is not None
    return Measurement(kept.stats, attempt, kept.others_busy, waited)


def _rank(m: Measurement, settings: Settings) -> tuple[bool, float, float]:
    busy = m.others_busy or 0.0
    return (not m.clean(settings), max(busy - settings.max_others_busy, 0.0), m.spread)


def worst_spread(stats: Mapping[str, Stats]) -> float:
    return max(s.spread for s in stats.values())


# ---------------------------------------------------------------------------------------------
# Thread counts


def numpy_blas_threads() -> int:
    """Number of threads numpy's BLAS uses (OpenBLAS queried directly, else the environment)."""
    for getter in _openblas_thread_getters():
        try:
            n = int(getter())
        except Exception:  # a symbol of another signature; try the next
            continue
        if n > 0:
            return n
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def _openblas_thread_getters() -> list[Callable[[], int]]:
    libdirs = [os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs"),
               os.path.join(os.path.dirname(np.__file__), ".libs")]
    names = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
             "openblas_get_num_threads64_", "openblas_get_num_threads")
    getters = []
    for libdir in libdirs:
        for path in glob.glob(os.path.join(libdir, "*openblas*")):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for name in names:
                fn = getattr(lib, name, None)
                if fn is not None:
                    fn.restype = ctypes.c_int
                    fn.argtypes = []
                    getters.append(fn)
    return getters


def machine_info() -> dict[str, object]:
    """Versions and thread counts worth printing above a results table."""
    import platform

    info: dict[str, object] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy_blas_threads": numpy_blas_threads(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    return info


def load_warning(info: Mapping[str, object]) -> str | None:
    """A warning when other processes keep the machine busy right now (timings would be
    inflated): their CPU share over half a second, or the load average where that is unknown."""
    before = cpu_snapshot()
    time.sleep(0.5)
    busy = others_busy_since(before)
    if busy is not None:
        if busy > 0.15:
            return (f"warning: other processes are using {busy:.0%} of the CPUs; each row waits "
                    f"for a quiet machine (--wait) and marks disturbed figures with !")
        return None
    load = info.get("load_average_1min")
    if isinstance(load, float) and load > 0.5:
        return (f"warning: 1-minute load average is {load:.2f}: other processes are using the "
                f"CPUs and the timings may be slower and noisier than on a quiet machine")
    return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


# ---------------------------------------------------------------------------------------------
# Other processes' CPU use (Linux /proc/stat; elsewhere these report None and never wait)

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSnapshot:
    busy_s: float      # CPU seconds all processes spent busy (steal included), all CPUs
    total_s: float     # busy + idle CPU seconds, all CPUs
    own_s: float       # CPU seconds of this process, all its threads


def cpu_snapshot() -> CpuSnapshot | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    idle_j = fields[3] + fields[4]
    busy_j = sum(fields[:8]) - idle_j
    return CpuSnapshot(busy_j / _HZ, (busy_j + idle_j) / _HZ, time.process_time())


def others_busy_since(before: CpuSnapshot | None) -> float | None:
    """Share of all CPUs (0..1) that other processes used since ``before``."""
    after = cpu_snapshot()
    if before is None or after is None or after.total_s <= before.total_s:
        return None
    others = (after.busy_s - before.busy_s) - (after.own_s - before.own_s)
    return min(max(others / (after.total_s - before.total_s), 0.0), 1.0)


def wait_quiet(settings: Settings, window_s: float = 0.5) -> float:
    """Sleep until other processes use at most ``max_others_busy`` of the CPUs over a window of
    ``window_s`` (or ``wait_quiet_s`` has passed); return the seconds waited beyond the first
    window."""
    if settings.wait_quiet_s <= 0:
        return 0.0
    start = time.perf_counter()
    while True:
        before = cpu_snapshot()
        time.sleep(window_s)
        busy = others_busy_since(before)
        waited = time.perf_counter() - start - window_s
        if busy is None or busy <= settings.max_others_busy or waited >= settings.wait_quiet_s:
            return max(waited, 0.0)
