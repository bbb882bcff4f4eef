"""Who a survey is for: a filter of the query language, a segment, or both.

* ``filter`` (with ``window_days``, 30 by default): the person matches when at least one of
  their events in the last ``window_days`` days satisfies it. It runs as the query
  ``<filter> | where user_id = "<id>" | last <window_days>d | count`` on the latest lake
  snapshot, so ``user_id`` is the resolved user (the id sent, else the user the device was
  identified as) and ``profile.<name>`` reads the person's current profile. Events reach the
  lake about a second after they are acknowledged; a device id alone matches on
  ``device_id``.
* ``segment_id``: the person (user id, else device id) is a member of the segment at its last
  build (the ``segment_members`` asset, refreshed on its Dagster schedule).

Both set: both must hold. A person named by neither a user id nor a device id matches no
targeting.

Examples
--------
>>> condition("u-1", None)
'user_id = "u-1"'
>>> condition(None, 'd"1')
'device_id = "d\\\\"1"'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, select

from growthos_pipeline.catalog.tables import segments
from growthos_pipeline.errors import BadRequest
from growthos_pipeline.lake.derived import scan_table
from growthos_pipeline.query.run import run
from growthos_pipeline.segments import SEGMENT_MEMBERS, validate_filter
from growthos_pipeline.settings import Settings


def validate(conn: Connection, project_id: str, targeting: Any) -> None:
    """400 ``invalid_targeting_filter`` for a filter that is not one compiling condition,
    400 ``unknown_segment`` for a segment that is not the project's."""
    if targeting.filter is not None:
        try:
            validate_filter(targeting.filter, targeting.window_days, project_id)
        except BadRequest as err:
            raise BadRequest(
                "invalid_targeting_filter",
                err.message,
                details=[{**d, "field": "config.targeting.filter"} for d in err.details],
            ) from None
    if targeting.segment_id is not None:
        found = conn.execute(
            select(segments.c.id).where(
                segments.c.project_id == project_id, segments.c.id == targeting.segment_id
            )
        ).first()
        if found is None:
            raise BadRequest(
                "unknown_segment",
                f"no segment '{targeting.segment_id}' in this project",
                details=[{"field": "config.targeting.segment_id"}],
            )


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def condition(user_id: str | None, device_id: str | None) -> str:
    """The query-language condition that selects one person's events."""
    parts = []
    if user_id:
        parts.append(f"user_id = {_quoted(user_id)}")
    if device_id:
        parts.append(f"device_id = {_quoted(device_id)}")
    return " or ".join(parts)


def matches(
    settings: Settings,
    project_id: str,
    targeting: Any,
    *,
    user_id: str | None,
    device_id: str | None,
    now: datetime | None = None,
) -> bool:
    """Whether the person is in the targeting's audience (module docstring)."""
    if targeting is None:
        return True
    if not user_id and not device_id:
        return False
    if targeting.segment_id is not None:
        actors = [a for a in (user_id, device_id) if a]
        members = (
            scan_table(settings, SEGMENT_MEMBERS, project_id)
            .filter(
                (pl.col("segment_id") == targeting.segment_id) & pl.col("user_id").is_in(actors)
            )
            .select(pl.len())
            .collect()
            .item()
        )
        if not members:
            return False
    if targeting.filter is not None:
        text = (
            f"{targeting.filter}\n| where {condition(user_id, device_id)}"
            f" | last {targeting.window_days}d | count"
        )
        result = run(settings, project_id, text, now=now, limit=1)
        if not result.frame.height or not result.frame.item(0, 0):
            return False
    return True
