"""The one call the API makes for ingest: canonical events -> WAL -> acknowledgement.

An :class:`Ingestor` lives in each API process: it claims a WAL slot, recovers it, and runs
the flusher. :meth:`Ingestor.accept` returns once the events are fsynced in the WAL; if they
cannot be (disk full, I/O error, a backlog the lake is not draining) it raises a 503 error
with ``Retry-After`` and nothing is acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from growthos_pipeline.errors import BadRequest, ServiceUnavailable
from growthos_pipeline.events.model import Event
from growthos_pipeline.events.protocols.growthos import Result
from growthos_pipeline.events.validate import Limits
from growthos_pipeline.ingest.committer import ProcessFlusher
from growthos_pipeline.ingest.flush import Flusher
from growthos_pipeline.ingest.receive import context_for, decode_body, decompress, parse_json
from growthos_pipeline.ingest.records import encode_batch, encode_lines
from growthos_pipeline.ingest.wal import Slot, WALError, WriteAheadLog, claim_slot
from growthos_pipeline.lake.tables import ensure_events_table, events_uri
from growthos_pipeline.lake.write import committed_version
from growthos_pipeline.settings import Settings

log = logging.getLogger(__name__)

#: A protocol mapper: (context, decoded body, max_events=...) -> Result.
Mapper = Callable[..., Result]
#: A mapper's typed fast path: (context, raw body, max_events=...) -> Result, or None for
#: a body it leaves to the mapper (:mod:`growthos_pipeline.events.fast`).
FastMapper = Callable[..., Result | None]


def encode(result: Result | list[Event]) -> bytes:
    """Accepted events as a WAL record payload (:mod:`growthos_pipeline.ingest.records`):
    the typed fast path's columns as Arrow, other events as NDJSON lines."""
    if isinstance(result, Result) and result.columns is not None:
        return encode_batch(result.columns)
    return encode_lines(result.events if isinstance(result, Result) else result)


def _unavailable(error: WALError) -> ServiceUnavailable:
    retry = "1" if error.code == "ingest_backlog" else "5"
    return ServiceUnavailable(error.code, error.message, headers={"Retry-After": retry})


class Ingestor:
    """Durable acceptance of events for one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = Limits.from_settings(settings)
        self.wal_root = settings.data_dir.resolve() / "wal"
        self.slot: Slot | None = None
        self.wal: WriteAheadLog | None = None
        self.flusher: Flusher | None = None

    def start(self) -> None:
        settings = self.settings
        self.slot = claim_slot(self.wal_root)
        table = ensure_events_table(events_uri(settings))
        first = committed_version(table, self.slot.app_id) + 1
        self.wal = WriteAheadLog(
            self.slot.directory,
            segment_bytes=settings.wal_segment_bytes,
            seal_interval_s=settings.wal_seal_interval_s,
            commit_delay_s=settings.wal_commit_delay_s,
            max_backlog_bytes=settings.wal_max_backlog_bytes,
            first_seq=first,
            on_seal=self._on_seal,
        )
        self.wal.open()
        kind = ProcessFlusher if settings.flusher_process else Flusher
        self.flusher = kind(self.wal, self.slot, table, wal_root=self.wal_root)
        if settings.flusher_enabled:
            self.flusher.start()
            self.flusher.wake()  # segments recovered from a previous run go first
        log.info("ingest ready: WAL %s", self.slot.directory)

    def _on_seal(self) -> None:
        if self.flusher is not None:
            self.flusher.wake()

    def stop(self) -> None:
        if self.wal is not None:
            self.wal.close()
        if self.flusher is not None:
            if self.settings.flusher_enabled:
                self.flusher.stop()
            try:
                self.flusher.flush_pending()
            except Exception:
                log.exception("final flush failed; the WAL keeps the events for the next start")
            self.flusher.close()
        if self.slot is not None:
            self.slot.release()
        self.wal = self.flusher = self.slot = None

    async def accept(self, events: Result | list[Event]) -> int:
        """Persist ``events`` (fsynced) and return how many; 503 if they cannot be."""
        count = events.accepted if isinstance(events, Result) else len(events)
        if not count:
            return 0
        if self.wal is None:
            raise ServiceUnavailable(
                "ingest_unavailable", "ingest is starting or stopping", headers={"Retry-After": "1"}
            )
        try:
            await self.wal.append(encode(events))
        except WALError as error:
            raise _unavailable(error) from None
        return count

    def accept_sync(self, events: list[Event]) -> int:
        if not events:
            return 0
        if self.wal is None:
            raise ServiceUnavailable("ingest_unavailable", "ingest is not running")
        try:
            self.wal.append_sync(encode(events))
        except WALError as error:
            raise _unavailable(error) from None
        return len(events)

    async def receive(
        self,
        project_id: str,
        raw: bytes,
        headers: Mapping[str, str],
        mapper: Mapper,
        *,
        source: str = "growthos",
        fast: FastMapper | None = None,
    ) -> Result:
        """Decode one request body, map it into events with ``mapper`` (or its typed
        ``fast`` path, when that takes the body), persist the valid ones. A single (non-batch)
        invalid event is a 400 ``invalid_event``."""
        settings = self.settings
        data = decompress(
            raw, headers.get("content-encoding"), max_bytes=settings.ingest_max_decompressed_bytes
        )
        ctx = context_for(project_id, headers, self.limits, source=source)
        max_events = settings.ingest_max_batch_events
        result = fast(ctx, data, max_events=max_events) if fast is not None else None
        if result is None:
            result = mapper(ctx, parse_json(data), max_events=max_events)
        if not result.batch and result.rejected:
            first = result.rejected[0]
            raise BadRequest("invalid_event", first["message"], details=result.rejected)
        await self.accept(result)
        return result

    def decode(self, raw: bytes, headers: Mapping[str, str]) -> Any:
        """A request body decompressed (bounded) and parsed as JSON, for protocols whose
        key travels in the body (PostHog's ``api_key``): decode, authenticate, then
        :meth:`receive_decoded`."""
        return decode_body(
            raw,
            headers.get("content-encoding"),
            max_bytes=self.settings.ingest_max_decompressed_bytes,
        )

    async def receive_decoded(
        self,
        project_id: str,
        body: Any,
        headers: Mapping[str, str],
        mapper: Mapper,
        *,
        source: str = "growthos",
    ) -> Result:
        """:meth:`receive` for a body already decoded with :meth:`decode`."""
        ctx = context_for(project_id, headers, self.limits, source=source)
        result = mapper(ctx, body, max_events=self.settings.ingest_max_batch_events)
        if not result.batch and result.rejected:
            first = result.rejected[0]
            raise BadRequest("invalid_event", first["message"], details=result.rejected)
        await self.accept(result)
        return result

    def flush_now(self) -> int:
        """Seal the open segment and move everything sealed into the lake (tests, CLI)."""
        if self.wal is None or self.flusher is None:
            return 0
        self.wal.seal()
        return self.flusher.flush_pending()

    def health(self) -> dict[str, Any]:
        wal, flusher = self.wal, self.flusher
        return {
            "wal": "ok"
            if wal is not None and wal.last_error is None
            else (wal.last_error if wal else "not running"),
            "flusher": "ok"
            if flusher is not None and flusher.healthy
            else (flusher.last_error if flusher else "not running"),
            "backlog_bytes": wal.backlog_bytes() if wal else 0,
        }

    @property
    def wal_directory(self) -> Path | None:
        return self.slot.directory if self.slot else None
