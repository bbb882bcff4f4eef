"""The flusher: sealed WAL segments -> the Delta ``events`` table, exactly once.

One background thread per API process drains its own slot: for each sealed segment, oldest
first, it reads the records (skipping corrupt ones), drops repeated insert_ids within the
segment, appends to Delta with the segment number as the slot's application-transaction
version, fsyncs, and only then deletes the segment. A crash at any point repeats at most the
append, which the transaction version turns into a no-op. It also adopts the slots of
processes that are gone (a smaller worker count after a restart) and drains them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from growthos_pipeline.events.model import LAKE_SCHEMA
from growthos_pipeline.ingest.records import decode
from growthos_pipeline.ingest.wal import (
    Slot,
    WriteAheadLog,
    _segments,
    read_records,
    slot_dirs,
    try_claim,
)
from growthos_pipeline.lake.erase import erased_projects
from growthos_pipeline.lake.write import append_once, committed_version

log = logging.getLogger(__name__)

_TIMESTAMP = pa.timestamp("us", tz="UTC")


def records_to_arrow(records: Sequence[memoryview] | Sequence[bytes]) -> pa.Table:
    """WAL records as an Arrow table in the lake's schema, insert_ids made unique (the first
    copy kept).

    In Arrow throughout, on one contiguous copy of the records' columns: a conversion to a
    frame of thousands of small chunks cost more than the rest of the flush.
    """
    table = decode(records).combine_chunks()
    keys = pl.from_arrow(table.select(["project_id", "insert_id"]))
    assert isinstance(keys, pl.DataFrame)
    first = keys.select(pl.struct("project_id", "insert_id").is_first_distinct()).to_series()
    if not first.all():
        table = table.filter(first.to_arrow())
    columns = {name: table.column(name) for name in table.column_names}
    columns["time"] = columns["time"].cast(_TIMESTAMP)
    columns["received_at"] = columns["received_at"].cast(_TIMESTAMP)
    columns["event_date"] = columns["time"].cast(pa.date32())
    return pa.Table.from_arrays([columns[name] for name in LAKE_SCHEMA.names], schema=LAKE_SCHEMA)


def flush_segment(table: DeltaTable, app_id: str, seq: int, path: Path) -> int:
    """Append one segment's events; the number of rows written (0 if already in)."""
    return flush_segments(table, app_id, [(seq, path)])


#: Sealed segments are combined into one Delta commit up to this many bytes.
MAX_COMMIT_BYTES = 256 * 1024 * 1024


def flush_segments(table: DeltaTable, app_id: str, segments: list[tuple[int, Path]]) -> int:
    """Append consecutive sealed segments in one commit whose transaction version is the last
    segment's number (segments at or below the committed version are skipped: a crash
    between the commit and the retirement repeats nothing)."""
    if not segments:
        return 0
    committed = committed_version(table, app_id)
    pending = [(seq, path) for seq, path in segments if seq > committed]
    if not pending:
        return 0
    records: list[memoryview] = []
    for _, path in pending:
        records.extend(read_records(path).records)
    last = pending[-1][0]
    if not records:
        return 0
    data = records_to_arrow(records)
    erased = erased_projects(Path(table.table_uri.removeprefix("file://")).parent)
    if erased and data.num_rows:  # a project deleted while its events waited: drop them
        keep = pc.invert(pc.is_in(data["project_id"], value_set=pa.array(sorted(erased))))
        data = data.filter(keep)
    if not append_once(table, data, app_id=app_id, version=last, refreshed=True):
        return 0
    return int(data.num_rows)


def commit_sealed(
    table: DeltaTable,
    app_id: str,
    sealed: list[tuple[int, Path]],
    retire: Callable[[int], None],
) -> int:
    """Append sealed segments (oldest first) in commits of up to :data:`MAX_COMMIT_BYTES`,
    calling ``retire`` for each segment once its commit is in; the number of rows written."""
    written = 0
    batch: list[tuple[int, Path]] = []
    size = 0
    for seq, path in sealed:
        batch.append((seq, path))
        size += path.stat().st_size
        if size >= MAX_COMMIT_BYTES:
            written += flush_segments(table, app_id, batch)
            for done, _ in batch:
                retire(done)
            batch, size = [], 0
    if batch:
        written += flush_segments(table, app_id, batch)
        for done, _ in batch:
            retire(done)
    return written


def adopt_orphan_slots(table: DeltaTable, wal_root: Path, *, own: Path) -> int:
    """Drain the slots under ``wal_root`` that no live process holds (a smaller worker count
    after a restart); the number of rows written."""
    written = 0
    for directory in slot_dirs(wal_root):
        if directory == own or not _segments(directory):
            continue
        orphan = try_claim(directory)
        if orphan is None:
            continue
        try:
            for seq, path in _segments(directory):
                written += flush_segment(table, orphan.app_id, seq, path)
                path.unlink()
            log.info("drained orphan WAL slot %s (%d rows)", directory, written)
        finally:
            orphan.release()
    return written


class Flusher:
    """Background thread moving sealed segments of one WAL into the lake."""

    def __init__(
        self,
        wal: WriteAheadLog,
        slot: Slot,
        table: DeltaTable,
        *,
        wal_root: Path,
        adopt_interval_s: float = 5.0,
        reopen_every: int = 100,
    ) -> None:
        self.wal = wal
        self.slot = slot
        self.table = table
        self.reopen_every = reopen_every
        self._commits = 0
        self.wal_root = wal_root
        self.adopt_interval_s = adopt_interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.rows_flushed = 0
        self.last_error: str | None = None
        self.last_flush_at: float | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="growthos-flusher", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 30) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        """Release what :meth:`flush_pending` holds between calls (nothing, here)."""

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    def flush_pending(self) -> int:
        """Flush every sealed segment of this slot now; the number of rows written."""
        with self._lock:
            written = commit_sealed(
                self.table, self.slot.app_id, self.wal.sealed(), self.wal.retire
            )
            if written:
                self._commits += 1
            if self._commits >= self.reopen_every:
                self._reopen()
            self.rows_flushed += written
            self.last_flush_at = time.time()
            return written

    def _reopen(self) -> None:
        """A fresh handle on the table, loaded from its latest checkpoint. A handle kept up
        to date commit after commit keeps growing (measured: about 60 KB a commit, so
        hundreds of MB a day at two commits a second); a new one starts from the checkpoint
        that delta-rs writes every 100 commits."""
        self.table = DeltaTable(self.table.table_uri)
        self._commits = 0

    def adopt_orphans(self) -> int:
        """Drain the slots no live process holds; the number of rows written."""
        return adopt_orphan_slots(self.table, self.wal_root, own=self.slot.directory)

    def _run(self) -> None:
        backoff = 0.5
        next_adopt = 0.0
        while True:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            stopping = self._stop.is_set()
            try:
                self.flush_pending()
                if time.monotonic() >= next_adopt:
                    self.adopt_orphans()
                    next_adopt = time.monotonic() + self.adopt_interval_s
                self.last_error = None
                backoff = 0.5
            except Exception as exc:  # the lake is failing: keep the segments, retry later
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.error("flush failed, will retry in %.1f s: %s", backoff, self.last_error)
                if stopping:
                    return
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            if stopping:
                return
