"""Amplitude's HTTP API v2 and Batch API under ``/amplitude``: point an Amplitude client's
``server_url`` at ``http://<growthos>/amplitude/2/httpapi`` (or ``/amplitude/batch``) with a
GrowthOS key (``pk_``, ``sk_`` or an ``aat_`` token with the ``track`` scope) as its API key.

Answers are in Amplitude's shapes, because its clients read them (the ``code`` in the body, not
the HTTP status, is what they trust):

* 200 ``{"code": 200, "events_ingested", "payload_size_bytes", "server_upload_time"}``;
* 400 ``{"code": 400, "error": "Invalid API key: ..."}`` for a key that is unknown, revoked or
  may not send events: the client stops and drops the batch;
* 400 ``{"code": 400, "error", "events_with_invalid_fields" | "events_with_missing_fields" |
  "events_with_invalid_id_lengths": {field: [indexes]}}`` for invalid events: nothing of the
  request is stored; the client drops those indexes and sends the rest again (see
  :mod:`growthos_pipeline.events.protocols.amplitude` for why this is exactly-once);
* 400 with ``missing_field`` for a request that is wrong as a whole (no ``api_key``, no
  ``events``, a body that is not JSON): the client drops it rather than retrying it 12 times;
* 413 ``{"code": 413, "error": "Payload too large: ..."}``: the client halves its batches;
* 429 ``{"code": 429, "error", "eps_threshold", "throttled_events": [every index]}``: the client
  waits 30 s before sending them again;
* 503 (the write-ahead log cannot take events now) with ``Retry-After``: the client retries.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from api.adapters import shaped_route
from api.deps import ingest_principal_for, require_feature
from growthos_pipeline.catalog.access import require_ingest
from growthos_pipeline.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    UserError,
)
from growthos_pipeline.events.protocols import amplitude
from growthos_pipeline.ingest.accept import Ingestor


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def error_response(request: Request, error: UserError) -> Response:
    """A GrowthOS error in Amplitude's shape."""
    request_id = getattr(request.state, "request_id", None)
    status = error.status
    body: dict[str, Any] = {"code": status, "error": error.message, "request_id": request_id}
    if isinstance(error, Unauthorized | Forbidden):
        status = 400
        body = {"code": 400, "error": f"Invalid API key: {error.message}", "request_id": request_id}
    elif isinstance(error, PayloadTooLarge):
        body["error"] = f"Payload too large: {error.message}"
    elif isinstance(error, RateLimited):
        count = getattr(request.state, "amplitude_events", 0)
        body.update(
            error="Too many requests for some devices and users",
            eps_threshold=_limit(error),
            throttled_events=list(range(count)),
        )
    elif status == 400:
        body.update(error=f"Invalid request: {error.message}", missing_field=_missing_field(error))
    body["growthos_code"] = error.code
    return _json(body, status, error.headers)


def _limit(error: UserError) -> int | None:
    value = error.headers.get("X-RateLimit-Limit")
    return int(value) if value and value.isdigit() else None


def _missing_field(error: UserError) -> str:
    if error.code == "missing_api_key":
        return "api_key"
    return "events"


async def _receive(request: Request) -> Response:
    ingestor: Ingestor = request.app.state.ingestor
    raw = await request.body()
    body = ingestor.decode(raw, request.headers)
    events = body.get("events") if isinstance(body, dict) else None
    request.state.amplitude_events = len(events) if isinstance(events, list) else 0
    key = body.get("api_key") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key.strip():
        raise BadRequest("missing_api_key", "the body needs api_key: a GrowthOS project key")
    principal = await ingest_principal_for(request, key)
    project_id = require_ingest(principal, request.headers.get("origin"))
    result = await ingestor.receive_decoded(
        project_id, body, request.headers, amplitude.batch, source="amplitude"
    )
    if result.rejected:
        body = amplitude.invalid_events_body(result.rejected)
        body["request_id"] = getattr(request.state, "request_id", None)
        return _json(body, 400)
    return _json(
        {
            "code": 200,
            "events_ingested": result.accepted,
            "payload_size_bytes": len(raw),
            "server_upload_time": time.time_ns() // 1_000_000,
        },
        200,
    )


router = APIRouter(
    prefix="/amplitude",
    tags=["amplitude"],
    dependencies=[require_feature("ingest")],
    route_class=shaped_route(error_response),
    include_in_schema=False,
)


async def httpapi(request: Request) -> Response:
    """Amplitude HTTP API v2: ``{"api_key", "events": [...], "options"}``."""
    return await _receive(request)


async def batch(request: Request) -> Response:
    """Amplitude Batch API: the same body as the HTTP API v2."""
    return await _receive(request)


router.add_api_route("/2/httpapi", httpapi, methods=["POST"], name="amplitude_httpapi")
router.add_api_route("/batch", batch, methods=["POST"], name="amplitude_batch")
