"""Filters on JSON properties: the literal prefilter never changes an answer.

The prefilter keeps rows whose text contains ``"key"``; these rows put that text where it is
not the key (a value, a nested key, an escaped quote), or the key with a null, a string or a
number, and every query must answer as DuckDB does (it parses every row).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import polars as pl
import pytest
import sqlglot
from deltalake import write_deltalake

from growthos_pipeline.events.model import LAKE_SCHEMA, PARTITION_BY
from growthos_pipeline.lake.tables import ensure_events_table, events_uri
from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.engines import execute
from growthos_pipeline.query.json_filter import required_keys
from growthos_pipeline.settings import Settings

NOW = datetime(2026, 1, 8, tzinfo=UTC)
PROPERTIES: list[object] = [
    {"coupon": "A", "amount": 60},
    {"coupon": "B", "amount": "70.5"},
    {"coupon": None, "amount": 80},
    {"coupon": "", "amount": 90},
    {"note": "coupon", "amount": 99},
    {"note": '"coupon"', "amount": 99},
    {"item": {"coupon": "C"}, "amount": 99},
    {"coupons": ["D"], "amount": 99},
    {"coupon": "E", "amount": " 7"},
    {"coupon": "F", "amount": "x"},
    {"coupon": "G", "amount": True},
    {"coupon": "H"},
    {"amount": 51},
    {"caf\u00e9": "I", "amount": 52},
    {},
    None,
]
QUERIES = [
    "prop.coupon exists and prop.amount > 50 | last 7d | count by prop.coupon",
    "prop.coupon exists | last 7d | count by prop.coupon",
    "prop.coupon missing | last 7d | count",
    'prop.coupon = "A" or prop.amount > 95 | last 7d | count by prop.coupon',
    'prop.coupon in ("A", "") | last 7d | count by prop.coupon',
    'not prop.coupon contains "A" | last 7d | count by prop.coupon',
    'prop.item.coupon startswith "C" | last 7d | count',
    'prop["caf\u00e9"] exists | last 7d | count',
    "prop.amount * 2 > 100 and prop.coupon exists | last 7d | count by prop.amount",
    "prop.coupon exists or _country exists | last 7d | count by prop.coupon",
]


def _text(properties: object) -> str | None:
    """The property text as ingest writes it (orjson), or no properties at all."""
    return None if properties is None else orjson.dumps(properties).decode()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("json")))
    ensure_events_table(events_uri(settings))
    day = date(2026, 1, 5)
    start = datetime(2026, 1, 5, 10, tzinfo=UTC)
    n = len(PROPERTIES)
    frame = pl.DataFrame(
        {
            "project_id": "p1",
            "event_date": day,
            "event_id": [f"e{i:02d}" for i in range(n)],
            "insert_id": [f"i{i:02d}" for i in range(n)],
            "event_type": "purchase",
            "time": [start + timedelta(seconds=i) for i in range(n)],
            "received_at": start,
            "source": "growthos",
            "_country": "US",
            "event_properties": [_text(p) for p in PROPERTIES],
        }
    )
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in LAKE_SCHEMA.names if c not in frame]
    table = frame.with_columns(missing).select(LAKE_SCHEMA.names).to_arrow().cast(LAKE_SCHEMA)
    write_deltalake(events_uri(settings), table, mode="append", partition_by=PARTITION_BY)
    return settings


@pytest.mark.parametrize("text", QUERIES)
def test_json_filters_answer_as_duckdb_does(lake: Settings, text: str) -> None:
    compiled = compile_query(text, "p1", now=NOW)
    polars_rows = execute(compiled, engine="polars", settings=lake)
    assert polars_rows.height > 0
    assert polars_rows.rows() == execute(compiled, engine="duckdb", settings=lake).rows()


def _where(text: str) -> sqlglot.exp.Expression:
    tree = compile_query(text, "p1", now=NOW).tree
    cte = next(c for c in tree.args["with_"].expressions if c.alias == "_s1")
    return cte.this.args["where"].this


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("prop.coupon exists and prop.amount > 50", {"coupon", "amount"}),
        ("prop.coupon exists or prop.amount > 50", set()),
        ("prop.coupon exists or prop.coupon = 1", {"coupon"}),
        ("prop.coupon missing", set()),
        ('not prop.coupon = "A"', set()),
        ("prop.coupon not in (1, 2)", set()),
        ('prop.item.sku matches "a"', {"item", "sku"}),
        ("-prop.amount / 2 < 0", {"amount"}),
        ('prop["a\\"b"] exists', set()),
        ("user.plan exists", {"plan"}),
    ],
)
def test_required_keys(text: str, keys: set[str]) -> None:
    found = required_keys(_where(f"{text} | last 7d | count"))
    assert {key for _, key in found} == keys
