"""Experiments in a real lake for the results tests: users picked by the hash, exposures sent in
each accepted shape (GrowthBook's tracking plugin, ``$experiment_viewed``-style events, the
toolkit's own ``$exposure``), goal events, all through the Ingestor (WAL -> flush -> Delta)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from growthos_pipeline.events.model import Event
from growthos_pipeline.events.protocols import growthbook
from growthos_pipeline.events.validate import IngestContext, build_event
from growthos_pipeline.experiments.config import ExperimentCreate, assignment
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.lake.read import events_version
from growthos_pipeline.settings import Settings

HOUR = 3_600_000_000  # microseconds
DAY = 24 * HOUR


def now_us() -> int:
    return time.time_ns() // 1000


def at(us: int) -> datetime:
    """Microseconds since the epoch as an aware datetime, exactly."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def users_by_variation(
    exp: ExperimentCreate, counts: dict[int | None, int], *, prefix: str = "user"
) -> dict[int | None, list[str]]:
    """``counts[v]`` user ids the hash puts in variation ``v`` (None: outside the
    experiment), as GrowthBook's SDKs would assign them."""
    found: dict[int | None, list[str]] = {v: [] for v in counts}
    i = 0
    while any(len(found[v]) < n for v, n in counts.items()):
        user = f"{prefix}-{i}"
        a = assignment(exp, user)
        bucket = a.variation if a.in_experiment else None
        if bucket in found and len(found[bucket]) < counts[bucket]:
            found[bucket].append(user)
        i += 1
        assert i < 1_000_000, "the hash never filled the buckets"
    return found


class Sender:
    """Events of one project, built as each protocol builds them, sent in one delivery."""

    def __init__(self, settings: Settings, project_id: str) -> None:
        self.settings = settings
        self.project_id = project_id
        self.received = now_us()
        self.events: list[Event] = []

    def _ctx(self, source: str) -> IngestContext:
        return IngestContext(project_id=self.project_id, received_at=self.received, source=source)

    def plugin(
        self,
        user: str,
        key: str,
        variation: int,
        time_us: int,
        *,
        language: str = "javascript",
        hash_value: str | None = None,
    ) -> None:
        """What GrowthBook's tracking plugin posts for an exposure (``$$experiment_viewed``)."""
        item = {
            "event_name": "$$experiment_viewed",
            "properties_json": {
                "experiment_id": key,
                "variation_id": variation,
                "variation_key": str(variation),
                "in_experiment": True,
                "hash_used": True,
                "hash_attribute": "id",
                "hash_value": hash_value or user,
            },
            "user_id": user,
            "device_id": f"dev-{user}",
            "timestamp": time_us,
            "sdk_language": language,
            "sdk_version": "1.6.0",
        }
        result = growthbook.track(self._ctx("growthbook"), [item])
        assert not result.rejected, result.rejected
        self.events.extend(result.events)

    def event(
        self,
        event_type: str,
        time_us: int,
        *,
        user: str | None = None,
        device: str | None = None,
        source: str = "growthos",
        library: str | None = None,
        **properties: Any,
    ) -> None:
        self.events.append(
            build_event(
                self._ctx(source),
                event_type=event_type,
                user_id=user,
                device_id=device,
                time=time_us,
                event_properties=properties or None,
                library=library,
            )
        )

    def send(self) -> int | None:
        """Deliver everything built so far; the lake version after the flush."""
        ingestor = Ingestor(self.settings)
        ingestor.start()
        try:
            for i in range(0, len(self.events), 2000):  # request-sized records
                ingestor.accept_sync(self.events[i : i + 2000])
            ingestor.flush_now()
        finally:
            ingestor.stop()
        self.events = []
        return events_version(self.settings)
