"""How a query reads the lake's rows: one row per (event_date, insert_id), the dedup only where
the lake can hold duplicates, the time condition only on days partly in range.

Queries deduplicate the rows of partitions made of several files and read single-file
partitions as they are (every file is free of duplicates: ``tests/lake/test_partitions.py``),
and skip the time condition on days wholly inside the range (``event_date`` is the UTC date of
``time``).
These tests write small Delta tables by hand so each layout is exact, and compare Polars with
DuckDB, which runs the general SQL (a dedup over every row).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import write_deltalake

from growthos_pipeline.events.model import LAKE_SCHEMA, PARTITION_BY
from growthos_pipeline.lake.compaction import compact
from growthos_pipeline.lake.tables import ensure_events_table, events_uri
from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.engines import execute
from growthos_pipeline.query.run import open_snapshot, run
from growthos_pipeline.query.to_polars import to_polars
from growthos_pipeline.settings import Settings

D1, D2 = date(2026, 1, 5), date(2026, 1, 6)
NOW = datetime(2026, 1, 8, tzinfo=UTC)
SEED = 'event_type = "page_view" | last 7d | count by _browser'
COUNT = "last 7d | count, uniq(insert_id) as ids, min(event_id) as first by day"


@pytest.fixture
def lake(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path)
    ensure_events_table(events_uri(settings))
    return settings


def write(settings: Settings, day: date, rows: list[tuple[str, str]]) -> None:
    """One appended file per partition: ``rows`` of (insert_id, event_id) on ``day``."""
    start = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "project_id": "p1",
            "event_date": day,
            "event_id": [e for _, e in rows],
            "insert_id": [i for i, _ in rows],
            "event_type": "page_view",
            # copies of one insert_id share the client time, as a retry does
            "time": [start + timedelta(seconds=int(i[1:])) for i, _ in rows],
            "received_at": start,
            "source": "growthos",
        }
    )
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in LAKE_SCHEMA.names if c not in frame]
    table = frame.with_columns(missing).select(LAKE_SCHEMA.names).to_arrow().cast(LAKE_SCHEMA)
    write_deltalake(events_uri(settings), table, mode="append", partition_by=PARTITION_BY)


def by_day(settings: Settings, *, engine: str = "polars", as_of: int | None = None) -> list:
    if engine == "polars":
        frame = run(settings, "p1", COUNT, now=NOW, as_of=as_of).frame
    else:
        frame = execute(compile_query(COUNT, "p1", now=NOW), engine=engine, settings=settings)
    return [(r["day"].date(), r["count"], r["ids"], r["first"]) for r in frame.to_dicts()]


def test_a_partition_of_two_files_is_deduplicated(lake: Settings) -> None:
    write(lake, D1, [("i1", "e1"), ("i2", "e2")])
    write(lake, D1, [("i2", "e0"), ("i3", "e3")])  # i2 again, with a smaller event_id
    expected = [(D1, 3, 3, "e0")]
    assert by_day(lake) == by_day(lake, engine="duckdb") == expected
    listing = run(lake, "p1", "last 7d | select insert_id, event_id", now=NOW).frame
    assert sorted(listing.rows()) == [("i1", "e1"), ("i2", "e0"), ("i3", "e3")]


def test_a_partition_of_one_file_is_read_as_it_is(lake: Settings) -> None:
    # A duplicate inside one file breaks the lake's invariant (no writer of the product does
    # this): the Polars path, trusting it, skips the dedup there and counts both copies, while
    # the general SQL deduplicates every row. This is what makes single-file partitions cheap.
    write(lake, D1, [("i1", "e1"), ("i1", "e2"), ("i2", "e3")])
    write(lake, D2, [("i1", "e4")])
    write(lake, D2, [("i1", "e5")])
    assert by_day(lake) == [(D1, 3, 2, "e1"), (D2, 1, 1, "e4")]
    assert by_day(lake, engine="duckdb") == [(D1, 2, 2, "e1"), (D2, 1, 1, "e4")]


def test_copies_on_different_days_count_twice(lake: Settings) -> None:
    write(lake, D1, [("i1", "e1")])
    write(lake, D2, [("i1", "e2"), ("i2", "e3")])
    write(lake, D2, [("i2", "e4")])
    expected = [(D1, 1, 1, "e1"), (D2, 2, 2, "e2")]
    assert by_day(lake) == by_day(lake, engine="duckdb") == expected
    total = run(lake, "p1", "last 7d | count, uniq(insert_id) as ids", now=NOW).frame
    assert total.rows() == [(3, 2)]


def test_as_of_reads_the_file_list_of_its_own_version(lake: Settings) -> None:
    write(lake, D1, [("i1", "e1"), ("i2", "e2")])  # version 1
    write(lake, D1, [("i1", "e3")])  # version 2: two files, one duplicate
    report = compact(lake, "p1", D1, now=NOW)  # version 3: one file again
    assert report.version == 3 and report.duplicates_dropped == 1
    for version in (1, 2, 3, None):
        assert by_day(lake, as_of=version) == [(D1, 2, 2, "e1")], version


def test_rows_of_single_file_dates_are_scanned_without_insert_id(lake: Settings) -> None:
    write(lake, D1, [("i1", "e1"), ("i2", "e2")])
    write(lake, D2, [("i3", "e3"), ("i4", "e4")])
    write(lake, D2, [("i3", "e5")])
    snap = open_snapshot(lake, "p1", None)
    assert snap.dedup_dates == [D2]
    compiled = compile_query(SEED, "p1", now=NOW)
    lazy = to_polars(compiled.tree, snap.frames, dedup_dates=snap.dedup_dates)
    assert lazy.collect().rows() == [(None, 4)]
    plan = lazy.explain()
    # One scan per branch, each with its own date filter (not one scan shared by all), and
    # the one of the single-file day inside the range reads three columns fewer: no
    # insert_id, no event_id, no time.
    scans = re.findall(r"SCAN \[([^\]]*)\]\s*PROJECT (\d+)/\d+ COLUMNS", plan)
    columns = {d: int(n) for paths, n in scans for d in (D1, D2) if f"event_date={d}" in paths}
    assert columns[D2] - columns[D1] == 3, plan


def test_days_inside_the_range_are_not_filtered_on_time(lake: Settings) -> None:
    # event_date is the UTC date of time in every file the product writes; a row that breaks
    # this on purpose shows which days skip the time condition (those wholly inside the range)
    write(lake, D1, [("i1", "e1"), ("i2", "e2")])  # at 10:00:01 and 10:00:02
    write(lake, D2, [("i3", "e3")])
    day1 = pl.read_delta(events_uri(lake)).filter(pl.col("event_date") == D1)
    day1 = day1.with_columns(  # e2 moved five days later, left in D1's partition
        pl.when(pl.col("event_id") == "e2")
        .then(pl.col("time") + timedelta(days=5))
        .otherwise(pl.col("time"))
        .alias("time")
    )
    write_deltalake(
        events_uri(lake),
        day1.select(LAKE_SCHEMA.names).to_arrow().cast(LAKE_SCHEMA),
        mode="overwrite",
        predicate="event_date = '2026-01-05'",
        partition_by=PARTITION_BY,
    )
    whole = "from 2026-01-05 to 2026-01-07 | count"
    partial = "from 2026-01-05T10:00:02 to 2026-01-07 | count"
    assert run(lake, "p1", whole, now=NOW).frame.item() == 3  # e2 counted: D1 is whole
    assert run(lake, "p1", partial, now=NOW).frame.item() == 1  # D1 partial: e1, e2 out
    for text, expected in ((whole, 2), (partial, 1)):
        duck = execute(compile_query(text, "p1", now=NOW), engine="duckdb", settings=lake)
        assert duck.item() == expected  # the general SQL filters every row on time
