"""Render the segment report as one self-contained HTML file, from Jinja2 templates.

Templates live in ``archetype/report/templates`` (package data): ``report.html.j2`` (the
page), ``_card.html.j2`` (one segment card), ``_migration.html.j2`` and ``report.css``
(inlined in a ``<style>`` block).  Autoescape is on: every name, note and sentence is
escaped.  Figures are ``data:image/png;base64`` URIs and fonts are system fonts: no
scripts, no external links, nothing fetched, so the file can be mailed, archived or opened
offline.

This module only shapes data for the templates: numbers are formatted here, words come from
:mod:`archetype.segments` (names, evidence, "what sets it apart", time of day).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined

from archetype.report import plots
from archetype.segments.display import money
from archetype.segments.evidence import describe_segment, time_of_day_line
from archetype.segments.lifecycle import STATES
from archetype.segments.profiles import SegmentProfiles
from archetype.segments.triggers import SUGGESTION_LABEL

#: Lifecycle states on the cards' bar: label and colour.
STATE_STYLE: dict[str, tuple[str, str]] = {
    "new": ("new", "#59a14f"),
    "non_buyer": ("non-buyers", "#bab0ac"),
    "one_time": ("one-time", "#edc948"),
    "one_time_lapsed": ("one-time, lapsed", "#c9a227"),
    "active": ("active", "#4e79a7"),
    "lapsing": ("lapsing", "#f28e2b"),
    "lapsed": ("lapsed", "#e15759"),
}


@dataclass
class ReportInputs:
    """Everything the page shows; optional parts are left out of the page when None.

    Attributes
    ----------
    profiles : SegmentProfiles
        With ``profiles.naming`` (names and their evidence) filled by the namer.
    names : dict of int to str
    triggers : dict of int to list of str
    projection : (X sample (m, d), segment ids of those rows (m,)), optional
    sweep : SweepResult, optional
    migration : DataFrame ``from_segment_id, to_segment_id, customers``, optional
    facts : ordered label -> value pairs shown at the top (run date, model, k ...)
    experiments : DataFrame, optional
        Uplift of trigger-experiment variants vs holdout
        (``archetype.live.experiments.uplift_table``).
    """

    profiles: SegmentProfiles
    names: dict[int, str]
    triggers: dict[int, list[str]]
    projection: tuple[np.ndarray, np.ndarray] | None = None
    sweep: object | None = None
    migration: pl.DataFrame | None = None
    title: str = "Customer segments"
    facts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    experiments: pl.DataFrame | None = None


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment (package templates, autoescape on, undefined is an error)."""
    return Environment(
        loader=PackageLoader("archetype.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _img(fig) -> str:
    return plots.data_uri(plots.to_png(fig))


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _lifecycle_bar(p: SegmentProfiles, row: int) -> list[dict[str, Any]]:
    if p.lifecycle is None:
        return []
    parts = []
    for j, st in enumerate(STATES):
        v = float(p.lifecycle.shares[row, j])
        if v <= 0:
            continue
        label, color = STATE_STYLE[st]
        parts.append({"label": label, "color": color, "width": f"{100 * v:.2f}",
                      "pct": f"{100 * v:.0f}%", "show": v >= 0.01})  # fmt: skip
    return parts


def card_context(data: ReportInputs, i: int, sid: int) -> dict[str, Any]:
    """What one segment card shows (also used by tests: its evidence is on the card)."""
    p = data.profiles
    nm = p.naming.get(sid)
    evidence = list(nm.evidence) if nm is not None else []
    apart = [s for s in describe_segment(p, sid, 3 + len(evidence)) if s not in evidence][:3]
    return {
        "segment_id": sid,
        "color": plots.color(i),
        "name": data.names.get(sid, f"Segment {sid}"),
        "size": f"{int(p.sizes[i]):,}",
        "share": _pct(p.shares[i]),
        "revenue": None if p.revenue_shares is None else _pct(p.revenue_shares[i]),
        "override": nm is not None and nm.source == "override",
        "automatic": "" if nm is None else nm.automatic,
        "lifecycle": _lifecycle_bar(p, i),
        "evidence": evidence,
        "apart": apart,
        "time_of_day": time_of_day_line(p, sid),
        "triggers": data.triggers.get(sid, []),
    }


def _migration(data: ReportInputs) -> dict[str, Any]:
    mig = data.migration
    assert mig is not None
    names = data.names
    ids_from = sorted({int(v) for v in mig["from_segment_id"].drop_nulls()})
    ids_to = sorted({int(v) for v in mig["to_segment_id"].drop_nulls()})
    rows = ids_from + ([None] if mig["from_segment_id"].null_count() else [])
    cols = ids_to + ([None] if mig["to_segment_id"].null_count() else [])
    mat = np.zeros((len(rows), len(cols)))
    ri = {v: i for i, v in enumerate(rows)}
    ci = {v: i for i, v in enumerate(cols)}
    for f, t, c in mig.select("from_segment_id", "to_segment_id", "customers").iter_rows():
        mat[ri[None if f is None else int(f)], ci[None if t is None else int(t)]] += c

    def lab(v, none):
        return none if v is None else f"{v} · {names.get(v, '')}".rstrip(" ·")

    fig = plots.plot_migration(
        mat, [lab(v, "(new customers)") for v in rows], [lab(v, "(gone)") for v in cols]
    )
    both = [(f, t, c) for f, t, c in mig.iter_rows() if f is not None and t is not None]
    total_both = sum(c for *_, c in both)
    moved = sum(c for f, t, c in both if f != t)
    flows = sorted(((c, f, t) for f, t, c in both if f != t), key=lambda x: (-x[0], x[1], x[2]))
    prev_size = {f: 0 for f in ids_from}
    for f, _t, c in both:
        prev_size[f] += c
    return {
        "moved": f"{moved:,}",
        "total": f"{total_both:,}",
        "share": _pct(moved / total_both if total_both else 0.0),
        "image": _img(fig),
        "flows": [
            {
                "source": lab(int(f), ""),
                "target": lab(int(t), ""),
                "customers": f"{c:,}",
                "share": _pct(c / prev_size[f]),
            }
            for c, f, t in flows[:10]
        ],  # fmt: skip
    }


def _notes(data: ReportInputs) -> list[str]:
    p = data.profiles
    notes = list(data.notes)
    if not p.has_money:
        notes.append("This log carries no money amounts: revenue shares and spend are not shown.")
    if p.lifecycle is not None:
        c = p.lifecycle.config
        notes.append(
            f"Lifecycle over the {p.lifecycle.horizon_days:,} days of the log: new = first "
            f"seen in the last {c.new_days} days; lapsing = no purchase for {c.lapsing_days}+ "
            f"days or {c.lapsing_factor:g}x their usual interval; lapsed = {c.lapsed_days}+ "
            f"days or {c.lapsed_factor:g}x (usual interval: customers with 3+ purchase days)."
        )
    return notes


def context(data: ReportInputs) -> dict[str, Any]:
    """The template context of :func:`render_report`."""
    p, names = data.profiles, data.names
    facts = {"customers": f"{p.n:,}", "segments": str(p.k)}
    if p.has_money and p.revenue_col is not None:
        total = float(np.nansum(p.means[:, p.feature(p.revenue_col)] * p.sizes))
        facts["revenue"] = money(total, p.config.currency)
    facts.update(data.facts)
    ctx: dict[str, Any] = {
        "title": data.title,
        "generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "facts": list(facts.items()),
        "notes": _notes(data),
        "sizes_caption": "Share of customers and share of revenue in each segment."
        if p.has_money
        else "Share of customers in each segment.",
        "images": {
            "sizes": _img(plots.plot_sizes(p, names)),
            "heatmap": _img(plots.plot_heatmap(p, names, plots.heatmap_features(p))),
        },
        "cards": [card_context(data, i, int(s)) for i, s in enumerate(p.segment_ids)],
        "suggestion_label": SUGGESTION_LABEL.lower(),
        "projection": None,
        "sweep": None,
        "migration": None,
    }
    if data.projection is not None:
        x, lab = data.projection
        fig, ev = plots.plot_projection(x, lab, [int(s) for s in p.segment_ids], names)
        ctx["projection"] = {"n": f"{len(lab):,}", "variance": _pct(ev), "image": _img(fig)}
    if data.sweep is not None:
        sw = data.sweep
        ctx["sweep"] = {"k": sw.recommended_k, "reason": sw.reason,
                        "image": _img(plots.plot_sweep(sw))}  # fmt: skip
    if data.migration is not None and data.migration.height:
        ctx["migration"] = _migration(data)
    ctx["experiments"] = (
        _experiments(data.experiments)
        if data.experiments is not None and data.experiments.height
        else None
    )
    return ctx


def _pp(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:+.1f}"


def _experiments(t: pl.DataFrame) -> list[dict[str, str]]:
    """Rows of the experiments table (uplift in percentage points, 95% CI)."""
    rows = []
    for r in t.iter_rows(named=True):
        up = "–" if r["uplift"] is None else (
            f"{_pp(r['uplift'])} [{_pp(r['ci_low'])}, {_pp(r['ci_high'])}]")
        rows.append({
            "experiment": str(r["experiment"]), "variant": str(r["variant"]),
            "exposures": f"{r['exposures']:,}",
            "conversions": f"{r['conversions']:,} / {r['matured']:,}",
            "rate": "–" if r["rate"] is None else f"{100 * r['rate']:.1f}%",
            "uplift": up, "p": "–" if r["p_value"] is None else f"{r['p_value']:.2g}",
        })
    return rows


def render_report(data: ReportInputs) -> str:
    """The report as an HTML string (self-contained; see module docstring)."""
    return environment().get_template("report.html.j2").render(**context(data))
