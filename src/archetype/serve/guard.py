"""ASGI middleware in front of every route: bearer token, body size limit, latency metric.

Pure ASGI (no per-request task or body copy) so that it costs microseconds.  Refusals are
JSON bodies like every other error: ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

import orjson

OPEN_PATHS = frozenset({"/healthz", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"})


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


async def send_error(
    send: Any, status: int, code: str, message: str, headers: list | None = None
) -> None:
    await send_json(send, status, error_body(code, message), headers)


async def send_json(send: Any, status: int, body: bytes, headers: list | None = None) -> None:
    """A whole JSON response (``body`` already serialized) through the raw ASGI ``send``."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


class Guard:
    """Wraps the app: checks the token, caps request bodies, times requests by route."""

    def __init__(self, app: Any, *, token: str | None, max_body: int, metrics: Any) -> None:
        self.app = app
        self.token = None if not token else f"Bearer {token}".encode()
        self.max_body = int(max_body)
        self.metrics = metrics
        self._hist: dict[str, Any] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        path = scope["path"]
        headers = (
            dict(scope["headers"])
            if self.token is not None or scope["method"] not in ("GET", "HEAD")
            else {}
        )
        if self.token is not None and path not in OPEN_PATHS:
            got = headers.get(b"authorization", b"")
            if not hmac.compare_digest(got, self.token):
                await send_error(
                    send,
                    401,
                    "unauthorized",
                    "missing or wrong bearer token (Authorization: Bearer ...)",
                    [(b"www-authenticate", b"Bearer")],
                )
                return
        if scope["method"] in ("GET", "HEAD"):  # no body to cap: no wrappers
            try:
                await self.app(scope, receive, send)
            finally:
                self._observe(scope, path, t0)
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await send_error(
                send,
                413,
                "too_large",
                f"request body of {int(length):,} bytes; the limit is "
                f"{self.max_body:,} (split the batch)",
            )
            return
        seen = 0
        limit = self.max_body

        async def capped_receive() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return msg

        started = False

        async def tracking_send(msg: dict) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, capped_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await send_error(
                    send, 413, "too_large", f"request body over {limit:,} bytes (split the batch)"
                )
        finally:
            self._observe(scope, path, t0)

    def _observe(self, scope: dict, path: str, t0: float) -> None:
        route = scope.get("route")
        name = getattr(route, "path", None) or (
            "/v1/customers/{customer_id}" if path.startswith("/v1/customers/") else "other"
        )
        h = self._hist.get(name)
        if h is None:
            h = self._hist[name] = self.metrics.http_seconds.labels(name)
        h.observe(time.perf_counter() - t0)
