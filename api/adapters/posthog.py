"""PostHog's capture API under ``/posthog``: point a PostHog client at
``http://<growthos>/posthog`` with a GrowthOS key (``pk_``, ``sk_`` or an ``aat_`` token with
the ``track`` scope) as its project API key.

``POST /posthog/batch/`` (what ``posthog-python`` and the other server libraries send) and
``POST /posthog/i/v0/e/`` (also ``/e/``, ``/capture/``, ``/track/``: one event or an array,
as ``posthog-js`` sends them; ``?compression=gzip-js`` means a gzip body). The key is the
body's ``api_key`` (or ``token``), else a header key. Bodies may be gzip-compressed.

Answers are in PostHog's shapes, because its clients read them: ``{"status": 1}`` (plus
``accepted`` and ``rejected``) on success, and on error
``{"type", "code", "detail", "attr"}`` (the client logs ``detail``). A 4xx other than 408
and 429 is final for the client: it does not retry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.adapters import shaped_route
from api.deps import ingest_principal_for, presented_key, require_feature
from growthos_pipeline.catalog.access import require_ingest
from growthos_pipeline.errors import UserError
from growthos_pipeline.events.protocols import posthog
from growthos_pipeline.ingest.accept import Ingestor

#: PostHog's error ``type`` for each status (DRF's exception types, as PostHog answers).
_ERROR_TYPES = {
    400: "validation_error",
    401: "authentication_error",
    403: "authentication_error",
    413: "validation_error",
    429: "throttled_error",
}


class PostHogRejected(BaseModel):
    index: int
    code: str
    message: str
    field: str | None = None


class PostHogAccepted(BaseModel):
    status: int = Field(1, description="1: the request was accepted (PostHog's answer)")
    accepted: int = Field(description="Events persisted (fsynced) by this request")
    rejected: list[PostHogRejected] = Field(default_factory=list)


class PostHogError(BaseModel):
    type: str
    code: str
    detail: str
    attr: str | None = None
    request_id: str | None = None


def error_response(request: Request, error: UserError) -> Response:
    """A GrowthOS error in PostHog's shape."""
    first = error.details[0] if error.details and isinstance(error.details[0], dict) else {}
    body = {
        "type": _ERROR_TYPES.get(error.status, "server_error"),
        "code": error.code,
        "detail": error.message,
        "attr": first.get("field"),
        "request_id": getattr(request.state, "request_id", None),
    }
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        headers=error.headers,
        media_type="application/json",
    )


def _encoding(request: Request) -> Mapping[str, str]:
    """posthog-js marks a gzip body with ``?compression=gzip-js`` instead of a header."""
    if request.query_params.get("compression") in ("gzip-js", "gzip"):
        return {"content-encoding": "gzip"}
    return request.headers


async def capture(request: Request) -> PostHogAccepted:
    ingestor: Ingestor = request.app.state.ingestor
    body = ingestor.decode(await request.body(), _encoding(request))
    principal = await ingest_principal_for(request, posthog.api_key(body) or presented_key(request))
    project_id = require_ingest(principal, request.headers.get("origin"))
    result = await ingestor.receive_decoded(
        project_id, body, request.headers, posthog.batch, source="posthog"
    )
    return PostHogAccepted(
        accepted=result.accepted, rejected=[PostHogRejected(**r) for r in result.rejected]
    )


# Every error of these routes (the handler's, and a dependency's such as a switched-off
# feature) leaves in PostHog's shape.
router = APIRouter(
    prefix="/posthog",
    tags=["posthog"],
    dependencies=[require_feature("ingest")],
    route_class=shaped_route(error_response),
)

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]
                }
            }
        },
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": PostHogError, "description": text}
    for status, text in (
        (400, "Invalid body or event"),
        (401, "Missing or invalid key"),
        (403, "Key may not send events"),
        (413, "Body too large"),
        (429, "Rate limited"),
        (503, "Ingest unavailable"),
    )
}

for _path, _name, _doc in (
    (
        "/batch/",
        "posthog_batch",
        'PostHog batch: {"api_key", "batch": [events], "sent_at"}, optionally gzip.',
    ),
    (
        "/i/v0/e/",
        "posthog_capture",
        'PostHog capture: one event {"api_key"|"token", "event", "distinct_id", '
        '"properties", "timestamp", "uuid"} or an array of events.',
    ),
    ("/e/", "posthog_e", ""),
    ("/capture/", "posthog_capture_legacy", ""),
    ("/track/", "posthog_track", ""),
):
    for _variant in (_path, _path.rstrip("/")):
        _visible = bool(_doc) and _variant == _path
        router.add_api_route(
            _variant,
            capture,
            methods=["POST"],
            name=_name if _variant == _path else f"{_name}_noslash",
            response_model=PostHogAccepted,
            description=_doc or None,
            include_in_schema=_visible,
            responses=_ERRORS if _visible else None,
            openapi_extra=_BODY if _visible else None,
        )
