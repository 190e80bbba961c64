"""Matplotlib figures for the report, rendered off-screen and inlined as PNG data URIs.

Figures are built with :class:`matplotlib.figure.Figure` directly (the Agg canvas, no
pyplot, no global backend state), so plotting is safe in threads and headless servers.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from archetype.segments.display import kind, label
from archetype.segments.profiles import SegmentProfiles

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
    "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79",
)  # fmt: skip


def color(i: int) -> str:
    """Colour of the i-th segment (cycles after 20)."""
    return PALETTE[i % len(PALETTE)]


def to_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """PNG bytes of a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for inlining in HTML."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _labels(profiles: SegmentProfiles, names: dict[int, str]) -> list[str]:
    return [f"{int(s)} · {names.get(int(s), '')}".rstrip(" ·") for s in profiles.segment_ids]


def plot_sizes(profiles: SegmentProfiles, names: dict[int, str]) -> Figure:
    """Horizontal bars: share of customers and share of revenue per segment."""
    k = profiles.k
    fig = Figure(figsize=(9, 0.45 * k + 1.2))
    ax = fig.add_subplot()
    y = np.arange(k)
    h = 0.38 if profiles.revenue_shares is not None else 0.7
    ax.barh(y - (h / 2 if profiles.revenue_shares is not None else 0), 100 * profiles.shares,
            height=h, color="#4e79a7", label="customers")  # fmt: skip
    for yi, v in zip(y, profiles.shares, strict=True):
        ax.text(100 * v, yi - (h / 2 if profiles.revenue_shares is not None else 0),
                f" {100 * v:.1f}%", va="center", fontsize=8)  # fmt: skip
    if profiles.revenue_shares is not None:
        ax.barh(y + h / 2, 100 * profiles.revenue_shares, height=h, color="#f28e2b",
                label="revenue")  # fmt: skip
        for yi, v in zip(y, profiles.revenue_shares, strict=True):
            ax.text(100 * v, yi + h / 2, f" {100 * v:.1f}%", va="center", fontsize=8)
    ax.set_yticks(y, _labels(profiles, names))
    ax.invert_yaxis()
    ax.set_xlabel("% of all customers / of revenue")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def heatmap_features(profiles: SegmentProfiles, max_features: int = 24) -> list[str]:
    """The features shown in the heatmap: the visible ones (no sin/cos, no constants, no
    money on a log without money) that most separate any segment."""
    vis = [j for j, f in enumerate(profiles.feature_names) if profiles.visible(f)]
    sd = np.nan_to_num(np.abs(profiles.std_diff[:, vis]), nan=0.0)
    order = np.argsort(-sd.max(axis=0), kind="stable")
    keep = sorted(vis[i] for i in order[:max_features])
    return [profiles.feature_names[j] for j in keep]


def _cell_text(profiles: SegmentProfiles, row: int, feature: str) -> str:
    """Index where meaningful, else the difference from everyone's mean (short)."""
    j = profiles.feature(feature)
    v = profiles.index[row, j]
    if np.isfinite(v):
        return f"{v:.0f}" if abs(v) < 10_000 else "≫"
    d = profiles.means[row, j] - profiles.pop_mean[j]
    if not np.isfinite(d):
        return "–"
    if kind(profiles.unit(feature)) == "share":
        return "0pt" if abs(100 * d) < 0.5 else f"{100 * d:+.0f}pt"
    a = abs(d)
    if a < 0.005:
        return "0"
    return f"{d:+.0f}" if a >= 10 else (f"{d:+.1f}" if a >= 1 else f"{d:+.2f}")


def plot_heatmap(
    profiles: SegmentProfiles, names: dict[int, str], features: Sequence[str]
) -> Figure:
    """Segments × features: colour = standardized difference, number = index (100 = average)
    or, where an index means nothing, the signed difference in the feature's unit."""
    cols = [profiles.feature(f) for f in features]
    sd = np.clip(np.nan_to_num(profiles.std_diff[:, cols], nan=0.0), -2.5, 2.5)
    k, f = sd.shape
    fig = Figure(figsize=(max(7.0, 0.55 * f + 3.5), 0.5 * k + 3.2))
    ax = fig.add_subplot()
    im = ax.imshow(sd, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -2.5, 2.5), aspect="auto")
    for i in range(k):
        for j, feat in enumerate(features):
            ax.text(j, i, _cell_text(profiles, i, feat), ha="center", va="center", fontsize=7,
                    color="white" if abs(sd[i, j]) > 1.6 else "black")  # fmt: skip
    ax.set_xticks(np.arange(f), [label(x) for x in features], rotation=55,
                  ha="right", fontsize=8)  # fmt: skip
    ax.set_yticks(np.arange(k), _labels(profiles, names), fontsize=8)
    cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.01)
    cb.set_label("standardized difference (sd)")
    return fig


def plot_projection(
    X: np.ndarray, labels: np.ndarray, segment_ids: Sequence[int], names: dict[int, str]
) -> tuple[Figure, float]:
    """PCA of a sample to 2-D, coloured by segment; returns (figure, variance explained)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0)
    xy = pca.fit_transform(np.asarray(X, dtype=np.float64))
    fig = Figure(figsize=(9, 6.5))
    ax = fig.add_subplot()
    for i, sid in enumerate(segment_ids):
        m = labels == sid
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=7, alpha=0.5, color=color(i), linewidths=0,
                       label=f"{sid} · {names.get(int(sid), '')}")  # fmt: skip
    ev = float(pca.explained_variance_ratio_.sum())
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    ax.legend(markerscale=4, fontsize=8, frameon=False, loc="center left",
              bbox_to_anchor=(1.0, 0.5))  # fmt: skip
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ev


def plot_sweep(sweep) -> Figure:
    """Five panels: inertia, silhouette, Davies–Bouldin, Calinski–Harabasz, stability."""
    ks = np.asarray(sweep.ks)
    panels = [
        ("inertia (elbow)", sweep.inertia),
        ("silhouette ↑", sweep.silhouette),
        ("Davies–Bouldin ↓", sweep.davies_bouldin),
        ("Calinski–Harabasz ↑", sweep.calinski_harabasz),
        ("stability: ARI across seeds ↑", [np.nan if v is None else v for v in sweep.stability]),
    ]
    fig = Figure(figsize=(13, 6.5))
    for p, (title, vals) in enumerate(panels):
        ax = fig.add_subplot(2, 3, p + 1)
        ax.plot(ks, np.asarray(vals, dtype=float), "o-", color="#4e79a7", ms=3)
        ax.axvline(sweep.recommended_k, color="#e15759", ls="--", lw=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("k", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.spines[["top", "right"]].set_visible(False)
    ax = fig.add_subplot(2, 3, 6)
    ax.axis("off")
    ax.text(0.0, 0.9, f"recommended k = {sweep.recommended_k}", fontsize=12, color="#e15759",
            va="top")  # fmt: skip
    fig.tight_layout()
    return fig


def plot_migration(matrix: np.ndarray, row_labels: list[str], col_labels: list[str]) -> Figure:
    """Rows = previous segment, columns = current; colour = share of the row, number = count."""
    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    r, c = counts.shape
    fig = Figure(figsize=(max(6.0, 0.7 * c + 3), 0.5 * r + 2.5))
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(r):
        for j in range(c):
            if counts[i, j] > 0:
                ax.text(j, i, f"{int(counts[i, j]):,}", ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.6 else "black")  # fmt: skip
    ax.set_xticks(np.arange(c), col_labels, rotation=50, ha="right", fontsize=8)
    ax.set_yticks(np.arange(r), row_labels, fontsize=8)
    ax.set_xlabel("segment now")
    ax.set_ylabel("segment in the previous run")
    cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.01)
    cb.set_label("share of the previous segment")
    return fig
