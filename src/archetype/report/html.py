"""Render the segment report as one self-contained HTML file.

Everything is inline: CSS in a ``<style>`` block, figures as ``data:image/png;base64`` URIs,
system fonts only.  No scripts, no external links, nothing fetched from the network, so the
file can be mailed, archived or opened offline.  All text is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html import escape

import numpy as np
import polars as pl

from archetype.report import plots
from archetype.segments.naming import describe_segment
from archetype.segments.profiles import SegmentProfiles
from archetype.segments.triggers import SUGGESTION_LABEL

CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif;margin:0;background:#f6f7f9;color:#1d2330;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:28px;margin:8px 0 4px}h2{font-size:20px;margin:36px 0 8px;border-bottom:2px solid
#dde1e7;padding-bottom:4px}.sub{color:#5b6576;margin:0 0 12px}
.facts{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}.fact{background:#fff;border:1px solid
#e3e6eb;border-radius:8px;padding:8px 14px}.fact b{display:block;font-size:20px}
.fact span{font-size:12px;color:#5b6576;text-transform:uppercase;letter-spacing:.04em}
img{max-width:100%;height:auto;background:#fff;border:1px solid #e3e6eb;border-radius:8px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.card{background:#fff;border:1px solid #e3e6eb;border-left:6px solid var(--c);border-radius:8px;
padding:12px 16px}.card h3{margin:0 0 2px;font-size:17px}.card .meta{color:#5b6576;font-size:13px}
.card ul{margin:6px 0 4px 18px;padding:0;font-size:14px}.card h4{margin:10px 0 2px;font-size:13px;
text-transform:uppercase;letter-spacing:.04em;color:#5b6576}.sugg{font-size:11px;background:#fff4d6;
border:1px solid #f0d78c;border-radius:4px;padding:0 5px;margin-left:6px;color:#7a5b00}
table{border-collapse:collapse;background:#fff;font-size:14px}td,th{border:1px solid #e3e6eb;
padding:4px 10px;text-align:left}th{background:#eef1f5}td.n{text-align:right}
.note{font-size:13px;color:#5b6576}
"""


@dataclass
class ReportInputs:
    """Everything the page shows; optional parts are left out of the page when None.

    Attributes
    ----------
    profiles : SegmentProfiles
    names : dict of int to str
    triggers : dict of int to list of str
    projection : (X sample (m, d), segment ids of those rows (m,)), optional
    sweep : SweepResult, optional
    migration : DataFrame ``from_segment_id, to_segment_id, customers``, optional
    facts : ordered label -> value pairs shown at the top (run date, model, k ...)
    experiments : DataFrame, optional
        Uplift of experiment variants vs holdout
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


def _pp(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:+.1f}"


def _experiments(t: pl.DataFrame) -> str:
    rows = []
    for r in t.iter_rows(named=True):
        ci = ("–" if r["uplift"] is None
              else f"{_pp(r['uplift'])} [{_pp(r['ci_low'])}, {_pp(r['ci_high'])}]")
        rate = "–" if r["rate"] is None else f"{100 * r['rate']:.1f}%"
        p = "–" if r["p_value"] is None else f"{r['p_value']:.2g}"
        rows.append(
            f"<tr><td>{escape(str(r['experiment']))}</td><td>{escape(str(r['variant']))}</td>"
            f'<td class="n">{r["exposures"]:,}</td><td class="n">{r["conversions"]:,} / '
            f'{r["matured"]:,}</td><td class="n">{rate}</td><td class="n">{ci}</td>'
            f'<td class="n">{p}</td></tr>'
        )
    return (
        '<p class="sub">Variants of the trigger experiments against their holdout: '
        "conversions among exposures whose conversion window has closed; uplift in "
        "percentage points with a 95% confidence interval.</p><table><tr><th>experiment</th>"
        "<th>variant</th><th>exposures</th><th>conversions / matured</th><th>rate</th>"
        "<th>uplift pp [95% CI]</th><th>p</th></tr>" + "".join(rows) + "</table>"
    )


def _img(fig, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="{plots.data_uri(plots.to_png(fig))}">'


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _facts(data: ReportInputs) -> str:
    p = data.profiles
    items = {
        "customers": f"{p.n:,}",
        "segments": str(p.k),
        **data.facts,
    }
    return '<div class="facts">' + "".join(
        f'<div class="fact"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
        for k, v in items.items()
    ) + "</div>"


def _cards(data: ReportInputs) -> str:
    p = data.profiles
    out = []
    for i, sid in enumerate(int(s) for s in p.segment_ids):
        rev = "" if p.revenue_shares is None else f" · {_pct(p.revenue_shares[i])} of revenue"
        apart = "".join(f"<li>{escape(s)}</li>" for s in describe_segment(p, sid, 3))
        trig = "".join(f"<li>{escape(t)}</li>" for t in data.triggers.get(sid, []))
        out.append(
            f'<div class="card" style="--c:{plots.color(i)}" id="segment-{sid}">'
            f"<h3>{escape(data.names.get(sid, f'Segment {sid}'))}</h3>"
            f'<div class="meta">segment {sid} · {p.sizes[i]:,} customers ({_pct(p.shares[i])})'
            f"{rev}</div>"
            f"<h4>What sets it apart</h4><ul>{apart}</ul>"
            f'<h4>Triggers<span class="sugg">{SUGGESTION_LABEL.lower()} — review before use'
            f"</span></h4><ul>{trig}</ul></div>"
        )
    return '<div class="cards">' + "".join(out) + "</div>"


def _migration(data: ReportInputs) -> str:
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
    trs = "".join(
        f"<tr><td>{escape(lab(int(f), ''))}</td><td>{escape(lab(int(t), ''))}</td>"
        f'<td class="n">{c:,}</td><td class="n">{_pct(c / prev_size[f])}</td></tr>'
        for c, f, t in flows[:10]
    )
    share = moved / total_both if total_both else 0.0
    return (
        f'<p class="sub">{moved:,} of {total_both:,} returning customers ({_pct(share)}) '
        "changed segment since the previous run.</p>"
        + _img(fig, "migration matrix")
        + "<h3>Largest moves</h3>"
        + (
            "<table><tr><th>from</th><th>to</th><th>customers</th><th>share of from</th></tr>"
            + trs
            + "</table>"
            if trs
            else '<p class="note">Nobody changed segment.</p>'
        )
    )


def render_report(data: ReportInputs) -> str:
    """The report as an HTML string (self-contained; see module docstring)."""
    p, names = data.profiles, data.names
    feats = plots.heatmap_features(p)
    parts = [
        f"<h1>{escape(data.title)}</h1>",
        f'<p class="sub">Behavioral segments · generated '
        f"{escape(dt.datetime.now().strftime('%Y-%m-%d %H:%M'))} by archetype</p>",
        '<section id="summary">' + _facts(data)
        + "".join(f'<p class="note">{escape(n)}</p>' for n in data.notes) + "</section>",
        '<section id="sizes"><h2>Segment sizes</h2>'
        '<p class="sub">Share of customers and share of revenue in each segment.</p>'
        + _img(plots.plot_sizes(p, names), "segment sizes") + "</section>",
        '<section id="segments"><h2>The segments</h2><p class="sub">What sets each segment '
        "apart from the average customer, and campaign ideas to consider.</p>"
        + _cards(data) + "</section>",
        '<section id="heatmap"><h2>Profile heatmap</h2><p class="sub">Numbers are indexes: '
        "the segment's average as a percentage of the population's (100 = like everyone). "
        "Colour is the standardized difference: red above average, blue below.</p>"
        + _img(plots.plot_heatmap(p, names, feats), "profile heatmap") + "</section>",
    ]
    if data.projection is not None:
        x, lab = data.projection
        fig, ev = plots.plot_projection(x, lab, [int(s) for s in p.segment_ids], names)
        parts.append(
            '<section id="projection"><h2>Map of customers</h2><p class="sub">'
            f"A sample of {len(lab):,} customers projected to two dimensions (PCA, "
            f"{_pct(ev)} of the variance), coloured by segment. Overlap here does not mean "
            "overlap in all dimensions.</p>" + _img(fig, "2-D projection") + "</section>"
        )
    if data.sweep is not None:
        sw = data.sweep
        parts.append(
            '<section id="sweep"><h2>Choosing the number of segments</h2>'
            f'<p class="sub">Recommended k = {sw.recommended_k}: {escape(sw.reason)}</p>'
            + _img(plots.plot_sweep(sw), "k sweep") + "</section>"
        )
    if data.migration is not None and data.migration.height:
        parts.append(
            '<section id="migration"><h2>Movement since the previous run</h2>'
            + _migration(data) + "</section>"
        )
    if data.experiments is not None and data.experiments.height:
        parts.append('<section id="experiments"><h2>Experiments</h2>'
                     + _experiments(data.experiments) + "</section>")
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(data.title)}</title><style>{CSS}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )
