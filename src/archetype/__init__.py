"""archetype: behavioral customer segmentation at scale.

Event logs in, one dense behavioral vector per customer, mini-batch k-means on CPU or GPU,
stable segment ids out.  ``from archetype import MiniBatchKMeans`` gives the scikit-learn
compatible estimator; everything heavy is imported lazily so the CLI starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["MiniBatchKMeans", "UserError", "__version__"]

from archetype._lazy import lazy_getattr
from archetype.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from archetype.cluster.estimator import MiniBatchKMeans

__getattr__ = lazy_getattr(__name__, {"MiniBatchKMeans": "cluster.estimator"})
