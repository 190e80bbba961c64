"""The HTTP API: same answers as the Python API (and so as the batch), JSON errors, limits,
token, SSE transitions on a real server."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import orjson
import polars as pl
import pytest
from fastapi.testclient import TestClient

from archetype.live.segmenter import LiveSegmenter
from archetype.pipeline.layout import Layout
from archetype.serve.app import create_app

from .conftest import END


def _json_rows(df: pl.DataFrame) -> list[dict]:
    return [{**r, "ts": r["ts"].isoformat(sep=" ")} for r in df.iter_rows(named=True)]


@pytest.fixture
def served(root_now, tmp_path):
    ev, root, log = root_now
    seg = LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False)
    client = TestClient(create_app(seg, token=""))
    yield seg, client, log, root
    client.close()
    seg.close()


def test_ingest_json_and_ndjson_then_lookups_equal_python_api(served):
    seg, client, log, root = served
    rows = _json_rows(log)
    half = len(rows) // 2
    r = client.post("/v1/events", json=rows[:half])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["received"] == half and body["accepted"] + body["too_old"] > 0
    nd = b"\n".join(orjson.dumps(x) for x in rows[half:]) + b"\n"
    r = client.post("/v1/events", content=nd, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert r.json()["watermark"].startswith("2026-12-31")
    again = client.post(
        "/v1/events", content=nd, headers={"content-type": "application/x-ndjson"}
    ).json()
    assert again["accepted"] == 0 and again["duplicates"] + again["too_old"] == len(rows) - half

    feats = pl.read_parquet(Layout(root).features(END) / "features.parquet")
    ids = feats["customer_id"].to_list()
    for cid in ids[:60]:
        got = client.get(f"/v1/customers/{cid}").json()
        assert got == seg.get(cid).to_dict()
        f = client.get(f"/v1/customers/{cid}/features", params={"as_of": "2026-12-31"}).json()
        assert list(f["features"]) == feats.columns[1:]
        row = feats.filter(pl.col("customer_id") == cid).row(0, named=True)
        assert all(
            f["features"][n] == pytest.approx(row[n], rel=1e-9, abs=1e-12)
            for n in feats.columns[1:]
        )
    b = client.post("/v1/customers:batch_get", json={"ids": ids[:100]}).json()["customers"]
    assert [x["segment_id"] for x in b] == [seg.get(i).segment_id for i in ids[:100]]
    unknown = client.post("/v1/customers:batch_get", json={"ids": [10**9]}).json()
    assert unknown["customers"][0]["found"] is False


def test_bad_input_is_one_json_error_and_applies_nothing(served):
    seg, client, log, root = served
    good = {"customer_id": 1, "ts": "2026-12-30 10:00:00", "event_type": "view"}
    nd = orjson.dumps(good) + b"\n" + orjson.dumps({**good, "ts": "yesterday"}) + b"\n"
    r = client.post("/v1/events", content=nd, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "bad_request"
    assert "line 2" in err["message"] and "'ts'" in err["message"]
    assert "yesterday" in err["message"]
    assert seg.meta.seq == 0
    r = client.post("/v1/events", content=b"[{]", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = client.post("/v1/events", json=[{"ts": "2026-12-30"}])
    assert r.status_code == 400 and "customer_id" in r.json()["error"]["message"]
    assert client.get("/v1/customers/1").status_code == 404
    assert client.get("/v1/customers/1").json()["error"]["code"] == "not_found"
    client.post("/v1/events", json=[good])
    r = client.get("/v1/customers/1", params={"as_of": "2026-13-01"})
    assert r.status_code == 422 and "as_of" in r.json()["error"]["message"]
    r = client.get("/v1/customers/1", params={"as_of": "2026-12-01"})  # before last event
    assert r.status_code == 400 and "before this customer's last event" in r.text
    r = client.get("/v1/customers/abc")
    assert r.status_code == 400 and "not an integer" in r.json()["error"]["message"]
    r = client.post("/v1/customers:batch_get", json={"ids": list(range(1001))})
    assert r.status_code == 422 and "ids" in r.json()["error"]["message"]
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_body_limit_and_token(root_now, tmp_path):
    ev, root, log = root_now
    with LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False) as seg:
        client = TestClient(create_app(seg, token="s3cret", max_body=2000))
        assert client.get("/healthz").status_code == 200  # open for probes
        r = client.get("/v1/customers/1")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert client.get("/metrics").status_code == 401
        auth = {"authorization": "Bearer s3cret"}
        assert client.get("/v1/customers/1", headers=auth).status_code == 404
        big = _json_rows(log.head(100))
        r = client.post("/v1/events", json=big, headers=auth)
        assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
        assert seg.meta.seq == 0
        # chunked body without content-length: cut off while streaming
        r = client.post("/v1/events", content=iter([orjson.dumps(big)]), headers=auth)
        assert r.status_code == 413
        text = client.get("/metrics", headers=auth).text
        assert "archetype_http_request_seconds" in text
        spec = client.get("/openapi.json").json()
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert "/v1/customers:batch_get" in spec["paths"]
        client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_transitions_sse_on_a_real_server(root_now, tmp_path):
    import uvicorn

    ev, root, log = root_now
    seg = LiveSegmenter.open(root, state_dir=tmp_path / "st", background=False)
    app = create_app(seg, token="", heartbeat_s=0.2)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        got: list[dict] = []
        ready = threading.Event()

        def listen():
            with httpx.stream("GET", f"{base}/v1/transitions", timeout=30) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                ev_id = None
                for line in r.iter_lines():
                    ready.set()
                    if line.startswith("id: "):
                        ev_id = int(line[4:])
                    elif line.startswith("data: "):
                        d = json.loads(line[6:])
                        assert d["seq"] == ev_id
                        got.append(d)
                        if len(got) >= 5:
                            return

        t = threading.Thread(target=listen)
        t.start()
        assert ready.wait(10)
        r = httpx.post(f"{base}/v1/events", json=_json_rows(log.head(300)), timeout=30)
        assert r.status_code == 200 and r.json()["moved"] >= 5
        t.join(20)
        assert len(got) >= 5 and {
            "customer_id",
            "from_segment",
            "to_segment",
            "at",
            "model_version",
            "cause",
        } <= set(got[0])
        # resume with Last-Event-ID: the kept moves after it
        with httpx.stream(
            "GET",
            f"{base}/v1/transitions",
            headers={"last-event-id": str(got[1]["seq"])},
            timeout=30,
        ) as r:
            for line in r.iter_lines():
                if line.startswith("id: "):
                    assert int(line[4:]) == got[2]["seq"]
                    break
    finally:
        server.should_exit = True
        th.join(20)
        seg.close()


def test_fast_lookup_layer_answers_exactly_like_the_route(served):
    seg, client, log, root = served
    client.post("/v1/events", json=_json_rows(log.head(400)))
    slow = TestClient(create_app(seg, token="", fast_lookup=False))
    cid = int(log["customer_id"][0])
    cases = [
        f"/v1/customers/{cid}",
        f"/v1/customers/{cid}?as_of=2026-12-31",
        f"/v1/customers/{cid}?as_of=2027-01-05&pseudonymized=false",
        "/v1/customers/999999999",
        "/v1/customers/abc",
        f"/v1/customers/{cid}?as_of=x",
        f"/v1/customers/{cid}?pseudonymized=maybe",
        f"/v1/customers/{cid}?as_of=2026-11-01",
        "/v1/customers/%20",
    ]
    for url in cases:
        a, b = client.get(url), slow.get(url)
        assert (a.status_code, a.json()) == (b.status_code, b.json()), url
    slow.close()
