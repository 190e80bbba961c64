"""Behavioral features: one module per family, composed into one Polars plan.

>>> fs = compute_feature_dir("events/", date(2026, 12, 31), "feat/")   # doctest: +SKIP
>>> fs.embedding.shape                                                # doctest: +SKIP
"""

from archetype.features.build import build_features, build_lazy, feature_specs
from archetype.features.config import DEFAULT_OCCASIONS, FAMILIES, FeatureConfig
from archetype.features.featureset import (
    FeatureSet,
    compute_feature_dir,
    compute_features,
    load_feature_dir,
)
from archetype.features.spec import FeatureSpec
from archetype.features.transform import FeatureTransform

__all__ = [
    "DEFAULT_OCCASIONS",
    "FAMILIES",
    "FeatureConfig",
    "FeatureSet",
    "FeatureSpec",
    "FeatureTransform",
    "build_features",
    "build_lazy",
    "compute_feature_dir",
    "compute_features",
    "feature_specs",
    "load_feature_dir",
]
