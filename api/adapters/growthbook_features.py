"""Experiment configuration for GrowthBook clients, read with a project key (``pk_`` is
enough: the configuration is public by design, like GrowthBook's own client keys).

* ``GET /growthbook/api/features/{client_key}``: the features payload GrowthBook's SDKs fetch
  from ``{api_host}/api/features/{client_key}``; give an SDK
  ``api_host="http://<growthos>/growthbook"`` and a GrowthOS public key as ``client_key``.
* ``GET /growthbook/sub/{client_key}``: server-sent events for SDKs created with
  ``streaming=True``: an ``event: features`` with the whole payload on connect and after
  every change (streams look every :data:`STREAM_POLL_S` seconds, and share one catalog read
  per project and period), a comment line as heartbeat, and an end after
  :data:`STREAM_LIFETIME_S` seconds (the SDK reconnects).
* ``GET /config/{key}``: GrowthBook's legacy ``overrides`` format.

Both answer with an ``ETag`` (a hash of the body) and ``Cache-Control``; a request whose
``If-None-Match`` names the current ETag gets ``304 Not Modified`` without a body.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import ingest_principal_for, require_feature
from api.schemas import error_responses
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.experiments import store

#: Shared caches may keep an answer 30 s, then serve it stale while they revalidate.
CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=3600"
#: An open stream looks for a change this often, sends a heartbeat after this long without
#: one, and ends after this long (the SDK reconnects; a server shutting down is not held).
STREAM_POLL_S = 1.0
STREAM_HEARTBEAT_S = 15.0
STREAM_LIFETIME_S = 300.0
_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "ETag"}

router = APIRouter(
    tags=["growthbook"],
    dependencies=[require_feature("experiments")],
    responses=error_responses(401, 403, 429, 503),
)

ClientKey = Annotated[str, Path(max_length=200, description="A GrowthOS project key (pk_)")]
_JSON = {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


async def _answer(
    request: Request, key: str, build: Callable[[Catalog, str], dict[str, Any]]
) -> Response:
    principal = await ingest_principal_for(request, key)
    project_id = store.client_project(principal)
    payload = await run_in_threadpool(build, request.app.state.catalog, project_id)
    body = orjson.dumps(payload)
    etag = _etag(body)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, **_CORS}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/growthbook/api/features/{client_key}",
    name="growthbook_features",
    response_class=Response,
    responses=_JSON,
)
async def features(request: Request, client_key: ClientKey) -> Response:
    """``{"status": 200, "features": {...}, "dateUpdated": ...}`` as GrowthBook's SDKs read
    it: every enabled feature's default value and rules."""
    return await _answer(request, client_key, store.client_features)


@dataclass
class Snapshots:
    """The features payload of each streamed project, read from the catalog at most once per
    :data:`STREAM_POLL_S` however many streams are open (entries idle for a minute go)."""

    entries: dict[str, tuple[float, bytes]] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def get(self, catalog: Catalog, project_id: str) -> bytes:
        loop = asyncio.get_running_loop()
        async with self.locks.setdefault(project_id, asyncio.Lock()):
            entry = self.entries.get(project_id)
            if entry is not None and loop.time() - entry[0] < STREAM_POLL_S:
                return entry[1]
            payload = await run_in_threadpool(store.client_features, catalog, project_id)
            now = loop.time()
            for stale in [p for p, (at, _) in self.entries.items() if now - at > 60]:
                del self.entries[stale]
                self.locks.pop(stale, None)
            self.entries[project_id] = (now, orjson.dumps(payload))
            return self.entries[project_id][1]


def _snapshots(request: Request) -> Snapshots:
    state = request.app.state
    found: Snapshots | None = getattr(state, "growthbook_snapshots", None)
    if found is None:
        found = state.growthbook_snapshots = Snapshots()
    return found


@router.get(
    "/growthbook/sub/{client_key}",
    name="growthbook_stream",
    response_class=StreamingResponse,
    responses={"200": {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def stream(request: Request, client_key: ClientKey) -> StreamingResponse:
    """Server-sent ``features`` events: the features payload on connect and on every change."""
    principal = await ingest_principal_for(request, client_key)
    project_id = store.client_project(principal)
    catalog: Catalog = request.app.state.catalog
    snapshots = _snapshots(request)
    first = await snapshots.get(catalog, project_id)

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        end = loop.time() + STREAM_LIFETIME_S
        last, quiet_since = first, loop.time()
        yield b"event: features\ndata: " + first + b"\n\n"
        while loop.time() < end:
            await asyncio.sleep(STREAM_POLL_S)
            body = await snapshots.get(catalog, project_id)
            if body != last:
                last, quiet_since = body, loop.time()
                yield b"event: features\ndata: " + body + b"\n\n"
            elif loop.time() - quiet_since >= STREAM_HEARTBEAT_S:
                quiet_since = loop.time()
                yield b": heartbeat\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **_CORS},
    )


@router.get(
    "/config/{key}", name="growthbook_legacy_config", response_class=Response, responses=_JSON
)
async def legacy_config(request: Request, key: ClientKey) -> Response:
    """``{"status": 200, "overrides": {key: {status, weights, coverage, groups, url,
    force}}}``: running experiments, and stopped ones whose winner is not the control."""
    return await _answer(request, key, store.client_overrides)
