"""GrowthBook's tracking plugin under ``/growthbook``: give the plugin
``ingestor_host="http://<growthos>/growthbook"`` and GrowthBook a GrowthOS public key
(``pk_``) as its ``client_key``.

``POST /growthbook/track?client_key=pk_...`` takes the JSON array of events the plugin
sends as ``text/plain`` (experiment exposures, feature evaluations, ``log_event`` events).
It answers ``{"accepted": N, "rejected": [...]}``: events that cannot be stored (no user
or device id, for one) are listed by index and the rest are kept. The plugin checks only
for a 200 and never retries, so errors are answered in the GrowthOS envelope.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import ingest_principal_for, require_feature
from api.routes.ingest import IngestAccepted, RejectedEvent
from api.schemas import error_responses
from growthos_pipeline.catalog.access import require_ingest
from growthos_pipeline.events.protocols import growthbook
from growthos_pipeline.ingest.accept import Ingestor

router = APIRouter(
    prefix="/growthbook",
    tags=["growthbook"],
    dependencies=[require_feature("ingest")],
    responses=error_responses(400, 401, 403, 413, 429, 503),
)

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {"type": "array", "items": {"type": "object"}}}
            for media in ("text/plain", "application/json")
        },
    }
}


@router.post("/track", name="growthbook_track", response_model=IngestAccepted, openapi_extra=_BODY)
async def track(
    request: Request,
    client_key: Annotated[
        str | None, Query(max_length=200, description="A GrowthOS public key")
    ] = None,
) -> IngestAccepted:
    """GrowthBook tracking-plugin events: a JSON array (sent as text/plain) of
    {"event_name", "properties_json", "context_json", "user_id", "device_id", "url", ...}."""
    principal = await ingest_principal_for(request, client_key or request.headers.get("x-api-key"))
    project_id = require_ingest(principal, request.headers.get("origin"))
    ingestor: Ingestor = request.app.state.ingestor
    result = await ingestor.receive(
        project_id, await request.body(), request.headers, growthbook.track, source="growthbook"
    )
    return IngestAccepted(
        accepted=result.accepted, rejected=[RejectedEvent(**r) for r in result.rejected]
    )
