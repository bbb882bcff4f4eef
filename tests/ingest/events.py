"""Helpers shared by the ingest tests: canonical events and what the lake holds of them."""

from __future__ import annotations

import time
from collections import Counter

from deltalake import DeltaTable

from growthos_pipeline.events.model import Event
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.lake.tables import events_uri
from growthos_pipeline.settings import Settings

PROJECT = "proj_test"


def make_events(prefix: str, count: int, project_id: str = PROJECT) -> list[Event]:
    """``count`` events whose insert_ids are ``{prefix}-{n}``."""
    now = time.time_ns() // 1000
    return [
        Event(
            project_id=project_id,
            event_id=f"evt-{prefix}-{n}",
            insert_id=f"{prefix}-{n}",
            event_type="page_view",
            time=now,
            received_at=now,
            source="growthos",
            user_id=f"user-{n % 7}",
        )
        for n in range(count)
    ]


def raw_counts(settings: Settings, project_id: str = PROJECT) -> Counter[str]:
    """Rows per insert_id in the table itself (no dedup on read)."""
    frame = read_events(settings, project_id, dedup=False)
    return Counter(frame["insert_id"].to_list())


def txn_version(settings: Settings, app_id: str) -> int | None:
    version = DeltaTable(events_uri(settings)).transaction_version(app_id)
    return None if version is None else int(version)
