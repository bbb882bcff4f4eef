"""The GrowthOS ingest API: track, identify, page, group, alias, and Segment-style batch.

A public key (``pk_``), a secret key (``sk_``) or a token with the ``track`` scope. Each
answers ``{"accepted": N, "rejected": [...]}`` once the accepted events are fsynced in the
write-ahead log; invalid events in a batch are skipped and listed by index with a reason.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.deps import IngestPrincipal, require_feature
from api.schemas import error_responses
from growthos_pipeline.catalog.access import require_ingest
from growthos_pipeline.events.protocols import growthos, segment
from growthos_pipeline.ingest.accept import Ingestor, Mapper


class RejectedEvent(BaseModel):
    index: int
    code: str
    message: str
    field: str | None = None


class IngestAccepted(BaseModel):
    accepted: int = Field(description="Events persisted (fsynced) by this request")
    rejected: list[RejectedEvent] = Field(default_factory=list)


def _body_schema(description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [{"type": "object"}, {"type": "array",
                                                              "items": {"type": "object"}}]}
                }
            },
        }
    }


router = APIRouter(
    tags=["ingest"],
    dependencies=[require_feature("ingest")],
    responses=error_responses(400, 401, 403, 413, 429, 503),
)


async def ingest(request: Request, principal: Any, mapper: Mapper, source: str) -> IngestAccepted:
    project_id = require_ingest(principal, request.headers.get("origin"))
    ingestor: Ingestor = request.app.state.ingestor
    result = await ingestor.receive(project_id, await request.body(), request.headers, mapper,
                                    source=source)
    return IngestAccepted(accepted=len(result.events),
                          rejected=[RejectedEvent(**r) for r in result.rejected])


def _route(path: str, name: str, mapper: Mapper, doc: str, source: str = "growthos") -> None:
    async def endpoint(request: Request, principal: IngestPrincipal) -> IngestAccepted:
        return await ingest(request, principal, mapper, source)

    endpoint.__doc__ = doc
    router.add_api_route(path, endpoint, methods=["POST"], name=name,
                         response_model=IngestAccepted, openapi_extra=_body_schema(doc))


_route("/track", "track", growthos.track,
       "One event, or {\"events\": [...], \"sent_at\": ...}: event_type, user_id or device_id, "
       "time, insert_id, event_properties, user_properties, groups, url, referrer.")
_route("/identify", "identify", growthos.identify,
       "Bind a device to a user and update the user's properties: user_id, device_id, "
       "user_properties, user_property_ops ($set, $set_once, $add, $append, $prepend, "
       "$remove, $unset, $clearAll).")
_route("/page", "page", growthos.page,
       "A page view: url, referrer, name, title, properties.")
_route("/group", "group", growthos.group,
       "Put a user in a group: group_type, group_id, group_properties.")
_route("/alias", "alias", growthos.alias,
       "Merge an earlier id into a user: previous_id, user_id.")
_route("/batch", "batch", segment.batch,
       "Segment-spec messages: {\"batch\": [{\"type\": \"track\"|\"identify\"|\"page\"|"
       "\"screen\"|\"group\"|\"alias\", ...}], \"sentAt\": ...}.", source="segment")
