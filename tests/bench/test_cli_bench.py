"""``archetype bench``: user errors exit 2 with one line; a tiny suite validates end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archetype.bench.schema import RECORD_FIELDS, validation_errors
from archetype.cli.main import app

runner = CliRunner()


def test_cuda_without_cuda_exits_2_and_writes_nothing(tmp_path: Path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["bench", "--suite", "quick", "--device", "cuda",
                              "--json", str(out)])
    assert res.exit_code == 2
    assert "--device=cuda but no CUDA device" in res.output
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) == 1
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--suite", "huge"], "--suite='huge' is not a suite"),
    (["--stages", "cook"], "--stages='cook' is not a stage"),
    (["--n", "10", "--k", "64"], "--k=64 should be <="),
    (["--threads", "0"], "--threads=0 should be >= 1"),
])
def test_bad_options_exit_2(args, message, tmp_path: Path):
    res = runner.invoke(app, ["bench", "--device", "cpu", "--work-dir", str(tmp_path), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output


@pytest.mark.slow
def test_tiny_suite_end_to_end_validates(tmp_path: Path):
    out = tmp_path / "results" / "tiny.json"
    res = runner.invoke(app, [
        "bench", "--suite", "tiny", "--device", "cpu", "--stages", "assign,fit",
        "--impl", "archetype,faiss", "--n", "1500", "--n", "3000", "--k", "4",
        "--json", str(out), "--work-dir", str(tmp_path / "work")])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert validation_errors(doc) == []
    recs = doc["records"]
    assert all(set(RECORD_FIELDS) <= set(r) for r in recs)
    got = {(r["stage"], r["impl"], r["n"]) for r in recs}
    for stage in ("fit", "assign"):
        for n in (1500, 3000):
            assert {(stage, "faiss", n), (stage, "gemm", n), (stage, "stream-read", n)} <= got
    # same centers: every assign impl reports the same inertia (it is recomputed uniformly)
    for n in (1500, 3000):
        inert = [r["inertia"] for r in recs if r["stage"] == "assign" and r["n"] == n
                 and r["inertia"] is not None]
        assert len(inert) >= 1 and max(inert) == pytest.approx(min(inert), rel=1e-6)
    assert {s["vs"] for s in doc["scaling"]} == {"n"}
    assert doc["machine"]["libraries"]["faiss"]
    assert "assign" in res.output and "ratio" in res.output


@pytest.mark.cuda
@pytest.mark.slow
def test_tiny_suite_on_cuda_reports_gpu_memory_and_cpu_peers(tmp_path: Path):
    out = tmp_path / "gpu.json"
    res = runner.invoke(app, [
        "bench", "--suite", "tiny", "--device", "cuda", "--stages", "fit,assign",
        "--json", str(out), "--work-dir", str(tmp_path / "work")])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert validation_errors(doc) == [] and doc["device"] == "cuda"
    assert doc["machine"]["gpu"]["memory_bytes"] > 0
    cuda = [r for r in doc["records"] if r["device"] == "cuda" and not r.get("derived")]
    assert cuda and all(r["gpu_peak_mem_bytes"] > 0 for r in cuda)
    # the CPU peers are measured in the same run and compared with ours on the GPU
    sk = [r for r in doc["records"] if r["impl"] == "sklearn-kmeans"]
    assert sk and all(r["device"] == "cpu" and r["ratio"] is not None for r in sk)
