"""Result documents against the JSON Schema; machine info."""

from __future__ import annotations

import copy

import pytest

from archetype.bench import harness
from archetype.bench.machine import LIBRARIES, machine_info
from archetype.bench.schema import RECORD_FIELDS, load_schema, validation_errors
from archetype.bench.suite import get_suite


def _doc():
    recs = [{"stage": "assign", "impl": "archetype", "role": "ours", "device": "cpu",
             "n": 1000, "d": 8, "k": 4, "seconds": 0.5, "inertia": 12.5,
             "peak_mem_bytes": 10**8, "extra": {}},
            {"stage": "assign", "impl": "faiss", "role": "peer", "device": "cpu",
             "n": 1000, "d": 8, "k": 4, "seconds": 0.25, "inertia": 12.5,
             "peak_mem_bytes": 10**8, "extra": {}},
            {"stage": "bandwidth", "impl": "numpy-read", "role": "floor", "device": "cpu",
             "n": 10**6, "d": 1, "k": 0, "seconds": 0.01, "inertia": None,
             "peak_mem_bytes": 10**8, "extra": {"gb_per_s": 8.0}}]
    recs += harness.stream_floors(recs)
    harness.add_ratios(recs, "cpu")
    return {"schema_version": 1, "suite": "tiny", "device": "cpu",
            "created_utc": "2026-01-01T00:00:00+00:00", "settings": {},
            "machine": machine_info(), "records": recs, "skipped": [],
            "scaling": harness.scaling(recs, get_suite("tiny"))}


def test_schema_requires_the_record_fields():
    item = load_schema()["properties"]["records"]["items"]
    assert tuple(item["required"]) == RECORD_FIELDS


def test_a_harness_document_validates():
    assert validation_errors(_doc()) == []


@pytest.mark.parametrize("field", RECORD_FIELDS)
def test_a_record_missing_a_field_is_named(field):
    doc = copy.deepcopy(_doc())
    del doc["records"][0][field]
    errors = validation_errors(doc)
    assert errors and errors[0].startswith("records/0") and field in errors[0]


def test_wrong_types_are_caught():
    doc = copy.deepcopy(_doc())
    doc["records"][1]["seconds"] = -1.0
    doc["records"][1]["device"] = "tpu"
    assert len(validation_errors(doc)) == 2


def test_machine_info_names_the_libraries():
    info = machine_info()
    assert set(LIBRARIES) == set(info["libraries"])
    assert info["libraries"]["numpy"] == __import__("numpy").__version__
    assert info["cpu_cores_logical"] >= 1 and info["ram_bytes"] > 0
    assert info["cpu_model"]
