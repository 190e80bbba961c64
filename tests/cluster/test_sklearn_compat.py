"""scikit-learn's own estimator checks."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from archetype import MiniBatchKMeans

EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": (
        "Seeding and mini-batches draw random rows: repeating a row changes which rows are "
        "drawn, so the clusters match only up to a permutation / local optimum (scikit-learn "
        "marks its own KMeans and MiniBatchKMeans the same way). Weighted Lloyd passes from a "
        "fixed init are equivalent; see test_sample_weight_equals_repetition."
    ),
}


@parametrize_with_checks(
    [MiniBatchKMeans(device="cpu")], expected_failed_checks=lambda est: EXPECTED_FAILED
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
