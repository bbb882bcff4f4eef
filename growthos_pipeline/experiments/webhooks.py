"""Webhooks: a project's endpoints receive every change of its experiments and features.

Messages are signed the Standard Webhooks way (https://www.standardwebhooks.com): headers
``webhook-id`` (the same on every retry of a message), ``webhook-timestamp`` (Unix seconds)
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed with
the base64-decoded part of the endpoint's ``whsec_`` secret. The secret is shown once, at
creation; the catalog keeps it encrypted (AES-GCM under a key derived from the server secret
and the endpoint id), because signing needs it in the clear.

A change enqueues one delivery per endpoint, in the transaction of the change itself, so a
change is never committed without its deliveries. :func:`deliver_due` (run by
:class:`WebhookWorker` in the API process) posts the due ones: no redirects (a 3xx is a failed
attempt), short timeouts, a bounded read of the answer, the SSRF guard of :mod:`egress` again
before every attempt (the request goes to the address checked), retries after an exponential
backoff with jitter, and one row per attempt in the delivery log.

Examples
--------
>>> sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
...      1614265330, '{"test": 2432232314}')
'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx2
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, delete, insert, select, update

from growthos_pipeline.catalog import audit
from growthos_pipeline.catalog.access import Principal, require_project
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.pagination import Page, paginate
from growthos_pipeline.catalog.tables import (
    utcnow,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from growthos_pipeline.errors import BadRequest, ConfigurationError, NotFound
from growthos_pipeline.experiments.egress import check_url, pin
from growthos_pipeline.ids import new_id
from growthos_pipeline.settings import Settings

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
#: Bytes of an endpoint's secret (Standard Webhooks asks for 24 to 64).
SECRET_BYTES = 32
#: Bytes of an endpoint's answer read (and dropped) before the connection is closed.
MAX_ANSWER_BYTES = 16 * 1024
USER_AGENT = "GrowthOS-Webhooks/1"
#: Deliveries claimed by one pass of :func:`deliver_due`.
BATCH = 50
#: Seconds between two prunings of the delivery log by a worker.
PRUNE_INTERVAL_S = 3600.0


class WebhookCreate(BaseModel):
    """A new endpoint: where to post, and a note for people."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=200)


# ---- secrets and signatures -------------------------------------------------------------------


def new_secret() -> str:
    """A fresh ``whsec_`` secret: base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header value of one message (Standard Webhooks, v1)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _cipher(settings: Settings, endpoint_id: str) -> AESGCM:
    material = hmac.new(
        settings.server_secret(), f"webhook-secret:{endpoint_id}".encode(), hashlib.sha256
    ).digest()
    return AESGCM(material)


def _encrypt(settings: Settings, endpoint_id: str, secret: str) -> bytes:
    nonce = os.urandom(12)
    sealed = _cipher(settings, endpoint_id).encrypt(nonce, secret.encode(), endpoint_id.encode())
    return nonce + sealed


def _decrypt(settings: Settings, endpoint_id: str, sealed: bytes) -> str:
    try:
        plain = _cipher(settings, endpoint_id).decrypt(
            sealed[:12], sealed[12:], endpoint_id.encode()
        )
    except InvalidTag:
        raise ConfigurationError(
            f"the secret of webhook {endpoint_id} does not decrypt: was the server secret "
            "(GROWTHOS_SECRET_KEY) changed?"
        ) from None
    return plain.decode()


# ---- endpoints --------------------------------------------------------------------------------


def _view(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "url": row["url"],
        "description": row["description"],
        "created_at": row["created_at"],
    }


def _endpoint(conn: Connection, project_id: str, endpoint_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            select(webhook_endpoints).where(
                webhook_endpoints.c.project_id == project_id,
                webhook_endpoints.c.id == endpoint_id,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("webhook_not_found", f"no webhook '{endpoint_id[:100]}' in this project")
    return dict(row)


def create_endpoint(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    project_id: str,
    body: WebhookCreate,
) -> dict[str, Any]:
    """A new endpoint (admin scope); the answer holds its ``secret``, shown this once."""
    with catalog.connect() as conn:  # the caller first: a stranger learns nothing of the URL
        require_project(conn, principal, project_id, "admin")
    check_url(body.url, allow_private=settings.webhooks_allow_private)  # no transaction open
    endpoint_id = new_id("wh")
    secret = new_secret()
    row = {
        "id": endpoint_id,
        "project_id": project_id,
        "url": body.url,
        "description": body.description,
        "secret_encrypted": _encrypt(settings, endpoint_id, secret),
        "created_at": utcnow(),
    }
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        conn.execute(insert(webhook_endpoints).values(**row))
        audit.record(
            conn,
            principal,
            "webhook.create",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=endpoint_id,
            details={"url": body.url[:200]},
        )
    return _view(row) | {"secret": secret}


def list_endpoints(
    catalog: Catalog, principal: Principal, project_id: str, *, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    with catalog.connect() as conn:
        require_project(conn, principal, project_id, "admin")
        return paginate(
            conn,
            select(webhook_endpoints).where(webhook_endpoints.c.project_id == project_id),
            webhook_endpoints.c.id,
            cursor=cursor,
            limit=limit,
            convert=_view,
        )


def get_endpoint(
    catalog: Catalog, principal: Principal, project_id: str, endpoint_id: str
) -> dict[str, Any]:
    with catalog.connect() as conn:
        require_project(conn, principal, project_id, "admin")
        return _view(_endpoint(conn, project_id, endpoint_id))


def delete_endpoint(
    catalog: Catalog, principal: Principal, project_id: str, endpoint_id: str
) -> dict[str, Any]:
    """Delete an endpoint, its pending deliveries and its log."""
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        row = _endpoint(conn, project_id, endpoint_id)
        delivery_ids = select(webhook_deliveries.c.id).where(
            webhook_deliveries.c.endpoint_id == endpoint_id
        )
        conn.execute(
            delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(delivery_ids))
        )
        conn.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
        )
        conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
        audit.record(
            conn,
            principal,
            "webhook.delete",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=endpoint_id,
        )
    return _view(row) | {"deleted": True}


# ---- deliveries -------------------------------------------------------------------------------


def _message(event_type: str, data: dict[str, Any]) -> str:
    return orjson.dumps(
        {"type": event_type, "timestamp": utcnow().isoformat(), "data": data}
    ).decode()


def _insert_delivery(
    conn: Connection, endpoint_id: str, project_id: str, event_type: str, body: str
) -> dict[str, Any]:
    now = utcnow()
    row = {
        "id": new_id("msg"),
        "endpoint_id": endpoint_id,
        "project_id": project_id,
        "event_type": event_type,
        "body": body,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert(webhook_deliveries).values(**row))
    return row


def enqueue(
    conn: Connection, project_id: str, event_type: str, data: Callable[[], dict[str, Any]]
) -> int:
    """One delivery of ``{"type", "timestamp", "data"}`` per endpoint of the project, in the
    caller's transaction; ``data`` is only called when the project has an endpoint. Returns
    the number of deliveries."""
    endpoint_ids = (
        conn.execute(
            select(webhook_endpoints.c.id).where(webhook_endpoints.c.project_id == project_id)
        )
        .scalars()
        .all()
    )
    if not endpoint_ids:
        return 0
    body = _message(event_type, {"project_id": project_id, **data()})
    for endpoint_id in endpoint_ids:
        _insert_delivery(conn, endpoint_id, project_id, event_type, body)
    return len(endpoint_ids)


def send_test(
    catalog: Catalog, principal: Principal, project_id: str, endpoint_id: str
) -> dict[str, Any]:
    """Enqueue a ``webhook.test`` message (a ping) to one endpoint; the delivery."""
    with catalog.begin() as conn:
        require_project(conn, principal, project_id, "admin")
        _endpoint(conn, project_id, endpoint_id)
        body = _message("webhook.test", {"project_id": project_id, "endpoint_id": endpoint_id})
        row = _insert_delivery(conn, endpoint_id, project_id, "webhook.test", body)
    return {k: row[k] for k in ("id", "event_type", "status", "attempts", "created_at")}


def _attempt_view(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "delivery_id": row["delivery_id"],
        "event_type": row["event_type"],
        "delivery_status": row["delivery_status"],
        "attempt": row["attempt"],
        "status_code": row["status_code"],
        "error": row["error"],
        "duration_ms": row["duration_ms"],
        "next_attempt_at": row["next_attempt_at"],
        "created_at": row["created_at"],
    }


def list_attempts(
    catalog: Catalog,
    principal: Principal,
    project_id: str,
    endpoint_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> Page[dict[str, Any]]:
    """The delivery log of one endpoint: one entry per attempt, oldest first."""
    with catalog.connect() as conn:
        require_project(conn, principal, project_id, "admin")
        _endpoint(conn, project_id, endpoint_id)
        query = (
            select(
                webhook_attempts,
                webhook_deliveries.c.event_type,
                webhook_deliveries.c.status.label("delivery_status"),
            )
            .join(webhook_deliveries, webhook_deliveries.c.id == webhook_attempts.c.delivery_id)
            .where(webhook_attempts.c.endpoint_id == endpoint_id)
        )
        return paginate(
            conn, query, webhook_attempts.c.id, cursor=cursor, limit=limit, convert=_attempt_view
        )


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds before the retry that follows failed attempt number ``attempt`` (1-based):
    base x 2^(attempt-1), capped, times a jitter in [0.75, 1] (so each wait exceeds the last
    until the cap)."""
    delay = min(
        settings.webhooks_backoff_max_s, settings.webhooks_backoff_base_s * 2 ** (attempt - 1)
    )
    return float(delay) * random.uniform(0.75, 1.0)


def _claim(catalog: Catalog, settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Due deliveries, each leased to this caller (another worker skips it until the lease
    ends, which lets a delivery interrupted by a crash run again). The lease outlasts a whole
    batch posted to one stalling endpoint, so no other worker sends a message twice."""
    lease = now + timedelta(seconds=settings.webhooks_timeout_s * 3 * BATCH + 60)
    claimed = []
    with catalog.begin() as conn:
        rows = (
            conn.execute(
                select(
                    webhook_deliveries,
                    webhook_endpoints.c.url,
                    webhook_endpoints.c.secret_encrypted,
                )
                .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
                .where(
                    webhook_deliveries.c.status == "pending",
                    webhook_deliveries.c.next_attempt_at <= now,
                )
                .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
                .limit(BATCH)
            )
            .mappings()
            .all()
        )
        for row in rows:
            taken = conn.execute(
                update(webhook_deliveries)
                .where(
                    webhook_deliveries.c.id == row["id"],
                    webhook_deliveries.c.status == "pending",
                    webhook_deliveries.c.next_attempt_at == row["next_attempt_at"],
                )
                .values(next_attempt_at=lease)
            )
            if taken.rowcount == 1:
                claimed.append(dict(row))
    return claimed


def _post(
    client: httpx2.Client, settings: Settings, delivery: dict[str, Any]
) -> tuple[int | None, str | None]:
    """One attempt: the status code (None without an answer) and the error (None on 2xx)."""
    try:
        address = check_url(delivery["url"], allow_private=settings.webhooks_allow_private)
    except BadRequest as err:
        return None, f"{err.code}: {err.message}"
    target, host, sni = pin(delivery["url"], address)
    try:
        secret = _decrypt(settings, delivery["endpoint_id"], delivery["secret_encrypted"])
    except ConfigurationError as err:
        return None, str(err)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery["id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, delivery["id"], timestamp, delivery["body"]),
    }
    if host is not None:
        headers["host"] = host
    try:
        with client.stream(
            "POST",
            target,
            content=delivery["body"].encode(),
            headers=headers,
            extensions={"sni_hostname": sni} if sni else {},
        ) as response:
            read = 0
            for chunk in response.iter_bytes():
                read += len(chunk)
                if read >= MAX_ANSWER_BYTES:
                    break
            status = response.status_code
            if 200 <= status < 300:
                return status, None
            if 300 <= status < 400:
                location = response.headers.get("location", "")[:200]
                return status, f"redirect to '{location}' not followed"
            return status, f"the endpoint answered {status}"
    except httpx2.HTTPError as err:
        return None, f"{type(err).__name__}: {err}"[:500]


def _attempt(
    catalog: Catalog,
    settings: Settings,
    http: httpx2.Client,
    delivery: dict[str, Any],
    now: datetime | None,
) -> None:
    started = time.perf_counter()
    status, error = _post(http, settings, delivery)
    duration_ms = round((time.perf_counter() - started) * 1000)
    attempt = delivery["attempts"] + 1
    now = now or utcnow()  # the retry is timed from this attempt, not from the pass
    if error is None:
        outcome, next_at = "succeeded", None
    elif attempt >= settings.webhooks_max_attempts:
        outcome, next_at = "failed", None
    else:
        outcome = "pending"
        next_at = now + timedelta(seconds=backoff(settings, attempt))
    with catalog.begin() as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery["id"])
            .values(status=outcome, attempts=attempt, next_attempt_at=next_at, updated_at=now)
        )
        conn.execute(
            insert(webhook_attempts).values(
                id=new_id("wha"),
                delivery_id=delivery["id"],
                endpoint_id=delivery["endpoint_id"],
                attempt=attempt,
                status_code=status,
                error=error[:500] if error else None,
                duration_ms=duration_ms,
                next_attempt_at=next_at,
                created_at=utcnow(),
            )
        )


def deliver_due(
    catalog: Catalog,
    settings: Settings,
    *,
    now: datetime | None = None,
    client: httpx2.Client | None = None,
) -> int:
    """Post the deliveries due at ``now`` (default: the current time), each once, and log
    every attempt. A 2xx answer delivers; anything else is retried after :func:`backoff`
    until ``webhooks_max_attempts`` attempts, then the delivery is ``failed``. An endpoint's
    deliveries go one after the other, in the order of their changes; up to
    ``webhooks_concurrency`` endpoints are served at the same time. Returns the number of
    attempts made."""
    claimed = _claim(catalog, settings, now or utcnow())
    if not claimed:
        return 0
    by_endpoint: dict[str, list[dict[str, Any]]] = {}
    for delivery in claimed:
        by_endpoint.setdefault(delivery["endpoint_id"], []).append(delivery)
    own = client is None
    http = client or httpx2.Client(
        follow_redirects=False, timeout=settings.webhooks_timeout_s, trust_env=False
    )

    def serve(deliveries: list[dict[str, Any]]) -> None:
        for delivery in deliveries:
            _attempt(catalog, settings, http, delivery, now)

    try:
        workers = min(settings.webhooks_concurrency, len(by_endpoint))
        if workers == 1:
            for deliveries in by_endpoint.values():
                serve(deliveries)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="webhook") as pool:
                list(pool.map(serve, by_endpoint.values()))
    finally:
        if own:
            http.close()
    return len(claimed)


def prune_log(catalog: Catalog, settings: Settings, *, now: datetime | None = None) -> int:
    """Delete the deliveries finished (succeeded or failed) more than
    ``webhooks_log_retention_days`` ago, with their attempts; the number deleted."""
    cutoff = (now or utcnow()) - timedelta(days=settings.webhooks_log_retention_days)
    old = select(webhook_deliveries.c.id).where(
        webhook_deliveries.c.status != "pending", webhook_deliveries.c.updated_at < cutoff
    )
    with catalog.begin() as conn:
        conn.execute(delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(old)))
        return conn.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.id.in_(old))
        ).rowcount


class WebhookWorker:
    """A thread of the API process that runs :func:`deliver_due` every
    ``webhooks_poll_interval_s`` (at once again after a full batch)."""

    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self._catalog = catalog
        self._settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhook-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._settings.webhooks_timeout_s * 2 + 5)

    def _run(self) -> None:
        with httpx2.Client(
            follow_redirects=False, timeout=self._settings.webhooks_timeout_s, trust_env=False
        ) as client:
            pruned_at = 0.0
            while not self._stop.is_set():
                try:
                    if time.monotonic() - pruned_at > PRUNE_INTERVAL_S:
                        pruned_at = time.monotonic()
                        prune_log(self._catalog, self._settings)
                    done = deliver_due(self._catalog, self._settings, client=client)
                except Exception:
                    log.exception("webhook delivery pass failed")
                    done = 0
                if done < BATCH:
                    self._stop.wait(self._settings.webhooks_poll_interval_s)
