"""The HTTP face of :class:`archetype.live.LiveSegmenter` (FastAPI).

``create_app(segmenter)`` builds the app; routes parse, call the segmenter, shape the
answer.  Nothing here computes a feature or a segment.

==========================================  ===============================================
``POST /v1/events``                         JSON array or NDJSON of events; 200 after commit
``GET  /v1/customers/{id}``                 segment, distance, margin, previous, moved_at
``POST /v1/customers:batch_get``            the same for up to 1000 ids, one snapshot
``GET  /v1/customers/{id}/features``        ``{"features": {name: value}}`` (batch names)
``GET  /v1/transitions``                    server-sent events of segment moves
``GET  /healthz``, ``GET /metrics``         liveness + facts; Prometheus text
==========================================  ===============================================
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from typing import Annotated, Any
from urllib.parse import unquote

import orjson
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException

from archetype import __version__
from archetype.errors import UserError
from archetype.live.answers import CustomerNotFound
from archetype.live.segmenter import WrongShard
from archetype.serve.guard import Guard, error_body, send_json
from archetype.serve.models import (
    BatchGetRequest,
    BatchGetResponse,
    CustomerResponse,
    ErrorResponse,
    FeaturesResponse,
    HealthResponse,
    IngestResponse,
)

log = logging.getLogger(__name__)

TOKEN_ENV = "ARCHETYPE_SERVE_TOKEN"
DEFAULT_MAX_BODY = 16 * 1024 * 1024
_NDJSON = (
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "text/plain",
)
_ERRORS = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}


_LOOKUP_QUERY = [
    {
        "name": "as_of",
        "in": "query",
        "required": False,
        "description": "YYYY-MM-DD; default: the latest event time seen",
        "schema": {"type": "string", "format": "date"},
    },
    {
        "name": "pseudonymized",
        "in": "query",
        "required": False,
        "description": "The id is already a pseudonym",
        "schema": {"type": "boolean", "default": False},
    },
]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _lookup_query(q: Any) -> tuple[dt.date | None, bool]:
    """``as_of`` and ``pseudonymized`` of a lookup's query string (422 when malformed)."""
    as_of = q.get("as_of")
    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise _Invalid(f"as_of: {as_of!r} is not a date YYYY-MM-DD") from None
    p = q.get("pseudonymized", "false").lower()
    if p not in _TRUE | _FALSE:
        raise _Invalid(f"pseudonymized: {p!r} is not a boolean")
    return day, p in _TRUE


class _Invalid(ValueError):
    """A malformed query parameter (422)."""


_LOOKUP = re.compile(r"^/v1/customers/([^/:]+)$")


def _error_of(e: Exception) -> tuple[int, str, str] | None:
    """(status, code, message) of the errors a lookup may raise; None for a bug."""
    if isinstance(e, WrongShard):
        return 421, "wrong_shard", str(e)
    if isinstance(e, UserError):
        return 400, "bad_request", str(e)
    if isinstance(e, CustomerNotFound):
        return 404, "not_found", str(e)
    if isinstance(e, _Invalid):
        return 422, "invalid", str(e)
    return None


class FastLookup:
    """``GET /v1/customers/{id}`` without the framework's routing (see ``fast_lookup``)."""

    def __init__(self, app: Any, *, segmenter: Any) -> None:
        self.app = app
        self.segmenter = segmenter

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        m = _LOOKUP.match(scope["path"]) if scope["type"] == "http" else None
        if m is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        try:
            q = QueryParams(scope.get("query_string", b""))
            as_of, pseudo = _lookup_query(q)
            cid = unquote(m.group(1))
            status, body = (
                200,
                orjson.dumps(self.segmenter.get(cid, as_of, pseudonymized=pseudo).to_dict()),
            )
        except Exception as e:
            err = _error_of(e)
            if err is None:
                raise
            status, body = err[0], error_body(err[1], err[2])
        await send_json(send, status, body)


def _json(obj: Any) -> Response:
    """A JSON response serialized once with orjson (the route's response_model documents
    the shape; returning a Response skips FastAPI's second validation pass)."""
    return Response(orjson.dumps(obj), media_type="application/json")


def _err(status: int, code: str, message: str) -> Response:
    return Response(error_body(code, message), status_code=status, media_type="application/json")


def create_app(
    segmenter: Any,
    *,
    token: str | None = None,
    token_env: str = TOKEN_ENV,
    max_body: int = DEFAULT_MAX_BODY,
    heartbeat_s: float = 15.0,
    fast_lookup: bool = True,
) -> Any:
    """The ASGI app over ``segmenter`` (a :class:`~archetype.live.LiveSegmenter`).

    Parameters
    ----------
    token : str, optional
        Bearer token every route but /healthz and the docs requires; default: the value of
        the environment variable ``token_env`` (no token, no check).
    max_body : int
        Largest request body in bytes (413 above it).
    heartbeat_s : float
        Seconds between keep-alive comments on the transitions stream.
    fast_lookup : bool
        Answer ``GET /v1/customers/{id}`` in a thin ASGI layer in front of FastAPI (same
        code and errors as the route, which still defines the schema): the hot lookup skips
        FastAPI's routing and parameter machinery (~2/3 of its CPU per request).
    """
    token = token if token is not None else os.environ.get(token_env) or None
    app = FastAPI(
        title="archetype serve",
        version=__version__,
        description="Live behavioral segments: events in, the segment of any customer now.",
        responses=_ERRORS,
    )
    app.state.segmenter = segmenter

    # ------------------------------------------------------------ errors: one JSON line
    @app.exception_handler(UserError)
    @app.exception_handler(CustomerNotFound)
    @app.exception_handler(_Invalid)
    async def _known(_: Request, e: Exception) -> Response:
        return _err(*_error_of(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> Response:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        msg = (
            f"{where}: {first.get('msg', 'invalid request')}"
            if where
            else first.get("msg", "invalid request")
        )
        return _err(422, "invalid", msg)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return _err(e.status_code, code, str(e.detail))

    @app.exception_handler(Exception)
    async def _bug(_: Request, e: Exception) -> Response:
        log.exception("unhandled error")
        return _err(500, "internal", f"internal error ({type(e).__name__}); see the server log")

    # ------------------------------------------------------------ ingest
    @app.post(
        "/v1/events",
        response_model=IngestResponse,
        tags=["ingest"],
        summary="Ingest events (JSON array or NDJSON)",
    )
    async def post_events(
        request: Request,
        content_type: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Events with the event log's column names (the model's column and event-type
        maps apply).  A bad record refuses the whole request (400 naming the item/line and
        field).  Idempotent by event id (or by content without one).  Answers after the
        events are durable and visible to lookups."""
        t0 = time.perf_counter()
        body = await request.body()
        ctype = (content_type or "").split(";")[0].strip().lower()
        ndjson = ctype in _NDJSON or (
            ctype == "" and body.lstrip()[:1] == b"{" and b"\n" in body.strip()
        )
        res = await run_in_threadpool(
            segmenter.ingest_json, body, ndjson=ndjson, source="POST /v1/events", received_at=t0
        )
        return _json(res.to_dict())

    # ------------------------------------------------------------ lookups
    @app.get(
        "/v1/customers/{customer_id}",
        response_model=CustomerResponse,
        tags=["lookup"],
        summary="The segment of one customer",
        openapi_extra={"parameters": _LOOKUP_QUERY},
    )
    async def get_customer(request: Request) -> Any:
        # the hot path: query parameters read directly (documented via openapi_extra),
        # which saves FastAPI's per-parameter validation on every lookup
        cid = request.path_params["customer_id"]
        as_of, pseudo = _lookup_query(request.query_params)
        return _json(segmenter.get(cid, as_of, pseudonymized=pseudo).to_dict())

    @app.post(
        "/v1/customers:batch_get",
        response_model=BatchGetResponse,
        tags=["lookup"],
        summary="The segments of up to 1000 customers (one snapshot)",
    )
    async def batch_get(req: BatchGetRequest) -> Any:
        ans = segmenter.batch_get(req.ids, req.as_of, pseudonymized=req.pseudonymized)
        return _json({"customers": [a.to_dict() for a in ans]})

    @app.get(
        "/v1/customers/{customer_id}/features",
        response_model=FeaturesResponse,
        tags=["lookup"],
        summary="Raw features of one customer",
    )
    async def get_features(
        customer_id: str,
        as_of: dt.date | None = None,
        pseudonymized: bool = False,
    ) -> Any:
        return _json(segmenter.features(customer_id, as_of, pseudonymized=pseudonymized).to_dict())

    # ------------------------------------------------------------ transitions (SSE)
    @app.get(
        "/v1/transitions",
        tags=["transitions"],
        summary="Server-sent events of segment moves",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def transitions(
        request: Request,
        after: Annotated[
            int | None, Query(ge=0, description="Replay kept moves after this seq first")
        ] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Each move is ``id: <seq>``, ``event: transition``, ``data: {customer_id,
        from_segment, to_segment, at, model_version, cause}``; reconnecting with
        ``Last-Event-ID`` resumes after it."""
        if after is None and last_event_id and last_event_id.strip().isdigit():
            after = int(last_event_id)
        sub = segmenter.transitions(after)

        async def stream():
            try:
                yield b": connected\n\n"
                while not sub.closed:
                    items = await sub.aget(timeout=heartbeat_s)
                    if await request.is_disconnected():
                        return
                    if not items:
                        yield b": keep-alive\n\n"
                        continue
                    chunk = []
                    for t in items:
                        chunk.append(
                            b"id: %d\nevent: transition\ndata: %s\n\n"
                            % (t.seq, orjson.dumps(t.to_dict()))
                        )
                    if sub.dropped:
                        chunk.append(
                            b"event: gap\ndata: %s\n\n" % orjson.dumps({"dropped": sub.dropped})
                        )
                        sub.dropped = 0
                    yield b"".join(chunk)
            finally:
                sub.close()

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # ------------------------------------------------------------ operations
    @app.get("/healthz", response_model=HealthResponse, tags=["operations"])
    async def healthz(request: Request) -> Any:
        h = segmenter.health()
        follower = getattr(request.app.state, "follower", None)
        if follower is not None:
            h["follow"] = await run_in_threadpool(follower.status)
        return h

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics() -> Response:
        return Response(
            segmenter.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    original_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original_openapi()
        if token:
            comps = schema.setdefault("components", {})
            comps.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
            schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
    if fast_lookup:
        app.add_middleware(FastLookup, segmenter=segmenter)
    app.add_middleware(Guard, token=token, max_body=max_body, metrics=segmenter.metrics)
    return app
