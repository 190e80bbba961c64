"""``archetype serve`` as a child process, for the crash tests and the serve benchmark.

The child binds port 0 (its first line names the URL), does not bootstrap, does not watch
for new models and needs no token: ``spawn_serve(root, "--state-dir", state)`` then
``first_line_url(proc)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: What the service's first line says once it listens (followed by its URL).
READY = "serving model"


def serve_command(root: str | Path, *args: str) -> list[str]:
    """The command line of ``archetype serve`` over ``root`` with ``args`` added."""
    return [
        sys.executable,
        "-m",
        "archetype",
        "serve",
        "--root",
        str(root),
        "--port",
        "0",
        "--no-bootstrap",
        "--watch-models",
        "0",
        *args,
    ]


def spawn_serve(root: str | Path, *args: str) -> subprocess.Popen:
    """Start :func:`serve_command` (text pipes, ``ARCHETYPE_SERVE_TOKEN`` empty)."""
    env = {**os.environ, "ARCHETYPE_SERVE_TOKEN": ""}
    return subprocess.Popen(
        serve_command(root, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def first_line_url(proc: subprocess.Popen) -> str:
    """The ``http://host:port`` of the service's first line; a service that says anything
    else first is killed, and the error carries what it said and its stderr."""
    line = proc.stdout.readline()
    if READY not in line:
        proc.kill()
        raise RuntimeError(f"serve did not start: {line!r} {proc.stderr.read()}")
    return "http://" + line.split("http://")[1].split()[0]
