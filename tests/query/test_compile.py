"""The compiler: every example compiles and passes the guard; every scan carries the tenant
filter; random and mutated queries never crash the compiler; names get suggestions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from growthos_pipeline.errors import UserError
from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.errors import QueryError
from growthos_pipeline.query.guard import GuardViolation, check
from tests.query.test_parser import EXAMPLES

NOW = datetime(2026, 1, 8, 12, tzinfo=UTC)


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_scan_carries_the_project_filter(text: str) -> None:
    compiled = compile_query(text, "proj_a", now=NOW)
    check(compiled.tree, "proj_a")
    scans = [t for t in compiled.tree.find_all(exp.Table) if t.name == "events"]
    assert scans
    for scan in scans:
        where = scan.find_ancestor(exp.Select).args["where"]  # type: ignore[union-attr]
        assert "project_id\" = 'proj_a'" in where.sql("duckdb")
    with pytest.raises(GuardViolation):
        check(compiled.tree, "proj_b")


def test_the_guard_refuses_foreign_nodes_and_tables() -> None:
    compiled = compile_query("last 7d | count", "proj_a", now=NOW)
    tampered = compiled.tree.copy()
    tampered.find(exp.Table).set("this", exp.to_identifier("read_parquet('/etc/passwd')"))  # type: ignore[union-attr]
    with pytest.raises(GuardViolation):
        check(tampered, "proj_a")
    func = compiled.tree.copy()
    func.find(exp.Count).replace(exp.Anonymous(this="read_csv", expressions=[]))  # type: ignore[union-attr]
    with pytest.raises(GuardViolation):
        check(func, "proj_a")


def test_relative_time_is_resolved_against_now() -> None:
    compiled = compile_query("last 7d | count", "p", now=NOW)
    assert compiled.start == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert compiled.end == NOW
    default = compile_query("count", "p", now=NOW)
    assert (default.end - default.start).days == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('evnt_type = "x"', "unknown column 'evnt_type', did you mean 'event_type'?"),
        ("last 7d | count by _brwoser", "unknown column '_brwoser', did you mean '_browser'?"),
        (
            "last 7d | count by _country | where cuont > 1",
            "unknown column 'cuont', did you mean 'count'?",
        ),
        ("last 7d | last 1d | count", "a query has at most one time range"),
        ("last 7d | count, count", "two columns are named 'count'"),
        ("last 7d | count | sessions", "'sessions' needs event rows"),
        ('last 7d | count by day | funnel "a" -> "b"', "'funnel' needs event rows"),
    ],
)
def test_meaningful_errors(text: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(text, "p", now=NOW)
    assert info.value.message.startswith(message)
    assert info.value.details[0]["line"] == 1


def test_unknown_column_points_at_the_name() -> None:
    with pytest.raises(QueryError) as info:
        compile_query('event_type = "x" | count by _brwoser', "p", now=NOW)
    assert info.value.code == "query_unknown_column"
    assert info.value.details[0]["column"] == 29
    assert info.value.details[0]["length"] == len("_brwoser")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.sampled_from(EXAMPLES),
    st.integers(0, 200),
    st.integers(0, 6),
    st.sampled_from(
        [
            "",
            "|",
            '"',
            "(",
            ")",
            "->",
            "7d",
            "and",
            ",",
            "count",
            "by",
            " x",
            "prop.",
            "sessions",
            "| where count > 1",
            "sort -",
            "top 3",
        ]
    ),
)
def test_mutated_queries_never_crash_the_compiler(
    text: str, at: int, cut: int, insert: str
) -> None:
    at = at % (len(text) + 1)
    mutated = text[:at] + insert + text[at + cut :]
    try:
        compiled = compile_query(mutated, "proj_a", now=NOW)
    except UserError as err:
        assert err.status == 400 and err.details
        return
    check(compiled.tree, "proj_a")
