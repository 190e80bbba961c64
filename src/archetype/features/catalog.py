"""Look up feature metadata by name (for transforms fitted on a bare DataFrame)."""

from __future__ import annotations

from archetype.features.spec import FeatureSpec


def specs_for_names(names: list[str]) -> list[FeatureSpec]:
    """Specs of the default catalog, extended with channel/occasion columns present in ``names``."""
    import datetime as dt

    from archetype.features.build import feature_specs
    from archetype.features.config import FeatureConfig
    from archetype.features.context import FeatureContext

    channels = [n.removeprefix("channel_share_") for n in names if n.startswith("channel_share_")]
    occ = [n.removeprefix("occasion_share_") for n in names if n.startswith("occasion_share_")]
    cfg = FeatureConfig(occasions={o: ("01-01", "01-01") for o in occ})
    ctx = FeatureContext.make(dt.date(2000, 1, 1), 1, cfg, channels)
    return feature_specs(ctx)
