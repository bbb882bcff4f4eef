"""``/llms.txt``: the API summarised for language models (the llms.txt convention: an H1, a
blockquote summary, then sections of notes and links).

The hand-written part explains what the OpenAPI document cannot (credentials, the error
envelope, the query language); the list of operations is generated from the application's
OpenAPI document, so it cannot drift from the routes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_METHODS = ("get", "post", "put", "patch", "delete")

#: Queries shown as examples; a test compiles each one, so they stay valid.
QUERY_EXAMPLES = (
    'event_type = "page_view" | last 7d | count by _browser',
    "last 7d | count, uniq(user_id) as users by day",
    'event_type = "purchase" | last 30d | sum(prop.amount) as revenue, avg(prop.amount)'
    " by _country | sort revenue desc",
    "prop.coupon exists and prop.amount > 50 | last 14d | count by prop.coupon",
    '_path matches "^/blog/[a-z]+$" | last 30d | uniq(session_id) as sessions by hour'
    " | top 5 by sessions",
    'event_type = "checkout" | last 1d | select time, user_id, _path, prop.item.sku as sku'
    " | limit 20",
    'last 30d | funnel "page_view" -> "add_to_cart" -> "purchase" within 1d',
    'from 2025-11-17 to 2026-01-12 | retention "signup" -> "purchase" every week periods 6',
    "last 7d | sessions | where events >= 2 | count, avg(duration_s) as avg_duration",
)

_HEADER = """\
# GrowthOS Pipeline

> A self-hostable product-analytics API: apps send events over HTTP (its own API, or the
> Segment, Amplitude, PostHog and GrowthBook client libraries unmodified); events land in a
> Delta Lake table; a pipe query language answers over `POST /v1/query`. Every operation is
> in the OpenAPI document at {base}/openapi.json.

All paths are under `/v1` (the same routes also answer under `/api/...`). Bodies are JSON.
Every response carries `X-Request-Id`.

## Credentials

- `ak_...` org admin key: everything in its organisation (projects, keys, settings, audit).
- `sk_...` project secret key: scopes `track`, `query`, `admin` on its project. Server-side only.
- `pk_...` project public key: `track` only (ingest); safe to embed in web pages.
- `aat_...` access token: the scopes it was created with, until it expires or is revoked.
- `gos_session` cookie: a person signed in with GitHub (`/v1/auth/github/login`); everything
  in the organisations they own. Cookie-authenticated writes from a foreign `Origin` get 403.
- Send a key as `X-API-Key: <key>`, `Authorization: Bearer <key>` or `?key=<key>`.
- A project out of reach answers `404 project_not_found`; a missing scope `403
  insufficient_scope`. Secrets are shown once, in the response that creates them.

## Errors

Every error has one shape, with the status codes of the reference:

```json
{{"error": {{"code": "project_not_found", "message": "...", "details": []}},
 "request_id": "req_..."}}
```

400 bad input (`invalid_json`, `query_syntax_error`, ...), 401 no usable credential, 403 not
allowed, 404 not found for this credential, 409 conflict, 413 body too large, 422
`validation_error` (`details`: `loc`, `message`, `type`), 429 `rate_limited` (see
`Retry-After`), 503 `feature_disabled`, 504 `timeout`. A 500 never contains a traceback.
Keyed responses carry `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`.
Lists take `cursor` and `limit` (1-100, default 25) and answer `data`, `has_more`,
`next_cursor`. Management POSTs honour `Idempotency-Key` (same key and body: the first
response replayed; same key, other body: 409).

## Sending events

- `POST /v1/track` with a `pk_` or `sk_`: one event or `{{"events": [...]}}`; an event has
  `event_type` and a `user_id` or `device_id`, optional `time`, `insert_id` (dedup),
  `event_properties`, `user_properties`, `groups`, `session_id`, `url`, `referrer`,
  `user_agent`.
  Answer: `{{"accepted": N, "rejected": [{{"index", "code", "message", "field"}}]}}`.
- `POST /v1/identify`, `/v1/page`, `/v1/group`, `/v1/alias`, and Segment-style `/v1/batch`.
- An event is acknowledged once it is durable in a write-ahead log; it is queryable within
  about a second.

## Protocol adapters

Unmodified client libraries, each answered in its own dialect:

- Segment: `{base}/segment` as the library's host (`/segment/v1/batch`, `/segment/v1/track`,
  ...; the write key as HTTP Basic user name or `writeKey`).
- Amplitude: `{base}/amplitude/2/httpapi` and `/amplitude/batch` (`api_key` in the body).
- PostHog: `{base}/posthog` as the library's host (`api_key` or `token` in the body).
- GrowthBook: `{base}/growthbook/api/features/{{client_key}}` (feature and experiment
  configuration), `/growthbook/track` (tracking events).

## Query language

`POST /v1/query` with an `sk_`, an `aat_` with the `query` scope, an org admin key (add
`"project_id"`) or a session (add `"project_id"`). Body:
`{{"q": "<query>", "format": "json"|"csv"|"llm", "limit": 100, "offset": 0, "as_of": null}}`.
The JSON answer: `columns`, `rows` (objects), `row_count`, `has_more`, `next_offset`,
`lake_version` (send it back as `as_of` to reproduce an answer), `elapsed_ms`, `range`.
`"format": "llm"` answers a Markdown table.

A query is a chain of stages separated by `|`, read left to right: a filter (`where` may be
left out in the first stage), a time range (`last 7d`, `from 2026-01-01 to 2026-02-01`;
default `last 30d`), aggregations (`count`, `uniq(x)`, `sum`, `avg`, `min`, `max`, `median`,
`p95(x)`, with `as` names) `by` groups and time buckets (`minute`, `hour`, `day`, `week`,
`month`), then `where` on the aggregates, `select`, `sort`, `top N by x`, `limit N`, or one of
`funnel`, `retention`, `sessions`. Columns: `event_type`, `user_id`, `device_id`,
`session_id`, `time`, `_browser`, `_os`, `_device_type`, `_path`, `_referrer`, `_country`;
`prop.k` reads event properties, `user.k` the user properties sent with the event,
`profile.k` the user's current profile. Examples:

{examples}

Errors in query text answer 400 with a stable code (`query_syntax_error`,
`query_unknown_column` with a "did you mean", `query_invalid_regex`, `query_invalid`) and the
position in `details`: `line`, `column`, `offset`, `length`, `expected`, `hint`.

## Pages

- [Landing page]({base}/): what this deployment is, with links.
- [Query console]({base}/console): sign in, pick a project, run a query, see a table and a chart.
- [OpenAPI document]({base}/openapi.json): the machine-readable contract; browsable at
  [{base}/docs]({base}/docs).
"""


def _one_line(text: str) -> str:
    """The first paragraph of a docstring, on one line, with reST literals as Markdown."""
    paragraph = text.strip().split("\n\n", 1)[0]
    line = " ".join(paragraph.split())
    return line.replace("``", "`")


def _humanise(summary: str) -> str:
    return summary[:1] + summary[1:].lower() if summary else ""


def operations(openapi: Mapping[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """``(tag, method, path, operation id, one-line description)`` for every operation of an
    OpenAPI document, in the document's order."""
    found = []
    for path, item in openapi.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            tags = operation.get("tags") or ["other"]
            about = _one_line(operation.get("description") or "") or _humanise(
                operation.get("summary", "")
            )
            found.append(
                (str(tags[0]), method.upper(), path, str(operation.get("operationId", "")), about)
            )
    return found


def render(openapi: Mapping[str, Any], *, public_url: str) -> str:
    """The llms.txt text for an OpenAPI document, with links under ``public_url``."""
    base = public_url.rstrip("/")
    examples = "\n".join(f"    {example}" for example in QUERY_EXAMPLES)
    parts = [_HEADER.format(base=base, examples=examples)]
    parts.append("## Operations\n")
    parts.append("Generated from the OpenAPI document: method, path, operation id, what it does.\n")
    by_tag: dict[str, list[str]] = {}
    for tag, method, path, operation_id, about in operations(openapi):
        line = f"- `{method} {path}` ({operation_id})"
        by_tag.setdefault(tag, []).append(f"{line}: {about}" if about else line)
    for tag, lines in by_tag.items():
        parts.append(f"### {tag}\n")
        parts.append("\n".join(lines) + "\n")
    text = "\n".join(parts)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"
