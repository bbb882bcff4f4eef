"""One HTTP connection pool to a GrowthOS server: the key, the retries, the typed errors.

Every call of the client goes through :meth:`Transport.request`. A mutating ``POST`` carries an
``Idempotency-Key`` (made per call, the same on each of its retries), so a retry after a lost
answer gets the first answer replayed instead of doing the work twice.

Which failures are retried is decided here, once (see :mod:`growthos_pipeline.client.retry`):

* an answer ``429``, ``502``, ``503``, ``504`` or ``409 idempotency_request_in_progress``:
  always (the server did not do the work, or is still doing it under the same key);
* no answer because the connection could not be made: always (nothing was sent);
* no answer after the request was sent (a timeout, a connection cut): only when repeating it is
  harmless: reads, ``PATCH`` (it sets fields), ``POST`` with an ``Idempotency-Key``, and
  ingest calls (each event carries its ``insert_id``). A ``DELETE`` is not repeated then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx2

from growthos_pipeline.client.errors import APIConnectionError, APIError, error_for_status
from growthos_pipeline.client.retry import (
    RETRY_CONFLICT_CODES,
    RETRY_STATUSES,
    RetryPolicy,
    parse_retry_after,
)

logger = logging.getLogger("growthos_pipeline.client")

VERSION = "0.1.0"
USER_AGENT = f"growthos-python/{VERSION}"
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
_REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH"})


class Transport:
    """Sends requests with a key, retries what may be retried, raises typed errors."""

    def __init__(
        self,
        host: str,
        key: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not key:
            raise ValueError("a key is needed: an sk_, ak_, aat_ or pk_ key")
        self.host = host.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client = httpx2.Client(
            base_url=self.host,
            timeout=httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT},
            transport=http_transport,
        )

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | Callable[[], bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        repeatable: bool | None = None,
        stream: bool = False,
        retry: RetryPolicy | None = None,
    ) -> httpx2.Response:
        """The answer to a request, once it is a success (2xx or 3xx).

        Raises :class:`APIError` (a subclass per status) for an error answer and
        :class:`APIConnectionError` when no answer came, each after the retries the policy
        allows. With ``stream=True`` the body of a success is left unread: close it.
        """
        policy = retry or self.retry
        method = method.upper()
        if repeatable is None:
            repeatable = method in _REPEATABLE_METHODS or idempotency_key is not None
        sent_headers = dict(headers or {})
        if idempotency_key is not None:
            sent_headers["Idempotency-Key"] = idempotency_key
        query = {k: v for k, v in (params or {}).items() if v is not None}
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            failure: APIError | APIConnectionError
            try:
                body = content() if callable(content) else content
                request = self._client.build_request(
                    method, path, params=query, json=json, content=body, headers=sent_headers
                )
                response = self._client.send(request, stream=stream)
            except httpx2.TransportError as err:
                retryable = isinstance(err, _NOT_SENT) or repeatable
                failure = APIConnectionError(
                    f"{method} {self.host}{path}: {type(err).__name__}: {err}"
                )
                failure.__cause__ = err
            else:
                if response.status_code < 400:
                    return response
                if stream:
                    response.read()
                    response.close()
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                failure = error_for_status(
                    response.status_code,
                    _json_or_none(response),
                    request_id=response.headers.get("X-Request-Id"),
                    retry_after=retry_after,
                )
                retryable = response.status_code in RETRY_STATUSES or (
                    response.status_code == 409 and failure.code in RETRY_CONFLICT_CODES
                )
            if not retryable or attempt >= policy.max_attempts:
                raise failure
            delay = policy.delay(attempt - 1, retry_after)
            if delay is None or time.monotonic() - started + delay > policy.max_elapsed:
                raise failure
            logger.info(
                "%s %s failed (%s); attempt %d of %d in %.2f s",
                method,
                path,
                failure,
                attempt + 1,
                policy.max_attempts,
                delay,
            )
            self._sleep(delay)


def _json_or_none(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
