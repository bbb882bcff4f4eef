"""Idempotency records for management POSTs (the ``Idempotency-Key`` header).

Same key, same request: the stored response is replayed. Same key, another request: 409.
A request still running under the key: 409 too. Records expire after
``idempotency_ttl_hours``. A stored response can hold a secret shown once (a new key), so it is
encrypted with AES-GCM under a key derived from the server secret, the caller's credential
hash and the idempotency key: a copy of the catalog alone reveals nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import timedelta

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import idempotency_keys, utcnow
from growthos_pipeline.errors import BadRequest, Conflict
from growthos_pipeline.settings import Settings

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _cipher(settings: Settings, principal: str, key: str) -> AESGCM:
    material = hmac.new(
        settings.server_secret(), f"idem:{principal}:{key}".encode(), hashlib.sha256
    ).digest()
    return AESGCM(material)


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
        )
    return key


def begin(
    catalog: Catalog, settings: Settings, principal: str, key: str, request_fingerprint: str
) -> StoredResponse | None:
    """Claim ``key`` for this request, or return the response to replay.

    ``None`` means: go ahead, then call :func:`complete` (or :func:`abandon` on failure).
    """
    check_key(key)
    now = utcnow()
    where = (idempotency_keys.c.principal == principal, idempotency_keys.c.key == key)
    with catalog.begin() as conn:
        row = conn.execute(select(idempotency_keys).where(*where)).mappings().first()
        if row is not None and row["expires_at"] <= now:
            conn.execute(delete(idempotency_keys).where(*where))
            row = None
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(idempotency_keys).values(
                            principal=principal,
                            key=key,
                            fingerprint=request_fingerprint,
                            status_code=None,
                            response=None,
                            created_at=now,
                            expires_at=now + timedelta(hours=settings.idempotency_ttl_hours),
                        )
                    )
            except IntegrityError:
                raise Conflict(
                    "idempotency_request_in_progress",
                    "a request with this Idempotency-Key is in progress",
                ) from None
            return None
    if not hmac.compare_digest(str(row["fingerprint"]), request_fingerprint):
        raise Conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request; use a new key",
        )
    if row["status_code"] is None or row["response"] is None:
        raise Conflict(
            "idempotency_request_in_progress",
            "a request with this Idempotency-Key is still in progress; retry later",
        )
    blob = bytes(row["response"])
    plain = _cipher(settings, principal, key).decrypt(blob[:12], blob[12:], None)
    stored = orjson.loads(plain)
    return StoredResponse(
        status=int(row["status_code"]),
        headers=[(str(h), str(v)) for h, v in stored["headers"]],
        body=bytes.fromhex(stored["body"]),
    )


def complete(
    catalog: Catalog, settings: Settings, principal: str, key: str, response: StoredResponse
) -> None:
    nonce = os.urandom(12)
    plain = orjson.dumps({"headers": response.headers, "body": response.body.hex()})
    blob = nonce + _cipher(settings, principal, key).encrypt(nonce, plain, None)
    with catalog.begin() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.principal == principal,
                idempotency_keys.c.key == key,
            )
            .values(status_code=response.status, response=blob)
        )


def abandon(catalog: Catalog, principal: str, key: str) -> None:
    """Forget a claimed key whose request failed, so that a retry can run."""
    with catalog.begin() as conn:
        conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.principal == principal,
                idempotency_keys.c.key == key,
                idempotency_keys.c.status_code.is_(None),
            )
        )


def purge_expired(catalog: Catalog) -> int:
    with catalog.begin() as conn:
        result = conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.expires_at <= utcnow())
        )
    return int(result.rowcount or 0)
