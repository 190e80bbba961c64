"""Typed request and response bodies of the HTTP API (the OpenAPI schema comes from these)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

CustomerId = int | str


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable kind: bad_request, not_found, ...")
    message: str = Field(description="One line: what is wrong and how to fix it")


class ErrorResponse(BaseModel):
    error: ErrorBody


class CustomerResponse(BaseModel):
    """Which segment a customer is in at ``features_as_of``, from ``model_version``."""

    model_config = ConfigDict(protected_namespaces=())

    customer_id: CustomerId
    found: bool = Field(description="False: no event of this customer was ever ingested")
    in_window: bool = Field(
        description="False: no event in the feature window at this as-of (not segmented)"
    )
    segment_id: int | None = Field(description="Stable segment id (same ids as the nightly run)")
    segment_name: str | None
    distance: float | None = Field(description="Distance to the segment's centroid")
    margin: float | None = Field(
        description="Second-nearest minus nearest distance: how sure the assignment is"
    )
    previous_segment_id: int | None = Field(description="Segment before the last move")
    moved_at: str | None = Field(description="Event time of the last move (ISO, log's zone)")
    model_version: str
    features_as_of: str | None = Field(description="As-of day the features were evaluated at")
    computed: str = Field(description="'stored' (kept current by ingest) or 'live' (just now)")


class BatchGetRequest(BaseModel):
    ids: list[CustomerId] = Field(
        min_length=1, max_length=1000, description="Customer ids (at most 1000)"
    )
    as_of: dt.date | None = Field(None, description="Default: the latest event time seen")
    pseudonymized: bool = Field(False, description="The ids are already pseudonyms")


class BatchGetResponse(BaseModel):
    customers: list[CustomerResponse]


class FeaturesResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    customer_id: CustomerId
    in_window: bool
    features: dict[str, float] | None = Field(
        description="Raw features, named as the columns of features.parquet"
    )
    model_version: str
    features_as_of: str


class IngestResponse(BaseModel):
    """What a POST /v1/events did; returned after the events are durable and visible."""

    model_config = ConfigDict(protected_namespaces=())

    received: int = Field(description="Records in the request")
    accepted: int = Field(description="Events applied (new)")
    duplicates: int = Field(description="Events whose id was applied before (idempotent retry)")
    too_old: int = Field(
        description="Events older than the feature window of their customer's latest event "
        "(they change no feature)"
    )
    ignored: int = Field(description="Records without customer id or with an unknown type")
    other_shard: int = Field(0, description="Events of customers another replica owns")
    customers: int = Field(description="Customers whose state changed")
    moved: int = Field(description="Of those, customers whose segment changed")
    watermark: str | None = Field(description="Latest event time seen (the default as-of)")
    seq: int = Field(description="Commit sequence number")
    model_version: str | None


class HealthResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), extra="allow")

    status: str
    model_version: str
    watermark: str | None
    customers: int
    events_applied: int
    duplicates: int
    commits: int
