"""Daily usage per project: events ingested and queries run, per UTC day.

* ``events_ingested``: rows the lake accepted for the project that day, by ``received_at``
  (a duplicate a client sent twice was ingested twice: it counts twice here, once in queries).
* ``queries_run``: queries that completed for the project that day, counted in the catalog's
  ``query_usage`` table by :func:`growthos_pipeline.catalog.query_usage.record_query` (called
  by :func:`growthos_pipeline.query.run.run_for`).

The ``usage_daily`` table has one row per project and day with either count non-zero; the API
fills the days in between with zeros.

Examples
--------
>>> from datetime import datetime, UTC
>>> events = pl.LazyFrame({"received_at": [datetime(2026, 1, 1, 9, tzinfo=UTC),
...                                        datetime(2026, 1, 1, 23, tzinfo=UTC),
...                                        datetime(2026, 1, 3, 1, tzinfo=UTC)]})
>>> queries = [{"day": date(2026, 1, 2), "queries": 4}]
>>> [(str(day), ingested, ran) for day, ingested, ran in compute_usage(events, queries).rows()]
[('2026-01-01', 2, 0), ('2026-01-02', 0, 4), ('2026-01-03', 1, 0)]
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa

from growthos_pipeline.catalog.access import Principal, require_project_read
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.query_usage import query_counts
from growthos_pipeline.errors import BadRequest
from growthos_pipeline.lake.derived import TS, DerivedTable, read_table, replace_project
from growthos_pipeline.lake.read import scan_events
from growthos_pipeline.settings import Settings

#: The longest range one usage call answers.
MAX_DAYS = 366

USAGE_DAILY = DerivedTable(
    "usage_daily",
    pa.schema(
        [
            pa.field("project_id", pa.string(), nullable=False),
            pa.field("day", pa.date32(), nullable=False),
            pa.field("events_ingested", pa.int64(), nullable=False),
            pa.field("queries_run", pa.int64(), nullable=False),
            pa.field("computed_at", TS, nullable=False),
        ]
    ),
    description="GrowthOS usage: events ingested and queries run per project and UTC day",
)


def compute_usage(events: pl.LazyFrame, queries: list[dict[str, Any]]) -> pl.DataFrame:
    """``day``, ``events_ingested``, ``queries_run``: one row per day with any activity."""
    ingested = (
        events.group_by(pl.col("received_at").dt.date().alias("day"))
        .agg(pl.len().cast(pl.Int64).alias("events_ingested"))
        .collect()
    )
    ran = (
        pl.DataFrame(queries, schema={"day": pl.Date, "queries": pl.Int64})
        .group_by("day")
        .agg(pl.col("queries").sum().cast(pl.Int64).alias("queries_run"))
    )
    return (
        ingested.join(ran, on="day", how="full", coalesce=True)
        .with_columns(pl.col("events_ingested", "queries_run").fill_null(0))
        .select("day", "events_ingested", "queries_run")
        .sort("day")
    )


def build_usage(settings: Settings, catalog: Catalog, project_id: str) -> int:
    """Rebuild ``project_id``'s daily usage; the number of days."""
    events = scan_events(settings, project_id, dedup=False).select("received_at")
    frame = compute_usage(events, query_counts(catalog, project_id)).with_columns(
        pl.lit(datetime.now(UTC)).cast(pl.Datetime("us", "UTC")).alias("computed_at")
    )
    return replace_project(settings, USAGE_DAILY, project_id, frame)


def _parse_day(text: str | date | None, name: str) -> date | None:
    if text is None or isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            "invalid_date", f"'{name}' must be a date like 2026-01-31, found '{text[:40]}'"
        ) from None


def usage_range(
    start: str | date | None, end: str | date | None, *, today: date | None = None
) -> tuple[date, date]:
    """The days a usage call covers: ``from``..``to`` inclusive, this month by default.

    >>> usage_range(None, None, today=date(2026, 2, 17))
    (datetime.date(2026, 2, 1), datetime.date(2026, 2, 17))
    >>> usage_range("2026-01-05", "2026-01-01")
    Traceback (most recent call last):
    ...
    growthos_pipeline.errors.BadRequest: invalid_range: 'from' (2026-01-05) is after 'to' \
(2026-01-01)
    """
    today = today or datetime.now(UTC).date()
    first = _parse_day(start, "from")
    last = _parse_day(end, "to")
    if last is None:
        last = today if first is None or first <= today else first
    if first is None:
        first = last.replace(day=1)
    if first > last:
        raise BadRequest("invalid_range", f"'from' ({first}) is after 'to' ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(
            "invalid_range",
            f"a usage range spans at most {MAX_DAYS} days, found {(last - first).days + 1}",
        )
    return first, last


def daily_usage(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    project_id: str,
    *,
    start: str | date | None = None,
    end: str | date | None = None,
) -> dict[str, Any]:
    """The project's usage per day from ``start`` to ``end`` (this month by default), read
    from the ``usage_daily`` table; days without a row count zero."""
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
    first, last = usage_range(start, end)
    table = read_table(settings, USAGE_DAILY, project_id).filter(
        pl.col("day").is_between(first, last)
    )
    by_day = {row["day"]: row for row in table.to_dicts()}
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        row = by_day.get(day)
        days.append(
            {
                "day": day,
                "events_ingested": int(row["events_ingested"]) if row else 0,
                "queries_run": int(row["queries_run"]) if row else 0,
            }
        )
    computed = table.get_column("computed_at").max() if table.height else None
    return {
        "project_id": project_id,
        "from": first,
        "to": last,
        "data": days,
        "totals": {
            "events_ingested": sum(d["events_ingested"] for d in days),
            "queries_run": sum(d["queries_run"] for d in days),
        },
        "computed_at": computed,
    }
