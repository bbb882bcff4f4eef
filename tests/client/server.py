"""A GrowthOS app on uvicorn on loopback, with a log of every request and answer and a plan of
faults to answer instead of the app (a 503 with ``Retry-After``, an answer lost after the app
did the work), for driving the Python client over a real socket."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.settings import Settings
from tests.adapters.live_server import LiveServer, serve


@dataclass
class Fault:
    """Answer ``status`` (with ``code`` in the envelope) to the next ``times`` requests
    matching ``method`` and ``path``; with ``after_app`` the app handles the request first and
    its answer is thrown away. ``delay`` seconds pass before anything; with ``status`` 0 the
    request then goes to the app as usual (a slow answer)."""

    method: str
    path: str
    status: int = 503
    retry_after: str | None = None
    times: int = 1
    after_app: bool = False
    code: str | None = None
    delay: float = 0.0


@dataclass
class Seen:
    """One request as it reached the server, and what it was answered."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float  #: time.monotonic() when it arrived
    status: int = 0
    answer_headers: dict[str, str] = field(default_factory=dict)
    faulted: bool = False

    def json(self) -> Any:
        data = self.body
        if self.headers.get("content-encoding") == "gzip":
            data = gzip.decompress(data)
        return orjson.loads(data) if data else None


class Faults:
    """ASGI middleware: notes every request and answers the planned faults."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.plan: list[Fault] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    @property
    def state(self) -> Any:
        return self.app.state

    def requests(self, method: str, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == method and s.path == path]

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.plan:
                if fault.times > 0 and fault.method == method and fault.path == path:
                    fault.times -= 1
                    return fault
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        seen = Seen(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode(),
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            b"".join(chunks),
            time.monotonic(),
        )
        with self._lock:
            self.seen.append(seen)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": seen.body, "more_body": False}
            return await receive()

        async def noting(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
                seen.answer_headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]
                }
            await send(message)

        async def swallow(message: Any) -> None:
            return None

        fault = self._take(seen.method, seen.path)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is None or fault.status == 0:
            await self.app(scope, replay, noting)
            return
        if fault.after_app:
            await self.app(scope, replay, swallow)
        seen.faulted = True
        body = orjson.dumps(
            {
                "error": {
                    "code": fault.code or f"injected_{fault.status}",
                    "message": "a planned fault",
                },
                "request_id": "req_fault",
            }
        )
        headers = [(b"content-type", b"application/json")]
        if fault.retry_after is not None:
            headers.append((b"retry-after", fault.retry_after.encode()))
        await noting({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass
class Live:
    server: LiveServer
    faults: Faults
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url


@contextmanager
def live_server(settings: Settings, catalog: Catalog | None = None) -> Iterator[Live]:
    """The app for ``settings`` on uvicorn, behind :class:`Faults`."""
    own = catalog is None
    catalog = catalog or Catalog.open(settings)
    try:
        faults = Faults(create_app(settings, catalog=catalog))
        with serve(faults, settings) as server:
            yield Live(server, faults, settings)
    finally:
        if own:
            catalog.dispose()
