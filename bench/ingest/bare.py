"""The reference: a bare ASGI callable that reads the body and answers 200 JSON.

Served under the same uvicorn settings as GrowthOS (``uvicorn bench.ingest.bare:app``), it is
the ceiling for this machine: HTTP parsing, the event loop and the load generator, with no
framework, validation or disk.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"accepted":1,"rejected":[]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
