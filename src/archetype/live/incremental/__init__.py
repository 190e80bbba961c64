"""The live (incremental) form of every feature family of :mod:`archetype.features`.

One module per batch family, same name.  Each has ``FAMILY``, ``names(c)`` (the features
it produces for a :class:`~.base.LiveContext`, in order) and a Numba kernel
``values(i, cx, out)`` that writes them from the per-customer intermediates ``i`` (the
same ``_``-prefixed quantities as the batch aggregation in :mod:`archetype.features.base`,
computed from a customer's packed table by :func:`.base.aggregate`, plus the family's own
ones, like the batch ``frames``: :func:`.timing.intermediates`,
:func:`.content.intermediates`).  :mod:`.evaluate` runs them all, for one customer or many
per call.

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

#: The live modules in the order :mod:`.evaluate` runs them (its row blocks).
LIVE_MODULES = (rfm, usage, purchase, timing, occasions, loyalty, engagement, content)
_BY_FAMILY = {m.FAMILY: m for m in LIVE_MODULES}


def live_families() -> tuple:
    """Live modules in the order of the batch families (read at call time)."""
    return tuple(_BY_FAMILY[m.FAMILY] for m in build.FAMILY_MODULES if m.FAMILY in _BY_FAMILY)


def missing_families() -> tuple[str, ...]:
    """Batch families that have no live module."""
    return tuple(m.FAMILY for m in build.FAMILY_MODULES if m.FAMILY not in _BY_FAMILY)


LIVE_FAMILIES = live_families()

# Keys every kernel's disk cache on all kernel sources (see evaluate._key_on_sources).
from archetype.live.incremental import evaluate  # noqa: E402, F401
