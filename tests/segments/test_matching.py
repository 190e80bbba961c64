import itertools

import numpy as np
import pytest

from archetype.segments.matching import (
    distance_scale,
    match_cost,
    match_segments,
    match_segments_detailed,
    overlap_matrix,
)


def _brute_force(cost):
    """Minimum-cost one-to-one matching by enumeration (square cost)."""
    k = cost.shape[0]
    best = min(itertools.permutations(range(k)), key=lambda p: cost[np.arange(k), p].sum())
    return list(best)


def test_permuted_centroids_keep_their_ids(rng):
    old = rng.normal(size=(6, 5)) * 10
    perm = rng.permutation(6)
    new = old[perm] + rng.normal(scale=0.01, size=(6, 5))
    old_ids = [10, 11, 12, 13, 14, 15]
    res = match_segments_detailed(old, new, old_ids, next_id=20)
    assert res.ids == [old_ids[p] for p in perm]
    assert res.new_ids == [] and res.retired_ids == [] and res.next_id == 20
    assert match_segments(old, new, old_ids, next_id=20) == res.ids


def test_hungarian_matches_brute_force(rng):
    for _ in range(5):
        old = rng.normal(size=(5, 3))
        new = rng.normal(size=(5, 3))
        old_l = rng.integers(0, 5, size=200)
        new_l = rng.integers(0, 5, size=200)
        cost = match_cost(old, new, old_labels=old_l, new_labels=new_l)
        best = _brute_force(cost)  # best[i] = new row matched to old row i
        res = match_segments_detailed(old, new, [0, 1, 2, 3, 4], old_labels=old_l,
                                      new_labels=new_l, max_cost=1.0)
        got = [res.ids.index(i) for i in range(5)]
        assert cost[np.arange(5), got].sum() == pytest.approx(cost[np.arange(5), best].sum())


def test_genuinely_new_segment_gets_next_id_and_old_is_retired():
    old = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    new = np.array([[0.1, 0.0], [10.0, 0.1], [50.0, 50.0]])  # third is far from everything
    res = match_segments_detailed(old, new, [0, 1, 7], next_id=9)
    assert res.ids == [0, 1, 9]
    assert res.new_ids == [9] and res.retired_ids == [7] and res.next_id == 10


def test_more_and_fewer_segments():
    old = np.array([[0.0, 0.0], [10.0, 0.0]])
    new = np.array([[10.0, 0.2], [0.0, 0.1], [0.0, 30.0]])
    res = match_segments_detailed(old, new, [3, 5], next_id=8)
    assert res.ids == [5, 3, 8] and res.next_id == 9
    res2 = match_segments_detailed(new, old, [5, 3, 8], next_id=9)
    assert res2.ids == [3, 5] and res2.retired_ids == [8] and res2.next_id == 9


def test_overlap_decides_when_distance_is_ambiguous():
    # two new centroids equidistant from both old ones: only membership can tell
    old = np.array([[-1.0, 0.0], [1.0, 0.0]])
    new = np.array([[0.0, 1.0], [0.0, -1.0]])
    old_l = np.array([0] * 50 + [1] * 50)
    new_l = np.array([1] * 50 + [0] * 50)  # old 0's members are now in new row 1
    res = match_segments_detailed(old, new, [4, 6], old_labels=old_l, new_labels=new_l)
    assert res.ids == [6, 4]


def test_overlap_matrix_hand_worked():
    old = np.array([0, 0, 1, 1, 1, -1])
    new = np.array([0, 1, 1, 1, 0, 0])
    jac = overlap_matrix(old, new, 2, 2)
    # old0={0,1}, old1={2,3,4}; new0 (known)={0,4}, new1={1,2,3}
    np.testing.assert_allclose(jac, [[1 / 3, 1 / 4], [1 / 4, 2 / 4]])


def test_distance_scale_is_median_pairwise():
    c = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    assert distance_scale(c) == pytest.approx(4.0)  # distances 3, 4, 5
    assert distance_scale(c[:1]) == 1.0


def test_no_old_segments_all_new():
    res = match_segments_detailed(np.zeros((0, 2)), np.ones((3, 2)), [], next_id=4)
    assert res.ids == [4, 5, 6] and res.next_id == 7
