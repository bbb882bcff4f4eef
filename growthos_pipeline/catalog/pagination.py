"""Cursor pagination for every list: ``cursor`` and ``limit`` in, ``data``, ``has_more`` and
``next_cursor`` out. Rows are ordered by their time-ordered id, so pages are stable while rows
are added. The cursor is opaque to callers (base64url of the last id).

Examples
--------
>>> decode_cursor(encode_cursor("proj_01J"))
'proj_01J'
>>> decode_cursor("%%%")
Traceback (most recent call last):
...
growthos_pipeline.errors.BadRequest: invalid_cursor: the cursor is not one this API returned
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, Connection, Select

from growthos_pipeline.errors import BadRequest

T = TypeVar("T")
DEFAULT_LIMIT = 25
MAX_LIMIT = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: str | None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith("v1:") or len(raw) > 200:
        raise BadRequest("invalid_cursor", "the cursor is not one this API returned")
    return raw[3:]


def paginate(
    conn: Connection,
    query: Select[Any],
    id_column: Column[Any],
    *,
    cursor: str | None,
    limit: int,
    convert: Callable[[dict[str, Any]], T],
) -> Page[T]:
    """One page of ``query`` ordered by ``id_column`` ascending."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest("invalid_limit", f"limit must be between 1 and {MAX_LIMIT}, found {limit}")
    if cursor:
        query = query.where(id_column > decode_cursor(cursor))
    rows: Sequence[Any] = conn.execute(query.order_by(id_column).limit(limit + 1)).mappings().all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(str(rows[-1][id_column.name])) if has_more and rows else None
    return Page([convert(dict(r)) for r in rows], has_more, next_cursor)
