"""A GrowthOS app on uvicorn on 127.0.0.1, behind a recorder of the requests that reach it.

Client libraries are driven over a real socket; the recorder lets a test count their attempts
(a 4xx must not start a retry storm), and :meth:`LiveServer.events` reads the lake back once
the ingestor has flushed its write-ahead log.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl
import uvicorn

from growthos_pipeline.lake.read import read_events
from growthos_pipeline.settings import Settings


@dataclass
class Attempt:
    """One request that reached the app, and the answer it got."""

    path: str
    status: int
    headers: dict[str, str]
    raw: bytes  #: the request body as sent
    body: Any  #: the decoded JSON body of the request (None when not JSON)
    answer: Any  #: the decoded JSON answer


@dataclass
class Recorder:
    """An ASGI wrapper noting every HTTP request and its answer."""

    app: Any
    attempts: list[Attempt] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        answer: list[bytes] = []
        status = 0
        noted = False

        def note() -> None:
            # Noted before the answer's last byte leaves, so that a client which has read
            # the answer never finds its attempt missing.
            nonlocal noted
            noted = True
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            with self.changed:
                self.attempts.append(
                    Attempt(
                        scope["path"],
                        status,
                        headers,
                        b"".join(chunks),
                        _json(b"".join(chunks)),
                        _json(b"".join(answer)),
                    )
                )
                self.changed.notify_all()

        async def recording_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def recording_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
                if not message.get("more_body", False):
                    note()
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            if not noted:
                note()

    def to(self, path: str) -> list[Attempt]:
        with self.changed:
            return [a for a in self.attempts if a.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 15) -> list[Attempt]:
        """The attempts on ``path`` once there are at least ``count`` (fails after
        ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len([a for a in self.attempts if a.path == path]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"fewer than {count} requests reached {path}"
                self.changed.wait(left)
        return self.to(path)


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None


@dataclass
class LiveServer:
    url: str
    app: Any
    recorder: Recorder
    settings: Settings

    def events(self, project_id: str, *, dedup: bool = True) -> pl.DataFrame:
        """The project's events in the lake, once everything acknowledged is flushed."""
        self.app.state.ingestor.flush_now()
        return read_events(self.settings, project_id, dedup=dedup)


@contextmanager
def serve(app: Any, settings: Settings) -> Iterator[LiveServer]:
    """Run ``app`` (with its lifespan: the ingestor) on uvicorn in a thread on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    recorder = Recorder(app)
    config = uvicorn.Config(
        recorder, log_config=None, log_level="warning", lifespan="on", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.005)
    try:
        yield LiveServer(f"http://127.0.0.1:{sock.getsockname()[1]}", app, recorder, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
