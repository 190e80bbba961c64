"""The live (incremental) form of every feature family of :mod:`archetype.features`.

One module per batch family, same name.  Each has ``FAMILY`` and
``values(i, c) -> dict[name, float]``: the family's features from the per-customer
intermediates ``i`` (the same ``_``-prefixed names as the batch aggregation in
:mod:`archetype.features.base`, computed from a live state by :mod:`.base`, plus the
family's own ones, like the batch ``frames``) and the :class:`~.base.LiveContext` ``c``.

:data:`LIVE_FAMILIES` follows :data:`archetype.features.build.FAMILY_MODULES`; a batch family
without a live module, or a feature a live module does not produce, fails
:class:`~archetype.live.definition.FeatureDefinition` construction and the tests.
"""

from __future__ import annotations

from archetype.features.build import FAMILY_MODULES
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

# Same order as the batch families.
LIVE_FAMILIES = tuple(_BY_FAMILY[m.FAMILY] for m in FAMILY_MODULES if m.FAMILY in _BY_FAMILY)
MISSING_FAMILIES = tuple(m.FAMILY for m in FAMILY_MODULES if m.FAMILY not in _BY_FAMILY)
