"""From an HTTP request body to events: decompression (bounded), JSON, the request context.

Examples
--------
>>> import gzip
>>> decode_body(gzip.compress(b'{"event_type": "x"}'), "gzip", max_bytes=1024)
{'event_type': 'x'}
>>> decode_body(gzip.compress(b"0" * 10_000), "gzip", max_bytes=1024)
Traceback (most recent call last):
...
growthos_pipeline.errors.PayloadTooLarge: payload_too_large: the body is larger than 1024 \
bytes once decompressed
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

from growthos_pipeline.errors import BadRequest, PayloadTooLarge
from growthos_pipeline.events.enrich import country
from growthos_pipeline.events.validate import IngestContext, Limits

COUNTRY_HEADERS = (
    "cf-ipcountry",
    "cloudfront-viewer-country",
    "x-vercel-ip-country",
    "x-country-code",
)


def decompress(raw: bytes, encoding: str | None, *, max_bytes: int) -> bytes:
    """The body as sent, inflated if gzip- or deflate-encoded, never past ``max_bytes``
    (a decompression bomb stops at the limit, having used at most that much memory)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = zlib.decompressobj(zlib.MAX_WBITS if raw[:1] == b"\x78" else -zlib.MAX_WBITS)
    else:
        raise BadRequest(
            "unsupported_encoding", f"Content-Encoding '{encoding[:20]}' is not supported; use gzip"
        )
    try:
        out = inflater.decompress(raw, max_bytes + 1)
    except zlib.error:
        raise BadRequest("invalid_compression", f"the body is not valid {encoding}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            "payload_too_large",
            f"the body is larger than {max_bytes} bytes once decompressed",
            details=[{"limit_bytes": max_bytes}],
        )
    return out


def decode_body(raw: bytes, encoding: str | None, *, max_bytes: int) -> Any:
    return parse_json(decompress(raw, encoding, max_bytes=max_bytes))


def parse_json(data: bytes) -> Any:
    """A (decompressed) body as JSON, or a 400 that says why it is not."""
    if not data.strip():
        raise BadRequest("empty_body", "the request body is empty")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("invalid_json", f"the body is not valid JSON: {exc}"[:200]) from None


def now_us() -> int:
    return time.time_ns() // 1000


def context_for(
    project_id: str, headers: Mapping[str, str], limits: Limits, *, source: str = "growthos"
) -> IngestContext:
    """The request-wide facts: receive time, browser user agent, country header."""
    ua = headers.get("user-agent")
    code = None
    for name in COUNTRY_HEADERS:
        code = country(headers.get(name))
        if code:
            break
    return IngestContext(
        project_id=project_id,
        received_at=now_us(),
        limits=limits,
        source=source,
        # A server library's own user agent says nothing about the person: browsers only.
        user_agent=ua if ua and ua.startswith("Mozilla/") else None,
        country=code,
    )
