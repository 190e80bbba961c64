"""The automation worker of the live service (``attach(..., mode="process")``, the default).

The worker process writes exactly what the inline path writes (outbox rows byte for byte,
exposures) for the same ingest; killed with ``-9`` during ingest it is restarted and the
outcome is unchanged (nothing lost, nothing twice); history ingested muted fires nothing
in the worker either; an inline attach first consumes what a worker left in the inbox.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
from tests.serve.test_triggers_service import EXPERIMENTS, RULES

from archetype.live.automation import AutomationConfig
from archetype.live.experiments import read_exposures
from archetype.live.hooks import attach
from archetype.live.segmenter import LiveSegmenter
from archetype.live.triggers import read_outbox
from archetype.live.worker import progress


def config(segment_ids) -> AutomationConfig:
    rules = RULES + [
        {"name": f"in_{s}", "kind": "transition", "entered": int(s)} for s in segment_ids[:3]
    ]
    return AutomationConfig.from_dict(
        {"triggers": {"lateness": "30m", "rule": rules}, "experiments": EXPERIMENTS}
    )


def outbox(seg) -> tuple:
    with seg.store.read() as r:
        return [f.encode() for f in read_outbox(r)], read_exposures(r)


def run(root, state, log, mode, size=700, muted_until=0, kill=None):
    """Ingest ``log`` in batches; returns (outbox rows, exposures, worker restarts)."""
    with LiveSegmenter.open(root, state_dir=state, background=False, watch_s=None) as seg:
        auto = attach(seg, config(list(seg.model.segment_ids)), deliver=False, mode=mode)
        kills = 0
        try:
            for i, s in enumerate(range(0, log.height, size)):
                if s < muted_until:
                    with auto.muted():
                        seg.ingest(log.slice(s, size))
                else:
                    seg.ingest(log.slice(s, size))
                if kill is not None and i in kill:
                    os.kill(auto._proc.pid, signal.SIGKILL)  # the worker, mid-way
                    kills += 1
            assert auto.sync(timeout=120) or kill  # a killed worker: wait for its successor
            deadline = time.monotonic() + 120
            while not auto.sync(timeout=5) and time.monotonic() < deadline:
                pass
            assert auto.lag() == 0
            return (*outbox(seg), kills)
        finally:
            auto.close()


def test_worker_process_writes_exactly_what_inline_writes(root_earlier, tmp_path):
    _, root, log = root_earlier
    log = log.sort("ts")
    inline = run(root, tmp_path / "inline", log, "inline")
    worker = run(root, tmp_path / "worker", log, "process")
    assert len(inline[0]) > 100 and inline[1]
    assert any(b"in_" in row for row in inline[0])  # transitions of the service's moves
    assert worker[:2] == inline[:2]


def test_killed_worker_is_restarted_and_nothing_is_lost_or_doubled(root_earlier, tmp_path):
    _, root, log = root_earlier
    log = log.sort("ts")
    want = run(root, tmp_path / "ref", log, "inline")
    n = (log.height + 699) // 700
    at = set(np.random.default_rng(5).choice(np.arange(1, n - 1), 3, replace=False).tolist())
    got = run(root, tmp_path / "st", log, "process", kill=at)
    assert got[2] == 3
    assert len(set(got[0])) == len(got[0])
    assert got[:2] == want[:2]


def test_muted_history_fires_nothing_in_the_worker(root_earlier, tmp_path):
    _, root, log = root_earlier
    log = log.sort("ts")
    half = log.height // 2
    inline = run(root, tmp_path / "inline", log, "inline", muted_until=half)
    worker = run(root, tmp_path / "worker", log, "process", muted_until=half)
    everything = run(root, tmp_path / "all", log, "inline")
    assert worker[:2] == inline[:2]
    assert 0 < len(worker[0]) < len(everything[0])  # the muted half fired nothing


def test_inline_attach_consumes_what_a_worker_left(root_earlier, tmp_path):
    _, root, log = root_earlier
    log = log.sort("ts")
    want = run(root, tmp_path / "ref", log, "inline")
    state = tmp_path / "st"
    half = log.height // 2 // 700 * 700  # the same batches as the reference run
    with LiveSegmenter.open(root, state_dir=state, background=False, watch_s=None) as seg:
        auto = attach(seg, config(list(seg.model.segment_ids)), deliver=False, mode="thread")
        auto._stop.set()  # the worker thread stops: records stay in the inbox
        for t in auto._threads:
            t.join()
        for s in range(0, half, 700):
            seg.ingest(log.slice(s, min(700, half - s)))
        with seg.store.read() as r:
            done, head = progress(r)
        assert head > done
        auto.close(drain_s=0)
        auto = attach(seg, config(list(seg.model.segment_ids)), deliver=False, mode="inline")
        with seg.store.read() as r:
            assert progress(r)[0] == head  # consumed before the first inline commit
        for s in range(half, log.height, 700):
            seg.ingest(log.slice(s, min(700, log.height - s)))
        got = outbox(seg)
        auto.close()
    assert got == want[:2]
