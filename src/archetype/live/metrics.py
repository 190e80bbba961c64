"""Prometheus metrics of one segmenter (its own registry: no module-level globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

# Latency buckets from 50 us to 10 s.
_LAT = (
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    5e-2,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
)


class Metrics:
    """Counters, gauges and latency histograms; ``render()`` gives the Prometheus text."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.events = Counter(
            "archetype_ingest_events",
            "Events received, by outcome "
            "(applied, duplicate: event id seen before, ignored: null id or unknown type)",
            ["outcome"],
            registry=r,
        )
        self.batches = Counter(
            "archetype_ingest_batches", "Ingest batches committed", ["source"], registry=r
        )
        self.rejected = Counter(
            "archetype_ingest_rejected_batches",
            "Ingest batches refused as invalid",
            ["source"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "archetype_commit_seconds",
            "Duration of one durable commit (a group of batches)",
            buckets=_LAT,
            registry=r,
        )
        self.stage_seconds = Counter(
            "archetype_commit_stage_seconds",
            "Writer time per commit step (load, apply, encode, assign, listeners, meta, "
            "store = the durable commit itself)",
            ["stage"],
            registry=r,
        )
        self.visible_seconds = Histogram(
            "archetype_event_visible_seconds",
            "From receiving a batch to its events being visible to lookups (committed)",
            buckets=_LAT,
            registry=r,
        )
        self.lookup_seconds = Histogram(
            "archetype_lookup_seconds",
            "In-process lookup latency",
            ["op"],
            buckets=_LAT,
            registry=r,
        )
        self.watermark = Gauge(
            "archetype_event_time_watermark_seconds",
            "Latest event time applied (seconds since epoch, log's zone)",
            registry=r,
        )
        self.customers = Gauge("archetype_customers", "Customers with a state", registry=r)
        self.transitions = Counter("archetype_transitions", "Segment moves", ["cause"], registry=r)
        self.model_info = Gauge(
            "archetype_model_info", "The model answering (value 1)", ["version"], registry=r
        )
        self.model_swaps = Counter("archetype_model_swaps", "Model swaps", registry=r)
        self.model_errors = Counter(
            "archetype_model_load_errors", "Failed loads of a new CURRENT model", registry=r
        )
        self.reassign_pending = Gauge(
            "archetype_reassign_pending",
            "Customers whose stored assignment is older than the as-of day or model "
            "(answered lazily until the background re-assign reaches them)",
            registry=r,
        )
        self.follow_files = Gauge(
            "archetype_follow_files", "Followed files, by state", ["state"], registry=r
        )
        self.follow_lag = Gauge(
            "archetype_follow_lag_seconds",
            "Age of the oldest followed file not yet fully ingested",
            registry=r,
        )
        self.http_seconds = Histogram(
            "archetype_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=_LAT,
            registry=r,
        )
        self._version: str | None = None

    def set_model(self, version: str) -> None:
        if self._version is not None:
            self.model_info.remove(self._version)
        self.model_info.labels(version).set(1)
        self._version = version

    def render(self) -> bytes:
        return generate_latest(self.registry)
