"""Where the lake's tables live and how they are created.

The ``events`` table is partitioned by ``project_id`` and ``event_date`` (UTC). Personal-data
columns are kept out of Delta's data-skipping statistics
(``delta.dataSkippingStatsColumns``), so that deleting a user leaves no identifier in the
transaction log's file statistics.
"""

from __future__ import annotations

import time
from pathlib import Path

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from growthos_pipeline.events.model import LAKE_SCHEMA, PARTITION_BY, STATS_COLUMNS
from growthos_pipeline.settings import Settings

EVENTS = "events"


def lake_root(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "lake"


def table_uri(settings: Settings, name: str) -> str:
    return str(lake_root(settings) / name)


def events_uri(settings: Settings) -> str:
    return table_uri(settings, EVENTS)


def ensure_events_table(uri: str) -> DeltaTable:
    """Open the events table, creating it on first use (safe when processes race)."""
    for attempt in range(5):
        if DeltaTable.is_deltatable(uri):
            return DeltaTable(uri)
        Path(uri).mkdir(parents=True, exist_ok=True)
        try:
            return DeltaTable.create(
                uri,
                schema=LAKE_SCHEMA,
                partition_by=PARTITION_BY,
                mode="ignore",
                name=EVENTS,
                description="GrowthOS events: one row per accepted event",
                configuration={
                    "delta.dataSkippingStatsColumns": ",".join(STATS_COLUMNS),
                },
            )
        except DeltaError:  # another process created it first
            time.sleep(0.05 * (attempt + 1))
    return DeltaTable(uri)
