"""Sessions, materialized per project: what the query language's ``sessions`` stage computes.

The rule is :func:`growthos_pipeline.query.to_polars.sessions` itself, run over the project's
whole history with users resolved through identities (as the compiler's ``_base`` CTE does):
events that carry a ``session_id`` group by it; the others split per actor (user, else device)
wherever 30 minutes pass without an event. One row per session: ``session_id``, ``user_id``,
``session_start``, ``session_end``, ``duration_s``, ``events``, ``pageviews``.

Examples
--------
>>> from datetime import datetime, UTC
>>> t = lambda m: datetime(2026, 1, 1, 10, m, tzinfo=UTC)
>>> events = pl.LazyFrame({
...     "event_id": ["e1", "e2", "e3"], "time": [t(0), t(10), t(59)],
...     "event_type": ["page_view", "click", "page_view"], "session_id": [None] * 3,
...     "device_id": ["d1"] * 3, "user_id": [None] * 3}).with_columns(
...     pl.col("session_id", "user_id").cast(pl.String))
>>> compute_sessions(events).select("events", "pageviews", "duration_s").rows()
[(2, 1, 600.0), (1, 1, 0.0)]
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from growthos_pipeline.identity import compute_identities, resolve_users
from growthos_pipeline.lake.derived import (
    TS,
    DerivedTable,
    project_events,
    replace_project,
    scan_table,
)
from growthos_pipeline.query.to_polars import sessions
from growthos_pipeline.settings import Settings

#: Seconds without an event that end a session (the query language's rule).
SESSION_GAP_S = 1800

SESSIONS = DerivedTable(
    "sessions",
    pa.schema(
        [
            pa.field("project_id", pa.string(), nullable=False),
            pa.field("session_id", pa.string(), nullable=False),
            pa.field("user_id", pa.string()),
            pa.field("session_start", TS, nullable=False),
            pa.field("session_end", TS, nullable=False),
            pa.field("duration_s", pa.float64()),
            pa.field("events", pa.int64()),
            pa.field("pageviews", pa.int64()),
        ]
    ),
    personal=frozenset({"session_id", "user_id"}),
    description="GrowthOS sessions: the query language's sessions stage, materialized",
)


def compute_sessions(events: pl.LazyFrame) -> pl.DataFrame:
    """The sessions of ``events`` (users resolved through their identities)."""
    resolved = resolve_users(events, compute_identities(events))
    return sessions(resolved, SESSION_GAP_S).sort(["session_start", "session_id"]).collect()


def build_sessions(settings: Settings, project_id: str) -> int:
    """Rebuild ``project_id``'s sessions from its events; the number of sessions."""
    frame = compute_sessions(project_events(settings, project_id))
    return replace_project(settings, SESSIONS, project_id, frame)


def scan_sessions(settings: Settings, project_id: str) -> pl.LazyFrame:
    return scan_table(settings, SESSIONS, project_id)
