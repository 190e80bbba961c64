"""Throughput of ``archetype synth``: events/s and peak RSS.

Plain script (not part of the test run)::

    python benchmarks/bench_synth.py --customers 1000000 --days 365 --json synth.json

Also usable with pytest-benchmark: ``pytest benchmarks/bench_synth.py --benchmark-only``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from archetype.synth import generate


def run(customers: int, days: int, seed: int, block_size: int, out: Path) -> dict:
    """Generate once into ``out``; return the figures."""
    s = generate(out, customers=customers, days=days, seed=seed, block_size=block_size)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {
        "customers": customers,
        "days": days,
        "block_size": block_size,
        "events": s.n_events,
        "files": s.n_files,
        "seconds": round(s.seconds, 3),
        "events_per_s": round(s.events_per_second),
        "events_per_customer": round(s.n_events / customers, 2),
        "bytes_on_disk": size,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=200_000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--block-size", type=int, default=100_000)
    p.add_argument("--out", type=Path, default=None, help="keep the output here")
    p.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    a = p.parse_args(argv)
    tmp = None
    out = a.out
    if out is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-synth-"))
        out = tmp / "synth"
    try:
        figures = run(a.customers, a.days, a.seed, a.block_size, out)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(figures, indent=2)
    print(text)
    if a.json is not None:
        a.json.write_text(text + "\n")
    return 0


def test_synth_throughput(benchmark, tmp_path):  # pytest-benchmark entry point
    out = tmp_path / "synth"
    figures = benchmark.pedantic(run, args=(50_000, 365, 1, 25_000, out), rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    assert figures["events"] > 0


if __name__ == "__main__":
    sys.exit(main())
