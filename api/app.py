"""The FastAPI application: ``create_app(settings)``.

Run it with ``growthos serve``, or ``uvicorn --factory api.app:create_app``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from api import errors
from api.adapters import amplitude as amplitude_adapter
from api.adapters import growthbook as growthbook_adapter
from api.adapters import growthbook_features
from api.adapters import posthog as posthog_adapter
from api.adapters import segment as segment_adapter
from api.conventions import ConventionsMiddleware
from api.cors import BrowserCORS
from api.idempotency import IdempotencyMiddleware
from api.routes import admin, auth, health, ingest, orgs, projects, public_assets, query
from api.routes import campaigns as campaigns_routes
from api.routes import campaigns_public as campaigns_public_routes
from api.routes import experiments as experiments_routes
from api.routes import gdpr as gdpr_routes
from api.routes import pages as pages_routes
from api.routes import segments as segments_routes
from api.routes import usage as usage_routes
from api.routes import users as users_routes
from api.routes import webhooks as webhooks_routes
from growthos_pipeline import __version__
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.keys import KeyCache
from growthos_pipeline.experiments.webhooks import WebhookWorker
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.ratelimit import RateLimiter
from growthos_pipeline.settings import Settings, get_settings

DESCRIPTION = """\
GrowthOS Pipeline: events into an open Delta lake, queried with a pipe language.

Errors: `{"error": {"code", "message", "details"}, "request_id"}`; every response carries
`X-Request-Id`. Keys go in `X-API-Key`, `Authorization: Bearer`, or `?key=`. Lists take `cursor`
and `limit` (default 25, max 100) and answer `data`, `has_more`, `next_cursor`. Management POSTs
honour `Idempotency-Key`. Keyed responses carry `X-RateLimit-Limit`, `-Remaining`, `-Reset`.
"""


def _operation_id(route: APIRoute) -> str:
    return route.name


def versioned_router() -> APIRouter:
    """Every versioned route, to be mounted under ``/v1`` (and ``/api`` as alias)."""
    router = APIRouter()
    for module in (
        ingest,
        query,
        admin,
        projects,
        orgs,
        auth,
        gdpr_routes,
        usage_routes,
        segments_routes,
        users_routes,
        experiments_routes,
        webhooks_routes,
        campaigns_routes,
        campaigns_public_routes,
    ):
        router.include_router(module.router)
    return router


def create_app(
    settings: Settings | None = None,
    *,
    catalog: Catalog | None = None,
    today: Callable[[], date] | None = None,
) -> FastAPI:
    """The API application for ``settings`` (by default, from the environment)."""
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    catalog = catalog or Catalog.open(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ingestor = Ingestor(settings)
        ingestor.start()
        app.state.ingestor = ingestor
        # Webhook deliveries wait in the catalog; this thread posts them (with retries).
        webhook_worker = WebhookWorker(catalog, settings)
        if settings.webhooks_worker_enabled:
            webhook_worker.start()
        # Everything made so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise walk it all again and again (latency).
        gc.freeze()
        try:
            yield
        finally:
            webhook_worker.stop()
            ingestor.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="GrowthOS Pipeline",
        version=__version__,
        description=DESCRIPTION,
        generate_unique_id_function=_operation_id,
        telemetry=None
        if settings.otel_enabled
        else {"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.limiter = RateLimiter(settings)
    app.state.key_cache = KeyCache(settings.key_cache_ttl_s)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(versioned_router(), prefix="/v1")
    app.include_router(versioned_router(), prefix="/api", include_in_schema=False)
    # The reference's unversioned ingest and query aliases.
    app.include_router(ingest.router, include_in_schema=False)
    app.include_router(query.router, include_in_schema=False)
    # Protocol adapters, each speaking its client library's dialect under its own prefix.
    app.include_router(posthog_adapter.router)
    app.include_router(growthbook_adapter.router)
    app.include_router(growthbook_features.router)
    app.include_router(segment_adapter.router)
    app.include_router(amplitude_adapter.router)
    # The browser SDK and the web components (/public/growthos.js, ...).
    app.include_router(public_assets.router)
    # The web pages (landing, sign-in, query console, llms.txt) and their static files.
    app.include_router(pages_routes.router)
    app.mount(pages_routes.STATIC_PREFIX, pages_routes.PageFiles(), name="page_files")
    app.add_middleware(IdempotencyMiddleware, settings=settings, catalog=catalog)
    # The ingest hot path, inside the conventions: see ingest.IngestFastPath.
    app.add_middleware(ingest.IngestFastPath, prefixes=("/v1", "/api", ""))
    app.add_middleware(ConventionsMiddleware, settings=settings, today=today)
    # Outermost: web pages call the ingest and public campaign endpoints across origins.
    app.add_middleware(BrowserCORS, settings=settings)
    return app
