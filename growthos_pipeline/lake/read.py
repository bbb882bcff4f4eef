"""Reading the lake: one project's events as a Polars LazyFrame over a Delta snapshot.

Rows that share an ``insert_id`` on the same UTC day of event time (a client retry, a
duplicate sent minutes apart or across a restart: a retry resends the same payload, so the same
client time) count once: the scan keeps one of them. Two copies whose event times fall on
different UTC days count twice, as in queries (``docs/query.md``).
"""

from __future__ import annotations

import polars as pl
from deltalake import DeltaTable

from growthos_pipeline.lake.tables import events_uri
from growthos_pipeline.settings import Settings


def events_version(settings: Settings) -> int | None:
    """The current version of the events table (None before the first event)."""
    uri = events_uri(settings)
    if not DeltaTable.is_deltatable(uri):
        return None
    return int(DeltaTable(uri).version())


def scan_events(
    settings: Settings, project_id: str, *, as_of: int | None = None, dedup: bool = True
) -> pl.LazyFrame:
    """The project's events, one row per (event_date, insert_id) (the Delta snapshot
    ``as_of`` or latest)."""
    from growthos_pipeline.events.model import LAKE_SCHEMA

    uri = events_uri(settings)
    if not DeltaTable.is_deltatable(uri):
        return pl.LazyFrame(schema=pl.Schema(pl.DataFrame(LAKE_SCHEMA.empty_table()).schema))
    frame = pl.scan_delta(uri, version=as_of).filter(pl.col("project_id") == project_id)
    if dedup:
        frame = frame.unique(subset=["event_date", "insert_id"], keep="first", maintain_order=True)
    return frame


def read_events(
    settings: Settings, project_id: str, *, as_of: int | None = None, dedup: bool = True
) -> pl.DataFrame:
    """The eager twin of :func:`scan_events`."""
    return scan_events(settings, project_id, as_of=as_of, dedup=dedup).collect()
