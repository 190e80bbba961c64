"""Feature metadata: name, family, unit, formula, log flag, and when the value is defined.

Definedness
-----------
Some features only mean something for part of the customers: inter-purchase statistics
need at least 3 purchase days, a lead time needs a purchase and a view, a rate needs its
denominator.  ``features.parquet`` still holds a number for every customer (the documented
fill value, so the embedding has no holes); :attr:`FeatureSpec.defined_when` says for whom
the value is real.  Profiles, "what sets it apart" and segment names use only those
customers (:func:`defined_expr`, :func:`defined_masks`).

``defined_when`` is a tiny expression over other raw features of the same row:
``"frequency >= 3"``, ``"purchases > 0 and views_per_week > 0"`` (``and`` binds tighter
than ``or``; comparisons ``> >= < <= == !=`` against a number).  Empty: always defined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

#: Words for "the customers for whom this is defined", by ``defined_when`` expression.
DEFINED_FOR: dict[str, str] = {
    "": "customers",
    "frequency > 0": "buyers",
    "purchases > 0": "buyers",
    "frequency >= 3": "customers with 3+ purchase days",
    "views_per_week > 0": "customers with views",
    "carts_per_week > 0": "customers with cart additions",
    "email_opens_per_week > 0": "customers who open emails",
    "purchases > 0 and views_per_week > 0": "buyers with views",
    "purchases > 0 or return_rate > 0": "customers with purchases or returns",
    "top_category_share > 0": "customers with categorized events",
}

_CMP = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+)\s*$")


@dataclass(frozen=True)
class FeatureSpec:
    """One named raw feature.

    ``log`` marks non-negative, heavy-tailed counts/money/durations that the transform
    passes through ``log1p`` before winsorizing and scaling.  ``defined_when`` (see the
    module docstring) says for which customers the value is real rather than a fill.
    """

    name: str
    family: str
    unit: str
    formula: str
    log: bool = False
    defined_when: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def defined_for(self) -> str:
        """Plain words for the customers the value is defined for ("buyers", ...)."""
        return DEFINED_FOR.get(self.defined_when, f"customers with {self.defined_when}")


def parse_defined_when(text: str) -> list[list[tuple[str, str, float]]]:
    """``"a > 0 and b >= 3 or c != 1"`` -> ``[[(a, >, 0), (b, >=, 3)], [(c, !=, 1)]]``.

    Raises ``ValueError`` on anything else.
    """
    if not text.strip():
        return []
    out = []
    for clause in re.split(r"\s+or\s+", text.strip()):
        terms = []
        for term in re.split(r"\s+and\s+", clause):
            m = _CMP.match(term)
            if m is None:
                raise ValueError(f"cannot read definedness condition {term!r} in {text!r}")
            terms.append((m.group(1), m.group(2), float(m.group(3))))
        out.append(terms)
    return out


def referenced_features(text: str) -> set[str]:
    """Feature names a ``defined_when`` expression reads."""
    return {name for clause in parse_defined_when(text) for name, _op, _v in clause}


def _cmp(col: pl.Expr, op: str, value: float) -> pl.Expr:
    return {
        ">": col > value,
        ">=": col >= value,
        "<": col < value,
        "<=": col <= value,
        "==": col == value,
        "!=": col != value,
    }[op]


def defined_expr(text: str, columns: Iterable[str]) -> pl.Expr | None:
    """Boolean expression for ``defined_when`` over a frame with ``columns``.

    ``None`` means "defined for everyone": the expression is empty, or it reads a feature
    that the frame does not have (fail soft: an older feature table without the column
    cannot tell, so nobody is excluded).
    """
    clauses = parse_defined_when(text)
    if not clauses:
        return None
    cols = set(columns)
    if not referenced_features(text) <= cols:
        return None
    expr = None
    for clause in clauses:
        c = None
        for name, op, value in clause:
            t = _cmp(pl.col(name), op, value)
            c = t if c is None else c & t
        expr = c if expr is None else expr | c
    return expr.fill_null(False)


def defined_masks(df: pl.DataFrame, specs: Iterable[FeatureSpec]) -> dict[str, np.ndarray]:
    """``{feature: bool mask (n,)}`` for every spec'd feature of ``df`` that has a rule.

    Features without a rule (or whose rule cannot be evaluated on ``df``) are absent:
    defined for every row.
    """
    exprs = []
    for s in specs:
        if s.name not in df.columns:
            continue
        e = defined_expr(s.defined_when, df.columns)
        if e is not None:
            exprs.append(e.alias(s.name))
    if not exprs:
        return {}
    masks = df.select(exprs)
    return {c: masks[c].to_numpy().astype(bool) for c in masks.columns}
