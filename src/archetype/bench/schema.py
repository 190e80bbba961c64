"""The documented shape of a bench result file (``bench_schema.json``, JSON Schema 2020-12)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "bench_schema.json"
#: The fields every measurement record has (the schema requires them; more are allowed).
RECORD_FIELDS = ("stage", "impl", "device", "n", "d", "k", "seconds", "inertia",
                 "peak_mem_bytes")


@cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema of a result document."""
    return json.loads(resources.files("archetype.bench").joinpath(SCHEMA_FILE).read_text())


def validation_errors(doc: dict[str, Any]) -> list[str]:
    """Every way ``doc`` breaks the schema, as ``"path: message"`` lines (empty if valid).

    Needs :mod:`jsonschema` (a dev/bench dependency).
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    out = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "<root>"
        out.append(f"{where}: {err.message}")
    return out
