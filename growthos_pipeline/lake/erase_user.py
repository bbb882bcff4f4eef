"""Erasing one person (a GDPR data subject) from every table of the lake, log included.

A subject is a set of user ids and device ids (see :func:`resolve_subject`). A row is the
subject's when its ``user_id`` is one of the subject's user ids, or when it has no user and
its ``device_id`` is one of the subject's devices; events of *another* user sent from a shared
device stay (they are that user's). Derived tables are erased more broadly (any person column
holding any of the subject's identifiers): the next build recomputes them from the events that
remain. Every Delta table under ``<data_dir>/lake`` with a
``user_id`` or ``device_id`` column is covered (``events`` and the derived tables alike); a
table with a ``received_at`` column only loses rows received before the deletion, so that
events the person sends afterwards are kept.

Deleting rows is not enough to forget them in Delta (measured here):

* the rewritten-away files stay on disk until vacuumed: every table that changed is vacuumed
  at once (``retention_hours=0``; lite mode, which also finds removals recorded in the last
  checkpoint), then a full vacuum removes files no commit references that are over an hour
  old (left by an interrupted writer; younger ones may be a concurrent append in flight);
* the delete commit stores its predicate, with the ids, in ``commitInfo.operationParameters``,
  and older commits may hold file statistics: personal columns are kept out of statistics
  (``delta.dataSkippingStatsColumns``), and the log is checkpointed and cleaned up with a log
  retention of 0 for this operation (``delta.logRetentionDuration`` is set to 0, the
  checkpoint written, ``cleanup_metadata`` run, and the previous retention put back), which
  removes every commit file up to the checkpoint, the delete commit among them.

Time travel to versions before the deletion ends with it; that is the point.

Examples
--------
>>> subject = Subject(users=frozenset({"u1"}), devices=frozenset({"d'1"}))
>>> subject_predicate(["user_id", "device_id"], subject)
"(user_id IN ('u1') OR (user_id IS NULL AND device_id IN ('d''1')))"
>>> subject_predicate(["device_id"], subject)
"device_id IN ('d''1')"
>>> subject_predicate(["user_id"], subject, broad=True)
"user_id IN ('d''1', 'u1')"
>>> subject_predicate(["name"], subject) is None
True
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError

from growthos_pipeline.lake.tables import EVENTS, lake_root
from growthos_pipeline.settings import Settings

log = logging.getLogger(__name__)

#: The columns that name a person in a lake table.
PERSON_COLUMNS = ("user_id", "device_id")
_ALIAS = "$alias"
_MAX_ALIAS_HOPS = 10
_DEFAULT_LOG_RETENTION = "interval 30 days"


@dataclass(frozen=True)
class Subject:
    """The identifiers of one person in one project."""

    users: frozenset[str]
    devices: frozenset[str]

    @property
    def identifiers(self) -> list[str]:
        """Every identifier, for scrubbing messages and files."""
        return sorted(self.users | self.devices)

    def redact(self, text: str) -> str:
        """``text`` with every identifier replaced (error messages may echo a predicate)."""
        for value in sorted(self.identifiers, key=len, reverse=True):
            for form in _forms(value):
                text = text.replace(form.decode("utf-8", "replace"), "<subject>")
        return text


def _forms(value: str) -> set[bytes]:
    """How an identifier can appear in a file: raw UTF-8, JSON-escaped, SQL-quoted."""
    raw = value.encode()
    return {raw, msgspec.json.encode(value)[1:-1], value.replace("'", "''").encode()}


def sql_string(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _in_list(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(sql_string(v) for v in sorted(values))})"


def subject_predicate(
    columns: Iterable[str], subject: Subject, *, broad: bool = False
) -> str | None:
    """The SQL predicate matching the subject's rows of a table with these ``columns``
    (None when the table names no person).

    The precise rule (for ``events``): the row's user is one of the subject's, or it has no
    user and its device is one of the subject's. The ``broad`` rule (for derived tables, which
    the next build recomputes from the events that remain): any person column holds any of
    the subject's identifiers (a segment member's ``user_id`` may hold a device id).
    """
    names = [c for c in PERSON_COLUMNS if c in set(columns)]
    if broad:
        every = subject.identifiers
        parts = [_in_list(c, every) for c in names] if every else []
        return f"({' OR '.join(parts)})" if len(parts) > 1 else (parts[0] if parts else None)
    by_user = _in_list("user_id", subject.users) if "user_id" in names and subject.users else None
    by_device = (
        _in_list("device_id", subject.devices) if "device_id" in names and subject.devices else None
    )
    if by_user and by_device:
        return f"({by_user} OR (user_id IS NULL AND {by_device}))"
    if by_user:
        return by_user
    if by_device and "user_id" not in names:
        return by_device
    if by_device:
        return f"(user_id IS NULL AND {by_device})"
    return None


def lake_tables(settings: Settings) -> Iterator[tuple[str, str]]:
    """``(name, uri)`` of every Delta table of the lake."""
    root = lake_root(settings)
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if folder.name.startswith("_") or not folder.is_dir():
            continue
        if DeltaTable.is_deltatable(str(folder)):
            yield folder.name, str(folder)


def _columns(table: DeltaTable) -> list[str]:
    return list(table.schema().to_arrow().names)


def resolve_subject(settings: Settings, project_id: str, user_id: str) -> Subject:
    """The user id, the ids merged into it by ``$alias`` (followed transitively), and every
    device seen with one of them (in ``events`` or in any table mapping devices to users,
    such as ``identities``)."""
    users = {user_id}
    devices: set[str] = set()
    mapped = []
    for name, uri in lake_tables(settings):
        columns = _columns(DeltaTable(uri))
        if "user_id" in columns and "device_id" in columns:
            mapped.append((name, uri, columns))
    for _ in range(_MAX_ALIAS_HOPS):
        before = (len(users), len(devices))
        for name, uri, columns in mapped:
            frame = pl.scan_delta(uri)
            if "project_id" in columns:
                frame = frame.filter(pl.col("project_id") == project_id)
            frame = frame.filter(
                pl.col("user_id").is_in(sorted(users)) & pl.col("device_id").is_not_null()
            )
            wanted = ["device_id"] + (["event_type"] if "event_type" in columns else [])
            rows = frame.select(wanted).unique().collect()
            devices.update(rows["device_id"].to_list())
            if name == EVENTS and "event_type" in rows.columns:
                # An alias stores its previous id as the device; it may have been a user id.
                users.update(rows.filter(pl.col("event_type") == _ALIAS)["device_id"].to_list())
        if (len(users), len(devices)) == before:
            break
    return Subject(users=frozenset(users), devices=frozenset(devices))


def _retrying(action: Any, table: DeltaTable, attempts: int = 10) -> Any:
    """Run ``action()``, retrying Delta commit conflicts with a concurrent writer."""
    for attempt in range(attempts):
        try:
            return action()
        except (CommitFailedError, DeltaError) as exc:
            text = str(exc).lower()
            conflict = (
                isinstance(exc, CommitFailedError) or "conflict" in text or ("concurrent" in text)
            )
            if not conflict or attempt == attempts - 1:
                raise
            time.sleep(min(0.05 * 2**attempt, 2.0))
            table.update_incremental()
    raise AssertionError("unreachable")


def _fsync(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_table(uri: str) -> None:
    """deltalake does not fsync on a local disk: make the new log, the removed files and the
    removed commits durable, so that a crash cannot bring the subject's rows back."""
    root = Path(uri)
    log_dir = root / "_delta_log"
    for entry in log_dir.iterdir():
        if entry.is_file():
            _fsync(entry)
    for folder, _, _ in os.walk(root):
        _fsync(Path(folder), directory=True)


def forget_history(table: DeltaTable) -> dict[str, int]:
    """Vacuum every removed file at once and drop every log entry before a new checkpoint
    (see the module docs); the number of data files and log files removed."""
    removed = _retrying(
        lambda: table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False),
        table,
    )
    orphans = _retrying(
        lambda: table.vacuum(
            retention_hours=1, dry_run=False, enforce_retention_duration=False, full=True
        ),
        table,
    )
    log_dir = Path(table.table_uri.removeprefix("file://")) / "_delta_log"
    log_before = {p.name for p in log_dir.iterdir()}
    table.update_incremental()
    previous = table.metadata().configuration.get("delta.logRetentionDuration")
    _retrying(
        lambda: table.alter.set_table_properties(
            {"delta.logRetentionDuration": "interval 0 seconds"}
        ),
        table,
    )
    try:
        table.create_checkpoint()
        table.cleanup_metadata()
    finally:
        _retrying(
            lambda: table.alter.set_table_properties(
                {"delta.logRetentionDuration": previous or _DEFAULT_LOG_RETENTION}
            ),
            table,
        )
    log_after = {p.name for p in log_dir.iterdir()}
    _fsync_table(table.table_uri.removeprefix("file://"))
    return {
        "files_removed": len(removed) + len(orphans),
        "log_files_removed": len(log_before - log_after),
    }


def erase_subject(
    settings: Settings, project_id: str, subject: Subject, *, received_before: datetime
) -> dict[str, dict[str, int]]:
    """Delete the subject's rows of ``project_id`` from every lake table, then forget them in
    each changed table's history; per table: rows deleted, files and log files removed."""
    cutoff = received_before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    summary: dict[str, dict[str, int]] = {}
    for name, uri in lake_tables(settings):
        table = DeltaTable(uri)
        columns = _columns(table)
        predicate = subject_predicate(columns, subject, broad=name != EVENTS)
        if predicate is None:
            continue
        parts = [predicate]
        if "project_id" in columns:
            parts.insert(0, f"project_id = {sql_string(project_id)}")
        if "received_at" in columns:
            parts.append(f"received_at < '{cutoff}'")
        where = " AND ".join(parts)
        before = table.version()
        metrics = _retrying(lambda t=table, w=where: t.delete(w), table)
        deleted = int(metrics.get("num_deleted_rows", 0) or 0)
        entry = {"rows_deleted": deleted, "files_removed": 0, "log_files_removed": 0}
        table.update_incremental()
        if table.version() != before:
            entry.update(forget_history(table))
        summary[name] = entry
        log.info("GDPR erase: %s: %d row(s) deleted", name, deleted)
    return summary


def scrub_files(paths: Iterable[Path], subject: Subject) -> int:
    """Delete the files among ``paths`` that mention an identifier of the subject (WAL
    records set aside in quarantine cannot be parsed, so they are matched as bytes)."""
    needles = [form for value in subject.identifiers for form in _forms(value) if form]
    removed = 0
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if any(needle in data for needle in needles):
            path.unlink(missing_ok=True)
            _fsync(path.parent, directory=True)
            removed += 1
    return removed
