"""The GrowthOS ingest API: track, identify, page, group, alias, and Segment-style batch.

A public key (``pk_``), a secret key (``sk_``) or a token with the ``track`` scope. Each
answers ``{"accepted": N, "rejected": [...]}`` once the accepted events are fsynced in the
write-ahead log; invalid events in a batch are skipped and listed by index with a reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import IngestPrincipal, check_feature, ingest_principal, require_feature
from api.schemas import error_responses
from growthos_pipeline.catalog.access import require_ingest
from growthos_pipeline.events import fast
from growthos_pipeline.events.protocols import growthos, segment
from growthos_pipeline.events.protocols.growthos import Result
from growthos_pipeline.ingest.accept import FastMapper, Ingestor, Mapper


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
                    "schema": {
                        "oneOf": [
                            {"type": "object"},
                            {"type": "array", "items": {"type": "object"}},
                        ]
                    }
                }
            },
        }
    }


router = APIRouter(
    tags=["ingest"],
    dependencies=[require_feature("ingest")],
    responses=error_responses(400, 401, 403, 413, 429, 503),
)


async def ingest(
    request: Request, principal: Any, mapper: Mapper, source: str, fast: FastMapper | None
) -> IngestAccepted:
    project_id = require_ingest(principal, request.headers.get("origin"))
    ingestor: Ingestor = request.app.state.ingestor
    result = await ingestor.receive(
        project_id, await request.body(), request.headers, mapper, source=source, fast=fast
    )
    return IngestAccepted(
        accepted=result.accepted, rejected=[RejectedEvent(**r) for r in result.rejected]
    )


def accepted_body(result: Result) -> bytes:
    """The answer as :class:`IngestAccepted` serialises it, without building the models."""
    return orjson.dumps(
        {
            "accepted": result.accepted,
            "rejected": [
                {
                    "index": r["index"],
                    "code": r["code"],
                    "message": r["message"],
                    "field": r.get("field"),
                }
                for r in result.rejected
            ],
        }
    )


def lean_handler(
    mapper: Mapper, source: str, fast: FastMapper | None
) -> Callable[[Request], Awaitable[Response]]:
    """The hot path: the feature switch, :func:`api.deps.ingest_principal` and the ingestor
    in one plain call, with the same checks, in the same order, as the declared
    dependencies (which stay on the route for the OpenAPI document)."""

    async def handle(request: Request) -> Response:
        state = request.app.state
        check_feature(state.settings, "ingest")
        principal = await ingest_principal(request)
        project_id = require_ingest(principal, request.headers.get("origin"))
        ingestor: Ingestor = state.ingestor
        result = await ingestor.receive(
            project_id, await request.body(), request.headers, mapper, source=source, fast=fast
        )
        return Response(accepted_body(result), media_type="application/json")

    return handle


class LeanRoute(APIRoute):
    """An API route answered by its endpoint's ``lean`` handler instead of FastAPI's
    dependency solving and response-model validation (the handler's answer is the same)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        lean = getattr(self.endpoint, "lean", None)
        return lean if lean is not None else super().get_route_handler()


class IngestFastPath:
    """ASGI middleware: a ``POST`` to one of this module's paths (under each of ``prefixes``)
    goes straight to its lean handler, past the framework's routing and the middlewares
    inside this one. Install it inside :class:`api.conventions.ConventionsMiddleware`, which
    gives every answer, errors included, the same conventions as on any other route; any
    other request goes on to ``app`` unchanged.
    """

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ("",)) -> None:
        self.app = app
        self.routes: dict[str, tuple[LeanRoute, Callable[[Request], Awaitable[Response]]]] = {}
        for route in router.routes:
            if isinstance(route, LeanRoute):
                for prefix in prefixes:
                    self.routes[prefix + route.path] = (route, route.endpoint.lean)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = self.routes.get(scope["path"])
            if found is not None:
                route, handle = found
                scope["route"] = route  # the metrics' route label
                response = await handle(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _route(
    path: str,
    name: str,
    mapper: Mapper,
    doc: str,
    source: str = "growthos",
    fast: FastMapper | None = None,
) -> None:
    async def endpoint(request: Request, principal: IngestPrincipal) -> IngestAccepted:
        return await ingest(request, principal, mapper, source, fast)

    endpoint.__doc__ = doc
    endpoint.lean = lean_handler(mapper, source, fast)  # type: ignore[attr-defined]
    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        name=name,
        response_model=IngestAccepted,
        openapi_extra=_body_schema(doc),
        route_class_override=LeanRoute,
    )


_route(
    "/track",
    "track",
    growthos.track,
    'One event, or {"events": [...], "sent_at": ...}: event_type, user_id or device_id, '
    "time, insert_id, event_properties, user_properties, groups, url, referrer.",
    fast=fast.track,
)
_route(
    "/identify",
    "identify",
    growthos.identify,
    "Bind a device to a user and update the user's properties: user_id, device_id, "
    "user_properties, user_property_ops ($set, $set_once, $add, $append, $prepend, "
    "$remove, $unset, $clearAll).",
)
_route("/page", "page", growthos.page, "A page view: url, referrer, name, title, properties.")
_route(
    "/group",
    "group",
    growthos.group,
    "Put a user in a group: group_type, group_id, group_properties.",
)
_route("/alias", "alias", growthos.alias, "Merge an earlier id into a user: previous_id, user_id.")
_route(
    "/batch",
    "batch",
    segment.batch,
    'Segment-spec messages: {"batch": [{"type": "track"|"identify"|"page"|'
    '"screen"|"group"|"alias", ...}], "sentAt": ...}.',
    source="segment",
)
