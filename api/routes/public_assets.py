"""The browser SDK and the web components, as files any web page can load.

* ``/public/growthos.js``: the SDK as a classic script (``window.growthos``);
* ``/public/growthos.mjs``: the SDK as an ES module;
* ``/public/gos-components.js``: the custom elements ``<gos-waitlist>``, ``<gos-referral>``,
  ``<gos-survey>``, ``<gos-social-proof>``.

They are built from ``js/`` into ``api/static/`` and shipped inside the package, so a plain
``pip install`` serves them without npm (docs/sdk.md). Each answer carries a strong ``ETag``
(a conditional request gets ``304``) and is cached for a day, or for a year as immutable when
the URL pins the version with ``?v=<etag>``. A gzip copy goes to clients that accept it.
``Access-Control-Allow-Origin: *`` lets other sites import the ES module.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

from growthos_pipeline.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: The files served, and nothing else from the folder.
ASSETS: tuple[str, ...] = ("growthos.js", "growthos.mjs", "gos-components.js")
CONTENT_TYPE = "text/javascript; charset=utf-8"
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"
CACHE_CONTROL_PINNED = "public, max-age=31536000, immutable"

router = APIRouter(tags=["public"])


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    version: str  #: the first 20 hex digits of the body's SHA-256

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    @property
    def gzip_etag(self) -> str:
        return f'"{self.version}-gz"'


@cache
def asset(name: str) -> Asset:
    """A served file, read and compressed once per process."""
    body = (STATIC_DIR / name).read_bytes()
    return Asset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        version=hashlib.sha256(body).hexdigest()[:20],
    )


def _matches(if_none_match: str | None, etags: tuple[str, ...]) -> bool:
    """Whether ``If-None-Match`` names one of ``etags`` (weak comparison, as RFC 9110 asks)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    sent = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return any(tag in sent for tag in etags)


@router.api_route(
    "/public/{name}", methods=["GET", "HEAD"], name="public_asset", include_in_schema=False
)
def public_asset(name: str, request: Request) -> Response:
    """One of :data:`ASSETS`, with cache validators; 404 for any other name."""
    if name not in ASSETS:
        raise NotFound("asset_not_found", f"no file '{name[:100]}'; served: {list(ASSETS)}")
    served = asset(name)
    pinned = request.query_params.get("v") == served.version
    use_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
    headers = {
        "Cache-Control": CACHE_CONTROL_PINNED if pinned else CACHE_CONTROL,
        "ETag": served.gzip_etag if use_gzip else served.etag,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request.headers.get("if-none-match"), (served.etag, served.gzip_etag)):
        return Response(status_code=304, headers=headers)
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
    body = served.gzipped if use_gzip else served.body
    return Response(body, media_type=CONTENT_TYPE, headers=headers)
