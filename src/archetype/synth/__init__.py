"""Synthetic event logs with planted behavioral archetypes (``archetype synth``).

>>> from archetype.synth import generate, ARCHETYPES
>>> summary = generate("/tmp/synth", customers=10_000, days=365, seed=1)  # doctest: +SKIP

Writes ``events/date=YYYY-MM-DD/part-BBBBB.parquet`` (hive-partitioned by day) and
``truth.parquet`` (``customer_id, archetype``).  The archetypes, their behavior and their
parameters are described in ``README.md`` next to this module and in
:mod:`archetype.synth.archetypes`.
"""

from __future__ import annotations

from archetype.synth.archetypes import ARCHETYPE_MIX, ARCHETYPES, SPECS, ArchetypeSpec
from archetype.synth.generator import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_END_DATE,
    SynthSummary,
    generate,
)
from archetype.synth.writer import EVENT_SCHEMA

__all__ = [
    "ARCHETYPES",
    "ARCHETYPE_MIX",
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_END_DATE",
    "EVENT_SCHEMA",
    "SPECS",
    "ArchetypeSpec",
    "SynthSummary",
    "generate",
]
