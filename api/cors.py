"""CORS for the endpoints web pages call from their own origin: the GrowthOS ingest API
(``/v1/track``, ``/identify``, ``/page``, ``/group``, ``/alias``, ``/batch``) and the public
campaign endpoints (``/v1/campaigns/...``) that the JS SDK and the web components use.

These endpoints authenticate with a key the page sends (``X-API-Key``, or ``?key=`` from
``sendBeacon``), never with a cookie, so any origin may call them: a public key's own
``allowed_origins`` setting is what limits the sites that may use it (``403
origin_not_allowed``, readable by the page). Credentials are not allowed, so a browser never
sends cookies along. Every other path is left as it is.

The answers expose ``Retry-After`` (the SDK's backoff honours it), ``X-Request-Id`` and the
rate-limit headers; a preflight is cached for two hours (Chromium's ceiling).
"""

from __future__ import annotations

import re

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

#: The paths web pages call across origins.
BROWSER_PATHS = re.compile(
    r"^/((v1|api)/)?(track|identify|page|group|alias|batch)/?$|^/(v1|api)/campaigns/"
)
EXPOSED_HEADERS = (
    "Retry-After",
    "X-Request-Id",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
)


class BrowserCORS:
    """ASGI middleware: Starlette's CORS handling on :data:`BROWSER_PATHS` only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Content-Encoding", "X-API-Key", "Authorization"],
            allow_credentials=False,
            expose_headers=list(EXPOSED_HEADERS),
            max_age=7200,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and BROWSER_PATHS.match(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
