"""One compiled tree, several engines, the same rows.

Every DSL.md example and a set of queries covering every feature of the language run on Polars
(the reference, over ``scan_delta``) and on DuckDB (the rendered SQL over the same Delta
snapshot) with a fixed ``now``; the rows must be equal, in the same order (every compiled query
defines a total order), floats within a small relative tolerance. A slow test does the same on
local Spark for the examples. The rendered SQL of every dialect filters each scan to the
project, and DuckDB refuses to read files once it is set up.
"""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest
import sqlglot
from sqlglot import exp

from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.dialects import DIALECTS, prepare, render
from growthos_pipeline.query.engines import duckdb_connection, execute
from growthos_pipeline.settings import Settings
from tests.query.lake_fixture import NOW, build_lake
from tests.query.test_parser import EXAMPLES

EXTRA = [
    # comparison operators on columns, numbers read from JSON and times
    "prop.amount = 10 | last 60d | count by event_type",
    "prop.amount == 55.5 | last 60d | count by _country",
    "prop.amount != 10 | last 60d | count, sum(prop.amount) by event_type",
    "prop.amount < 0 or prop.amount <= 7 | last 60d | count by prop.amount",
    "prop.amount > 50 and prop.amount >= 51 | last 60d | count by prop.amount",
    '_browser > "F" and _browser <= "Safari" | last 60d | count by _browser',
    "time >= 2026-01-01 and time < 2026-01-05T12:30 | count by day",
    "user.age > 30 | last 60d | count by user.age",
    # in / not in, strings and numbers
    "prop.amount in (10, 120, 42.5) | last 60d | count by prop.amount",
    'prop.coupon not in ("XMAS", "") | last 60d | count by prop.coupon',
    '_country in ("US", "DE", "FR") | last 60d | count by _country, _device_type',
    # string matchers with and without not
    'prop.coupon contains "IP" | last 60d | count by prop.coupon',
    'not prop.coupon contains "IP" | last 60d | count by prop.coupon',
    '_path not contains "blog" | last 60d | count by _path',
    '_path startswith "/docs" | last 60d | count by _path',
    '_path not startswith "/blog" | last 60d | count by _path',
    '_path endswith "abc" | last 60d | count by _path',
    '_path not endswith "c" | last 60d | count by _path',
    '_path matches "(?i)^/blog/z" | last 60d | count by _path',
    '_path not matches "^/(blog|docs)" | last 60d | count by _path',
    '_referrer matches "google\\\\.com" | last 60d | count by _referrer',
    # exists / missing
    "prop.coupon exists | last 60d | count by prop.coupon",
    "prop.amount missing | last 60d | count by event_type",
    'prop["weird key"] exists | last 60d | count by prop["weird key"]',
    "user.plan missing and _referrer exists | last 60d | count by _referrer",
    "prop.item.tags exists | last 60d | count by prop.item.tags",
    # arithmetic
    "prop.amount * 2 + 1 > 100 | last 60d | count by prop.amount",
    "-prop.amount < -100 | last 60d | count by prop.amount",
    "prop.amount / (prop.item.qty - 1) > 10 | last 60d | count",
    "last 60d | sum(prop.amount * prop.item.qty) as total, avg(prop.amount / 2) by _country",
    # every aggregate
    "last 60d | count, count(prop.coupon), uniq(device_id), uniq(user_id), sum(prop.amount), "
    "avg(prop.amount), min(prop.amount), max(prop.amount), median(prop.amount), "
    "p50(prop.amount), p99(prop.amount), p1(prop.item.qty) by _device_type",
    "last 60d | min(time) as first, max(time) as last, min(_path), max(_path) by _country",
    'event_type = "purchase" | last 60d | p95(prop.amount) as p, median(prop.amount) as m',
    'event_type = "nothing" | last 60d | count, sum(prop.amount), avg(prop.amount)',
    # every time bucket
    'event_type = "purchase" | last 3d | count by minute',
    "last 7d | count, uniq(user_id) as users by hour",
    "last 60d | count by day, _browser",
    "last 60d | count by week",
    "from 2025-11-01 to 2026-01-12 | count, sum(prop.amount) as revenue by month, _country",
    # sort / top / limit / select and post-aggregation where
    "last 60d | count by _path | sort _path",
    "last 60d | count by _path | sort -count, _path desc",
    "last 60d | count by _country, _os | sort _country asc, count desc | limit 7",
    "last 60d | count by user_id | top 15",
    "last 60d | uniq(user_id) as users by _path | top 3 by users",
    'event_type = "purchase" | last 60d | select time, user_id, device_id, prop.amount, '
    "prop.item.sku as sku, user.plan | limit 50",
    'event_type = "purchase" | last 60d | select time, _path, prop.amount as amount '
    "| sort amount desc | limit 25",
    "last 60d | select user_id, _country, prop.amount * 2 as double | sort -double | limit 30",
    "last 60d | sort -time | limit 10 | select time, event_type, session_id",
    'last 60d | count by _country | where count > 100 and _country != "FR"',
    "last 60d | count, avg(prop.amount) as a by event_type | where a > 0 | sort a",
    "last 60d | count by prop.flag, prop.item.sku",
    # identity: events before login count for the user
    "last 60d | uniq(user_id) as users, uniq(device_id) as devices, count by event_type",
    "user_id missing | last 60d | count by _browser",
    # funnels
    'last 60d | funnel "page_view" -> "click" -> "add_to_cart" -> "checkout" -> "purchase" '
    "within 2h",
    'last 60d | funnel "page_view" -> "purchase" within 3d by _country',
    'last 60d | funnel "signup" -> ("purchase" = event_type and prop.amount > 20) within 7d '
    "by user.plan",
    'event_type = "nothing" | last 60d | funnel "a" -> "b"',
    'last 60d | funnel "page_view" -> "page_view" -> "page_view" within 30m by _device_type',
    # retention every day / week / month
    'last 21d | retention "page_view" every day periods 7',
    'last 60d | retention "signup"',
    'from 2025-11-17 to 2026-01-12 | retention "page_view" -> "purchase" every month periods 2',
    'last 60d | retention ("purchase" = event_type and prop.amount > 50) -> "page_view" '
    "every week periods 3",
    # sessions
    "last 60d | sessions",
    "last 14d | sessions | where pageviews > 0 | count, avg(duration_s), max(duration_s), "
    "sum(pageviews) by user_id | top 20",
    "last 60d | sessions | sort -duration_s, session_id | limit 25",
    '_device_type = "mobile" | last 60d | sessions | count, median(events), p99(duration_s)',
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_lake(Path(tmp_path_factory.mktemp("lake")))


def assert_same_rows(left: pl.DataFrame, right: pl.DataFrame, query: str) -> None:
    assert left.columns == right.columns, query
    assert left.height == right.height, (query, left, right)
    for name in left.columns:
        a, b = left[name], right[name]
        if a.null_count() == len(a) and b.null_count() == len(b):
            continue  # an all-null column (profile.x) has no dtype to compare
        assert a.dtype == b.dtype, (query, name, a.dtype, b.dtype)
        if a.dtype == pl.Float64:
            for index, (x, y) in enumerate(zip(a.to_list(), b.to_list(), strict=True)):
                same = (x is None and y is None) or (
                    x is not None
                    and y is not None
                    and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
                )
                assert same, (query, name, index, x, y)
        else:
            assert a.to_list() == b.to_list(), (query, name, left, right)


def _queries() -> list[str]:
    return [*EXAMPLES, *EXTRA]


@pytest.mark.parametrize("text", _queries())
def test_polars_and_duckdb_return_the_same_rows(lake: Settings, text: str) -> None:
    compiled = compile_query(text, "p1", now=NOW)
    polars_rows = execute(compiled, engine="polars", settings=lake)
    duckdb_rows = execute(compiled, engine="duckdb", settings=lake)
    assert polars_rows.height > 0, "the data should exercise the query"
    assert_same_rows(polars_rows, duckdb_rows, text)


@pytest.mark.parametrize("project", ["p2", "p3", "nobody"])
def test_other_projects_and_older_snapshots(lake: Settings, project: str) -> None:
    for text in [EXAMPLES[3], *EXAMPLES[-4:]]:
        compiled = compile_query(text, project, now=NOW)
        for version in (None, 0):  # the latest snapshot, and the empty table at version 0
            assert_same_rows(
                execute(compiled, engine="polars", settings=lake, as_of=version),
                execute(compiled, engine="duckdb", settings=lake, as_of=version),
                text,
            )


def test_retried_events_count_once_and_the_same_copy_is_kept(lake: Settings) -> None:
    text = "last 60d | count, uniq(insert_id) as ids, uniq(event_id) as events"
    compiled = compile_query(text, "p1", now=NOW)
    row = execute(compiled, engine="polars", settings=lake).row(0, named=True)
    assert row["count"] == row["ids"] == row["events"]
    listing = compile_query("last 60d | select event_id, insert_id | sort insert_id", "p1", now=NOW)
    assert_same_rows(
        execute(listing, engine="polars", settings=lake),
        execute(listing, engine="duckdb", settings=lake),
        "event ids",
    )


@pytest.mark.slow
def test_spark_returns_the_same_rows(lake: Settings) -> None:
    pytest.importorskip("pyspark")
    for text in EXAMPLES:
        compiled = compile_query(text, "p1", now=NOW)
        assert_same_rows(
            execute(compiled, engine="polars", settings=lake),
            execute(compiled, engine="spark", settings=lake),
            text,
        )


# ---- the rendered SQL -------------------------------------------------------------------------


def _scans(tree: exp.Expression) -> list[exp.Select]:
    return [t.find_ancestor(exp.Select) for t in tree.find_all(exp.Table) if t.name == "events"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_scan_in_the_rendered_sql_is_filtered_to_the_project(dialect: str) -> None:
    for text in _queries():
        compiled = compile_query(text, "proj_9", now=NOW)
        sql = render(compiled, dialect)
        trees = [prepare(compiled, dialect)]
        if dialect in ("duckdb", "spark"):  # the engines run here: the text says the same
            trees.append(sqlglot.parse_one(sql, read=dialect))
        for tree in trees:
            scans = _scans(tree)
            assert scans, text
            for select in scans:
                where = select.args.get("where")
                assert where is not None, sql
                filters = [
                    eq
                    for eq in where.find_all(exp.EQ)
                    if eq.this.name == "project_id" and eq.expression.name == "proj_9"
                ]
                assert filters, select.sql()
        assert "'proj_9'" in sql and "'p1'" not in sql


def test_percentiles_and_casts_are_fixed_per_dialect() -> None:
    compiled = compile_query("last 7d | p95(prop.amount) by _country", "p1", now=NOW)
    assert "PERCENTILE(" in render(compiled, "spark")
    assert "TRY_CAST(" in render(compiled, "spark")
    clickhouse = render(compiled, "clickhouse")
    assert "quantileExactInterpolated(0.95)" in clickhouse
    assert "toFloat64OrNull(" in clickhouse and "JSONExtractRaw(" in clickhouse
    assert "approx" not in render(compiled, "trino").lower()


def test_duckdb_refuses_files_after_setup(lake: Settings, tmp_path: Path) -> None:
    import duckdb

    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    con = duckdb_connection(None)
    try:
        for sql in (
            f"SELECT * FROM read_csv('{secret}')",
            "SELECT * FROM read_parquet('/etc/passwd')",
            "SELECT * FROM read_text('/etc/passwd')",
            f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
            "INSTALL httpfs",
            "SET enable_external_access = true",
            "ATTACH '/tmp/other.duckdb'",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        assert not (tmp_path / "out.csv").exists()
        assert con.execute("SELECT count(*) FROM events").fetchone() == (0,)
    finally:
        con.close()
