"""Compaction and maintenance of the lake: few large files, no duplicates, a tidy log.

The flusher appends one small file per WAL segment and partition, so a busy day ends with
hundreds of files in ``events/project_id=.../event_date=...``; retried deliveries leave rows
that share an ``insert_id``. :func:`compact` rewrites one such partition:

1. read the partition's rows from one Delta snapshot (version ``v``);
2. drop exact duplicate ``insert_id``\\ s, keeping the earliest copy by
   ``(received_at, event_id)`` (no time window: a retry a week later is still a duplicate);
3. sort by ``(event_type, time)``: nearly every query filters on ``event_type`` first and a
   time range second, and Parquet row-group statistics on a sorted column let a scan skip
   the row groups of other event types (rows of one type also compress better together);
4. write the rows back with ``write_deltalake(mode="overwrite", predicate=...)``, a Delta
   *replaceWhere*: one atomic commit removes exactly the files read at ``v`` and adds the new
   ones, so a reader sees either the old files or the new ones, never half a change and never
   a row twice. Readers holding the old snapshot keep reading the old files until they are
   vacuumed (after ``GROWTHOS_VACUUM_RETENTION_HOURS``).

Safe while ingest runs: Delta's conflict checker rejects the commit when a concurrent writer
added data to the same partition after ``v`` ("a concurrent transaction added new data");
:func:`compact` then re-reads and retries with backoff. Appends to other partitions do not
conflict (delta-rs rebases the commit onto them). Because a busy partition would conflict
again and again, only closed days (before today, UTC) are compacted, and today only when the
caller says it is quiet (see :func:`quiet_for`: no file added to the partition for a while).

The new files and the commit are fsynced before :func:`compact` returns (deltalake does not
fsync on a local disk, and a lost compacted file would lose the whole partition).

:func:`maintain` checkpoints every table of the lake, removes log files past the table's log
retention, and vacuums data files removed longer than ``retention_hours`` ago.
:func:`expire_partitions` applies a project's ``retention_days``.

Duplicates are dropped within one ``(project_id, event_date)`` partition, which is the scope
of the dedup everywhere (queries and :func:`growthos_pipeline.lake.read.scan_events` count two
copies of an ``insert_id`` whose event times fall on different UTC days twice). A compacted
partition is one file without duplicates, so queries read it without deduplicating
(:mod:`growthos_pipeline.lake.partitions`).

Examples
--------
>>> import tempfile
>>> from datetime import date
>>> from growthos_pipeline.settings import Settings
>>> settings = Settings(data_dir=tempfile.mkdtemp())
>>> report = compact(settings, "proj_1", date(2025, 1, 1))
>>> report.skipped, report.files_before
('empty', 0)
>>> maintain(settings, retention_hours=168).tables
{}
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError

from growthos_pipeline.events.model import LAKE_SCHEMA, PARTITION_BY
from growthos_pipeline.lake.tables import events_uri, lake_root
from growthos_pipeline.lake.write import fsync_commit
from growthos_pipeline.settings import Settings

#: The order of rows inside a compacted partition (see the module docstring).
SORT_BY = ("event_type", "time", "event_id")
#: Rows per Parquet row group: small enough that a scan for one event type skips most groups.
ROW_GROUP_ROWS = 128 * 1024
#: Data files that no commit refers to are deleted only after this many hours (at least).
ORPHAN_MIN_HOURS = 24
_PROJECT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_COMMIT_TAG = "growthos.compaction"

T = TypeVar("T")


class CompactionConflict(RuntimeError):
    """Concurrent writers kept changing the partition; compaction gave up (retry later)."""


@dataclass(frozen=True)
class CompactionReport:
    """What :func:`compact` did to one partition."""

    project_id: str
    day: date
    files_before: int
    files_after: int
    rows_before: int
    rows_after: int
    duplicates_dropped: int
    bytes_before: int
    bytes_after: int
    seconds: float
    #: The table version of the compaction commit (None when nothing was written).
    version: int | None = None
    #: Why nothing was written: "empty", "compact" (one file, no duplicates), "open_day".
    skipped: str | None = None
    #: Read-and-commit attempts (more than 1 after conflicts with concurrent writers).
    attempts: int = 1


@dataclass(frozen=True)
class TableMaintenance:
    """What :func:`maintain` did to one table."""

    version: int
    log_files_removed: int
    files_vacuumed: int
    orphans_removed: int = 0


@dataclass
class MaintenanceReport:
    """:func:`maintain`'s summary: one entry per Delta table of the lake."""

    retention_hours: int
    tables: dict[str, TableMaintenance] = field(default_factory=dict)
    seconds: float = 0.0


def _check_project(project_id: str) -> str:
    if not _PROJECT_ID.match(project_id):
        raise ValueError(f"not a project id: {project_id!r}")
    return project_id


def partition_predicate(project_id: str, day: date) -> str:
    """The Delta predicate selecting one partition of the events table."""
    return f"project_id = '{_check_project(project_id)}' AND event_date = '{day.isoformat()}'"


def _partition_files(table: DeltaTable, project_id: str, day: date) -> pa.Table:
    adds = pa.table(table.get_add_actions(flatten=True))
    if adds.num_rows == 0:
        return adds
    mask = pc.and_(
        pc.equal(adds["partition.project_id"], project_id),
        pc.equal(adds["partition.event_date"], pa.scalar(day, pa.date32())),
    )
    return adds.filter(mask)


def _today(now: datetime | None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def quiet_for(
    settings: Settings, project_id: str, day: date, *, now: datetime | None = None
) -> timedelta | None:
    """How long since a file was last added to the partition (None when it has no files).

    The signal for compacting today's partition: a quiet partition (no flush for
    ``GROWTHOS_COMPACTION_QUIET_MINUTES``) is unlikely to conflict with the flusher. It is
    read from the lake itself, so it holds however many API processes (each with its own WAL)
    append to the table.

    Examples
    --------
    >>> import tempfile
    >>> from growthos_pipeline.settings import Settings
    >>> quiet_for(Settings(data_dir=tempfile.mkdtemp()), "proj_1", date(2025, 1, 1)) is None
    True
    """
    uri = events_uri(settings)
    if not DeltaTable.is_deltatable(uri):
        return None
    files = _partition_files(DeltaTable(uri), project_id, day)
    if files.num_rows == 0:
        return None
    latest_ms = max(files["modification_time"].to_pylist())
    latest = datetime.fromtimestamp(latest_ms / 1000, tz=UTC)
    return max(timedelta(0), (now or datetime.now(UTC)) - latest)


def _backoff(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))


def _with_conflict_retry(action: Callable[[], T], *, attempts: int) -> tuple[T, int]:
    for attempt in range(1, attempts + 1):
        try:
            return action(), attempt
        except CommitFailedError:
            if attempt == attempts:
                raise
            _backoff(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _local_root(uri: str) -> Path | None:
    if "://" in uri and not uri.startswith("file://"):
        return None  # object storage: durable once the PUT returns
    return Path(uri.removeprefix("file://"))


def _find_commit(root: Path, versions: range, token: str) -> tuple[int, list[dict[str, Any]]]:
    """The version carrying our commit tag, and its add actions."""
    for number in versions:
        commit = root / "_delta_log" / f"{number:020d}.json"
        if not commit.exists():
            continue
        actions = [json.loads(line) for line in commit.read_text().splitlines() if line]
        if any(a.get("commitInfo", {}).get(_COMMIT_TAG) == token for a in actions):
            return number, [a["add"] for a in actions if "add" in a]
    raise RuntimeError(f"compaction commit {token} not found in versions {versions}")


def _fsync_commit(root: Path, number: int, adds: list[dict[str, Any]]) -> None:
    fsync_commit(root, number, [unquote(add["path"]) for add in adds])


def _deduplicated(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per insert_id (the earliest by received_at, event_id), in scan order."""
    return (
        frame.sort(["received_at", "event_id"])
        .unique(subset=["insert_id"], keep="first", maintain_order=True)
        .sort(list(SORT_BY))
    )


def compact(
    settings: Settings,
    project_id: str,
    day: date,
    *,
    now: datetime | None = None,
    quiet: bool = False,
    max_attempts: int = 8,
) -> CompactionReport:
    """Rewrite one ``(project_id, day)`` partition of the events table as few sorted files
    without duplicate insert_ids.

    Only closed days (before today, UTC, as of ``now``) are compacted; today only with
    ``quiet=True``. A partition already in one file without duplicates is left alone.
    Commit conflicts with concurrent writers are retried (re-reading the partition) up to
    ``max_attempts`` times; then :class:`CompactionConflict` is raised.
    """
    started = time.perf_counter()
    _check_project(project_id)
    uri = events_uri(settings)
    predicate = partition_predicate(project_id, day)

    def report(**values: Any) -> CompactionReport:
        defaults: dict[str, Any] = {
            "files_before": 0,
            "files_after": 0,
            "rows_before": 0,
            "rows_after": 0,
            "duplicates_dropped": 0,
            "bytes_before": 0,
            "bytes_after": 0,
        }
        defaults.update(values)
        return CompactionReport(
            project_id=project_id, day=day, seconds=time.perf_counter() - started, **defaults
        )

    if not DeltaTable.is_deltatable(uri):
        return report(skipped="empty")
    today = _today(now)
    if day > today or (day == today and not quiet):
        files = _partition_files(DeltaTable(uri), project_id, day)
        n = files.num_rows
        return report(
            files_before=n,
            files_after=n,
            rows_before=sum(files["num_records"].to_pylist()) if n else 0,
            rows_after=sum(files["num_records"].to_pylist()) if n else 0,
            bytes_before=sum(files["size_bytes"].to_pylist()) if n else 0,
            bytes_after=sum(files["size_bytes"].to_pylist()) if n else 0,
            skipped="open_day",
        )

    for attempt in range(1, max_attempts + 1):
        table = DeltaTable(uri)
        version = int(table.version())
        files = _partition_files(table, project_id, day)
        files_before = files.num_rows
        if files_before == 0:
            return report(skipped="empty", attempts=attempt)
        bytes_before = int(sum(files["size_bytes"].to_pylist()))
        scan = pl.scan_delta(table).filter(
            (pl.col("project_id") == project_id) & (pl.col("event_date") == day)
        )
        if files_before == 1:
            counts = scan.select(
                pl.len().alias("rows"), pl.col("insert_id").n_unique().alias("ids")
            ).collect()
            rows, ids = int(counts["rows"][0]), int(counts["ids"][0])
            if rows == ids:
                return report(
                    files_before=1,
                    files_after=1,
                    rows_before=rows,
                    rows_after=rows,
                    bytes_before=bytes_before,
                    bytes_after=bytes_before,
                    skipped="compact",
                    attempts=attempt,
                )
        frame = scan.collect()
        rows_before = frame.height
        compacted = _deduplicated(frame)
        token = uuid.uuid4().hex
        try:
            write_deltalake(
                table,
                compacted.select(LAKE_SCHEMA.names).to_arrow().cast(LAKE_SCHEMA),
                mode="overwrite",
                predicate=predicate,
                partition_by=PARTITION_BY,
                writer_properties=WriterProperties(
                    compression="ZSTD", max_row_group_size=ROW_GROUP_ROWS
                ),
                commit_properties=CommitProperties(
                    custom_metadata={_COMMIT_TAG: token, "growthos.partition": predicate},
                    max_commit_retries=20,
                ),
            )
        except CommitFailedError:
            # Another writer added to (or rewrote) this partition after `version`.
            if attempt == max_attempts:
                raise CompactionConflict(
                    f"{predicate}: still conflicting after {attempt} attempts"
                ) from None
            _backoff(attempt)
            continue
        table.update_incremental()
        root = _local_root(table.table_uri)
        adds: list[dict[str, Any]] = []
        committed: int | None = None
        if root is not None:
            committed, adds = _find_commit(
                root, range(version + 1, int(table.version()) + 1), token
            )
            _fsync_commit(root, committed, adds)
        return report(
            files_before=files_before,
            files_after=len(adds) if root is not None else 1,
            rows_before=rows_before,
            rows_after=compacted.height,
            duplicates_dropped=rows_before - compacted.height,
            bytes_before=bytes_before,
            bytes_after=int(sum(a.get("size", 0) for a in adds)),
            version=committed,
            attempts=attempt,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _lake_tables(settings: Settings) -> list[Path]:
    root = lake_root(settings)
    if not root.is_dir():
        return []
    return [
        p
        for p in sorted(root.iterdir())
        if p.is_dir() and not p.name.startswith("_") and DeltaTable.is_deltatable(str(p))
    ]


def _log_files(table_dir: Path) -> int:
    log_dir = table_dir / "_delta_log"
    return sum(1 for p in log_dir.iterdir() if p.suffix == ".json") if log_dir.is_dir() else 0


def maintain(settings: Settings, *, retention_hours: int | None = None) -> MaintenanceReport:
    """Checkpoint every Delta table of the lake, clean up its expired log files, and vacuum
    the data files removed more than ``retention_hours`` ago (default
    ``GROWTHOS_VACUUM_RETENTION_HOURS``, 168).

    Vacuum deletes the files that the log marks as removed, and data files that no commit
    refers to once they are :data:`ORPHAN_MIN_HOURS` old (never a file a writer is about to
    commit); a reader whose snapshot is older than the retention can no longer read it.
    """
    started = time.perf_counter()
    hours = settings.vacuum_retention_hours if retention_hours is None else retention_hours
    if hours < 0:
        raise ValueError("retention_hours must be >= 0")
    summary = MaintenanceReport(retention_hours=hours)
    for table_dir in _lake_tables(settings):
        table = DeltaTable(str(table_dir))
        table.create_checkpoint()
        logs_before = _log_files(table_dir)
        table.cleanup_metadata()
        logs_after = _log_files(table_dir)
        removed, _ = _with_conflict_retry(
            lambda t=table: t.vacuum(  # type: ignore[misc]
                retention_hours=hours, dry_run=False, enforce_retention_duration=False
            ),
            attempts=5,
        )
        # Files no commit refers to (a write that failed on a conflict leaves its data file
        # behind): removed once they are old enough that no writer can still be committing them.
        orphans, _ = _with_conflict_retry(
            lambda t=table: t.vacuum(  # type: ignore[misc]
                retention_hours=max(hours, ORPHAN_MIN_HOURS),
                dry_run=False,
                enforce_retention_duration=False,
                full=True,
            ),
            attempts=5,
        )
        summary.tables[table_dir.name] = TableMaintenance(
            version=int(table.version()),
            log_files_removed=logs_before - logs_after,
            files_vacuumed=len(removed),
            orphans_removed=len(orphans),
        )
    summary.seconds = time.perf_counter() - started
    return summary


def expire_partitions(
    settings: Settings, project_id: str, *, retention_days: int, now: datetime | None = None
) -> int:
    """Delete the project's event partitions older than ``retention_days`` (UTC days before
    today); the number of rows deleted. Whole files go (a partition-only predicate); their
    bytes leave the disk at the next :func:`maintain` after the vacuum retention.

    Examples
    --------
    >>> import tempfile
    >>> from growthos_pipeline.settings import Settings
    >>> expire_partitions(Settings(data_dir=tempfile.mkdtemp()), "proj_1", retention_days=30)
    0
    """
    if retention_days < 1:
        raise ValueError("retention_days must be >= 1")
    _check_project(project_id)
    uri = events_uri(settings)
    if not DeltaTable.is_deltatable(uri):
        return 0
    cutoff = _today(now) - timedelta(days=retention_days)
    predicate = f"project_id = '{project_id}' AND event_date < '{cutoff.isoformat()}'"

    def delete() -> dict[str, Any]:
        table = DeltaTable(uri)
        if _partition_rows_before(table, project_id, cutoff) == 0:
            return {}
        return table.delete(predicate, commit_properties=CommitProperties(max_commit_retries=20))

    metrics, _ = _with_conflict_retry(delete, attempts=8)
    return int(metrics.get("num_deleted_rows", 0) or 0)


def _partition_rows_before(table: DeltaTable, project_id: str, cutoff: date) -> int:
    adds = pa.table(table.get_add_actions(flatten=True))
    if adds.num_rows == 0:
        return 0
    mask = pc.and_(
        pc.equal(adds["partition.project_id"], project_id),
        pc.less(adds["partition.event_date"], pa.scalar(cutoff, pa.date32())),
    )
    return int(pc.sum(adds.filter(mask)["num_records"]).as_py() or 0)


def duplicate_insert_ids(settings: Settings, project_id: str, day: date) -> int:
    """Rows of the ``(project_id, day)`` partition beyond the first per insert_id (0 after a
    compaction that no append has followed).

    Examples
    --------
    >>> import tempfile
    >>> from growthos_pipeline.settings import Settings
    >>> duplicate_insert_ids(Settings(data_dir=tempfile.mkdtemp()), "proj_1", date(2025, 1, 1))
    0
    """
    _check_project(project_id)
    uri = events_uri(settings)
    if not DeltaTable.is_deltatable(uri):
        return 0
    counts = (
        pl.scan_delta(uri)
        .filter((pl.col("project_id") == project_id) & (pl.col("event_date") == day))
        .select(pl.len().alias("rows"), pl.col("insert_id").n_unique().alias("ids"))
        .collect()
    )
    return int(counts["rows"][0]) - int(counts["ids"][0])
