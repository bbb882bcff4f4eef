"""Compaction of the events table: few files, no duplicate insert_ids, atomic for readers,
safe while the flusher appends (real Delta tables on disk, appends through ``append_once``)."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, date, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from deltalake import DeltaTable

from growthos_pipeline.events.model import LAKE_SCHEMA
from growthos_pipeline.lake import compaction
from growthos_pipeline.lake.compaction import compact, expire_partitions, maintain, quiet_for
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.lake.tables import ensure_events_table, events_uri
from growthos_pipeline.lake.write import append_once
from growthos_pipeline.settings import Settings

DAY = date(2025, 3, 10)
LATER = datetime(2025, 3, 12, 9, 0, tzinfo=UTC)  # DAY is a closed day
TYPES = ["page_view", "click", "purchase", "signup"]
_versions = count(1)


def rows(
    project: str, day: date, ids: list[str], *, received_offset_s: int = 0, tag: str = ""
) -> pl.DataFrame:
    """Events of ``project`` on ``day`` with the given insert_ids (event_id = id + tag)."""
    base = datetime(day.year, day.month, day.day, tzinfo=UTC)
    n = len(ids)
    numbers = [int(i.rsplit("_", 1)[-1]) for i in ids]
    return pl.DataFrame(
        {
            "project_id": [project] * n,
            "event_date": [day] * n,
            "event_id": [f"{i}{tag}" for i in ids],
            "insert_id": ids,
            "event_type": [TYPES[k % len(TYPES)] for k in numbers],
            "time": [base + timedelta(seconds=(k * 37) % 86_000) for k in numbers],
            "received_at": [
                base + timedelta(seconds=(k * 37) % 86_000 + 1 + received_offset_s) for k in numbers
            ],
            "user_id": [f"u{k % 7}" for k in numbers],
            "source": ["growthos"] * n,
        }
    )


def append(settings: Settings, frame: pl.DataFrame) -> None:
    """One flusher-style commit (an application transaction, fsynced)."""
    table = ensure_events_table(events_uri(settings))
    full = frame.with_columns(
        [
            pl.lit(None, dtype=pl.String).alias(c)
            for c in LAKE_SCHEMA.names
            if c not in frame.columns
        ]
    ).select(LAKE_SCHEMA.names)
    assert append_once(
        table, full.to_arrow().cast(LAKE_SCHEMA), app_id="test-flusher", version=next(_versions)
    )


def partition(
    settings: Settings, project: str, day: date, *, version: int | None = None
) -> pl.DataFrame:
    frame = read_events(settings, project, as_of=version, dedup=False)
    return frame.filter(pl.col("event_date") == day)


def partition_files(settings: Settings, project: str, day: date) -> int:
    adds = pl.DataFrame(DeltaTable(events_uri(settings)).get_add_actions(flatten=True))
    return adds.filter(
        (pl.col("partition.project_id") == project) & (pl.col("partition.event_date") == day)
    ).height


def many_small_files(
    settings: Settings,
    project: str = "p1",
    day: date = DAY,
    *,
    commits: int = 20,
    per_commit: int = 25,
) -> tuple[int, int]:
    """``commits`` appends to one partition; every fifth commit re-sends 5 earlier ids
    (a retried delivery, received an hour later). Returns (rows written, distinct ids)."""
    written = 0
    for c in range(commits):
        ids = [f"{project}_{c * per_commit + k}" for k in range(per_commit)]
        append(settings, rows(project, day, ids))
        written += per_commit
        if c % 5 == 4:
            retried = [f"{project}_{(c - 2) * per_commit + k}" for k in range(5)]
            append(settings, rows(project, day, retried, received_offset_s=3600, tag="r"))
            written += 5
    return written, commits * per_commit


def test_compaction_merges_small_files_and_drops_duplicates(settings: Settings) -> None:
    written, distinct = many_small_files(settings)
    append(settings, rows("p1", DAY + timedelta(days=1), ["p1_900", "p1_901"]))
    append(settings, rows("p2", DAY, ["p2_1", "p2_1"]))  # another project's partition
    before = partition_files(settings, "p1", DAY)
    assert before == 24

    report = compact(settings, "p1", DAY, now=LATER)

    assert report.skipped is None and report.version is not None
    assert (report.files_before, report.files_after) == (24, 1)
    assert (report.rows_before, report.rows_after) == (written, distinct)
    assert report.duplicates_dropped == written - distinct == 20
    assert report.bytes_before > 0 and report.bytes_after > 0 and report.seconds > 0
    after = partition(settings, "p1", DAY)
    assert after.height == distinct and after["insert_id"].n_unique() == distinct
    # the earliest copy is kept: no retried ("...r") event_id survives
    assert not after["event_id"].str.ends_with("r").any()
    # sorted by (event_type, time) for scans
    assert after.rows() == after.sort(["event_type", "time", "event_id"]).rows()
    # other partitions are untouched, and the other project keeps its duplicate
    assert partition_files(settings, "p1", DAY + timedelta(days=1)) == 1
    assert partition(settings, "p2", DAY).height == 2
    # compacting again finds nothing to do
    again = compact(settings, "p1", DAY, now=LATER)
    assert again.skipped == "compact" and again.version is None
    assert (again.files_before, again.rows_before) == (1, distinct)


def test_single_file_with_duplicates_is_rewritten(settings: Settings) -> None:
    append(settings, rows("p1", DAY, ["p1_1", "p1_2", "p1_1"]))
    report = compact(settings, "p1", DAY, now=LATER)
    assert (report.files_before, report.duplicates_dropped, report.rows_after) == (1, 1, 2)


def test_today_waits_until_quiet(settings: Settings) -> None:
    today = datetime.now(UTC).date()
    for c in range(3):
        append(settings, rows("p1", today, [f"p1_{c}"]))
    skipped = compact(settings, "p1", today)
    assert skipped.skipped == "open_day" and skipped.files_after == 3
    assert partition_files(settings, "p1", today) == 3
    idle = quiet_for(settings, "p1", today)
    assert idle is not None and idle < timedelta(minutes=5)
    assert quiet_for(settings, "p1", today - timedelta(days=1)) is None
    done = compact(settings, "p1", today, quiet=True)
    assert (done.files_before, done.files_after, done.rows_after) == (3, 1, 3)


def test_missing_table_and_bad_project(settings: Settings) -> None:
    assert compact(settings, "p1", DAY, now=LATER).skipped == "empty"
    append(settings, rows("p2", DAY, ["p2_1"]))
    assert compact(settings, "p1", DAY, now=LATER).skipped == "empty"
    with pytest.raises(ValueError, match="not a project id"):
        compact(settings, "p1' OR '1'='1", DAY, now=LATER)


def test_readers_of_the_old_snapshot_stay_consistent(settings: Settings) -> None:
    written, distinct = many_small_files(settings, commits=10)
    old_version = DeltaTable(events_uri(settings)).version()
    held = pl.scan_delta(events_uri(settings), version=old_version)  # a reader mid-query

    report = compact(settings, "p1", DAY, now=LATER)
    assert report.version == old_version + 1

    old = held.filter(pl.col("event_date") == DAY).collect()
    assert old.height == written and old["insert_id"].n_unique() == distinct
    # every version shows either all the old rows or all the compacted ones, never a mix
    for version in (old_version, report.version):
        frame = partition(settings, "p1", DAY, version=version)
        assert frame["insert_id"].n_unique() == distinct
        assert frame.height in (written, distinct)
    assert partition(settings, "p1", DAY).height == distinct


def test_append_during_compaction_is_retried_not_lost(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush into the same partition between compaction's read and its commit: Delta's
    conflict checker rejects the commit and compaction re-reads (deterministic interleaving)."""
    many_small_files(settings, commits=5)
    real_write = compaction.write_deltalake
    calls: list[Any] = []

    def flush_then_write(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs["predicate"])
        if len(calls) == 1:  # the flusher commits first
            append(settings, rows("p1", DAY, ["p1_5000", "p1_5001"]))
            append(settings, rows("p1", DAY + timedelta(days=3), ["p1_6000"]))
        real_write(*args, **kwargs)

    monkeypatch.setattr(compaction, "write_deltalake", flush_then_write)
    report = compact(settings, "p1", DAY, now=LATER)

    assert report.attempts == 2 and len(calls) == 2
    after = partition(settings, "p1", DAY)
    assert {"p1_5000", "p1_5001"} <= set(after["insert_id"])
    assert after.height == after["insert_id"].n_unique() == report.rows_after == 127
    assert partition_files(settings, "p1", DAY) == 1
    assert partition(settings, "p1", DAY + timedelta(days=3)).height == 1


def test_concurrent_appends_lose_nothing(settings: Settings) -> None:
    """A real flusher thread appends to the compacted partition and to others while
    compaction runs again and again; every row written is in the lake afterwards."""
    many_small_files(settings, commits=10)
    expected = set(partition(settings, "p1", DAY)["insert_id"])
    stop = threading.Event()
    errors: list[BaseException] = []

    def flusher() -> None:
        try:
            k = 10_000
            while not stop.is_set() and k < 10_060:
                day = DAY if k % 2 else DAY + timedelta(days=1)
                append(settings, rows("p1", day, [f"p1_{k}"]))
                expected.add(f"p1_{k}")
                k += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=flusher)
    thread.start()
    reports = []
    try:
        for _ in range(4):
            reports.append(compact(settings, "p1", DAY, now=LATER, max_attempts=30))
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors
    assert any(r.version is not None for r in reports)
    final = compact(settings, "p1", DAY, now=LATER)
    lake = read_events(settings, "p1", dedup=False)
    assert set(lake["insert_id"]) == expected
    day = lake.filter(pl.col("event_date") == DAY)
    assert day.height == day["insert_id"].n_unique()
    assert partition_files(settings, "p1", DAY) == 1 or final.skipped == "compact"


def test_maintain_checkpoints_cleans_and_vacuums(settings: Settings) -> None:
    many_small_files(settings, commits=5)
    report = compact(settings, "p1", DAY, now=LATER)
    table_dir = Path(events_uri(settings))

    kept = maintain(settings)  # default retention (168 h): nothing is old enough
    assert kept.retention_hours == 168
    assert kept.tables["events"].files_vacuumed == 0
    assert (table_dir / "_delta_log" / "_last_checkpoint").exists()

    # a data file no commit refers to (an append that lost a conflict leaves one behind)
    folder = table_dir / "project_id=p1" / f"event_date={DAY.isoformat()}"
    stale, fresh = folder / "part-stale.parquet", folder / "part-fresh.parquet"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    two_days_ago = time.time() - 48 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))

    done = maintain(settings, retention_hours=0)
    assert done.tables["events"].files_vacuumed == report.files_before
    assert done.tables["events"].orphans_removed == 1
    assert not stale.exists() and fresh.exists()  # a writer may still commit a fresh file
    fresh.unlink()
    data_files = [p for p in table_dir.rglob("*.parquet") if "_delta_log" not in p.parts]
    assert len(data_files) == 1
    assert partition(settings, "p1", DAY).height == report.rows_after


def test_vacuum_retention_setting(make_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_settings().vacuum_retention_hours == 168
    monkeypatch.setenv("GROWTHOS_VACUUM_RETENTION_HOURS", "24")
    settings = make_settings()
    assert settings.vacuum_retention_hours == 24
    assert maintain(settings).retention_hours == 24


def test_expire_partitions_applies_retention_days(settings: Settings) -> None:
    now = datetime(2025, 3, 10, 12, tzinfo=UTC)
    append(settings, rows("p1", date(2025, 1, 1), ["p1_1", "p1_2"]))
    append(settings, rows("p1", date(2025, 2, 8), ["p1_3"]))  # 30 days before: kept
    append(settings, rows("p2", date(2025, 1, 1), ["p2_1"]))  # another project: kept
    assert expire_partitions(settings, "p1", retention_days=30, now=now) == 2
    assert sorted(read_events(settings, "p1")["insert_id"]) == ["p1_3"]
    assert read_events(settings, "p2").height == 1
    assert expire_partitions(settings, "p1", retention_days=30, now=now) == 0
