"""The lake's invariants that queries rely on, checked on the files the real writers (the
flusher, compaction) leave: no data file holds an insert_id twice within a project (so
single-file partitions skip the dedup), and ``event_date`` is the UTC date of ``time`` (so days
wholly inside a query's range skip the time condition).

Queries deduplicate only the partitions made of several files
(:mod:`growthos_pipeline.lake.partitions`); a writer that put a duplicate inside one file would
make them count it twice. These tests run the real writers and read every file they left.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from deltalake import DeltaTable

from growthos_pipeline.events.model import Event
from growthos_pipeline.events.validate import IngestContext, build_event
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.lake.compaction import compact
from growthos_pipeline.lake.partitions import multi_file_dates
from growthos_pipeline.lake.tables import events_uri
from growthos_pipeline.settings import Settings

DAY = date(2026, 1, 5)
NOW = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)  # DAY is a closed day


def _events(project: str, ids: list[str], *, day: date = DAY) -> list[Event]:
    ctx = IngestContext(project_id=project, received_at=int(NOW.timestamp() * 1e6))
    start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    return [
        build_event(
            ctx,
            event_type="page_view",
            device_id="d1",
            insert_id=insert_id,
            # a retry resends the same payload: the same insert_id and the same client time
            time=(start + timedelta(seconds=int(insert_id.rsplit("-", 1)[-1]))).isoformat(),
        )
        for insert_id in ids
    ]


def _deliver(settings: Settings, *batches: list[Event]) -> None:
    """Each batch through the real ingest path (WAL, flusher, Delta), one flush after all."""
    ingestor = Ingestor(settings)
    ingestor.start()
    try:
        for batch in batches:
            ingestor.accept_sync(batch)
        ingestor.flush_now()
    finally:
        ingestor.stop()


def _files(settings: Settings) -> list[Path]:
    table = DeltaTable(events_uri(settings))
    return [Path(uri.removeprefix("file://")) for uri in table.file_uris()]


def _duplicates_per_file(settings: Settings) -> dict[str, int]:
    """Rows beyond the first per (project_id, insert_id), in each data file."""
    out = {}
    for path in _files(settings):
        frame = pl.DataFrame(pq.read_table(path, columns=["insert_id"]))
        out[path.name] = frame.height - frame["insert_id"].n_unique()
    return out


def _dates_off_time(settings: Settings) -> int:
    """Rows whose event_date is not the UTC date of their time (queries skip the time
    condition on days wholly inside a range, trusting it)."""
    frame = pl.read_delta(events_uri(settings))
    return frame.filter(pl.col("event_date") != pl.col("time").dt.date()).height


def _rows(settings: Settings, project: str) -> int:
    frame = pl.scan_delta(events_uri(settings)).filter(pl.col("project_id") == project)
    return int(frame.select(pl.len()).collect().item())


def test_the_flusher_writes_each_insert_id_once_per_file(settings: Settings) -> None:
    ids = [f"a-{i}" for i in range(40)] + ["a-53999", "a-54000"]  # 23:59:59 and 00:00:00
    retried = ids[:10]
    ctx = IngestContext(project_id="p1", received_at=int(NOW.timestamp() * 1e6))
    evening = build_event(ctx, event_type="x", device_id="d", time="2026-01-05T20:00:00-05:00")
    # retries in the same request, in a later request, and the same ids in another project
    _deliver(
        settings,
        _events("p1", ids + retried[:3]),
        [*_events("p1", retried), evening],
        _events("p2", ids[:5] + ids[:5]),
    )
    assert _rows(settings, "p1") == 43 and _rows(settings, "p2") == 5  # repeats were sent
    assert len(_files(settings)) == 3  # p1 on two days, p2 on one
    assert set(_duplicates_per_file(settings).values()) == {0}
    assert _dates_off_time(settings) == 0


def test_compaction_leaves_one_file_without_duplicates(settings: Settings) -> None:
    ids = [f"b-{i}" for i in range(30)]
    _deliver(settings, _events("p1", ids))
    _deliver(settings, _events("p1", ids[:7] + [f"b-{i}" for i in range(30, 35)]))
    table = DeltaTable(events_uri(settings))
    assert multi_file_dates(table, "p1") == [DAY]
    assert _rows(settings, "p1") == 42  # 7 of them duplicate rows of the first file

    report = compact(settings, "p1", DAY, now=NOW)

    assert report.duplicates_dropped == 7 and report.files_after == 1
    assert multi_file_dates(DeltaTable(events_uri(settings)), "p1") == []
    assert _rows(settings, "p1") == 35
    assert set(_duplicates_per_file(settings).values()) == {0}
    assert _dates_off_time(settings) == 0
