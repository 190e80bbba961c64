"""Plain-words segment names: absolute facts first, relative contrasts second.

1. **Lifecycle** (:mod:`.lifecycle`): each customer's state from their own history and the
   log's horizon (new, non-buyer, one-time buyer, active, lapsing, lapsed).  A segment
   where most customers share a state is named after it ("Lapsed customers"), whatever
   the average customer looks like.
2. **Behavior** (:mod:`.rules`): contrasts with the population on the customers for whom
   a feature is defined, with absolute floors ("Deal hunters": most purchases discounted
   and far more than average).  A behavior joins the lifecycle word: "Lapsed deal
   hunters", "Email fans (non-buyers)"; an active segment is named by its behavior alone.
3. A segment with neither is named after its strongest contrast in plain words
   ("Customers with more product views per week").

Every name carries its evidence: the sentences (shares, values vs everyone, how many
customers) that support each part of it; the report prints them on the segment's card.

Names are unique and deterministic: names in ``overrides`` (config) win; then ``sticky``
names (previous model, same stable ids) are kept when the evidence still supports them;
then candidates are given greedily, best score first (ties: the larger segment, then the
lower segment id, then table order), each name once; a segment whose candidates are all
taken gets its best one plus " · " and what sets it apart from the segment holding that
name; any name still repeated gets `` #<segment_id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from archetype.segments.display import kind, label, value
from archetype.segments.evidence import describe_segment, feature_line
from archetype.segments.lifecycle import STATE_NAMES, segment_state
from archetype.segments.profiles import SegmentProfiles
from archetype.segments.rules import RULES, SIGNALS, Firing, Rule, fire, resolve_signals

__all__ = [
    "RULES",
    "SIGNALS",
    "SegmentName",
    "compose",
    "describe_segment",
    "explain_names",
    "name_segments",
    "resolve_signals",
]

#: |std_diff| a contrast needs to name a segment or qualify a name.
MIN_CONTRAST = 0.3


@dataclass
class SegmentName:
    """A segment's name and why.

    Attributes
    ----------
    name : str
    source : str
        ``"rules"``, ``"override"`` (config) or ``"sticky"`` (previous model, re-checked).
    state : str or None
        Lifecycle state the name claims (:data:`~.lifecycle.STATES` group), if any.
    rule : str or None
        Behavior rule the name claims, if any.
    evidence : list of str
        One sentence per claim of the name (state, each rule condition, qualifier).
    automatic : str
        What the rules call the segment (differs from ``name`` for overrides).
    """

    segment_id: int
    name: str
    source: str
    state: str | None
    rule: str | None
    evidence: list[str] = field(default_factory=list)
    automatic: str = ""


@dataclass
class _Candidate:
    score: float
    order: int
    name: str
    state: str | None
    firing: Firing | None
    evidence: list[str]


def compose(state: str | None, rule: Rule | None) -> str | None:
    """The name for a lifecycle state and a behavior rule (either may be None)."""
    if rule is None:
        return None if state is None else STATE_NAMES[state]
    if state in (None, "active"):
        return rule.name
    if state == "non_buyer":
        return rule.non_buyers or f"{rule.name} (non-buyers)"
    if state == "lapsed":
        return rule.lapsed or f"Lapsed {rule.noun}"
    if state == "lapsing":
        return rule.lapsing or f"Lapsing {rule.noun}"
    if state == "new":
        return f"New {rule.noun}"
    if state == "one_time":
        return f"One-time {rule.noun}"
    if state == "one_time_lapsed":
        return f"Lapsed one-time {rule.noun}"
    raise ValueError(f"unknown lifecycle state {state!r}")


def _contrast_words(profiles: SegmentProfiles, feature: str, z: float) -> str:
    more = kind(profiles.unit(feature)) in ("rate", "count", "days", "hours")
    word = ("more" if z > 0 else "fewer") if more else ("higher" if z > 0 else "lower")
    return f"{word} {label(feature)}"


def _candidates(profiles: SegmentProfiles, sid: int) -> list[_Candidate]:
    state, state_line = (None, "")
    if profiles.lifecycle is not None:
        state, state_line = segment_state(profiles.lifecycle, profiles.row(sid))
    head = [state_line] if state is not None else []
    out = []
    for order, f in enumerate(fire(profiles, sid)):
        nm = compose(state, f.rule)
        out.append(_Candidate(f.score, order, nm, state, f, head + list(f.evidence)))
    if state is not None:
        out.append(_Candidate(-1.0, len(out), STATE_NAMES[state], state, None, head))
    else:
        top = profiles.top_features(sid, 1)
        if top and abs(top[0][1]) >= MIN_CONTRAST:
            f, z = top[0]
            nm = f"Customers with {_contrast_words(profiles, f, z)}"
            out.append(_Candidate(-2.0, len(out), nm, None, None,
                                  [feature_line(profiles, sid, f)]))  # fmt: skip
        else:
            out.append(_Candidate(-3.0, len(out), "Typical customers", None, None,
                                  ["no feature differs from everyone's by "
                                   f"{MIN_CONTRAST} sd or more"]))  # fmt: skip
    return out


def _sibling_contrasts(profiles: SegmentProfiles, sid: int, other: int) -> list[tuple[str, float]]:
    """Features by how far ``sid``'s mean is from ``other``'s (in population sd), largest
    first: visible features defined for enough of both segments."""
    a, b = profiles.row(sid), profiles.row(other)
    share = profiles.config.naming.min_defined_share
    out = []
    for j, f in enumerate(profiles.feature_names):
        if not profiles.visible(f) or min(profiles.defined_share(sid, f),
                                          profiles.defined_share(other, f)) < share:  # fmt: skip
            continue
        d = (profiles.means[a, j] - profiles.means[b, j]) / profiles.pop_std[j]
        if np.isfinite(d):
            out.append((f, float(d)))
    out.sort(key=lambda t: (-abs(t[1]), t[0]))
    return out


def _qualified(
    profiles: SegmentProfiles, sid: int, cand: _Candidate, holder: SegmentName | None
) -> tuple[str, list[str]]:
    """``cand``'s name plus " · " and what sets the segment apart from ``holder``, the
    segment that has the plain name (or, without one, from everyone)."""
    used = set(cand.firing.features) if cand.firing is not None else set()
    if holder is not None:
        for f, d in _sibling_contrasts(profiles, sid, holder.segment_id):
            if f in used or abs(d) < MIN_CONTRAST:
                continue
            a, b = profiles.row(sid), profiles.row(holder.segment_id)
            j, unit, cur = profiles.feature(f), profiles.unit(f), profiles.config.currency
            line = (
                f"{label(f)}: {value(profiles.means[a, j], unit, cur)} vs "
                f"{value(profiles.means[b, j], unit, cur)} in \u201c{holder.name}\u201d "
                f"(segment {holder.segment_id}; {d:+.1f} sd)"
            )
            return f"{cand.name} · {_contrast_words(profiles, f, d)}", cand.evidence + [line]
    for f, z in profiles.top_features(sid, len(profiles.feature_names)):
        if f in used or abs(z) < MIN_CONTRAST:
            continue
        nm = f"{cand.name} · {_contrast_words(profiles, f, z)}"
        return nm, cand.evidence + [feature_line(profiles, sid, f)]
    return cand.name, list(cand.evidence)


def explain_names(
    profiles: SegmentProfiles,
    *,
    overrides: Mapping[int, str] | None = None,
    sticky: Mapping[int, str] | None = None,
) -> dict[int, SegmentName]:
    """Name every segment and say why (see module docstring).

    Also stored on ``profiles`` (``profiles.names``, ``profiles.naming``).
    """
    ids = [int(s) for s in profiles.segment_ids]
    cands = {sid: _candidates(profiles, sid) for sid in ids}
    auto: dict[int, _Candidate] = {sid: cands[sid][0] for sid in ids}
    out: dict[int, SegmentName] = {}

    def take(sid: int, c: _Candidate, source: str, name: str | None = None,
             evidence: list[str] | None = None) -> None:  # fmt: skip
        out[sid] = SegmentName(
            segment_id=sid, name=name or c.name, source=source, state=c.state,
            rule=None if c.firing is None else c.firing.rule.name,
            evidence=list(c.evidence if evidence is None else evidence), automatic=c.name,
        )  # fmt: skip

    over = {int(k): str(v) for k, v in (overrides or {}).items() if int(k) in cands}
    for sid, nm in over.items():
        take(sid, auto[sid], "override", name=nm)
    used = set(over.values())
    for sid, nm in (sticky or {}).items():
        sid = int(sid)
        if sid not in cands or sid in out or not nm or nm in used:
            continue
        hit = next((c for c in cands[sid] if c.name == nm), None)
        if hit is not None:  # kept only while its evidence still holds
            take(sid, hit, "sticky")
            used.add(nm)

    size = {int(s): int(n) for s, n in zip(profiles.segment_ids, profiles.sizes, strict=True)}
    queue = sorted(
        ((-c.score, -size[sid], sid, c.order, c) for sid in ids if sid not in out
         for c in cands[sid]),
        key=lambda t: t[:4],
    )  # fmt: skip
    for _score, _size, sid, _order, c in queue:
        if sid not in out and c.name not in used:
            take(sid, c, "rules")
            used.add(c.name)
    holders = {n.name: n for n in out.values()}
    for sid in ids:
        if sid not in out:
            nm, ev = _qualified(profiles, sid, auto[sid], holders.get(auto[sid].name))
            take(sid, auto[sid], "rules", name=nm, evidence=ev)

    seen: dict[str, int] = {}
    for sid in ids:
        nm = out[sid].name
        if nm in seen:
            out[sid].name = f"{nm} #{sid}"
        seen[nm] = sid
    profiles.names = {sid: out[sid].name for sid in ids}
    profiles.naming = out
    return out


def name_segments(
    profiles: SegmentProfiles,
    *,
    overrides: Mapping[int, str] | None = None,
    sticky: Mapping[int, str] | None = None,
) -> dict[int, str]:
    """``{segment_id: name}`` for every segment (see :func:`explain_names`)."""
    return {sid: n.name for sid, n in explain_names(profiles, overrides=overrides,
                                                      sticky=sticky).items()}  # fmt: skip
