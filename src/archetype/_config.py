"""Typed config tables: pydantic models over ``tomllib`` and one-line errors.

Every table of a config TOML (``[events]``, ``[features]``, ``[pipeline]``, ...) is a
:class:`ConfigModel`; :func:`validate_table` turns pydantic's ``ValidationError`` into one
:class:`~archetype.errors.UserError` line naming the table, the key, the value and what
was expected::

    config.toml: [pipeline] k = 'twelve': expected an integer
    [events.columns] 'user' is not a key here; expected one of 'customer_id', 'ts', ...

No type is checked by hand: the models declare the types, pydantic checks them, and this
module only words the first error.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from archetype.errors import UserError

M = TypeVar("M", bound="ConfigModel")

_EXPECTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "date_from_datetime_parsing": "a date YYYY-MM-DD",
    "date_parsing": "a date YYYY-MM-DD",
    "path_type": "a path (string)",
}
_BOUNDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("<=", "le"),
    "less_than": ("<", "lt"),
}


class ConfigModel(BaseModel):
    """Base of the config tables: unknown keys are errors, instances are immutable.

    Constructing one with a bad value (``FeatureConfig(max_channels=-1)``) raises the same
    one-line :class:`UserError` as reading it from a file; ``TABLE`` names the table.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
    TABLE: ClassVar[str] = ""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            known = sorted(type(self).model_fields)
            raise UserError(format_validation_error(e, self.TABLE, data, known)) from None


def expected_phrase(err: dict[str, Any]) -> str:
    """What a pydantic error dict says was expected ("an integer", "a value >= 1")."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind in ("enum", "literal_error"):
        return f"one of {ctx.get('expected', '')}".strip()
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        return f"a value {op} {ctx.get(key)}"
    if kind == "too_short" or kind == "too_long":
        return f"{ctx.get('min_length', ctx.get('max_length'))} values"
    if kind == "missing":
        return "a value here (too few values)"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _where(table: str, loc: tuple, data: Any) -> tuple[str, str | None, Any, bool]:
    """``(table path, key, value, found)``: walk ``loc`` through the input ``data``.

    Dict keys deepen the table (``[events.columns]``), list positions index the key
    (``winsorize[1]``); a location element not in the input (a union member's tag) ends
    the walk.
    """
    tables, key, node, found = [table] if table else [], None, data, True
    for part in loc:
        if part == "[key]":  # the dict key itself is wrong
            return ".".join(tables), key, key, False
        if isinstance(node, Mapping) and part in node:
            if key is not None:
                tables.append(str(key))
            key, node = part, node[part]
        elif isinstance(node, list | tuple) and isinstance(part, int):
            key = f"{key}[{part}]"
            found = part < len(node)
            node = node[part] if found else None
        elif isinstance(node, Mapping) and isinstance(part, str) and key is None:
            key, node, found = part, None, False  # missing top-level key
        else:
            break
    return ".".join(tables), None if key is None else str(key), node, found


def format_validation_error(
    e: ValidationError, table: str, data: Any, known: list[str] | None = None
) -> str:
    """One line for the first error of ``e``, e.g. ``[pipeline] k = 'x': expected an integer``.

    Errors of the members of a union at the same place are merged ("a string or a list").
    """
    errors = e.errors()
    return describe_error(errors[0], table, data, known, errors)


def describe_error(
    first: dict[str, Any],
    table: str,
    data: Any,
    known: list[str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> str:
    """One line for one pydantic error dict ``first`` about ``data`` (the ``table`` body);
    ``errors`` (all of them) lets union alternatives at the same place be merged."""
    errors = errors or [first]
    where, key, value, found = _where(table, tuple(first["loc"]), data)
    head = f"[{where}]" if where else "config"
    if first["type"] == "extra_forbidden":
        tail = f"; known: {', '.join(known)}" if known else ""
        return f"{head} has unknown key {key!r}{tail}"
    if first["loc"] and first["loc"][-1] == "[key]":
        return f"{head} key {value!r} is not allowed; expected {expected_phrase(first)}"
    if first["type"] == "value_error":  # a validator's own words
        msg = expected_phrase(first)
        if key is None:
            return f"{head}: {msg}"
        return f"{head} {key} = {value!r}: {msg}"
    same = [err for err in errors if _where(table, tuple(err["loc"]), data)[:2] == (where, key)]
    expected = " or ".join(dict.fromkeys(expected_phrase(err) for err in same))
    if key is None:
        return f"{head}: expected {expected}"
    if not found:
        return f"{head} {key}: expected {expected}"
    return f"{head} {key} = {value!r}: expected {expected}"


def validate_table(
    model: type[M],
    data: Mapping[str, Any] | None,
    table: str,
    *,
    path: str | Path | None = None,
) -> M:
    """``model(**data)`` for a :class:`ConfigModel`; a failure is one :class:`UserError`
    line naming ``path`` (the file), the table, the key and the expected type."""
    body = dict(data or {})
    if table != getattr(model, "TABLE", table):
        raise ValueError(f"{model.__name__} is the [{model.TABLE}] table, not [{table}]")
    try:
        return model(**body)
    except UserError as e:
        raise UserError(str(e), path=path) from None
