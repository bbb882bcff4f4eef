"""Liveness, readiness and Prometheus metrics (no credential needed)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from starlette.concurrency import run_in_threadpool

from api.deps import CatalogDep, LimiterDep, SettingsDep
from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", name="healthz")
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", name="readyz", responses={503: {"model": Health}})
async def readyz(
    request: Request, settings: SettingsDep, catalog: CatalogDep, limiter: LimiterDep
) -> JSONResponse:
    """The process can serve: catalog reachable and migrated, data folder writable, and the
    shared rate-limit store reachable when one is configured."""
    checks: dict[str, str] = {}
    try:
        current = await run_in_threadpool(catalog.is_current)
        checks["catalog"] = "ok" if current else "migrations pending"
    except Exception:
        checks["catalog"] = "unreachable"
    checks["data_dir"] = "ok" if os.access(settings.data_dir, os.W_OK) else "not writable"
    if limiter.shared:
        checks["redis"] = "ok" if await limiter.check() else "unreachable"
    ingestor = getattr(request.app.state, "ingestor", None)
    if ingestor is not None:
        health = ingestor.health()
        checks["wal"] = health["wal"]
        checks["flusher"] = health["flusher"]
    ok = all(value == "ok" for value in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", name="metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics (all worker processes when several run)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        data = generate_latest(registry)
    else:
        data = generate_latest(REGISTRY)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
