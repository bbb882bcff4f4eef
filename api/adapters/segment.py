"""Segment's tracking API under ``/segment``: point a Segment library at
``http://<growthos>/segment`` with a GrowthOS key (``pk_``, ``sk_`` or an ``aat_`` token with the
``track`` scope) as its write key.

``POST /segment/v1/batch`` (what ``segment-analytics-python`` and the other server libraries
send), and the single-message calls ``/segment/v1/{track,identify,page,screen,group,alias}``.
The write key is taken from the usual key places (HTTP Basic user name, as the libraries send
it, ``X-API-Key``, Bearer, ``?key=``) or else from the body's ``writeKey``.

Answers are in Segment's shapes, because its libraries read them: ``{"success": true}`` (plus
``accepted`` and ``rejected``) with 200; errors carry ``code`` and ``message`` at the top of a
JSON object (releases before 2.4 retried a 4xx whose body lacked them). A 4xx other than 408,
410, 429 and 460 is final for the library; 429 and 503 carry ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from api.adapters import shaped_route
from api.deps import ingest_principal_for, presented_key, require_feature
from growthos_pipeline.catalog.access import Principal, require_ingest
from growthos_pipeline.errors import UserError
from growthos_pipeline.events.protocols import segment
from growthos_pipeline.events.protocols.growthos import Result
from growthos_pipeline.events.validate import IngestContext
from growthos_pipeline.ingest.accept import Ingestor, Mapper


def error_response(request: Request, error: UserError) -> Response:
    """A GrowthOS error in Segment's shape: ``code`` and ``message`` at the top."""
    body = {
        "success": False,
        "code": error.code,
        "message": error.message,
        "details": error.details,
        "request_id": getattr(request.state, "request_id", None),
    }
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        headers=error.headers,
        media_type="application/json",
    )


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _write_key(body: Any) -> str | None:
    key = body.get("writeKey") if isinstance(body, dict) else None
    return key if isinstance(key, str) else None


async def _receive(request: Request, mapper: Mapper) -> Response:
    ingestor: Ingestor = request.app.state.ingestor
    # A key in the headers is checked before the body is read; a writeKey only after.
    header_key = presented_key(request)
    principal: Principal | None = None
    if header_key:
        principal = await ingest_principal_for(request, header_key)
    body = ingestor.decode(await request.body(), request.headers)
    if principal is None:
        principal = await ingest_principal_for(request, _write_key(body))
    project_id = require_ingest(principal, request.headers.get("origin"))
    result = await ingestor.receive_decoded(
        project_id, body, request.headers, mapper, source="segment"
    )
    return _json({"success": True, "accepted": result.accepted, "rejected": result.rejected})


def _single(kind: str) -> Mapper:
    """A mapper for ``/v1/<kind>``: one message whose ``type`` the path gives."""

    def mapper(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
        if isinstance(body, dict) and "batch" not in body:
            body = {**body, "type": kind}
        return segment.batch(ctx, body, max_events=max_events)

    return mapper


router = APIRouter(
    prefix="/segment",
    tags=["segment"],
    dependencies=[require_feature("ingest")],
    route_class=shaped_route(error_response),
    include_in_schema=False,
)


async def batch(request: Request) -> Response:
    """Segment batch: ``{"batch": [messages], "sentAt", "writeKey"}``."""
    return await _receive(request, segment.batch)


router.add_api_route("/v1/batch", batch, methods=["POST"], name="segment_batch")


def _single_route(kind: str) -> None:
    mapper = _single(kind)

    async def endpoint(request: Request) -> Response:
        return await _receive(request, mapper)

    endpoint.__doc__ = f"One Segment {kind} message."
    router.add_api_route(f"/v1/{kind}", endpoint, methods=["POST"], name=f"segment_{kind}")


for _kind in segment.TYPES:
    _single_route(_kind)
