"""The compiled tree as SQL text for DuckDB, Spark, ClickHouse and Trino.

:func:`render` does three things to a copy of the tree:

1. It expands the compiler's own nodes (:mod:`growthos_pipeline.query.nodes`) into standard
   SQL, one CTE per step, with exactly the semantics of
   :mod:`growthos_pipeline.query.to_polars` (the reference engine):

   * ``FunnelOp``: the actor is ``COALESCE(user_id, device_id)``; the anchor is the actor's
     first step-1 event by ``(time, event_id)`` (and gives the ``by`` group); each next step
     is the earliest matching event strictly after the previous step and at most ``within``
     seconds (compared in microseconds) after the anchor. One row per (group,) step with
     ``users`` and ``conversion = users / users of step 1``.
   * ``RetentionOp``: the cohort is the period of the actor's first start event; a return is a
     returning event at or after that first event, in period ``0..N``; a full cohort x period
     grid with ``pct = 100 * users / cohort_users``.
   * ``SessionsOp``: named session ids are kept; other events are sessionized per actor by a
     gap of more than ``gap`` seconds, with the id ``actor || ':' || <epoch seconds of the
     session start>``.

2. Every property read as a number (``TRY_CAST(... AS DOUBLE)``) is guarded by
   :data:`NUMBER_PATTERN`, so all engines agree on which texts are numbers (DuckDB alone
   would also read ``' 7'`` and ``'1_000'``).

3. Per-dialect fixes where sqlglot's stock output differs from the reference semantics:

   ==========  ================================================================================
   dialect     fixes
   ==========  ================================================================================
   duckdb      none needed
   spark       ``TRY_CAST`` (stock prints ``CAST``, an error in ANSI mode), ``PERCENTILE(x, q)``
               (stock ``PERCENTILE_CONT(x, q)`` does not parse), ``TRY_DIVIDE`` for ``/``
   clickhouse  JSON text through ``JSONType``/``JSONExtractString``/``JSONExtractRaw`` (stock
               ``JSONExtractString`` gives ``''`` for numbers and nulls),
               ``toFloat64OrNull``, ``quantileExactInterpolated(q)(x)``, ``toDateTime64``
               literals (stock casts drop the microseconds)
   trino       exact linear-interpolation percentiles over a sorted array (Trino has only
               ``approx_percentile``), nested JSON values as JSON text
   ==========  ================================================================================

Examples
--------
>>> from datetime import datetime, UTC
>>> from growthos_pipeline.query.compile import compile_query
>>> c = compile_query('last 7d | p50(prop.amount) by _country', "p1",
...                   now=datetime(2026, 1, 8, tzinfo=UTC))
>>> "PERCENTILE(" in render(c, "spark")
True
>>> "quantileExactInterpolated(0.5)" in render(c, "clickhouse")
True
>>> render(c, "duckdb").count("'p1'")
1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark

from growthos_pipeline.query.nodes import FunnelOp, RetentionOp, SessionsOp
from growthos_pipeline.query.to_polars import NUMBER_PATTERN

Dialect = Literal["duckdb", "spark", "clickhouse", "trino"]
DIALECTS: tuple[str, ...] = ("duckdb", "spark", "clickhouse", "trino")


_US_PER_DAY = 86_400_000_000


class SparkSQL(Spark):
    """Spark with ``TRY_CAST`` kept (stock sqlglot prints ``CAST``: an error under ANSI)."""

    class Generator(Spark.Generator):  # type: ignore[misc,valid-type]
        TRANSFORMS = {
            **Spark.Generator.TRANSFORMS,
            exp.TryCast: lambda self, e: f"TRY_CAST({self.sql(e, 'this')} AS {self.sql(e, 'to')})",
        }


_WRITERS: dict[str, Any] = {
    "duckdb": "duckdb",
    "spark": SparkSQL,
    "clickhouse": "clickhouse",
    "trino": "trino",
}


# ---- small builders -----------------------------------------------------------------------------


def _id(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=_id(name), table=_id(table) if table else None)


def _table(name: str, alias: str | None = None) -> exp.Table:
    return exp.Table(this=_id(name), alias=exp.TableAlias(this=_id(alias)) if alias else None)


def _as(node: exp.Expression, name: str) -> exp.Expression:
    return exp.Alias(this=node, alias=_id(name))


def _num(value: int | float) -> exp.Expression:
    return exp.Literal.number(value)


def _paren(node: exp.Expression) -> exp.Paren:
    return exp.Paren(this=node)


def _and(*nodes: exp.Expression) -> exp.Expression:
    out = nodes[0]
    for node in nodes[1:]:
        out = exp.And(this=_paren(out), expression=_paren(node))
    return out


def _not_null(node: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=node, expression=exp.Null()))


def _flag(condition: exp.Expression) -> exp.Expression:
    """A condition with null read as false."""
    return exp.Coalesce(this=_paren(condition.copy()), expressions=[exp.Boolean(this=False)])


def _actor(table: str | None = None) -> exp.Expression:
    return exp.Coalesce(this=_col("user_id", table), expressions=[_col("device_id", table)])


def _order(*names: str, table: str | None = None) -> exp.Order:
    return exp.Order(
        expressions=[exp.Ordered(this=_col(n, table), desc=False, nulls_first=False) for n in names]
    )


def _int_div(left: exp.Expression, right: int) -> exp.Expression:
    return _paren(exp.IntDiv(this=_paren(left), expression=_num(right)))


def epoch_us(node: exp.Expression, dialect: str) -> exp.Expression:
    """Microseconds since the epoch of a timestamp, as a 64-bit integer."""
    if dialect == "duckdb":
        return exp.Anonymous(this="EPOCH_US", expressions=[node])
    if dialect == "spark":
        return exp.Anonymous(this="UNIX_MICROS", expressions=[node])
    if dialect == "clickhouse":
        return exp.Anonymous(this="toUnixTimestamp64Micro", expressions=[node])
    seconds = exp.Anonymous(this="TO_UNIXTIME", expressions=[node])
    micros = exp.Anonymous(
        this="ROUND", expressions=[exp.Mul(this=seconds, expression=_num(1_000_000))]
    )
    return exp.cast(micros, exp.DataType.build("BIGINT"))


def _diff_us(later: exp.Expression, earlier: exp.Expression, dialect: str) -> exp.Expression:
    return _paren(exp.Sub(this=epoch_us(later, dialect), expression=epoch_us(earlier, dialect)))


def _union_all(selects: list[exp.Select]) -> exp.Expression:
    out: exp.Expression = selects[0]
    for select in selects[1:]:
        out = exp.union(out, select, distinct=False)
    return out


# ---- funnel -------------------------------------------------------------------------------------


def _funnel(name: str, node: FunnelOp, dialect: str) -> list[tuple[str, exp.Expression]]:
    source = node.this.name
    steps: list[exp.Expression] = list(node.args["steps"])
    names = [str(n.this) for n in node.args["names"]]
    within_us = int(node.args["within"].to_py()) * 1_000_000
    by = node.args.get("by")
    by_name = node.args["by_name"].name if node.args.get("by_name") is not None else "group"
    flags_name, rank_name, anchors_name = f"{name}_flags", f"{name}_rank", f"{name}_t0"
    columns: list[exp.Expression] = [_as(_actor(), "_actor"), _col("time"), _col("event_id")]
    columns += [_as(_flag(step), f"_s{i}") for i, step in enumerate(steps)]
    if by is not None:
        columns.append(_as(by.copy(), "_group"))
    flags = exp.select(*columns).from_(_table(source)).where(_not_null(_actor()))
    rank = exp.Window(
        this=exp.RowNumber(), partition_by=[_col("_actor")], order=_order("time", "event_id")
    )
    group = [_col("_group")] if by is not None else []
    ranked = (
        exp.select(_col("_actor"), _as(_col("time"), "_t0"), *group, _as(rank, "_rn"))
        .from_(_table(flags_name))
        .where(_col("_s0"))
    )
    anchors = (
        exp.select(_col("_actor"), _col("_t0"), *group)
        .from_(_table(rank_name))
        .where(exp.EQ(this=_col("_rn"), expression=_num(1)))
    )
    ctes: list[tuple[str, exp.Expression]] = [
        (flags_name, flags),
        (rank_name, ranked),
        (anchors_name, anchors),
    ]
    for i in range(1, len(steps)):
        found = (
            exp.select(
                _col("_actor", "r"),
                _col("_t0", "r"),
                _as(exp.Min(this=_col("time", "c")), f"_t{i}"),
            )
            .from_(_table(f"{name}_t{i - 1}", "r"))
            .join(
                _table(flags_name, "c"),
                on=exp.EQ(this=_col("_actor", "c"), expression=_col("_actor", "r")),
            )
            .where(
                _and(
                    _col(f"_s{i}", "c"),
                    exp.GT(this=_col("time", "c"), expression=_col(f"_t{i - 1}", "r")),
                    exp.LTE(
                        this=_diff_us(_col("time", "c"), _col("_t0", "r"), dialect),
                        expression=_num(within_us),
                    ),
                )
            )
            .group_by(_col("_actor", "r"), _col("_t0", "r"))
        )
        ctes.append((f"{name}_t{i}", found))
    counts = exp.select(
        *([_col("_group", "a")] if by is not None else []),
        *(
            _as(exp.Count(this=_col(f"_t{i}", "a" if i == 0 else f"t{i}")), f"_u{i}")
            for i in range(len(steps))
        ),
    ).from_(_table(anchors_name, "a"))
    for i in range(1, len(steps)):
        counts = counts.join(
            _table(f"{name}_t{i}", f"t{i}"),
            on=exp.EQ(this=_col("_actor", f"t{i}"), expression=_col("_actor", "a")),
            join_type="LEFT",
        )
    if by is not None:
        counts = counts.group_by(_col("_group", "a"))
    counts_name = f"{name}_counts"
    ctes.append((counts_name, counts))
    rows = []
    for i, step_name in enumerate(names):
        conversion = exp.Case(
            ifs=[
                exp.If(
                    this=exp.GT(this=_col("_u0"), expression=_num(0)),
                    true=exp.Div(
                        this=exp.cast(_col(f"_u{i}"), exp.DataType.build("DOUBLE")),
                        expression=_col("_u0"),
                    ),
                )
            ]
        )
        rows.append(
            exp.select(
                *([_as(_col("_group"), by_name)] if by is not None else []),
                _as(_num(i + 1), "step"),
                _as(exp.Literal.string(step_name), "step_name"),
                _as(_col(f"_u{i}"), "users"),
                _as(conversion, "conversion"),
            ).from_(_table(counts_name))
        )
    ctes.append((name, _union_all(rows)))
    return ctes


# ---- retention ----------------------------------------------------------------------------------


def _period(
    every: str, cohort: exp.Expression, moment: exp.Expression, dialect: str
) -> exp.Expression:
    if every == "MONTH":
        years = exp.Sub(this=exp.Year(this=moment.copy()), expression=exp.Year(this=cohort.copy()))
        months = exp.Sub(this=exp.Month(this=moment), expression=exp.Month(this=cohort))
        return _paren(
            exp.Add(
                this=exp.Mul(this=_paren(years), expression=_num(12)), expression=_paren(months)
            )
        )
    days = _diff_us(moment, cohort, dialect)
    return _int_div(days, _US_PER_DAY * (7 if every == "WEEK" else 1))


def _retention(name: str, node: RetentionOp, dialect: str) -> list[tuple[str, exp.Expression]]:
    source = node.this.name
    every = node.args["every"].name.upper()
    periods = int(node.args["periods"].to_py())
    unit = exp.var(every)
    base = (
        exp.select(
            _as(_actor(), "_actor"),
            _col("time"),
            _as(_flag(node.args["start"]), "_start"),
            _as(_flag(node.args["returning"]), "_return"),
        )
        .from_(_table(source))
        .where(_not_null(_actor()))
    )
    firsts = (
        exp.select(_col("_actor"), _as(exp.Min(this=_col("time")), "_first"))
        .from_(_table(f"{name}_base"))
        .where(_col("_start"))
        .group_by(_col("_actor"))
    )
    cohorts = exp.select(
        _col("_actor"),
        _col("_first"),
        _as(exp.TimestampTrunc(this=_col("_first"), unit=unit), "cohort"),
    ).from_(_table(f"{name}_first"))
    sizes = (
        exp.select(_col("cohort"), _as(exp.Count(this=exp.Star()), "cohort_users"))
        .from_(_table(f"{name}_cohorts"))
        .group_by(_col("cohort"))
    )
    moment = exp.TimestampTrunc(this=_col("time", "b"), unit=unit.copy())
    hits = (
        exp.select(
            _col("cohort", "f"),
            _col("_actor", "b"),
            _as(_period(every, _col("cohort", "f"), moment, dialect), "period"),
        )
        .from_(_table(f"{name}_base", "b"))
        .join(
            _table(f"{name}_cohorts", "f"),
            on=exp.EQ(this=_col("_actor", "b"), expression=_col("_actor", "f")),
        )
        .where(
            _and(
                _col("_return", "b"),
                exp.GTE(this=_col("time", "b"), expression=_col("_first", "f")),
            )
        )
    )
    returns = (
        exp.select(
            _col("cohort"),
            _col("period"),
            _as(exp.Count(this=exp.Distinct(expressions=[_col("_actor")])), "users"),
        )
        .from_(_table(f"{name}_hits"))
        .where(
            _and(
                exp.GTE(this=_col("period"), expression=_num(0)),
                exp.LTE(this=_col("period"), expression=_num(periods)),
            )
        )
        .group_by(_col("cohort"), _col("period"))
    )
    grid = _union_all(
        [
            exp.select(_as(exp.cast(_num(p), exp.DataType.build("BIGINT")), "period"))
            for p in range(periods + 1)
        ]
    )
    users = exp.Coalesce(this=_col("users", "r"), expressions=[_num(0)])
    pct = exp.Div(
        this=_paren(
            exp.Mul(
                this=exp.cast(users.copy(), exp.DataType.build("DOUBLE")), expression=_num(100.0)
            )
        ),
        expression=_col("cohort_users", "s"),
    )
    final = (
        exp.select(
            _col("cohort", "s"),
            _col("period", "p"),
            _col("cohort_users", "s"),
            _as(users, "users"),
            _as(pct, "pct"),
        )
        .from_(_table(f"{name}_sizes", "s"))
        .join(_table(f"{name}_periods", "p"), join_type="CROSS")
        .join(
            _table(f"{name}_returns", "r"),
            on=_and(
                exp.EQ(this=_col("cohort", "r"), expression=_col("cohort", "s")),
                exp.EQ(this=_col("period", "r"), expression=_col("period", "p")),
            ),
            join_type="LEFT",
        )
    )
    return [
        (f"{name}_base", base),
        (f"{name}_first", firsts),
        (f"{name}_cohorts", cohorts),
        (f"{name}_sizes", sizes),
        (f"{name}_hits", hits),
        (f"{name}_returns", returns),
        (f"{name}_periods", grid),
        (name, final),
    ]


# ---- sessions -----------------------------------------------------------------------------------


def _sessions(name: str, node: SessionsOp, dialect: str) -> list[tuple[str, exp.Expression]]:
    source = node.this.name
    gap_us = int(node.args["gap"].to_py()) * 1_000_000
    keep = ["user_id", "time", "event_id", "event_type"]
    previous = exp.Window(
        this=exp.Lag(this=_col("time")),
        partition_by=[_col("_actor")],
        order=_order("time", "event_id"),
    )
    loose = (
        exp.select(_as(_actor(), "_actor"), *(_col(c) for c in keep))
        .from_(_table(source))
        .where(exp.Is(this=_col("session_id"), expression=exp.Null()))
    )
    lagged = exp.select(_col("_actor"), *(_col(c) for c in keep), _as(previous, "_prev")).from_(
        _table(f"{name}_loose")
    )
    new = exp.Case(
        ifs=[
            exp.If(
                this=exp.Or(
                    this=exp.Is(this=_col("_prev"), expression=exp.Null()),
                    expression=exp.GT(
                        this=_diff_us(_col("time"), _col("_prev"), dialect), expression=_num(gap_us)
                    ),
                ),
                true=_num(1),
            )
        ],
        default=_num(0),
    )
    running = exp.Window(
        this=exp.Sum(this=new),
        partition_by=[_col("_actor")],
        order=_order("time", "event_id"),
        spec=exp.WindowSpec(
            kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
        ),
    )
    numbered = exp.select(_col("_actor"), *(_col(c) for c in keep), _as(running, "_seq")).from_(
        _table(f"{name}_lagged")
    )
    start = exp.Window(this=exp.Min(this=_col("time")), partition_by=[_col("_actor"), _col("_seq")])
    seconds = exp.cast(_int_div(epoch_us(start, dialect), 1_000_000), exp.DataType.build("BIGINT"))
    synthetic = exp.DPipe(
        this=exp.DPipe(this=_col("_actor"), expression=exp.Literal.string(":"), safe=False),
        expression=exp.cast(seconds, exp.DataType.build("VARCHAR")),
        safe=False,
    )
    named = (
        exp.select(_col("session_id"), _col("user_id"), _col("time"), _col("event_type"))
        .from_(_table(source))
        .where(_not_null(_col("session_id")))
    )
    labelled = exp.select(
        _as(synthetic, "session_id"), _col("user_id"), _col("time"), _col("event_type")
    ).from_(_table(f"{name}_numbered"))
    duration = exp.Div(
        this=exp.cast(
            _diff_us(exp.Max(this=_col("time")), exp.Min(this=_col("time")), dialect),
            exp.DataType.build("DOUBLE"),
        ),
        expression=_num(1_000_000.0),
    )
    pageview = exp.Case(
        ifs=[
            exp.If(
                this=exp.EQ(this=_col("event_type"), expression=exp.Literal.string("page_view")),
                true=_num(1),
            )
        ]
    )
    final = (
        exp.select(
            _col("session_id"),
            _as(exp.Min(this=_col("user_id")), "user_id"),
            _as(exp.Min(this=_col("time")), "session_start"),
            _as(exp.Max(this=_col("time")), "session_end"),
            _as(duration, "duration_s"),
            _as(exp.Count(this=exp.Star()), "events"),
            _as(exp.Count(this=pageview), "pageviews"),
        )
        .from_(_table(f"{name}_all"))
        .group_by(_col("session_id"))
    )
    return [
        (f"{name}_loose", loose),
        (f"{name}_lagged", lagged),
        (f"{name}_numbered", numbered),
        (f"{name}_all", _union_all([named, labelled])),
        (name, final),
    ]


# ---- expansion and per-dialect fixes ------------------------------------------------------------


Expander = Callable[[str, Any, str], list[tuple[str, exp.Expression]]]
_EXPANDERS: dict[type[exp.Expression], Expander] = {
    FunnelOp: _funnel,
    RetentionOp: _retention,
    SessionsOp: _sessions,
}


def expand(tree: exp.Select, dialect: str) -> exp.Select:
    """A copy of ``tree`` with funnel, retention and sessions nodes as plain SQL CTEs."""
    out = tree.copy()
    with_ = out.args.get("with_") or out.args.get("with")
    ctes: list[tuple[str, exp.Expression]] = []
    for cte in with_.expressions if with_ is not None else []:
        expander = _EXPANDERS.get(type(cte.this))
        if expander is None:
            ctes.append((cte.alias, cte.this))
        else:
            ctes.extend(expander(cte.alias, cte.this, dialect))
    out.set("with_", None)
    out.set("with", None)
    for name, body in ctes:
        out = out.with_(_id(name), as_=body, copy=False)
    return out


def _replace(node: exp.Expression, build: Any) -> None:
    """Replace ``node`` by ``build(node)`` (which may contain ``node`` itself)."""
    placeholder = exp.Null()
    node.replace(placeholder)
    placeholder.replace(build(node))


def _guard_numbers(tree: exp.Expression) -> None:
    for cast in list(tree.find_all(exp.TryCast)):

        def guarded(node: exp.Expression) -> exp.Expression:
            test = exp.RegexpLike(
                this=node.this.copy(), expression=exp.Literal.string(NUMBER_PATTERN)
            )
            return exp.Case(ifs=[exp.If(this=test, true=node)])

        _replace(cast, guarded)


def _fix_spark(tree: exp.Expression) -> None:
    for node in list(tree.find_all(exp.PercentileCont)):
        _replace(
            node, lambda n: exp.Anonymous(this="PERCENTILE", expressions=[n.this, n.expression])
        )
    for div in list(tree.find_all(exp.Div)):
        if div.args.get("safe"):
            _replace(
                div, lambda n: exp.Anonymous(this="TRY_DIVIDE", expressions=[n.this, n.expression])
            )


def _clickhouse_json(node: exp.JSONExtractScalar) -> exp.Expression:
    keys = [
        exp.Literal.string(str(k.this))
        for k in node.expression.expressions
        if isinstance(k, exp.JSONPathKey)
    ]

    def call(func: str) -> exp.Expression:
        return exp.Anonymous(this=func, expressions=[node.this.copy(), *(k.copy() for k in keys)])

    kind = call("JSONType")
    return exp.Anonymous(
        this="multiIf",
        expressions=[
            exp.EQ(this=kind.copy(), expression=exp.Literal.string("Null")),
            exp.Null(),
            exp.EQ(this=kind, expression=exp.Literal.string("String")),
            call("JSONExtractString"),
            call("JSONExtractRaw"),
        ],
    )


def _fix_clickhouse(tree: exp.Expression) -> None:
    for extract in list(tree.find_all(exp.JSONExtractScalar)):
        _replace(extract, _clickhouse_json)
    for try_cast in list(tree.find_all(exp.TryCast)):
        _replace(try_cast, lambda n: exp.Anonymous(this="toFloat64OrNull", expressions=[n.this]))
    for percentile in list(tree.find_all(exp.PercentileCont)):
        _replace(
            percentile,
            lambda n: exp.ParameterizedAgg(
                this="quantileExactInterpolated", expressions=[n.expression], params=[n.this]
            ),
        )
    for cast in list(tree.find_all(exp.Cast)):
        inner, target = cast.this, cast.to.this
        if not (isinstance(inner, exp.Literal) and inner.is_string):
            continue
        if target in (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMP):
            text = inner.this.removesuffix("+00:00")
            cast.replace(
                exp.Anonymous(
                    this="toDateTime64",
                    expressions=[exp.Literal.string(text), _num(6), exp.Literal.string("UTC")],
                )
            )
        elif target == exp.DataType.Type.DATE:
            cast.replace(exp.Anonymous(this="toDate", expressions=[inner.copy()]))


_TRINO_QUANTILE = (
    "CASE WHEN CARDINALITY(__s) = 0 THEN NULL ELSE "
    "ELEMENT_AT(__s, CAST(FLOOR(__q * (CARDINALITY(__s) - 1)) AS BIGINT) + 1) + "
    "(__q * (CARDINALITY(__s) - 1) - FLOOR(__q * (CARDINALITY(__s) - 1))) * "
    "(ELEMENT_AT(__s, CAST(CEIL(__q * (CARDINALITY(__s) - 1)) AS BIGINT) + 1) - "
    "ELEMENT_AT(__s, CAST(FLOOR(__q * (CARDINALITY(__s) - 1)) AS BIGINT) + 1)) END"
)


def _trino_quantile(node: exp.PercentileCont) -> exp.Expression:
    values = sqlglot.parse_one(
        "ARRAY_SORT(FILTER(ARRAY_AGG(__x), v -> v IS NOT NULL))", read="trino"
    )
    values = values.transform(
        lambda n: node.this.copy() if isinstance(n, exp.Column) and n.name == "__x" else n
    )
    template = sqlglot.parse_one(_TRINO_QUANTILE, read="trino")
    out: exp.Expression = template.transform(
        lambda n: (
            values.copy()
            if isinstance(n, exp.Column) and n.name == "__s"
            else node.expression.copy()
            if isinstance(n, exp.Column) and n.name == "__q"
            else n
        )
    )
    return out


def _trino_json(node: exp.JSONExtractScalar) -> exp.Expression:
    raw = exp.Anonymous(
        this="JSON_FORMAT",
        expressions=[
            exp.Anonymous(
                this="JSON_EXTRACT", expressions=[node.this.copy(), node.expression.copy()]
            )
        ],
    )
    nested = exp.Case(
        ifs=[exp.If(this=exp.NEQ(this=raw.copy(), expression=exp.Literal.string("null")), true=raw)]
    )
    return exp.Coalesce(this=node, expressions=[nested])


def _fix_trino(tree: exp.Expression) -> None:
    for percentile in list(tree.find_all(exp.PercentileCont)):
        _replace(percentile, _trino_quantile)
    for extract in list(tree.find_all(exp.JSONExtractScalar)):
        _replace(extract, _trino_json)


_FIXES = {"spark": _fix_spark, "clickhouse": _fix_clickhouse, "trino": _fix_trino}


def prepare(compiled_or_tree: Any, dialect: str) -> exp.Select:
    """The tree with custom nodes expanded and the fixes for ``dialect`` applied."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; one of {', '.join(DIALECTS)}")
    tree = getattr(compiled_or_tree, "tree", compiled_or_tree)
    if not isinstance(tree, exp.Select):
        raise TypeError("render takes a Compiled query or its sqlglot Select")
    out = expand(tree, dialect)
    _guard_numbers(out)
    fix = _FIXES.get(dialect)
    if fix is not None:
        fix(out)
    return out


def render(compiled_or_tree: Any, dialect: str, *, pretty: bool = False) -> str:
    """SQL text for ``dialect`` (``duckdb``, ``spark``, ``clickhouse`` or ``trino``)."""
    return prepare(compiled_or_tree, dialect).sql(dialect=_WRITERS[dialect], pretty=pretty)
