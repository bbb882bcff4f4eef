"""Errors the Python client raises.

An answer with an error status becomes an :class:`APIError` carrying the envelope's ``code``,
``message`` and ``details``, the HTTP ``status`` and the ``request_id`` to quote in a bug
report; a request that never got an answer becomes an :class:`APIConnectionError`. Both are
:class:`growthos_pipeline.GrowthOSError`, so one ``except`` catches everything the client
raises on purpose.

Examples
--------
>>> err = error_for_status(
...     404,
...     {"error": {"code": "segment_not_found", "message": "no segment 'seg_x'", "details": []},
...      "request_id": "req_1"},
... )
>>> type(err).__name__, err.code, err.status, err.request_id
('NotFoundError', 'segment_not_found', 404, 'req_1')
>>> print(err)
404 segment_not_found: no segment 'seg_x' (request req_1)
"""

from __future__ import annotations

from typing import Any

from growthos_pipeline.errors import GrowthOSError


class ClientError(GrowthOSError):
    """Base class of the client's errors."""


class APIConnectionError(ClientError):
    """No answer: the server could not be reached, or the connection broke, on every attempt."""


class APIError(ClientError):
    """The server answered with an error status (after any retries)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.request_id = request_id
        #: Seconds the server asked to wait (``Retry-After``), when it said.
        self.retry_after = retry_after
        text = f"{status} {code}: {message}"
        if request_id:
            text += f" (request {request_id})"
        super().__init__(text)


class BadRequestError(APIError):
    """400: the request cannot be understood (``invalid_cursor``, ``invalid_segment_filter``,
    a query's syntax error, ...)."""


class AuthenticationError(APIError):
    """401: no usable credential (``invalid_api_key``, ``key_revoked``, ``token_expired``)."""


class PermissionDeniedError(APIError):
    """403: the credential may not do this (``insufficient_scope``, ``admin_key_required``)."""


class NotFoundError(APIError):
    """404: nothing there for this credential."""


class ConflictError(APIError):
    """409: conflicts with the current state (``experiment_key_taken``,
    ``idempotency_key_reused``, ...)."""


class PayloadTooLargeError(APIError):
    """413: the body, or the batch, is over the server's limit."""


class UnprocessableEntityError(APIError):
    """422: well-formed but invalid; ``details`` lists each field."""


class RateLimitError(APIError):
    """429: over the plan's limit, and still so after the retries the budget allowed."""


class ServerError(APIError):
    """5xx: a fault or an outage on the server's side, after the retries."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_for_status(
    status: int,
    body: Any,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> APIError:
    """The typed error for an answer; ``body`` is the decoded JSON (anything else is fine)."""
    code, message, details = f"http_{status}", f"the server answered {status}", []
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or code)
            message = str(error.get("message") or message)
            if isinstance(error.get("details"), list):
                details = error["details"]
        if isinstance(body.get("request_id"), str):
            request_id = body["request_id"]
    cls = ServerError if status >= 500 else _BY_STATUS.get(status, APIError)
    return cls(
        status,
        code,
        message,
        details=details,
        request_id=request_id,
        retry_after=retry_after,
    )
