"""Segments: a named filter of the query language, and the users it selects.

A segment is a row of the catalog's ``segments`` table: ``name``, ``filter`` (one condition of
the pipe language, such as ``event_type = "purchase" and prop.amount > 50``), ``window_days``
(30 by default) and ``description``. The filter is validated by compiling it as
``<filter> | last <window_days>d``; a bad one answers ``400 invalid_segment_filter`` with the
compiler's line and column in ``details``.

Its members, computed on schedule into the lake's ``segment_members`` table, are the actors
(the resolved user id, else the device id) with at least one event matching the filter in the
segment's window, at the time of the build (``computed_at``).

Examples
--------
>>> validate_filter('event_type = "purchase"', 30, "proj_1")
>>> validate_filter('event_type = "purchase" | count', 30, "proj_1")
Traceback (most recent call last):
...
growthos_pipeline.errors.BadRequest: invalid_segment_filter: a segment filter is one \
condition, like event_type = "purchase"; found the stage 'aggregate'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa
from pydantic import Field
from sqlalchemy import Connection, delete, insert, select, update

from growthos_pipeline.catalog import audit
from growthos_pipeline.catalog.access import Principal, require_project, require_project_read
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.models import Input, Name
from growthos_pipeline.catalog.pagination import (
    MAX_LIMIT,
    Page,
    decode_cursor,
    encode_cursor,
    paginate,
)
from growthos_pipeline.catalog.tables import segments, utcnow
from growthos_pipeline.errors import BadRequest, NotFound
from growthos_pipeline.ids import new_id
from growthos_pipeline.lake.derived import TS, DerivedTable, replace_project, scan_table
from growthos_pipeline.query import ast, guard
from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.errors import QueryError
from growthos_pipeline.query.parser import parse
from growthos_pipeline.query.run import sources
from growthos_pipeline.query.to_polars import to_polars
from growthos_pipeline.settings import Settings

DEFAULT_WINDOW_DAYS = 30
MAX_FILTER = 2000

SEGMENT_MEMBERS = DerivedTable(
    "segment_members",
    pa.schema(
        [
            pa.field("project_id", pa.string(), nullable=False),
            pa.field("segment_id", pa.string(), nullable=False),
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("computed_at", TS, nullable=False),
        ]
    ),
    personal=frozenset({"user_id"}),
    description="GrowthOS segment members: the actors each segment's filter selects",
)


class SegmentCreate(Input):
    name: Name
    filter: str = Field(
        min_length=1,
        max_length=MAX_FILTER,
        description='one condition, e.g. event_type = "purchase"',
    )
    window_days: int = Field(default=DEFAULT_WINDOW_DAYS, ge=1, le=365)
    description: str | None = Field(default=None, max_length=500)


class SegmentUpdate(Input):
    name: Name | None = None
    filter: str | None = Field(default=None, min_length=1, max_length=MAX_FILTER)
    window_days: int | None = Field(default=None, ge=1, le=365)
    description: str | None = Field(default=None, max_length=500)


# ---- the filter ---------------------------------------------------------------------------


def _invalid(message: str, details: list[dict[str, Any]] | None = None) -> BadRequest:
    return BadRequest("invalid_segment_filter", message, details=details)


def validate_filter(text: str, window_days: int, project_id: str) -> None:
    """Raise ``400 invalid_segment_filter`` unless ``text`` is one condition that compiles."""
    try:
        query = parse(text)
        stages = list(query.stages)
        others = [s for s in stages if not isinstance(s, ast.Where)]
        if others:
            kind = type(others[0]).__name__.lower()
            raise QueryError(
                "query_invalid",
                f'a segment filter is one condition, like event_type = "purchase"; '
                f"found the stage '{kind}'",
                others[0].span,
                text=text,
            )
        if len(stages) != 1:
            raise _invalid(
                "a segment filter is one condition; join conditions with 'and'",
                [{"field": "filter"}],
            )
        compile_query(_query_text(text, window_days), project_id)
    except QueryError as err:
        raise _invalid(err.message, [{"field": "filter", **d} for d in err.details]) from None


def _query_text(text: str, window_days: int) -> str:
    return f"{text}\n| last {window_days}d | count by user_id, device_id"


# ---- the catalog --------------------------------------------------------------------------


def _view(row: Any) -> dict[str, Any]:
    return {
        k: row[k]
        for k in (
            "id",
            "project_id",
            "name",
            "filter",
            "window_days",
            "description",
            "created_at",
            "updated_at",
        )
    }


def _row(conn: Connection, project_id: str, segment_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            select(segments).where(segments.c.id == segment_id, segments.c.project_id == project_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("segment_not_found", f"no segment '{segment_id[:60]}' in this project")
    return dict(row)


def create_segment(
    catalog: Catalog, principal: Principal, project_id: str, body: SegmentCreate
) -> dict[str, Any]:
    """A new segment (admin scope); its members appear after the next build."""
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        validate_filter(body.filter, body.window_days, project_id)
        now = utcnow()
        row = {
            "id": new_id("seg"),
            "project_id": project_id,
            "name": body.name,
            "filter": body.filter,
            "window_days": body.window_days,
            "description": body.description,
            "created_at": now,
            "updated_at": now,
        }
        conn.execute(insert(segments).values(**row))
        audit.record(
            conn,
            principal,
            "segment.create",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=str(row["id"]),
            details={"name": body.name},
        )
    return _view(row)


def list_segments(
    catalog: Catalog, principal: Principal, project_id: str, *, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
        return paginate(
            conn,
            select(segments).where(segments.c.project_id == project_id),
            segments.c.id,
            cursor=cursor,
            limit=limit,
            convert=_view,
        )


def get_segment(
    catalog: Catalog, principal: Principal, project_id: str, segment_id: str
) -> dict[str, Any]:
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
        return _view(_row(conn, project_id, segment_id))


def update_segment(
    catalog: Catalog, principal: Principal, project_id: str, segment_id: str, body: SegmentUpdate
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "filter", "window_days"):
        if required in changes and changes[required] is None:
            raise BadRequest("invalid_segment", f"'{required}' cannot be null")
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        row = _row(conn, project_id, segment_id)
        merged = {**row, **changes}
        if "filter" in changes or "window_days" in changes:
            validate_filter(merged["filter"], merged["window_days"], project_id)
        merged["updated_at"] = utcnow()
        conn.execute(
            update(segments)
            .where(segments.c.id == segment_id)
            .values(**{k: merged[k] for k in (*changes, "updated_at")})
        )
        audit.record(
            conn,
            principal,
            "segment.update",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=segment_id,
            details={"fields": sorted(changes)},
        )
    return _view(merged)


def delete_segment(
    catalog: Catalog, principal: Principal, project_id: str, segment_id: str
) -> dict[str, Any]:
    """Delete a segment; its members leave the lake at the next build."""
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        row = _row(conn, project_id, segment_id)
        conn.execute(delete(segments).where(segments.c.id == segment_id))
        audit.record(
            conn,
            principal,
            "segment.delete",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=segment_id,
        )
    return {**_view(row), "deleted": True}


def project_segments(catalog: Catalog, project_id: str) -> list[dict[str, Any]]:
    """Every segment of ``project_id`` (for the members build; no principal)."""
    with catalog.connect() as conn:
        rows = (
            conn.execute(
                select(segments).where(segments.c.project_id == project_id).order_by(segments.c.id)
            )
            .mappings()
            .all()
        )
    return [_view(r) for r in rows]


# ---- members ------------------------------------------------------------------------------


def segment_actors(
    settings: Settings, project_id: str, segment: dict[str, Any], *, now: datetime | None = None
) -> list[str]:
    """The actors (user id, else device id) with an event matching the segment's filter in
    its window, sorted."""
    compiled = compile_query(
        _query_text(segment["filter"], int(segment["window_days"])), project_id, now=now
    )
    guard.check(compiled.tree, project_id)
    frames, _ = sources(settings, None)
    rows = (
        to_polars(compiled.tree, frames)
        .select(pl.coalesce(pl.col("user_id"), pl.col("device_id")).alias("actor"))
        .drop_nulls()
        .unique()
        .sort("actor")
        .collect()
    )
    return [str(a) for a in rows["actor"].to_list()]


def compute_members(
    settings: Settings,
    project_id: str,
    segment_rows: list[dict[str, Any]],
    *,
    now: datetime | None = None,
) -> pl.DataFrame:
    """``segment_id``, ``user_id``, ``computed_at`` for every segment of ``segment_rows``."""
    moment = now or datetime.now(UTC)
    parts = [
        pl.DataFrame(
            {"segment_id": segment["id"], "user_id": actors},
            schema={"segment_id": pl.String, "user_id": pl.String},
        )
        for segment in segment_rows
        if (actors := segment_actors(settings, project_id, segment, now=moment))
    ]
    frame = (
        pl.concat(parts)
        if parts
        else pl.DataFrame(schema={"segment_id": pl.String, "user_id": pl.String})
    )
    return frame.with_columns(pl.lit(moment).cast(pl.Datetime("us", "UTC")).alias("computed_at"))


def build_segment_members(
    settings: Settings, catalog: Catalog, project_id: str, *, now: datetime | None = None
) -> int:
    """Recompute every segment of ``project_id``; the number of member rows."""
    frame = compute_members(settings, project_id, project_segments(catalog, project_id), now=now)
    return replace_project(settings, SEGMENT_MEMBERS, project_id, frame)


def list_members(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    project_id: str,
    segment_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> Page[dict[str, Any]]:
    """One page of a segment's members, by user id."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest("invalid_limit", f"limit must be between 1 and {MAX_LIMIT}, found {limit}")
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
        _row(conn, project_id, segment_id)
    frame = scan_table(settings, SEGMENT_MEMBERS, project_id).filter(
        pl.col("segment_id") == segment_id
    )
    if cursor:
        frame = frame.filter(pl.col("user_id") > decode_cursor(cursor))
    rows = frame.sort("user_id").head(limit + 1).select("user_id", "computed_at").collect()
    has_more = rows.height > limit
    data = rows.head(limit).to_dicts()
    return Page(data, has_more, encode_cursor(data[-1]["user_id"]) if has_more else None)
