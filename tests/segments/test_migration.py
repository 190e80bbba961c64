import numpy as np
import polars as pl
import pytest

from archetype.segments.migration import (
    attach_previous,
    centroid_shift,
    drift_summary,
    migration_matrix,
    transitions,
)


@pytest.fixture
def frames():
    cur = pl.DataFrame({"customer_id": [1, 2, 3, 4, 5], "segment_id": [0, 1, 1, 2, 0]})
    prev = pl.DataFrame({"customer_id": [2, 1, 3, 6, 4], "segment_id": [1, 0, 0, 2, 2]})
    return cur, prev


def test_attach_previous_keeps_order(frames):
    cur, prev = frames
    out = attach_previous(cur, prev)
    assert out["customer_id"].to_list() == [1, 2, 3, 4, 5]
    assert out["previous_segment_id"].to_list() == [0, 1, 0, 2, None]
    assert attach_previous(cur, None)["previous_segment_id"].null_count() == 5


def test_transitions_are_the_movers(frames):
    cur, prev = frames
    t = transitions(attach_previous(cur, prev))
    assert t.to_dicts() == [{"customer_id": 3, "from_segment_id": 0, "to_segment_id": 1}]


def test_migration_matrix_counts_everyone(frames):
    cur, prev = frames
    m = migration_matrix(attach_previous(cur, prev), prev)
    got = {(r["from_segment_id"], r["to_segment_id"]): r["customers"] for r in m.to_dicts()}
    # 1: 0->0, 2: 1->1, 3: 0->1, 4: 2->2, 5: new->0, 6: 2->gone
    assert got == {(0, 0): 1, (1, 1): 1, (0, 1): 1, (2, 2): 1, (None, 0): 1, (2, None): 1}
    assert m["customers"].sum() == 6


def test_centroid_shift_and_drift(frames):
    cur, prev = frames
    old = np.array([[0.0, 0.0], [1.0, 1.0]])
    new = np.array([[1.0, 1.0], [3.0, 4.0], [9.0, 9.0]])
    shift = centroid_shift(old, [5, 7], new, [7, 5, 8])
    assert shift == {7: 0.0, 5: 5.0}
    d = drift_summary(attach_previous(cur, prev), shift, new_ids=[8], retired_ids=[])
    assert d["customers_in_both"] == 4 and d["customers_moved"] == 1
    assert d["share_moved"] == 0.25 and d["customers_new"] == 1
    assert d["mean_centroid_shift"] == 2.5 and d["max_centroid_shift"] == 5.0
