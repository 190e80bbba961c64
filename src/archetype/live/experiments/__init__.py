"""Experiments attached to triggers: sticky bucketing, holdout, Thompson sampling, uplift.

See :mod:`archetype.live.experiments.runner` and docs/triggers.md.
"""

from archetype.live.experiments.bandit import prob_best, thompson_choice
from archetype.live.experiments.bucketing import bucket, fixed_variant
from archetype.live.experiments.config import (
    HOLDOUT,
    N_BUCKETS,
    ConversionRule,
    ExperimentConfig,
    parse_experiments,
)
from archetype.live.experiments.runner import ExperimentRunner, read_exposures
from archetype.live.experiments.uplift import exposures_frame, uplift_table

__all__ = [
    "HOLDOUT",
    "N_BUCKETS",
    "ConversionRule",
    "ExperimentConfig",
    "ExperimentRunner",
    "bucket",
    "exposures_frame",
    "fixed_variant",
    "parse_experiments",
    "prob_best",
    "read_exposures",
    "thompson_choice",
    "uplift_table",
]
