"""Experiment configuration for GrowthBook clients, read with a project key (``pk_`` is
enough: the configuration is public by design, like GrowthBook's own client keys).

* ``GET /growthbook/api/features/{client_key}``: the features payload GrowthBook's SDKs fetch
  from ``{api_host}/api/features/{client_key}``; give an SDK
  ``api_host="http://<growthos>/growthbook"`` and a GrowthOS public key as ``client_key``.
* ``GET /config/{key}``: GrowthBook's legacy ``overrides`` format.

Both answer with an ``ETag`` (a hash of the body) and ``Cache-Control``; a request whose
``If-None-Match`` names the current ETag gets ``304 Not Modified`` without a body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import ingest_principal_for, require_feature
from api.schemas import error_responses
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.experiments import store

#: Shared caches may keep an answer 30 s, then serve it stale while they revalidate.
CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=3600"

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
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "ETag",
    }
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


@router.get(
    "/config/{key}", name="growthbook_legacy_config", response_class=Response, responses=_JSON
)
async def legacy_config(request: Request, key: ClientKey) -> Response:
    """``{"status": 200, "overrides": {key: {status, weights, coverage, groups, url,
    force}}}``: running experiments, and stopped ones whose winner is not the control."""
    return await _answer(request, key, store.client_overrides)
