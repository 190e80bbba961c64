"""Trigger rules declared in TOML, parsed into typed pydantic models.

```toml
[triggers]
lateness = "10m"                  # events may arrive up to this much out of event-time order
webhook = "https://crm.example/hooks/archetype"   # default delivery URL (optional)

[[triggers.rule]]                 # add_to_cart with no purchase within 1 h
name = "abandoned_cart"
kind = "absence"
on = "add_to_cart"
absent = "purchase"
within = "1h"
cooldown = "24h"                  # at most one firing per customer per 24 h of event time
segments = ["Cart abandoners"]    # only customers currently in these segments (names or ids)
experiment = "cart_reminder"      # bucket the firing into that experiment's variants

[[triggers.rule]]                 # two views of electronics in one calendar day
name = "electronics_interest"
kind = "repeat"
on = "view"
where = { category = "electronics" }
count = 2
calendar_day = true

[[triggers.rule]]                 # an email open without a click within 2 days
name = "open_no_click"
kind = "absence"
on = "email_open"
absent = "email_click"
within = "2d"

[[triggers.rule]]                 # entered the "Lapsing" segment
name = "win_back"
kind = "transition"
entered = "Lapsing"
```

Durations are strings of ``<int><unit>`` parts (``us ms s m h d w``: ``"90m"``, ``"1h30m"``)
or integer seconds; they are held in microseconds of event time.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from archetype.errors import UserError
from archetype.events.schema import EVENT_TYPES

US = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "w": 7 * 86_400_000_000,
}
_PART = re.compile(r"(\d+)(us|ms|s|m|h|d|w)")
DAY_US = US["d"]


def parse_duration(value: object) -> int:
    """Microseconds of a duration: ``"1h30m"``, ``"2d"``, ``"500ms"`` or integer seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} should be >= 0 seconds")
        return value * US["s"]
    if not isinstance(value, str):
        raise ValueError(f'{value!r} is not a duration (use e.g. "1h", "30m", "2d")')
    s = value.strip().replace(" ", "")
    parts = _PART.findall(s)
    if not s or "".join(n + u for n, u in parts) != s:
        raise ValueError(f'{value!r} is not a duration (use e.g. "1h", "30m", "2d")')
    return sum(int(n) * US[u] for n, u in parts)


def format_duration(us: int) -> str:
    """Shortest ``<int><unit>`` spelling of a duration in microseconds (``0`` -> ``"0s"``)."""
    if us == 0:
        return "0s"
    out = []
    for unit in ("w", "d", "h", "m", "s", "ms", "us"):
        n, us = divmod(us, US[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def _positive(us: int) -> int:
    if us <= 0:
        raise ValueError("should be > 0")
    return us


Duration = Annotated[int, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[int, BeforeValidator(parse_duration), AfterValidator(_positive)]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
SegmentRef = int | str
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventFilter(_Model):
    """Conditions on an event's attributes (all given ones must hold)."""

    category: str | list[str] | None = None
    channel: str | list[str] | None = None
    min_amount: float | None = None

    def categories(self) -> frozenset[str] | None:
        return _as_set(self.category)

    def channels(self) -> frozenset[str] | None:
        return _as_set(self.channel)


def _as_set(v: str | list[str] | None) -> frozenset[str] | None:
    if v is None:
        return None
    return frozenset([v] if isinstance(v, str) else v)


class _RuleBase(_Model):
    name: str
    enabled: bool = True
    cooldown: Duration = 0
    segments: list[SegmentRef] | None = None
    exclude_segments: list[SegmentRef] = Field(default_factory=list)
    experiment: str | None = None
    webhook: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} should be 1-64 letters, digits, '_', '.' or '-'")
        return v


class AbsenceRule(_RuleBase):
    """``on`` happened and no ``absent`` followed within ``within``: fires at on + within."""

    kind: Literal["absence"]
    on: EventType
    absent: EventType
    within: PositiveDuration
    where: EventFilter = Field(default_factory=EventFilter)
    absent_where: EventFilter = Field(default_factory=EventFilter)
    same_category: bool = False


class RepeatRule(_RuleBase):
    """``count`` events ``on`` (matching ``where``) within ``within`` or one calendar day.

    Fires at the event that makes the count; with ``per_category`` (default) only events of
    the same category as that event are counted.
    """

    kind: Literal["repeat"]
    on: EventType
    count: int = Field(ge=2, le=1000)
    within: Duration | None = None
    calendar_day: bool = False
    where: EventFilter = Field(default_factory=EventFilter)
    per_category: bool = True

    @model_validator(mode="after")
    def _window(self) -> RepeatRule:
        if (self.within is None) == (not self.calendar_day):
            raise ValueError('give exactly one of within = "<duration>" or calendar_day = true')
        if self.within is not None and self.within <= 0:
            raise ValueError("within should be > 0")
        return self

    @property
    def lookback(self) -> int:
        return DAY_US if self.calendar_day else int(self.within)  # type: ignore[arg-type]


class TransitionRule(_RuleBase):
    """The customer entered ``entered`` and/or left ``left`` (segment names or ids)."""

    kind: Literal["transition"]
    entered: SegmentRef | None = None
    left: SegmentRef | None = None

    @model_validator(mode="after")
    def _one(self) -> TransitionRule:
        if self.entered is None and self.left is None:
            raise ValueError('give entered = "<segment>" and/or left = "<segment>"')
        return self


Rule = Annotated[AbsenceRule | RepeatRule | TransitionRule, Field(discriminator="kind")]


class TriggersConfig(_Model):
    """The ``[triggers]`` table."""

    lateness: Duration = 10 * US["m"]
    webhook: str | None = None
    rule: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> TriggersConfig:
        seen: set[str] = set()
        for r in self.rule:
            if r.name in seen:
                raise ValueError(f"two rules are named {r.name!r}; names must be unique")
            seen.add(r.name)
        return self

    @property
    def rules(self) -> list[AbsenceRule | RepeatRule | TransitionRule]:
        return [r for r in self.rule if r.enabled]

    @classmethod
    def from_dict(cls, d: dict | None, *, source: str = "[triggers]") -> TriggersConfig:
        return validate(cls, d or {}, source)


def validate(model: type[BaseModel], d: dict, source: str):
    """``model.model_validate(d)``; a bad value becomes one-line :class:`UserError`."""
    try:
        return model.model_validate(d)
    except ValidationError as e:
        raise UserError(one_line(e, source)) from None


def one_line(err: ValidationError, source: str) -> str:
    """``source: key.path: message (got value)`` of the first error, plus a count of others.

    List indices print as ``rule[0]``; the rule-kind tags of the union are left out.
    """
    first = err.errors()[0]
    loc = ""
    for p in first["loc"]:
        if isinstance(p, int):
            loc += f"[{p}]"
        elif p not in _TAGS and not str(p).startswith("function-"):
            loc += f".{p}" if loc else str(p)
    msg = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    tail = (
        "" if isinstance(got, dict | list) or got is None or repr(got) in msg else f" (got {got!r})"
    )
    more = err.error_count() - 1
    extra = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    where = f"{source}: {loc}" if loc else source
    return f"{where}: {msg}{tail}{extra}"


_TAGS = frozenset({"absence", "repeat", "transition"})
