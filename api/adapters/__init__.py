"""Protocol adapters: each real client library's wire format, under its own prefix."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from growthos_pipeline.errors import UserError

#: How an adapter words a GrowthOS error for its client library.
ErrorShape = Callable[[Request, UserError], Response]


def shaped_route(shape: ErrorShape) -> type[APIRoute]:
    """A route class whose every :class:`UserError` (from the handler or from a dependency,
    such as a switched-off feature) leaves in the client library's own error shape instead of
    the GrowthOS envelope."""

    class ShapedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    return await handler(request)
                except UserError as error:
                    return shape(request, error)

            return route

    return ShapedRoute
