"""A README-ready Markdown table of ratios from a result document."""

from __future__ import annotations

from typing import Any

from archetype.bench.harness import measure


def ratio_table(doc: dict[str, Any], *, n: int | None = None, k: int | None = None) -> str:
    """Markdown lines: per stage at one size, each line's time, inertia and ours/that ratio.

    Parameters
    ----------
    doc : dict
        A result document (``archetype bench --json``).
    n, k : int, optional
        The size shown for the matrix stages (default: the largest n at the suite's ``k0``).
    """
    settings = doc.get("settings", {})
    k = k if k is not None else settings.get("k0")
    matrix = [r for r in doc["records"] if r["stage"] in ("pass", "fit", "assign")]
    if n is None and matrix:
        n = max(r["n"] for r in matrix if k is None or r["k"] == k)
    lines = ["| stage | impl | device | n | k | time (s) | inertia | ours ÷ this |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in doc["records"]:
        if r["stage"] == "bandwidth":
            continue
        if r["stage"] in ("pass", "fit", "assign") and (r["n"] != n or r["k"] != k):
            continue
        per = " /pass" if r["stage"] in ("pass", "fit") else ""
        inertia = "—" if r["inertia"] is None else f"{r['inertia']:.6g}"
        ratio = "—" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        if r.get("role") == "ours" and r.get("ratio_vs"):
            ratio += f" (÷ {r['ratio_vs']})"
        lines.append(f"| {r['stage']} | {r['impl']} | {r['device']} | {r['n']:,} | "
                     f"{r['k'] or ''} | {measure(r):.4g}{per} | {inertia} | {ratio} |")
    return "\n".join(lines)
