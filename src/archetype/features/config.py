"""Feature settings (``[features]`` in the config TOML) and the default occasion windows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, field_validator

from archetype._config import ConfigModel, validate_table
from archetype.errors import UserError

# Month-day windows, inclusive: name -> ("MM-DD", "MM-DD").  A window may wrap the new year.
DEFAULT_OCCASIONS: dict[str, tuple[str, str]] = {
    "black_friday_week": ("11-23", "11-30"),
    "holidays": ("12-01", "12-24"),
    "back_to_school": ("08-01", "09-07"),
}

FAMILIES: tuple[str, ...] = (
    "rfm",
    "usage",
    "purchase",
    "timing",
    "occasions",
    "loyalty",
    "engagement",
    "content",
)
Family = Literal[FAMILIES]  # type: ignore[valid-type]
Quantile = Annotated[StrictFloat, Field(ge=0.0, le=1.0)]
Scaling = Literal["max", "std", "robust"]
Correlation = Annotated[StrictFloat, Field(gt=0.0, le=1.0)]


def month_day(value: str, where: str) -> int:
    """``"MM-DD"`` -> ``MM*100 + DD`` (validated)."""
    try:
        m, d = (int(x) for x in str(value).split("-"))
    except ValueError:
        raise UserError(f"{where}: {value!r} is not MM-DD") from None
    if not (1 <= m <= 12 and 1 <= d <= 31):
        raise UserError(f"{where}: {value!r} is not a month-day MM-DD")
    return m * 100 + d


class FeatureConfig(ConfigModel):
    """What to compute and how to turn raw features into the embedding.

    Parameters
    ----------
    occasions : dict[str, tuple[str, str]]
        Occasion windows (inclusive month-days), default :data:`DEFAULT_OCCASIONS`.
    channels : list[str], optional
        Channels that get a share feature; ``None`` = the ``max_channels`` most frequent
        in the data (fixed afterwards by the saved transform).
    max_channels : int
        Cap on discovered channels (default 8).
    window_days : int, optional
        Default lookback window; the ``window_days`` argument / flag wins.
    log1p : bool
        Apply ``log1p`` to count and money features (default True).
    winsorize : tuple[float, float] or None
        Quantiles to clip each feature at, fitted on the data (default (0.01, 0.99));
        ``false`` in TOML = no clipping.
    pca_components : int, optional
        Project onto this many principal components after scaling (default: no PCA).
    family_weights : dict[str, float]
        Multiply a family's scaled columns by a weight (default 1 for every family).
    partition_rows : int
        Events per hash partition of customers; bounds memory on large logs.
    scaling : {"max", "std", "robust"}
        Scale of each (winsorized) column: the larger of its IQR and standard deviation
        (default), its standard deviation, or its IQR (``robust``, the scaling of older
        transforms).
    max_correlation : float or None
        A feature whose |Pearson r| with an earlier kept feature reaches this is left out
        of the embedding as a duplicate (default 0.98; ``None`` keeps every feature).
    """

    TABLE: ClassVar[str] = "features"

    occasions: dict[str, tuple[str, str]] = Field(default_factory=lambda: dict(DEFAULT_OCCASIONS))
    channels: list[str] | None = None
    max_channels: Annotated[StrictInt, Field(ge=0)] = 8
    window_days: Annotated[StrictInt, Field(ge=1)] | None = None
    log1p: StrictBool = True
    winsorize: tuple[Quantile, Quantile] | None = (0.01, 0.99)
    pca_components: Annotated[StrictInt, Field(ge=1)] | None = None
    family_weights: dict[Family, Annotated[StrictFloat, Field(ge=0.0)]] = Field(
        default_factory=dict
    )
    partition_rows: Annotated[StrictInt, Field(ge=1000)] = 15_000_000
    scaling: Scaling = "max"
    max_correlation: Correlation | None = 0.98

    @field_validator("occasions")
    @classmethod
    def _month_days(cls, v: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
        for name, (lo, hi) in v.items():
            if not name.isidentifier():
                raise ValueError(f"occasion name {name!r} should be snake_case")
            try:
                month_day(lo, name)
                month_day(hi, name)
            except UserError as e:
                raise ValueError(str(e)) from None
        return v

    @field_validator("winsorize", "max_correlation", mode="before")
    @classmethod
    def _false_is_none(cls, v: Any) -> Any:
        return None if v is False else v

    @field_validator("winsorize")
    @classmethod
    def _ordered(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"needs lo < hi, got {list(v)}")
        return v

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, path: Any = None) -> FeatureConfig:
        """Build from the ``[features]`` table of a config TOML (``None`` = defaults)."""
        return validate_table(cls, d, "features", path=path)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``from_dict(to_dict())`` round-trips."""
        return self.model_dump(mode="json")
