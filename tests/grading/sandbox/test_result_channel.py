"""The result channel: a worker cannot keep its clock running by writing frames, and frames it
forges out of order end its run (the fork server relays and checks them)."""

from __future__ import annotations

import os
import sys
import time

import pytest

from handgrad.grading.sandbox import process, wire, zygote_client

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or
                                not zygote_client.use_zygote(),
                                reason="the fork server runs on Linux")

FORGER = r'''
import os, time
from handgrad.grading.sandbox import wire

def f(seconds):
    # keep writing what looks like the next result, to restart the grader's clock
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end and i < 200:
        try:
            os.write(3, wire.frame({"type": "draw", "index": 0, "status": "ok",
                                    "data": {"t": "n"}}))
        except OSError:
            pass
        time.sleep(0.1)
        i += 1
    return None
'''

SLEEPER = r'''
import time

def f(seconds):
    time.sleep(seconds)
    return None
'''


def run(source: str, seconds: float, tmp_path) -> process.WorkerRun:  # noqa: ANN001
    draws, blobs = wire.encode([{"args": [seconds], "kwargs": {}}, {"args": [seconds],
                                                                    "kwargs": {}}])
    header = {"type": "request", "kind": "function", "module": "m", "function": "f",
              "limits": {"memory_bytes": 1 << 30, "cpu_seconds": 60, "open_files": 64,
                         "processes": 64}, "parent_pid": os.getpid(), "draws": draws["items"]}
    ws = process.Workspace()
    try:
        return process.run_worker(wire.frame(header, blobs), {"m.py": source.encode()},
                                  workspace=ws, limits=process.Limits(), first_deadline=1.5,
                                  step_timeout=1.0, draws=2)
    finally:
        ws.cleanup()


def test_forged_frames_do_not_restart_the_clock(tmp_path) -> None:  # noqa: ANN001
    started = time.monotonic()
    got = run(FORGER, 20.0, tmp_path)
    elapsed = time.monotonic() - started
    # the whole budget is 1.5 + 1 * 1.0 + 1 s; forging never buys 20 s
    assert elapsed < 8.0, elapsed
    assert got.timed_out or got.protocol_error, got
    # no forged draw reached the grader as a result of the right order
    assert [h.get("index") for h, _ in got.frames if h.get("type") == "draw"] in ([], [0])


def test_a_sleeping_worker_is_ended_at_its_deadline(tmp_path) -> None:  # noqa: ANN001
    started = time.monotonic()
    got = run(SLEEPER, 30.0, tmp_path)
    assert got.timed_out and time.monotonic() - started < 6.0
