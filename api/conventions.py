"""The conventions every response follows, as one pure ASGI middleware.

* a request id: the caller's ``X-Request-Id`` when it is sane, else ``req_<ULID>``; echoed in
  the header of every response and in every error body;
* the error envelope for anything that escapes the routes: a :class:`UserError` keeps its code
  and status; any other exception is a 500 ``internal_error`` with no traceback or path;
* request bodies bounded by ``max_body_bytes`` (413 ``payload_too_large``);
* a time budget until the response starts (504 ``timeout``);
* API versions: ``Deprecation``/``Sunset``/``Link`` headers on a deprecated version, 410
  ``version_gone`` from its sunset date;
* the rate-limit headers that the key dependency left in the request state;
* Prometheus request counts and latencies per route template.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from growthos_pipeline.catalog import audit
from growthos_pipeline.errors import Gone, PayloadTooLarge, Timeout, UserError
from growthos_pipeline.ids import MonotonicIds
from growthos_pipeline.settings import Settings

log = logging.getLogger("growthos.api")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_VERSION = re.compile(r"^/(v\d+|api)(/|$)")
#: Ingest paths take larger bodies (ingest_max_body_bytes) than management calls.
_INGEST = re.compile(
    r"^/((v1|api)/)?(track|identify|page|group|alias|batch)/?$"
    r"|^/(segment|amplitude|posthog|growthbook)(/|$)"
)

REQUESTS = Counter(
    "growthos_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "growthos_http_request_duration_seconds",
    "Time to answer HTTP requests",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def error_body(error: UserError, request_id: str | None) -> bytes:
    return orjson.dumps(error.to_dict(request_id))


def internal_error_body(request_id: str | None) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "code": "internal_error",
                "message": "something went wrong on our side; the request id helps us find it",
                "details": [],
            },
            "request_id": request_id,
        }
    )


_request_ids = MonotonicIds("req")


class ConventionsMiddleware:
    def __init__(
        self, app: ASGIApp, settings: Settings, today: Callable[[], date] | None = None
    ) -> None:
        self.app = app
        self.settings = settings
        self.today = today or (lambda: datetime.now(UTC).date())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        state = scope.setdefault("state", {})
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else _request_ids.new()
        state["request_id"] = request_id
        token = audit.request_id.set(request_id)
        response_started = False
        status_code = 500
        extra_headers = self._version_headers(scope)

        async def send_wrapper(message: Message) -> None:
            nonlocal response_started, status_code
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                for name, value in extra_headers:
                    headers.append((name.encode(), value.encode()))
                decision = state.get("rate_limit")
                if decision is not None and not any(
                    h[0].lower() == b"x-ratelimit-limit" for h in headers
                ):
                    for name, value in decision.headers().items():
                        if name != "Retry-After" or status_code == 429:
                            headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            self._check_version(scope)
            receive = self._bounded(scope, receive)
            await self._run_with_budget(scope, receive, send_wrapper, lambda: response_started)
        except UserError as error:
            if not response_started:
                await self._send_error(send_wrapper, error, request_id)
            else:
                log.warning("error after the response started: %s", error.code)
        except ClientDisconnect:  # the client left before sending its whole body: no one to
            status_code = 499  # answer, and nothing went wrong here (nginx's code in metrics)
            log.info("client disconnected before its body was read (request id %s)", request_id)
        except Exception:
            log.exception("internal error (request id %s)", request_id)
            if not response_started:
                await _send_json(send_wrapper, 500, internal_error_body(request_id), [])
        finally:
            audit.request_id.reset(token)
            template = _route_template(scope)
            method = scope.get("method", "GET")
            REQUESTS.labels(method, template, str(status_code)).inc()
            LATENCY.labels(method, template).observe(time.perf_counter() - started_at)

    async def _run_with_budget(
        self, scope: Scope, receive: Receive, send: Send, started: Callable[[], bool]
    ) -> None:
        """Run the request in this task, cancelled at the budget unless its answer has
        started streaming by then (a timer on the loop, not a task per request: the same
        deadline for a fraction of the cost on the hot path)."""
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            if not started():  # a streaming answer under way is left to finish
                expired = True
                task.cancel()

        timer = asyncio.get_running_loop().call_later(self.settings.request_timeout_s, expire)
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if not expired:
                raise
            task.uncancel()
            raise Timeout(
                "timeout",
                f"the request took longer than its {self.settings.request_timeout_s:g} s budget",
            ) from None
        finally:
            timer.cancel()

    def _bounded(self, scope: Scope, receive: Receive) -> Receive:
        ingest = _INGEST.match(scope.get("path", "")) is not None
        limit = self.settings.ingest_max_body_bytes if ingest else self.settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                raise PayloadTooLarge("invalid_content_length", "Content-Length is not a number")
            if int(declared) > limit:
                raise _too_large(int(declared), limit)
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    error = _too_large(seen, limit)
                    scope.setdefault("state", {})["payload_too_large"] = error
                    raise error
            return message

        return bounded_receive

    def _api_version(self, scope: Scope) -> str | None:
        match = _VERSION.match(scope.get("path", ""))
        if match is None:
            return None
        version = match.group(1)
        return "v1" if version == "api" else version

    def _version_headers(self, scope: Scope) -> list[tuple[str, str]]:
        version = self._api_version(scope)
        sunset = self.settings.deprecated_versions.get(version or "")
        if sunset is None:
            return []
        when = datetime(sunset.year, sunset.month, sunset.day, tzinfo=UTC)
        return [
            ("Deprecation", "true"),
            ("Sunset", format_datetime(when, usegmt=True)),
            ("Link", f'<{self.settings.deprecation_link}>; rel="sunset"'),
        ]

    def _check_version(self, scope: Scope) -> None:
        version = self._api_version(scope)
        sunset = self.settings.deprecated_versions.get(version or "")
        if sunset is not None and self.today() >= sunset:
            raise Gone(
                "version_gone",
                f"API version {version} was retired on {sunset.isoformat()}; "
                f"see {self.settings.deprecation_link}",
            )

    async def _send_error(self, send: Send, error: UserError, request_id: str) -> None:
        await _send_json(
            send,
            error.status,
            error_body(error, request_id),
            [(k.lower().encode(), v.encode()) for k, v in error.headers.items()],
        )


def _route_template(scope: Scope) -> str:
    """The matched route as a template (``/v1/projects/{project_id}``), for metric labels."""
    if scope.get("route") is None:
        return "unmatched"
    path = str(scope.get("path", ""))
    params = scope.get("path_params") or {}
    if not params:
        return path
    by_value = {str(value): name for name, value in params.items()}
    return "/".join(
        f"{{{by_value[part]}}}" if part in by_value else part for part in path.split("/")
    )


def _too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        "payload_too_large",
        f"the request body is larger than the {limit} bytes allowed",
        details=[{"limit_bytes": limit, "received_bytes_at_least": size}],
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    all_headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})
