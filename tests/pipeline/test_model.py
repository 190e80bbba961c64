import numpy as np
import pytest

from archetype.errors import UserError
from archetype.pipeline.model import SegmentModel


def test_roundtrip(tmp_path, rng):
    c = rng.normal(size=(5, 3)).astype(np.float32)
    m = SegmentModel(c, ["a", "b", "c"], {"kind": "x"}, segment_ids=[3, 1, 4, 0, 9],
                     metrics={"inertia": 1.5})
    m.save(tmp_path / "m")
    m2 = SegmentModel.load(tmp_path / "m")
    np.testing.assert_array_equal(m2.centroids, c)
    assert m2.segment_ids == [3, 1, 4, 0, 9]
    assert m2.next_segment_id == 10
    assert m2.metrics == {"inertia": 1.5}
    assert m2.segment_id_array().dtype == np.int64


def test_load_missing_is_user_error(tmp_path):
    with pytest.raises(UserError, match="model directory not found"):
        SegmentModel.load(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(UserError, match="not a model directory"):
        SegmentModel.load(tmp_path / "m")
