"""Pseudonymous customer ids: keyed HMAC-SHA256, key from an environment variable.

With ``[privacy] pseudonymize = true`` every customer id is replaced by
``HMAC-SHA256(key, str(id))`` as 64 lowercase hex characters before anything is stored.
The key is read from the environment variable named by ``key_env`` and is never written
anywhere (not in run records, manifests or logs).  The same key maps the same raw id to
the same pseudonym every night, so segments, transitions and ``archetype forget`` work.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import polars as pl

from archetype.errors import UserError


def load_key(key_env: str) -> bytes:
    """The HMAC key from ``os.environ[key_env]``; missing or empty is a :class:`UserError`."""
    val = os.environ.get(key_env)
    if not val:
        raise UserError(
            f"pseudonymize = true needs a secret key in the environment variable {key_env} "
            "(it is not set or empty)"
        )
    return val.encode()


def pseudonym(key: bytes, customer_id: object) -> str:
    """The pseudonym of one raw id (its ``str()`` form is hashed)."""
    return hmac.new(key, str(customer_id).encode(), hashlib.sha256).hexdigest()


def pseudonymize_series(ids: pl.Series, *, key: bytes) -> pl.Series:
    """Map a Series of raw ids to pseudonyms (String), keeping order and name."""
    if ids.null_count():
        raise UserError("customer_id contains nulls; cannot pseudonymize")
    values = [pseudonym(key, v) for v in ids.to_list()]
    return pl.Series(ids.name, values, dtype=pl.String)
