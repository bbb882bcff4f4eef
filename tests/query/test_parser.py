"""The parser: every DSL.md example parses; errors carry code, position, expected, hints; no
query text makes it crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthos_pipeline.errors import UserError
from growthos_pipeline.query import ast
from growthos_pipeline.query.errors import QueryError
from growthos_pipeline.query.parser import parse

EXAMPLES = [
    'event_type = "page_view" | last 7d | count by _browser',
    'event_type = "page_view" and _country in ("US", "DE") | last 30d | count, '
    "uniq(user_id) as users by day",
    '_path startswith "/blog" and not _device_type = "tablet" | from 2025-12-01 to 2026-01-01 '
    "| count by week, _path",
    'event_type = "purchase" | last 30d | sum(prop.amount) as revenue, avg(prop.amount), '
    "p95(prop.amount) by _country | sort revenue desc",
    "prop.coupon exists and prop.amount > 50 | last 14d | count by prop.coupon",
    'prop.coupon missing or _referrer = "" | last 7d | count by _os',
    '_path matches "^/blog/[a-z]+$" | last 30d | uniq(session_id) as sessions by hour '
    "| top 5 by sessions",
    'event_type = "page_view" | last 30d | count by _country | where count > 100',
    "last 7d | count by user.plan, _device_type",
    'event_type = "purchase" | last 30d | count, uniq(user_id) as buyers by profile.plan',
    'event_type = "checkout" | last 1d | select time, user_id, _path, prop.item.sku as sku '
    "| limit 20",
    "last 30d | min(time) as first_seen, max(time) as last_seen, count by user_id "
    "| top 10 by count",
    'event_type not in ("click", "page_view") | last 7d | count by event_type, _device_type '
    "| limit 10",
    'last 30d | funnel "page_view" -> "add_to_cart" -> "purchase" within 1d',
    '_country = "US" | last 30d | funnel (event_type = "page_view" and _path = "/pricing") '
    '-> "signup" -> "purchase" within 7d',
    'from 2025-11-17 to 2026-01-12 | retention "signup" -> "purchase" every week periods 6',
    "last 7d | sessions | where events >= 2 | count, avg(duration_s) as avg_duration, p90(events)",
]


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_example_of_the_spec_parses(text: str) -> None:
    query = parse(text)
    assert query.stages
    for stage in query.stages:  # every node keeps a span inside the text
        assert 0 <= stage.span.offset <= stage.span.end <= len(text)


def test_the_seed_query_tree() -> None:
    query = parse('event_type = "page_view" | last 7d | count by _browser')
    where, last, agg = query.stages
    assert isinstance(where, ast.Where) and isinstance(where.condition, ast.Binary)
    assert where.condition.left == ast.Path(("event_type",), ast.Span(0, 10))
    assert isinstance(last, ast.Last) and last.duration.seconds == 7 * 86400
    assert isinstance(agg, ast.Aggregate)
    assert agg.aggs[0].func == "count" and agg.groups[0].expr.parts == ("_browser",)  # type: ignore[union-attr]


def test_precedence_and_paths() -> None:
    cond = parse('prop.a + 2 * 3 > 7 or not user["plan"] = "pro" and x = 1').stages[0]
    assert isinstance(cond, ast.Where)
    top = cond.condition
    assert isinstance(top, ast.Binary) and top.op == "or"
    assert isinstance(top.right, ast.Binary) and top.right.op == "and"
    left = top.left
    assert isinstance(left, ast.Binary) and left.op == ">"
    assert isinstance(left.left, ast.Binary) and left.left.op == "+"
    assert isinstance(left.left.right, ast.Binary) and left.left.right.op == "*"


def test_funnel_and_retention_details() -> None:
    funnel = parse('last 30d | funnel "a" -> ("b" = event_type) -> "c" within 2h by _os').stages[1]
    assert isinstance(funnel, ast.Funnel)
    assert [s.name for s in funnel.steps] == ["a", '"b" = event_type', "c"]
    assert funnel.within is not None and funnel.within.seconds == 7200
    retention = parse('last 30d | retention "signup"').stages[1]
    assert isinstance(retention, ast.Retention)
    assert (retention.every, retention.periods, retention.returning) == ("week", 8, None)


def error_of(text: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse(text)
    return info.value


def test_missing_unit_error_matches_the_spec() -> None:
    err = error_of('event_type = "page_view" | last 7 | count by _browser')
    assert err.code == "query_syntax_error"
    assert err.status == 400
    assert err.details == [
        {
            "line": 1,
            "column": 33,
            "offset": 32,
            "length": 1,
            "expected": ["7d", "24h", "30m", "2w"],
            "hint": "write 7d for days",
        }
    ]
    assert err.render().splitlines()[0] == "syntax error: 'last' needs a unit, found '7'"


def test_two_filters_without_and_get_a_hint() -> None:
    err = error_of('event_type = "signup" _country = "US" | count')
    assert err.details[0]["column"] == 23
    assert "and" in err.details[0]["expected"]
    assert "joined with 'and'" in err.details[0]["hint"]


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ('_path matches "([a-z"', 15, "does not compile"),
        ("last 7d | count by", 19, "expected a value or a column"),
        ('event_type = "x" | event_type = "y"', 20, "expected a stage"),
        ('event_type = "unterminated', 14, "unterminated string"),
        ("last 7x", 7, "unknown duration unit"),
        ("from 2025-13-01", 6, "not a valid date"),
        ("sum by x", 1, "needs a column"),
        ("", 1, "empty"),
        ('last 30d | funnel "a"', 22, "at least two steps"),
        ("x = 1 | limit ten", 15, "whole number"),
    ],
)
def test_errors_point_at_the_problem(text: str, column: int, fragment: str) -> None:
    err = error_of(text)
    assert err.details[0]["column"] == column, err.render()
    assert fragment in err.message


_PIECES = [
    *"abc_ .\"'|()=<>!,-+*/[]#\n0123456789dTZ:",
    *["last ", "count", " by ", " and ", "funnel ", "->", " in ", "where ", "p95"],
    "2025-12-01",
]


@settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_random_text_never_crashes(text: str) -> None:
    try:
        parse(text)
    except UserError as err:
        assert err.status == 400 and err.details


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.sampled_from(EXAMPLES),
    st.integers(0, 200),
    st.integers(1, 5),
    st.sampled_from(["", "|", '"', "(", ")", "->", "7", "and", ",", "#"]),
)
def test_mutated_examples_never_crash(text: str, at: int, cut: int, insert: str) -> None:
    at = at % (len(text) + 1)
    mutated = text[:at] + insert + text[at + cut :]
    try:
        parse(mutated)
    except UserError as err:
        assert err.status == 400 and err.details
