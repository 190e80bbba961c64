"""The live (incremental) form of every feature family of :mod:`archetype.features`.

One module per batch family, same name.  Each has ``FAMILY`` and
``values(i, c) -> dict[name, float]``: the family's features from the per-customer
intermediates ``i`` (the same ``_``-prefixed names as the batch aggregation in
:mod:`archetype.features.base`, computed from a live state by :mod:`.base`, plus the
family's own ones, like the batch ``frames``) and the :class:`~.base.LiveContext` ``c``.

:func:`live_families` follows :data:`archetype.features.build.FAMILY_MODULES`; a batch
family without a live module, or a batch feature no live module produces, makes
:class:`~archetype.live.definition.FeatureDefinition` construction raise (and the tests
fail): a feature cannot be added to one side only.
"""

from __future__ import annotations

from archetype.features import build
from archetype.live.incremental import (
    content,
    engagement,
    loyalty,
    occasions,
    purchase,
    rfm,
    timing,
    usage,
)

_BY_FAMILY = {
    m.FAMILY: m for m in (rfm, usage, purchase, timing, occasions, loyalty, engagement, content)
}


def live_families() -> tuple:
    """Live modules in the order of the batch families (read at call time)."""
    return tuple(_BY_FAMILY[m.FAMILY] for m in build.FAMILY_MODULES if m.FAMILY in _BY_FAMILY)


def missing_families() -> tuple[str, ...]:
    """Batch families that have no live module."""
    return tuple(m.FAMILY for m in build.FAMILY_MODULES if m.FAMILY not in _BY_FAMILY)


LIVE_FAMILIES = live_families()
