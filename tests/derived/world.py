"""A small, real world for the derived-asset tests: events sent through the Ingestor (WAL ->
flush -> Delta), with identify, alias and every kind of user-property operation."""

from __future__ import annotations

import time
from typing import Any

from growthos_pipeline.events.validate import IngestContext, build_event
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.settings import Settings

MINUTE = 60_000_000  # microseconds


def now_us() -> int:
    return time.time_ns() // 1000


def ingest(settings: Settings, project_id: str, items: list[dict[str, Any]]) -> int:
    """Send ``items`` (keyword arguments of ``build_event``) through the Ingestor; flushed."""
    ctx = IngestContext(project_id=project_id, received_at=now_us())
    events = [build_event(ctx, **item) for item in items]
    ingestor = Ingestor(settings)
    ingestor.start()
    try:
        ingestor.accept_sync(events)
        ingestor.flush_now()
    finally:
        ingestor.stop()
    return len(events)


def story(base: int | None = None) -> list[dict[str, Any]]:
    """d1 browses anonymously, logs in as u1, buys; d2 is aliased to u1; d3 stays anonymous;
    u2 logs in on d4."""
    t = base or now_us() - 60 * MINUTE

    def at(minutes: int) -> int:
        return t + minutes * MINUTE

    return [
        {
            "event_type": "page_view",
            "device_id": "d1",
            "time": at(0),
            "insert_id": "i1",
            "user_properties": {"$set_once": {"source": "ad"}, "$add": {"visits": 1}},
        },
        {
            "event_type": "$identify",
            "device_id": "d1",
            "user_id": "u1",
            "time": at(10),
            "insert_id": "i2",
            "user_properties": {"plan": "free", "$add": {"logins": 1}},
        },
        {
            "event_type": "purchase",
            "user_id": "u1",
            "time": at(20),
            "insert_id": "i3",
            "event_properties": {"amount": 80},
            "user_properties": {
                "$set": {"plan": "pro"},
                "$append": {"tags": "buyer"},
                "$set_once": {"source": "seo"},
            },
        },
        {
            "event_type": "$alias",
            "device_id": "d2",
            "user_id": "u1",
            "time": at(30),
            "insert_id": "i4",
        },
        {
            "event_type": "page_view",
            "device_id": "d2",
            "time": at(31),
            "insert_id": "i5",
            "user_properties": {"$add": {"visits": 2}, "$unset": ["source"]},
        },
        {"event_type": "page_view", "device_id": "d3", "time": at(40), "insert_id": "i6"},
        {
            "event_type": "$identify",
            "device_id": "d4",
            "user_id": "u2",
            "time": at(45),
            "insert_id": "i7",
            "user_properties": {"plan": "free"},
        },
        # a retried duplicate of i3: counts once in derived tables
        {
            "event_type": "purchase",
            "user_id": "u1",
            "time": at(20),
            "insert_id": "i3",
            "event_properties": {"amount": 80},
        },
    ]


#: What u1's profile holds after :func:`story`.
U1 = {"plan": "pro", "visits": 3, "logins": 1, "tags": ["buyer"]}
