"""The Python server SDK: the management API and event ingest over HTTP.

Two clients, one per kind of key:

==========================  ==============================  =================================
client                      key                             does
==========================  ==============================  =================================
:class:`ManagementClient`   ``sk_``, ``aat_`` or ``ak_``    projects, tokens, segments,
                                                            experiments, features, webhooks,
                                                            queries, usage, profiles, GDPR
:class:`GrowthOS`           ``pk_`` (or ``sk_``, ``aat_``   ``track``, ``identify``, ``page``,
                            with the ``track`` scope)       ``group``, ``alias``, batched in
                                                            the background
==========================  ==============================  =================================

Both retry what the server calls temporary (no answer, ``429``, ``502``-``504``) with backoff,
honouring ``Retry-After``, within :class:`RetryPolicy`'s bounds, and raise the typed errors of
:mod:`growthos_pipeline.client.errors`. Neither imports the server (FastAPI) nor Dagster.
See docs/client.md.

Examples
--------
>>> from growthos_pipeline.client import GrowthOS, ManagementClient, RetryPolicy
>>> client = ManagementClient("sk_example", "http://127.0.0.1:8000", project_id="proj_1",
...                           retry=RetryPolicy(max_attempts=3, max_elapsed=10))
>>> client.transport.retry.max_attempts
3
>>> client.close()
"""

from __future__ import annotations

from growthos_pipeline.client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ClientError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from growthos_pipeline.client.ingest import GrowthOS, Rejection
from growthos_pipeline.client.management import NOT_GIVEN, ManagementClient, NotGiven
from growthos_pipeline.client.pagination import Page, Pager
from growthos_pipeline.client.retry import RetryPolicy

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ClientError",
    "ConflictError",
    "GrowthOS",
    "ManagementClient",
    "NotFoundError",
    "NotGiven",
    "Page",
    "Pager",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "Rejection",
    "RetryPolicy",
    "ServerError",
    "UnprocessableEntityError",
]
