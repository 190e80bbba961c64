"""Pseudonymous customer ids: keyed HMAC-SHA256, key from an environment variable.

With ``[privacy] pseudonymize = true`` every customer id is replaced by
``HMAC-SHA256(key, str(id))`` as 64 lowercase hex characters before anything is stored.
The key is read from the environment variable named by ``key_env`` and is never written
anywhere (not in run records, manifests or logs).  The same key maps the same raw id to
the same pseudonym every night, so segments, transitions and ``archetype forget`` work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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
    key = val.encode()
    if len(key) < MIN_KEY_BYTES:
        raise UserError(
            f"the key in {key_env} is {len(key)} bytes; use at least {MIN_KEY_BYTES} random "
            "bytes (e.g. `openssl rand -hex 32`) so pseudonyms cannot be reversed by guessing"
        )
    return key


def pseudonym(key: bytes, customer_id: object) -> str:
    """The pseudonym of one raw id (its ``str()`` form is hashed)."""
    return hmac.new(key, str(customer_id).encode(), hashlib.sha256).hexdigest()


def pseudonymize_series(ids: pl.Series, *, key: bytes) -> pl.Series:
    """Map a Series of raw ids to pseudonyms (String), keeping order and name."""
    if ids.null_count():
        raise UserError("customer_id contains nulls; cannot pseudonymize")
    values = [pseudonym(key, v) for v in ids.to_list()]
    return pl.Series(ids.name, values, dtype=pl.String)


# ------------------------------------------------------------ key check and suppression

KEY_FILE = "key.json"
SUPPRESSED = "suppressed.parquet"
MIN_KEY_BYTES = 16
_KEY_CHECK_MSG = b"archetype key check v1"


def privacy_dir(root: str | Path) -> Path:
    return Path(root) / "privacy"


def key_check(key: bytes) -> str:
    """A fingerprint of ``key`` that reveals nothing of it (HMAC of a constant, 16 hex)."""
    return hmac.new(key, _KEY_CHECK_MSG, hashlib.sha256).hexdigest()[:16]


def stored_key_check(root: str | Path) -> str | None:
    try:
        doc = json.loads((privacy_dir(root) / KEY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return doc.get("key_check") if isinstance(doc, dict) else None


def check_key(root: str | Path, key: bytes, key_env: str, *, record: bool = True) -> None:
    """The key must be the one ROOT's pseudonyms were made with (its stored fingerprint).

    The first pseudonymized run records the fingerprint (``privacy/key.json``); a later
    run or ``forget`` with another key is a :class:`UserError` before anything is written
    (pseudonyms of two keys never mix, and a forget never silently matches nothing).
    """
    want = stored_key_check(root)
    got = key_check(key)
    if want is not None and want != got:
        raise UserError(
            f"the key in {key_env} is not the key this root's ids were pseudonymized with "
            f"(key check {got} != {want} in privacy/{KEY_FILE}); use the original key",
            path=root,
        )
    if want is None and record:
        from archetype._atomic import make_dirs, write_json_atomic

        make_dirs(privacy_dir(root))
        write_json_atomic(privacy_dir(root) / KEY_FILE, {"key_check": got})


def forget_token(customer_id: object) -> str:
    """Unkeyed token of a raw id for the suppression list of a root without a key."""
    return hashlib.sha256(b"archetype-forget:" + str(customer_id).encode()).hexdigest()


@dataclass
class Suppression:
    """Forgotten customers, hashed: ``hmac`` pseudonyms (keyed roots) and ``sha`` tokens.

    Stored in ``ROOT/privacy/suppressed.parquet`` (``hash, scheme, added``); every later
    ``run``/``backfill`` drops these customers before anything is stored.
    """

    hmac: set[str] = field(default_factory=set)
    sha: set[str] = field(default_factory=set)
    key: bytes | None = None  # matches raw ids against ``hmac`` entries

    def __bool__(self) -> bool:
        return bool(self.hmac or self.sha)

    @classmethod
    def load(cls, root: str | Path) -> Suppression:
        p = privacy_dir(root) / SUPPRESSED
        if not p.is_file():
            return cls()
        try:
            df = pl.read_parquet(p, columns=["hash", "scheme"])
        except (OSError, pl.exceptions.PolarsError) as e:
            raise UserError(
                f"unreadable suppression list: {e}; restore it from a backup "
                "(forgotten customers must stay forgotten)",
                path=p,
            ) from None
        by = {
            s: set(df.filter(pl.col("scheme") == s)["hash"].to_list()) for s in ("hmac", "sha256")
        }
        return cls(hmac=by["hmac"], sha=by["sha256"])

    def tokens(self, raw: list[str], key: bytes | None) -> list[tuple[str, str]]:
        """(hash, scheme) of raw ids: keyed pseudonyms with a key, else unkeyed tokens."""
        if key is not None:
            return [(pseudonym(key, v), "hmac") for v in raw]
        return [(forget_token(v), "sha256") for v in raw]

    def known(self, raw: list[str], key: bytes | None) -> list[bool]:
        return [
            (pseudonym(key, v) in self.hmac if key is not None else False)
            or forget_token(v) in self.sha
            for v in raw
        ]

    def add(self, root: str | Path, raw: list[str], key: bytes | None) -> int:
        """Add raw ids (hashed) to ROOT's list atomically; returns how many were new."""
        from archetype._atomic import atomic_file, make_dirs

        new = [
            (h, s)
            for h, s in self.tokens(raw, key)
            if h not in (self.hmac if s == "hmac" else self.sha)
        ]
        new = list(dict.fromkeys(new))
        if not new:
            return 0
        p = privacy_dir(root) / SUPPRESSED
        old = pl.read_parquet(p) if p.is_file() else None
        today = dt.date.today().isoformat()
        add = pl.DataFrame(
            {
                "hash": [h for h, _ in new],
                "scheme": [s for _, s in new],
                "added": [today] * len(new),
            }
        )
        df = add if old is None else pl.concat([old.select(add.columns), add])
        make_dirs(p.parent)
        with atomic_file(p) as tmp:
            df.write_parquet(tmp)
        for h, s in new:
            (self.hmac if s == "hmac" else self.sha).add(h)
        return len(new)

    def mask(self, raw: pl.Series | None, pseudo: pl.Series | None) -> np.ndarray:
        """True for each row whose customer is suppressed (either id form may be given)."""
        n = len(raw) if raw is not None else len(pseudo)
        out = np.zeros(n, dtype=bool)
        if pseudo is None and raw is not None and self.hmac and self.key is not None:
            pseudo = pseudonymize_series(raw, key=self.key)
        if pseudo is not None and self.hmac:
            out |= pseudo.cast(pl.String).is_in(list(self.hmac)).to_numpy()
        if raw is not None and self.sha:
            out |= np.fromiter(
                (forget_token(v) in self.sha for v in raw.to_list()), dtype=bool, count=n
            )
        return out
