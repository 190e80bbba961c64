"""Planning, ratios, derived floors and scaling slopes on hand-made records."""

from __future__ import annotations

from pathlib import Path

import pytest

from archetype.bench import harness
from archetype.bench.suite import get_suite
from archetype.errors import UserError


def rec(stage, impl, role, seconds, *, n=1000, d=8, k=4, device="cpu", **kw):
    r = {"stage": stage, "impl": impl, "role": role, "device": device, "n": n, "d": d, "k": k,
         "seconds": seconds, "inertia": None, "peak_mem_bytes": 1, "extra": {}}
    r.update(kw)
    return r


def test_ratios_are_ours_over_peer_and_ours_over_floor():
    recs = [rec("assign", "archetype", "ours", 2.0), rec("assign", "faiss", "peer", 4.0),
            rec("assign", "gemm", "floor", 0.5), rec("assign", "faiss", "peer", 1.0, n=2000)]
    harness.add_ratios(recs, "cpu")
    assert recs[0]["ratio"] == pytest.approx(4.0) and recs[0]["ratio_vs"] == "gemm"
    assert recs[1]["ratio"] == pytest.approx(0.5) and recs[1]["ratio_vs"] == "faiss"
    assert recs[2]["ratio"] == pytest.approx(4.0)
    assert recs[3]["ratio"] is None  # no ours at n=2000


def test_fit_ratios_compare_time_per_pass():
    recs = [rec("fit", "archetype", "ours", 6.0, seconds_per_pass=0.5),
            rec("fit", "sklearn-kmeans", "peer", 4.0, seconds_per_pass=2.0),
            rec("fit", "gemm", "floor", 0.25, seconds_per_pass=0.25)]
    harness.add_ratios(recs, "cpu")
    assert recs[0]["ratio"] == pytest.approx(2.0)
    assert recs[1]["ratio"] == pytest.approx(0.25)


def test_cuda_run_compares_cpu_peers_with_ours_on_the_gpu():
    recs = [rec("assign", "archetype", "ours", 1.0, device="cuda"),
            rec("assign", "archetype", "ours", 8.0, device="cpu"),
            rec("assign", "sklearn", "peer", 4.0, device="cpu"),
            rec("assign", "gemm", "floor", 2.0, device="cpu"),
            rec("assign", "gemm", "floor", 0.5, device="cuda")]
    harness.add_ratios(recs, "cuda")
    assert recs[2]["ratio"] == pytest.approx(0.25)  # GPU ours vs CPU sklearn
    assert recs[0]["ratio"] == pytest.approx(2.0)  # vs the GPU GEMM
    assert recs[1]["ratio"] == pytest.approx(4.0)  # CPU ours vs the CPU GEMM


def test_stream_floor_is_matrix_bytes_over_bandwidth():
    recs = [rec("bandwidth", "numpy-read", "floor", 1.0, n=10, d=1, k=0,
                extra={"gb_per_s": 10.0}),
            rec("assign", "archetype", "ours", 1.0, n=1000, d=8),
            rec("fit", "archetype", "ours", 1.0, n=1000, d=8, seconds_per_pass=0.1)]
    floors = harness.stream_floors(recs)
    assert [f["stage"] for f in floors] == ["assign", "fit"]
    assert floors[0]["seconds"] == pytest.approx(1000 * 8 * 4 / 10e9)
    assert floors[1]["seconds_per_pass"] == floors[1]["seconds"]
    assert all(f["derived"] and f["peak_mem_bytes"] is None for f in floors)


def test_scaling_slope_linear_in_n_and_in_k():
    suite = get_suite("tiny", fit_n=[1000, 2000, 4000], ks=[4, 8, 16])
    recs = [rec("assign", "archetype", "ours", 1e-6 * n, n=n, k=4) for n in (1000, 2000)]
    recs += [rec("assign", "archetype", "ours", 1e-6 * 4000 * k / 4, n=4000, k=k)
             for k in (4, 8, 16)]
    out = {(s["vs"]): s for s in harness.scaling(recs, suite)}
    assert out["n"]["slope"] == pytest.approx(1.0) and len(out["n"]["points"]) == 3
    assert out["k"]["slope"] == pytest.approx(1.0) and out["k"]["fixed"] == 4000


def test_plan_measures_peers_on_the_n_series_only(tmp_path: Path):
    suite = get_suite("tiny")  # fit_n 2000, 4000 at k0=4; ks 4, 8 at n=4000
    tasks = harness.plan(suite, "cpu", ("fit",), tmp_path, 0)
    by = {(t.entry.stage, t.entry.impl, t.n, t.k) for t in tasks}
    assert ("fit", "sklearn-kmeans", 2000, 4) in by and ("fit", "sklearn-kmeans", 4000, 4) in by
    assert ("fit", "sklearn-kmeans", 4000, 8) not in by
    assert ("fit", "archetype", 4000, 8) in by and ("fit", "gemm", 4000, 8) in by
    assert {t.entry.stage for t in tasks} == {"fit", "pass", "bandwidth"}
    assert all(t.device == "cpu" for t in tasks)


def test_plan_on_cuda_also_measures_the_cpu(tmp_path: Path):
    tasks = harness.plan(get_suite("tiny"), "cuda", ("assign",), tmp_path, 0)
    devs = {(t.entry.impl, t.device) for t in tasks if t.entry.stage == "assign"}
    assert {("archetype", "cuda"), ("archetype", "cpu"), ("sklearn", "cpu")} <= devs
    assert ("sklearn", "cuda") not in devs


def test_plan_impl_filter_keeps_floors(tmp_path: Path):
    tasks = harness.plan(get_suite("tiny"), "cpu", ("assign",), tmp_path, 0, ("faiss",))
    assert {t.entry.impl for t in tasks} == {"faiss", "gemm", "numpy-read", "numpy-copy"}


def test_features_reads_synth_output(tmp_path: Path):
    tasks = harness.plan(get_suite("tiny"), "cpu", ("features",), tmp_path, 0)
    stages = [t.entry.stage for t in tasks]
    assert stages.index("synth") < stages.index("features")
    feat = next(t for t in tasks if t.entry.stage == "features")
    assert feat.after == ("synth", 300)


def test_bad_stage_and_device_are_user_errors():
    with pytest.raises(UserError, match="--stages='cook'"):
        harness.check_stages(["fit,cook"])
    assert harness.check_stages(["fit", "assign,fit"]) == ("fit", "assign")
    with pytest.raises(UserError, match="--device='tpu'"):
        harness.resolve_device("tpu")


def test_cuda_without_cuda_is_a_user_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="no CUDA device"):
        harness.resolve_device("cuda")
    assert harness.resolve_device("auto") == "cpu"


def test_suite_overrides_and_errors():
    s = get_suite("quick", fit_n=[5000, 1000], ks=[3, 2])
    assert s.fit_n == (1000, 5000) and s.ks == (2, 3) and s.k0 == 2
    with pytest.raises(UserError, match="--suite='huge'"):
        get_suite("huge")
    with pytest.raises(UserError, match="--k=64 should be <= the smallest --n=10"):
        get_suite("tiny", fit_n=[10], ks=[64])
    with pytest.raises(UserError, match="--n=0"):
        get_suite("tiny", fit_n=[0])


def test_ratio_table_shows_one_size_with_ratios():
    from archetype.bench.summary import ratio_table

    recs = [rec("assign", "archetype", "ours", 2.0, n=n) for n in (1000, 2000)]
    recs += [rec("assign", "faiss", "peer", 4.0, n=n) for n in (1000, 2000)]
    recs += [rec("assign", "gemm", "floor", 1.0, n=n) for n in (1000, 2000)]
    harness.add_ratios(recs, "cpu")
    md = ratio_table({"records": recs, "settings": {"k0": 4}})
    rows = md.splitlines()[2:]
    assert len(rows) == 3 and all("2,000" in r for r in rows)
    assert "| 0.50 |" in rows[1] and "2.00 (÷ gemm)" in rows[0]
