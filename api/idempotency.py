"""``Idempotency-Key`` on management POSTs, as a pure ASGI middleware.

The caller is identified by the keyed hash of the credential it presents (no lookup needed);
the request by a hash of method, path, query and body. The first request runs and its response
is stored (encrypted); a repeat gets the same status, headers and body with
``Idempotent-Replayed: true``; the same key with another request answers 409. Responses that
say nothing about the request (401, 429, 5xx) are not stored, so a retry runs again.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from growthos_pipeline.catalog import credentials, idempotency
from growthos_pipeline.catalog.accounts import SESSION_COOKIE, authenticate_session
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.keys import authenticate
from growthos_pipeline.errors import UserError
from growthos_pipeline.settings import Settings

_MANAGEMENT = re.compile(r"^/(v1|api)/(admin|projects|orgs)(/|$)")
_NOT_STORED = {401, 429}
_HOP_HEADERS = {
    b"x-request-id",
    b"x-ratelimit-limit",
    b"x-ratelimit-remaining",
    b"x-ratelimit-reset",
    b"retry-after",
    b"date",
    b"server",
}


def credential_of(scope: Scope) -> str | None:
    """The raw credential a request presents, wherever it is."""
    headers = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
    }
    if "x-api-key" in headers:
        return headers["x-api-key"].strip()
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    query = scope.get("query_string", b"").decode("latin-1")
    for part in query.split("&"):
        if part.startswith("key="):
            return part[4:]
    for cookie in headers.get("cookie", "").split(";"):
        name, _, value = cookie.strip().partition("=")
        if name == SESSION_COOKIE:
            return value
    return None


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, catalog: Catalog) -> None:
        self.app = app
        self.settings = settings
        self.catalog = catalog

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        key = None
        for name, value in scope.get("headers", []):
            if name.lower() == b"idempotency-key":
                key = value.decode("latin-1")
        credential = credential_of(scope)
        if key is None or credential is None or not _MANAGEMENT.match(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        idempotency.check_key(key)
        body = await _read_body(receive)
        if not await run_in_threadpool(self._still_valid, credential):
            # A revoked or unknown credential never gets a stored response: the route answers.
            await self.app(scope, _replaying(body, receive), send)
            return
        principal = credentials.hash_secret(self.settings.server_secret(), credential)
        fingerprint = idempotency.fingerprint(
            "POST", scope["path"], scope.get("query_string", b"").decode("latin-1"), body
        )
        stored = await run_in_threadpool(
            idempotency.begin, self.catalog, self.settings, principal, key, fingerprint
        )
        if stored is not None:
            headers = [(k.encode(), v.encode()) for k, v in stored.headers]
            headers.append((b"idempotent-replayed", b"true"))
            await send({"type": "http.response.start", "status": stored.status, "headers": headers})
            await send({"type": "http.response.body", "body": stored.body})
            return

        captured_status = 500
        captured_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal captured_status
            if message["type"] == "http.response.start":
                captured_status = message["status"]
                captured_headers.extend(
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.lower() not in _HOP_HEADERS
                )
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replaying(body, receive), capture)
        except BaseException:
            await run_in_threadpool(idempotency.abandon, self.catalog, principal, key)
            raise
        if captured_status >= 500 or captured_status in _NOT_STORED:
            await run_in_threadpool(idempotency.abandon, self.catalog, principal, key)
            return
        response = idempotency.StoredResponse(captured_status, captured_headers, b"".join(chunks))
        await run_in_threadpool(
            idempotency.complete, self.catalog, self.settings, principal, key, response
        )

    def _still_valid(self, credential: str) -> bool:
        try:
            if credential.startswith("gss_"):
                authenticate_session(self.catalog, self.settings, credential)
            else:
                authenticate(self.catalog, self.settings, credential)
        except UserError:
            return False
        return True


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay_receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay_receive


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
