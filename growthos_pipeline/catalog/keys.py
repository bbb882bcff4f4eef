"""API keys and access tokens in the catalog: issue, authenticate, revoke.

Examples
--------
>>> import tempfile
>>> from growthos_pipeline.catalog.database import Catalog
>>> from growthos_pipeline.catalog.orgs import bootstrap
>>> settings = Settings(data_dir=tempfile.mkdtemp())
>>> catalog = Catalog.open(settings)
>>> keys = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
>>> principal = authenticate(catalog, settings, keys["secret_key"])
>>> principal.kind, principal.project_id == keys["project_id"], sorted(principal.scopes)
('secret', True, ['admin', 'query', 'track'])
>>> authenticate(catalog, settings, "sk_" + "x" * 38)
Traceback (most recent call last):
...
growthos_pipeline.errors.Unauthorized: invalid_api_key: the key's checksum does not match: \
it was mistyped or truncated
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from growthos_pipeline.catalog import credentials
from growthos_pipeline.catalog.access import SCOPES, Principal
from growthos_pipeline.catalog.credentials import KeyKind
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import api_keys, orgs, projects, utcnow
from growthos_pipeline.errors import Unauthorized
from growthos_pipeline.ids import new_id
from growthos_pipeline.settings import Settings

_SCOPES_OF_KIND: dict[str, tuple[str, ...]] = {
    "admin": SCOPES,
    "public": ("track",),
    "secret": SCOPES,
}


def issue(
    conn: Connection,
    settings: Settings,
    kind: KeyKind,
    *,
    org_id: str,
    project_id: str | None,
    name: str,
    scopes: Iterable[str] | None = None,
    expires_at: datetime | None = None,
    raw: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Store a new key (only its keyed hash) and return ``(raw_key, row)``."""
    raw = raw or credentials.mint(kind)
    key_hash = credentials.hash_secret(settings.server_secret(), raw)
    existing = conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))
    row_found = existing.mappings().first()
    if row_found is not None:  # a derived public key issued before: reuse it
        return raw, dict(row_found)
    row = {
        "id": new_id("key"),
        "kind": kind,
        "org_id": org_id,
        "project_id": project_id,
        "name": name,
        "display": credentials.display(raw),
        "key_hash": key_hash,
        "scopes": sorted(scopes if scopes is not None else _SCOPES_OF_KIND[kind]),
        "created_at": utcnow(),
        "expires_at": expires_at,
        "revoked_at": None,
    }
    conn.execute(insert(api_keys).values(**row))
    return raw, row


def revoke(conn: Connection, *conditions: Any) -> int:
    """Revoke every live key matching ``conditions``; the number revoked."""
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.revoked_at.is_(None), *conditions)
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)


def authenticate(catalog: Catalog, settings: Settings, raw: str) -> Principal:
    """The principal behind a presented key or token; :class:`Unauthorized` otherwise.

    The format and checksum are checked first, so a malformed key costs no lookup; the lookup
    is by keyed hash, and the stored hash is compared in constant time.
    """
    kind = credentials.kind_of(raw)
    key_hash = credentials.hash_secret(settings.server_secret(), raw)
    query = (
        select(
            api_keys,
            orgs.c.plan.label("org_plan"),
            projects.c.plan.label("project_plan"),
            projects.c.allowed_origins.label("allowed_origins"),
        )
        .join(orgs, orgs.c.id == api_keys.c.org_id)
        .outerjoin(projects, projects.c.id == api_keys.c.project_id)
        .where(api_keys.c.key_hash == key_hash)
    )
    with catalog.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None or not hmac.compare_digest(str(row["key_hash"]), key_hash):
        raise Unauthorized(
            "invalid_api_key", "the key is not known: it was revoked or never issued"
        )
    if row["kind"] != kind:
        raise Unauthorized("invalid_api_key", "the key is not known")
    if row["revoked_at"] is not None:
        raise Unauthorized("key_revoked", "the key was revoked")
    expires_at = row["expires_at"]
    if expires_at is not None and expires_at <= utcnow():
        raise Unauthorized("token_expired", f"the token expired at {expires_at.isoformat()}")
    org_id = str(row["org_id"])
    is_admin = kind == "admin"
    return Principal(
        kind=kind,
        id=str(row["id"]),
        org_id=org_id,
        project_id=row["project_id"],
        scopes=frozenset(row["scopes"]),
        plan=str(row["org_plan"] if is_admin else row["project_plan"] or "free"),
        admin_org_ids=frozenset({org_id}) if is_admin else frozenset(),
        allowed_origins=tuple(row["allowed_origins"] or ()),
    )


class KeyCache:
    """Verified keys, trusted for ``ttl`` seconds (the ingest path looks a key up once per
    window instead of once per request; a revoked key stops within ``ttl``)."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}

    def authenticate(self, catalog: Catalog, settings: Settings, raw: str) -> Principal:
        if self.ttl <= 0:
            return authenticate(catalog, settings, raw)
        now = time.monotonic()
        hit = self._entries.get(raw)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = authenticate(catalog, settings, raw)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[raw] = (now + self.ttl, principal)
        return principal

    def get(self, raw: str) -> Principal | None:
        hit = self._entries.get(raw)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None
