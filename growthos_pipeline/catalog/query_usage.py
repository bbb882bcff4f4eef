"""The query counter: queries run per project and UTC day (the ``query_usage`` table).

:func:`growthos_pipeline.query.run.run_for` counts every query it answers; the
``usage_daily`` asset (:mod:`growthos_pipeline.usage`) reads the counts. A catalog counter,
not a lake table: one upsert per query touches one row, where a lake append per query would
make a Delta commit and a tiny file each time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import query_usage


def record_query(conn: Connection, project_id: str, *, day: date | None = None) -> None:
    """Count one query for ``project_id`` on ``day`` (today, UTC). Run inside a transaction."""
    day = day or datetime.now(UTC).date()
    where = (query_usage.c.project_id == project_id) & (query_usage.c.day == day)
    for _ in range(3):
        bumped = conn.execute(
            update(query_usage).where(where).values(queries=query_usage.c.queries + 1)
        )
        if bumped.rowcount:
            return
        try:
            with conn.begin_nested():
                conn.execute(insert(query_usage).values(project_id=project_id, day=day, queries=1))
            return
        except IntegrityError:  # another process inserted the row first: bump it
            continue


def query_counts(catalog: Catalog, project_id: str) -> list[dict[str, Any]]:
    """Every ``{day, queries}`` counted for ``project_id``."""
    with catalog.connect() as conn:
        rows = (
            conn.execute(
                select(query_usage.c.day, query_usage.c.queries).where(
                    query_usage.c.project_id == project_id
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]
