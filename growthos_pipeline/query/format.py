"""Answers as text: ``llm`` (a Markdown table and a footer), ``json``, ``csv``.

Examples
--------
>>> import polars as pl
>>> frame = pl.DataFrame({"_browser": ["Chrome", "Safari"], "count": [120, 45]})
>>> print(markdown(frame, lake_version=7, has_more=False))
| _browser | count |
|---|---|
| Chrome | 120 |
| Safari | 45 |
<BLANKLINE>
2 rows · lake version 7
"""

from __future__ import annotations

import io
import math
from datetime import date, datetime
from typing import Any, Literal

import orjson
import polars as pl

Format = Literal["llm", "json", "csv"]
FORMATS = ("llm", "json", "csv")
MEDIA_TYPES = {
    "llm": "text/markdown; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.6g}" if abs(value) < 1e15 else str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown(
    frame: pl.DataFrame, *, lake_version: int | None, has_more: bool, offset: int = 0
) -> str:
    """A Markdown table with a footer naming the row count and the lake version."""
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.iter_rows():
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    footer = f"{frame.height} row{'s' if frame.height != 1 else ''}"
    if offset:
        footer += f" from offset {offset}"
    if has_more:
        footer += f" (more follow: offset={offset + frame.height})"
    footer += f" · lake version {lake_version if lake_version is not None else 'none (empty)'}"
    return "\n".join(lines) + "\n\n" + footer


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def csv_text(frame: pl.DataFrame) -> str:
    buffer = io.StringIO()
    frame.write_csv(buffer, datetime_format="%Y-%m-%dT%H:%M:%S%.fZ")
    return buffer.getvalue()


def json_bytes(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
