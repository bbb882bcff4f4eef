"""Identities: which user each device belongs to, from ``$identify`` and ``$alias`` events.

A device is identified as the user of its **first** ``$identify`` or ``$alias`` event (an
alias stores its ``previous_id`` as the device), the rule the query compiler's ``_ids`` CTE
applies (``ARG_MIN(user_id, time)``; ties broken by ``event_id``). The ``identities`` table has
one row per identified device: ``device_id``, ``user_id``, ``identified_at`` (that first
identify) and ``first_seen`` / ``last_seen`` over every event the device sent.

Examples
--------
>>> from datetime import datetime, UTC
>>> t = lambda h: datetime(2026, 1, 1, h, tzinfo=UTC)
>>> events = pl.LazyFrame({
...     "event_id": ["e1", "e2", "e3", "e4"], "time": [t(1), t(2), t(3), t(4)],
...     "event_type": ["page_view", "$identify", "$identify", "$alias"],
...     "device_id": ["d1", "d1", "d1", "d2"], "user_id": [None, "u1", "u2", "u1"]})
>>> compute_identities(events).sort("device_id").select("device_id", "user_id").collect().rows()
[('d1', 'u1'), ('d2', 'u1')]
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from growthos_pipeline.lake.derived import (
    TS,
    DerivedTable,
    project_events,
    read_table,
    replace_project,
    scan_table,
)
from growthos_pipeline.settings import Settings

IDENTIFY_EVENTS = ("$identify", "$alias")

IDENTITIES = DerivedTable(
    "identities",
    pa.schema(
        [
            pa.field("project_id", pa.string(), nullable=False),
            pa.field("device_id", pa.string(), nullable=False),
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("identified_at", TS),
            pa.field("first_seen", TS),
            pa.field("last_seen", TS),
        ]
    ),
    personal=frozenset({"device_id", "user_id"}),
    description="GrowthOS identities: device -> user from $identify and $alias",
)


def compute_identities(events: pl.LazyFrame) -> pl.LazyFrame:
    """One row per identified device: the user of its first identify/alias, and when the
    device was first and last seen."""
    identified = (
        events.filter(
            pl.col("event_type").is_in(IDENTIFY_EVENTS)
            & pl.col("user_id").is_not_null()
            & pl.col("device_id").is_not_null()
        )
        .sort(["time", "event_id"])
        .group_by("device_id", maintain_order=True)
        .agg(pl.col("user_id").first(), pl.col("time").first().alias("identified_at"))
    )
    seen = (
        events.filter(pl.col("device_id").is_not_null())
        .group_by("device_id")
        .agg(pl.col("time").min().alias("first_seen"), pl.col("time").max().alias("last_seen"))
    )
    return identified.join(seen, on="device_id", how="left").select(
        "device_id", "user_id", "identified_at", "first_seen", "last_seen"
    )


def resolve_users(events: pl.LazyFrame, identities: pl.LazyFrame) -> pl.LazyFrame:
    """``events`` with ``user_id`` resolved: its own, else its device's identified user (as
    the query compiler's ``_base`` CTE does)."""
    mapping = identities.select(
        pl.col("device_id").alias("_id_device"), pl.col("user_id").alias("_id_user")
    )
    return (
        events.join(mapping, left_on="device_id", right_on="_id_device", how="left", coalesce=False)
        .with_columns(pl.coalesce(pl.col("user_id"), pl.col("_id_user")).alias("user_id"))
        .drop(["_id_device", "_id_user"])
    )


def build_identities(settings: Settings, project_id: str) -> int:
    """Rebuild ``project_id``'s identities from its events; the number of devices."""
    frame = compute_identities(project_events(settings, project_id)).collect()
    return replace_project(settings, IDENTITIES, project_id, frame)


def scan_identities(settings: Settings, project_id: str) -> pl.LazyFrame:
    return scan_table(settings, IDENTITIES, project_id)


def devices_of(settings: Settings, project_id: str, user_id: str) -> list[dict[str, object]]:
    """The devices identified as ``user_id``, oldest first."""
    rows = read_table(settings, IDENTITIES, project_id).filter(pl.col("user_id") == user_id)
    return (
        rows.sort(["identified_at", "device_id"])
        .select("device_id", "identified_at", "first_seen", "last_seen")
        .to_dicts()
    )
