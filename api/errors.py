"""Exception handlers: every error leaves in the documented envelope."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from growthos_pipeline.errors import BadRequest, UserError, ValidationFailed

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    415: "unsupported_media_type",
}


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _respond(request: Request, error: UserError) -> Response:
    # A body over the size limit is detected while the framework parses it; whatever error
    # the parser then raises, the caller is told the real reason.
    too_large = getattr(request.state, "payload_too_large", None)
    if too_large is not None:
        error = too_large
    return Response(
        orjson.dumps(error.to_dict(_request_id(request))),
        status_code=error.status,
        headers=error.headers,
        media_type="application/json",
    )


async def user_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UserError)
    return _respond(request, exc)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details: list[dict[str, Any]] = []
    for err in exc.errors()[:50]:
        details.append(
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "message": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    if any(d["type"] == "json_invalid" for d in details):
        error: UserError = BadRequest(
            "invalid_json", "the request body is not valid JSON", details=details
        )
    else:
        first = details[0] if details else {"loc": [], "message": "invalid request"}
        where = ".".join(p for p in first["loc"] if p not in ("body", "query", "path"))
        message = f"{where}: {first['message']}" if where else first["message"]
        error = ValidationFailed("validation_error", message, details=details)
    return _respond(request, error)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    error = UserError(code, message, headers=dict(exc.headers or {}))
    error.status = exc.status_code
    return _respond(request, error)


def install(app: FastAPI) -> None:
    app.add_exception_handler(UserError, user_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
