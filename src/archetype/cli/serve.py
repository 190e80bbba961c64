"""CLI command: ``archetype serve`` — live segments over HTTP."""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
from pathlib import Path
from typing import Annotated

import typer

from archetype.cli._common import console, err_console
from archetype.errors import UserError
from archetype.vocab import AutomationMode, StoreKind

log = logging.getLogger(__name__)

EXAMPLE = """
Example (after `archetype run --events data/events --out seg --k 9 --date 2026-12-30`):

  archetype serve --root seg --follow data/events
  curl -s localhost:8000/v1/customers/42
  curl -s -X POST localhost:8000/v1/events -H 'content-type: application/x-ndjson' \\
       --data-binary '{"customer_id": 42, "ts": "2026-12-31 10:00:00", "event_type": "view"}'

Set ARCHETYPE_SERVE_TOKEN to require `Authorization: Bearer <token>`.
"""


def register(app: typer.Typer) -> None:
    app.command("serve", epilog=EXAMPLE)(serve)


def _parse_shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        i, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise UserError(f"--shard={value!r} should be I/N, e.g. 0/3") from None
    if not (n >= 1 and 0 <= i < n):
        raise UserError(f"--shard={value!r}: want 0 <= I < N")
    return i, n


def serve(
    root: Annotated[
        Path,
        typer.Option(
            "--root", help="Pipeline root of `archetype run` (its models/CURRENT is served)."
        ),
    ],
    host: Annotated[
        str, typer.Option(help="Address to bind; 0.0.0.0 exposes the service to the network.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port (0: any free port, printed).", min=0, max=65535)
    ] = 8000,
    follow: Annotated[
        Path | None,
        typer.Option(
            "--follow",
            help="Folder to tail: new Parquet/CSV/NDJSON files are ingested, "
            "exactly once across restarts.",
        ),
    ] = None,
    store: Annotated[
        StoreKind, typer.Option(help="State store: lmdb (embedded) or redis.")
    ] = StoreKind.LMDB,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Folder of the lmdb store (default ROOT/live/state)."),
    ] = None,
    redis_url: Annotated[
        str,
        typer.Option(
            "--redis-url",
            envvar="ARCHETYPE_REDIS_URL",
            help="Redis for --store redis (password: ARCHETYPE_REDIS_PASSWORD).",
        ),
    ] = "redis://localhost:6379/0",
    shard: Annotated[
        str | None,
        typer.Option(
            help="I/N: this replica owns the customers hashing to I of N (Redis keyspace "
            "archetype:I:)."
        ),
    ] = None,
    token_env: Annotated[
        str,
        typer.Option(
            "--token-env",
            help="Environment variable holding the bearer token (unset: no token needed).",
        ),
    ] = "ARCHETYPE_SERVE_TOKEN",
    max_body_mb: Annotated[
        float, typer.Option(help="Largest request body, MiB.", min=0.001)
    ] = 16.0,
    bootstrap: Annotated[
        bool,
        typer.Option(
            help="On an empty state, first ingest the model's event log (its feature "
            "manifest's events path)."
        ),
    ] = True,
    poll: Annotated[float, typer.Option(help="Seconds between scans of --follow.", min=0.01)] = 1.0,
    chunk_rows: Annotated[
        int,
        typer.Option(
            help="Events of a followed file per commit (its offset commits with them).", min=1
        ),
    ] = 20_000,
    watch_models: Annotated[
        float,
        typer.Option(
            help="Seconds between checks of models/CURRENT for a new model (0: never).", min=0
        ),
    ] = 2.0,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML with [triggers], [experiments] and [learning] tables (docs/triggers.md): "
            "triggers and experiments run in event time, firings go to the outbox and "
            "webhooks (secret for signatures in ARCHETYPE_WEBHOOK_SECRET).",
        ),
    ] = None,
    automation: Annotated[
        AutomationMode,
        typer.Option(
            "--automation",
            help="Where --config's triggers and learning run: process (a worker process "
            "beside the service, off the ingest path), thread, or inline (in the ingest "
            "commits).  See docs/triggers.md.",
        ),
    ] = AutomationMode.PROCESS,
) -> None:
    """Serve the live segment of every customer: events in (HTTP, or a followed folder),
    answers in about a millisecond, from the nightly run's current model."""
    from archetype.live.definition import load_kernels
    from archetype.live.follow import Follower
    from archetype.live.segmenter import LiveSegmenter

    sh = _parse_shard(shard)
    spec = "lmdb" if store == "lmdb" else _redis_spec(redis_url, sh)
    if follow is not None and not follow.exists():
        raise UserError("--follow: no such file or folder", path=follow)
    auto_cfg = None
    if config is not None:
        from archetype.live.automation import load_config

        auto_cfg = load_config(config)  # before anything is opened: a bad file is one line
    seg = LiveSegmenter.open(
        root, spec, state_dir=state_dir, watch_s=watch_models or None, shard=sh
    )
    took = load_kernels()  # compiled once per install (Numba's disk cache), then loaded
    if took > 2:
        err_console.print(f"compiled the live feature kernels in {took:.0f} s", highlight=False)
    # What start-up loaded (modules, model) lives as long as the process: keep it out of
    # the collector's full passes, which the writer's per-customer objects trigger
    # (measured: +30% ingest events per CPU-second; docs/live-features.md).
    gc.collect()
    gc.freeze()
    follower = None
    auto = None
    try:
        if auto_cfg is not None:
            import os

            from archetype.live.hooks import attach

            secret = os.environ.get("ARCHETYPE_WEBHOOK_SECRET")
            auto = attach(
                seg, auto_cfg, mode=automation, secret=secret.encode() if secret else None
            )
        events = seg.model.events_path
        if (
            bootstrap
            and seg.meta.seq == 0
            and events
            and Path(events).exists()
            and (follow is None or Path(events).resolve() != follow.resolve())
        ):
            err_console.print(f"bootstrapping the live state from {events} ...", highlight=False)
            muted = auto.muted() if auto else contextlib.nullcontext()
            with muted, seg.bulk():  # history: no firing, no exposure, no cooldown from it
                n = Follower(seg, events, chunk_rows=chunk_rows, defer_assign=True).scan_once()
            err_console.print(
                f"bootstrapped {n:,} events, {seg.meta.customers:,} customers", highlight=False
            )
        if follow is not None:
            follower = Follower(seg, follow, poll_s=poll, chunk_rows=chunk_rows).start()
        _run_server(seg, host, port, token_env, int(max_body_mb * 1024 * 1024), follower)
    finally:
        if follower is not None:
            follower.stop()
        if auto is not None:
            auto.close()
        seg.close()


def _redis_spec(url: str, shard: tuple[int, int] | None) -> str:
    if "prefix=" in url:
        return url
    prefix = "archetype:" if shard is None else f"archetype:{shard[0]}:"
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


def _run_server(seg, host: str, port: int, token_env: str, max_body: int, follower) -> None:
    import os

    import uvicorn

    from archetype.serve.app import create_app

    app = create_app(seg, token_env=token_env, max_body=max_body)
    if follower is not None:
        app.state.follower = follower
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror})") from None
    actual = sock.getsockname()[1]
    auth = "bearer token required" if os.environ.get(token_env) else "no token"
    m = seg.model
    console.print(
        f"serving model {m.version} on http://{host}:{actual} ({auth}; state "
        f"{seg.store.location}; {seg.meta.customers:,} customers)",
        highlight=False,
        soft_wrap=True,
    )
    cfg = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
    )
    uvicorn.Server(cfg).run(sockets=[sock])
