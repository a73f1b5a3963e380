"""API keys for the LangGraph server: issued per user and company, stored hashed, revocable.

A key looks like `lgb_<id>_<secret>`: `id` (12 hex characters) names the key in listings and
revocations; the whole key is hashed with SHA-256 and only the hash is stored. The secret is
32 random bytes, so a fast hash is enough: there is nothing to brute-force, and a verification
costs one indexed lookup. A leaked table of hashes grants nothing.

The table has its own append-only migration list (`AUTH_MIGRATIONS`), applied by
`brain migrate`; the application role may read it (to verify keys) and update `last_used_at`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from langgraph_brain.db.migrator import MigrationSet
from langgraph_brain.identity import normalize_entity_id

KEY_PREFIX = "lgb_"

AUTH_MIGRATIONS_LIST: list[str] = [
    # v0: version table.
    """
    CREATE TABLE IF NOT EXISTS brain_auth_migrations (
        v integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    # v1: API keys. `key_hash` is SHA-256 of the whole key (hex); the key itself is never stored.
    # Revocation keeps the row (who had access, when) instead of deleting it.
    """
    CREATE TABLE brain_api_keys (
        key_id       text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{12}$'),
        key_hash     text NOT NULL UNIQUE,
        user_id      text NOT NULL CHECK (user_id <> ''),
        company_id   text,
        is_admin     boolean NOT NULL DEFAULT false,
        label        text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz,
        revoked_at   timestamptz,
        last_used_at timestamptz
    );
    CREATE INDEX brain_api_keys_user_idx ON brain_api_keys (user_id);
    """,
]

AUTH_MIGRATIONS = MigrationSet(
    name="auth",
    table="brain_auth_migrations",
    lock_key=0x6272_6169_6E02,  # "brain\2"
    migrations=AUTH_MIGRATIONS_LIST,
)


@dataclass(frozen=True)
class ApiKey:
    """One issued key, without its secret."""

    key_id: str
    user_id: str
    company_id: str | None
    is_admin: bool
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


_COLUMNS = "key_id, user_id, company_id, is_admin, label, created_at, expires_at, revoked_at, last_used_at"
_INSERT_SQL = f"""
INSERT INTO brain_api_keys (key_id, key_hash, user_id, company_id, is_admin, label, expires_at)
VALUES (%s, %s, %s, %s, %s, %s, now() + %s::interval)
RETURNING {_COLUMNS}
"""
# One statement: find a live key by hash and note its use. `last_used_at` is written at most once
# a minute per key, so a busy key does not turn every request into a row update.
_VERIFY_SQL = f"""
WITH found AS (
    SELECT key_id FROM brain_api_keys
    WHERE key_hash = %s AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
), touched AS (
    UPDATE brain_api_keys k SET last_used_at = now()
    FROM found WHERE k.key_id = found.key_id
      AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
)
SELECT {_COLUMNS} FROM brain_api_keys WHERE key_id IN (SELECT key_id FROM found)
"""
_LIST_SQL = f"""
SELECT {_COLUMNS} FROM brain_api_keys
WHERE (%(user)s::text IS NULL OR user_id = %(user)s)
ORDER BY created_at, key_id
"""
_REVOKE_SQL = f"""
UPDATE brain_api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE key_id = %s RETURNING {_COLUMNS}
"""


def hash_key(key: str) -> str:
    """SHA-256 (hex) of a whole API key, as stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _row(row: Any) -> ApiKey:
    return ApiKey(**{k: row[k] for k in ApiKey.__dataclass_fields__})


async def acreate_key(
    conn: AsyncConnection[Any],
    user_id: str,
    company_id: str | None,
    *,
    admin: bool = False,
    label: str | None = None,
    expires_in: timedelta | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key for a user (and company). Returns the stored record and the key itself,
    which is shown once and cannot be recovered.

    Ids are normalised like entity ids ("Ana " -> "ana").
    """
    user = normalize_entity_id(user_id)
    company = normalize_entity_id(company_id) if company_id is not None else None
    key_id = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    interval = None if expires_in is None else f"{int(expires_in.total_seconds())} seconds"
    cur = await conn.execute(_INSERT_SQL, (key_id, hash_key(key), user, company, admin, label, interval))
    return _row(await cur.fetchone()), key


async def averify_key(conn: AsyncConnection[Any], key: str) -> ApiKey | None:
    """The live (not revoked, not expired) key record for `key`, else None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    row = await (await conn.execute(_VERIFY_SQL, (hash_key(key),))).fetchone()
    return None if row is None else _row(row)


class VerifiedKeyCache:
    """Keys verified in the last `ttl` seconds, so that a request with a known key costs no
    database round trip (two, with the pool's connection check: most of an API call's overhead).

    The price is revocation lag: a revoked key keeps working for at most `ttl` seconds in each
    server process (`BRAIN_AUTH_CACHE_SECONDS`, 0 turns the cache off). An expiring key is never
    served past its `expires_at`. Entries are keyed by the key's SHA-256, never the key itself, and
    only successful verifications are remembered (garbage keys cannot fill the cache).
    """

    def __init__(self, ttl: float, *, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[ApiKey, float]] = {}

    def get(self, key: str) -> ApiKey | None:
        if self.ttl <= 0:
            return None
        digest = hash_key(key)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        record, until = entry
        if time.monotonic() >= until or (
            record.expires_at is not None and record.expires_at <= datetime.now(UTC)
        ):
            self._entries.pop(digest, None)
            return None
        return record

    def put(self, key: str, record: ApiKey) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # rare (10k live keys in one process): start over, stay bounded
        self._entries[hash_key(key)] = (record, time.monotonic() + self.ttl)


async def alist_keys(conn: AsyncConnection[Any], user_id: str | None = None) -> list[ApiKey]:
    """Every key (revoked ones included), oldest first; only one user's when given."""
    user = None if user_id is None else normalize_entity_id(user_id)
    return [_row(r) for r in await (await conn.execute(_LIST_SQL, {"user": user})).fetchall()]


async def arevoke_key(conn: AsyncConnection[Any], key_id: str) -> ApiKey | None:
    """Revoke a key by id (the 12 characters after `lgb_`). None if there is no such key."""
    row = await (await conn.execute(_REVOKE_SQL, (key_id.removeprefix(KEY_PREFIX)[:12],))).fetchone()
    return None if row is None else _row(row)


__all__ = [
    "AUTH_MIGRATIONS",
    "KEY_PREFIX",
    "ApiKey",
    "VerifiedKeyCache",
    "acreate_key",
    "alist_keys",
    "arevoke_key",
    "averify_key",
    "hash_key",
]
