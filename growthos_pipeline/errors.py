"""Errors of GrowthOS Pipeline.

Two families, kept apart on purpose:

* :class:`UserError` and its subclasses are *exposed*: they carry a stable ``code``, a message
  that says what was expected and what was found, optional ``details`` and the HTTP status the
  API answers with. Their text is safe to show to the caller.
* Everything else is internal. The API answers it with a 500 ``internal_error`` that never
  contains a traceback, a path or the exception text.

Examples
--------
>>> err = NotFound("project_not_found", "no project 'proj_x' for this key")
>>> (err.status, err.code)
(404, 'project_not_found')
>>> err.to_dict()["error"]["message"]
"no project 'proj_x' for this key"
"""

from __future__ import annotations

from typing import Any


class GrowthOSError(Exception):
    """Base class of every error raised on purpose by GrowthOS Pipeline."""


class UserError(GrowthOSError):
    """An error caused by the caller's input or credentials, safe to show to them."""

    status: int = 400
    default_code: str = "bad_request"

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.message = message or self.code.replace("_", " ")
        self.details = details or []
        self.headers = headers or {}
        super().__init__(f"{self.code}: {self.message}")

    def to_dict(self, request_id: str | None = None) -> dict[str, Any]:
        """The documented error envelope."""
        body: dict[str, Any] = {
            "error": {"code": self.code, "message": self.message, "details": self.details}
        }
        body["request_id"] = request_id
        return body


class BadRequest(UserError):
    status = 400
    default_code = "bad_request"


class Unauthorized(UserError):
    status = 401
    default_code = "unauthorized"


class Forbidden(UserError):
    status = 403
    default_code = "forbidden"


class NotFound(UserError):
    status = 404
    default_code = "not_found"


class Conflict(UserError):
    status = 409
    default_code = "conflict"


class Gone(UserError):
    status = 410
    default_code = "gone"


class PayloadTooLarge(UserError):
    status = 413
    default_code = "payload_too_large"


class ValidationFailed(UserError):
    status = 422
    default_code = "validation_error"


class RateLimited(UserError):
    status = 429
    default_code = "rate_limited"


class ServiceUnavailable(UserError):
    status = 503
    default_code = "service_unavailable"


class FeatureDisabled(ServiceUnavailable):
    default_code = "feature_disabled"


class Timeout(UserError):
    status = 504
    default_code = "timeout"


class ConfigurationError(GrowthOSError):
    """The deployment's settings are unusable (raised at start-up, shown to the operator)."""
