"""The compiler: a parsed query -> one sqlglot expression, with the project filter injected.

The tree is a chain of CTEs, one per step of the pipeline, ending in ``SELECT * FROM <last>``:

===============  ===========================================================================
CTE              what it holds
===============  ===========================================================================
``_events``      the project's events in the time range, one row per (event_date, insert_id)
``_ids``         device -> user from identify/alias calls (only when users are counted)
``_base``        events with ``user_id`` resolved through ``_ids``
``_profiles``    the project's rows of the derived ``profiles`` table (only for profile.*)
``_pbase``       ``_base`` with the user's profile properties, hidden (only for profile.*)
``_s1`` ...      one per stage: filter, aggregate, select, sort/top/limit, or a
                 funnel / retention / sessions node (:mod:`growthos_pipeline.query.nodes`)
===============  ===========================================================================

Every scan of ``events`` carries ``project_id = <the caller's project>``: callers cannot
forget it, and :mod:`growthos_pipeline.query.guard` checks it again.

Relative time (``last 7d``, the default ``last 30d``) is resolved against ``now`` here, so the
tree holds UTC literals only.

Examples
--------
>>> from datetime import datetime, UTC
>>> c = compile_query('event_type = "page_view" | last 7d | count by _browser', "proj_1",
...                   now=datetime(2026, 1, 8, tzinfo=UTC))
>>> c.columns
['_browser', 'count']
>>> sql = c.tree.sql("duckdb")
>>> "project_id" in sql and "'proj_1'" in sql
True
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal as TypingLiteral
from typing import cast

from sqlglot import exp

from growthos_pipeline.query import ast
from growthos_pipeline.query.errors import QueryError
from growthos_pipeline.query.nodes import FunnelOp, RetentionOp, SessionsOp
from growthos_pipeline.query.parser import parse

Kind = TypingLiteral["string", "number", "time", "date", "bool", "json", "null", "any"]

#: The columns of ``events`` a query may name, with their kinds.
EVENT_COLUMNS: dict[str, Kind] = {
    "event_id": "string",
    "insert_id": "string",
    "event_type": "string",
    "user_id": "string",
    "device_id": "string",
    "session_id": "string",
    "time": "time",
    "received_at": "time",
    "event_date": "date",
    "source": "string",
    "library": "string",
    "_browser": "string",
    "_os": "string",
    "_device_type": "string",
    "_path": "string",
    "_url": "string",
    "_referrer": "string",
    "_country": "string",
}
JSON_ROOTS = {"prop": "event_properties", "user": "user_properties"}
#: The hidden column of the base relation holding the user's profile properties (JSON text).
PROFILE_COLUMN = "_profile"
#: Columns the base CTE carries (the property columns are read through JSON paths).
BASE_COLUMNS = [*EVENT_COLUMNS, "event_properties", "user_properties"]
SESSION_COLUMNS: dict[str, Kind] = {
    "session_id": "string",
    "user_id": "string",
    "session_start": "time",
    "session_end": "time",
    "duration_s": "number",
    "events": "number",
    "pageviews": "number",
}
FUNNEL_COLUMNS: dict[str, Kind] = {
    "step": "number",
    "step_name": "string",
    "users": "number",
    "conversion": "number",
}
RETENTION_COLUMNS: dict[str, Kind] = {
    "cohort": "time",
    "period": "number",
    "cohort_users": "number",
    "users": "number",
    "pct": "number",
}
DEFAULT_RANGE = timedelta(days=30)
BUCKET_UNITS = {"minute": "MINUTE", "hour": "HOUR", "day": "DAY", "week": "WEEK", "month": "MONTH"}
MAX_LIMIT = 1_000_000


@dataclass
class Compiled:
    """A compiled query: the sqlglot tree and what it produces."""

    tree: exp.Select
    columns: list[str]
    project_id: str
    start: datetime
    end: datetime
    text: str
    #: Columns of the output that are time buckets (for plots).
    buckets: list[str] = field(default_factory=list)
    shape: str = "rows"  # rows | aggregate | funnel | retention | sessions


@dataclass
class _Relation:
    """What the current CTE offers to the next stage."""

    name: str
    columns: dict[str, Kind]
    raw: bool  # event rows (paths like prop.x resolve); False after an aggregation
    order: list[exp.Ordered]
    buckets: list[str] = field(default_factory=list)
    #: Columns carried for ordering only (not in the output).
    hidden: list[str] = field(default_factory=list)

    @property
    def carried(self) -> list[str]:
        return [*self.columns, *self.hidden]


def _id(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=_id(name), table=_id(table) if table else None)


def _ts(moment: datetime) -> exp.Cast:
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00:00"
    return exp.cast(exp.Literal.string(text), exp.DataType.build("TIMESTAMPTZ"))


def _date(moment: datetime) -> exp.Cast:
    return exp.cast(
        exp.Literal.string(moment.astimezone(UTC).strftime("%Y-%m-%d")), exp.DataType.build("DATE")
    )


def _paren(node: exp.Expression) -> exp.Expression:
    return exp.Paren(this=node)


def _json_path(keys: tuple[str, ...]) -> exp.JSONPath:
    return exp.JSONPath(expressions=[exp.JSONPathRoot(), *(exp.JSONPathKey(this=k) for k in keys)])


def column_name(path: ast.Path) -> str:
    """The output name of a path: ``prop.item.sku`` -> ``prop_item_sku``."""
    return "_".join(path.parts) if len(path.parts) > 1 else path.parts[0]


class _Compiler:
    def __init__(self, query: ast.Query, project_id: str, now: datetime) -> None:
        self.query = query
        self.text = query.text
        self.project_id = project_id
        self.now = now
        self.ctes: list[tuple[str, exp.Expression]] = []
        self.needs_users = False
        self.counter = 0

    # ---- errors ----------------------------------------------------------------------------

    def error(
        self,
        message: str,
        span: ast.Span,
        *,
        code: str = "query_invalid",
        expected: list[str] | None = None,
        hint: str | None = None,
    ) -> QueryError:
        return QueryError(code, message, span, text=self.text, expected=expected or [], hint=hint)

    def unknown(self, name: str, span: ast.Span, known: list[str]) -> QueryError:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        suggestion = f", did you mean '{close[0]}'?" if close else ""
        return self.error(
            f"unknown column '{name}'{suggestion}",
            span,
            code="query_unknown_column",
            expected=sorted(known)[:12],
            hint="properties are read with prop.<name>, user properties with user.<name>",
        )

    # ---- the whole query -------------------------------------------------------------------

    def compile(self) -> Compiled:
        stages = list(self.query.stages)
        start, end = self.time_range(stages)
        self.needs_profiles = self.uses_profiles()
        self.needs_users = self.uses_users(stages) or self.needs_profiles
        relation = self.base(start, end)
        shape = "rows"
        aggregated = False
        for stage in stages:
            if isinstance(stage, ast.Last | ast.FromTo):
                if aggregated:
                    raise self.error("the time range goes before any aggregation", stage.span)
                continue
            if isinstance(stage, ast.Where):
                relation = self.where(relation, stage)
            elif isinstance(stage, ast.Aggregate):
                relation = self.aggregate(relation, stage)
                aggregated, shape = True, "aggregate"
            elif isinstance(stage, ast.Select):
                relation = self.select(relation, stage)
            elif isinstance(stage, ast.Sort):
                relation = self.sort(relation, stage)
            elif isinstance(stage, ast.Top):
                relation = self.top(relation, stage)
            elif isinstance(stage, ast.Limit):
                relation = self.limit(relation, stage.count, stage.span)
            elif isinstance(stage, ast.Sessions):
                relation = self.sessions(relation, stage)
                aggregated, shape = True, "sessions"
            elif isinstance(stage, ast.Funnel):
                relation = self.funnel(relation, stage)
                aggregated, shape = True, "funnel"
            elif isinstance(stage, ast.Retention):
                relation = self.retention(relation, stage, start)
                aggregated, shape = True, "retention"
            else:  # pragma: no cover - the parser makes no other stage
                raise self.error(f"unsupported stage {type(stage).__name__}", stage.span)
        final = exp.select(*(_col(c) for c in relation.columns)).from_(_id(relation.name))
        order = relation.order or (self.raw_order() if relation.raw else [])
        if order:
            final = final.order_by(*order)
        for name, body in self.ctes:
            final = final.with_(_id(name), as_=body, copy=False)
        return Compiled(
            final,
            list(relation.columns),
            self.project_id,
            start,
            end,
            self.text,
            buckets=relation.buckets,
            shape=shape,
        )

    def time_range(self, stages: list[ast.Stage]) -> tuple[datetime, datetime]:
        ranges = [s for s in stages if isinstance(s, ast.Last | ast.FromTo)]
        if len(ranges) > 1:
            raise self.error(
                "a query has at most one time range",
                ranges[1].span,
                hint="keep one 'last ...' or 'from ... to ...'",
            )
        if not ranges:
            return self.now - DEFAULT_RANGE, self.now
        stage = ranges[0]
        if isinstance(stage, ast.Last):
            return self.now - timedelta(seconds=stage.duration.seconds), self.now
        end = stage.end or self.now
        if end <= stage.start:
            raise self.error("the time range ends before it starts", stage.span)
        return stage.start, end

    def uses_users(self, stages: list[ast.Stage]) -> bool:
        if any(isinstance(s, ast.Funnel | ast.Retention | ast.Sessions) for s in stages):
            return True
        return "user_id" in self.text

    def uses_profiles(self) -> bool:
        return "profile." in self.text

    def add_cte(self, body: exp.Expression, prefix: str = "_s") -> str:
        self.counter += 1
        name = f"{prefix}{self.counter}"
        self.ctes.append((name, body))
        return name

    # ---- the base relation -----------------------------------------------------------------

    def base(self, start: datetime, end: datetime) -> _Relation:
        project = exp.EQ(this=_col("project_id"), expression=exp.Literal.string(self.project_id))
        scan = (
            exp.select(*(_col(c) for c in BASE_COLUMNS), copy=False)
            .from_(exp.Table(this=_id("events")), copy=False)
            .where(project, copy=False)
            .where(exp.GTE(this=_col("event_date"), expression=_date(start)), copy=False)
            .where(exp.LTE(this=_col("event_date"), expression=_date(end)), copy=False)
            .where(exp.GTE(this=_col("time"), expression=_ts(start)), copy=False)
            .where(exp.LT(this=_col("time"), expression=_ts(end)), copy=False)
        )
        # One row per insert_id and UTC day (the project is already filtered): a retry resends
        # the same payload with the same client time, so its copies land on the same day
        # (PostHog's storage dedups on a key that includes the date, too). The earliest
        # event_id is kept, so every engine and every run keeps the same copy. Scoping the key
        # to the day is what lets the Polars path skip the dedup on single-file partitions.
        dedup = exp.Window(
            this=exp.RowNumber(),
            partition_by=[_col("event_date"), _col("insert_id")],
            order=exp.Order(
                expressions=[exp.Ordered(this=_col("event_id"), desc=False, nulls_first=False)]
            ),
        )
        scan = scan.qualify(exp.EQ(this=dedup, expression=exp.Literal.number(1)), copy=False)
        self.ctes.append(("_events", scan))
        if not self.needs_users:
            return _Relation(
                "_events", {c: EVENT_COLUMNS.get(c, "json") for c in BASE_COLUMNS}, True, []
            )
        identify = exp.In(
            this=_col("event_type"),
            expressions=[exp.Literal.string("$identify"), exp.Literal.string("$alias")],
        )
        ids = (
            exp.select(
                exp.alias_(_col("device_id"), _id("id_device")),
                exp.alias_(
                    exp.ArgMin(this=_col("user_id"), expression=_col("time")), _id("id_user")
                ),
                copy=False,
            )
            .from_(exp.Table(this=_id("events")), copy=False)
            .where(
                exp.EQ(this=_col("project_id"), expression=exp.Literal.string(self.project_id)),
                copy=False,
            )
            .where(identify, copy=False)
            .where(exp.Not(this=exp.Is(this=_col("user_id"), expression=exp.Null())), copy=False)
            .where(exp.Not(this=exp.Is(this=_col("device_id"), expression=exp.Null())), copy=False)
            .group_by(_col("device_id"), copy=False)
        )
        self.ctes.append(("_ids", ids))
        resolved = exp.Coalesce(this=_col("user_id", "e"), expressions=[_col("id_user", "i")])
        projections = [
            exp.alias_(resolved, _id("user_id")) if c == "user_id" else _col(c, "e")
            for c in BASE_COLUMNS
        ]
        joined = (
            exp.select(*projections, copy=False)
            .from_(exp.Table(this=_id("_events"), alias=exp.TableAlias(this=_id("e"))), copy=False)
            .join(
                exp.Table(this=_id("_ids"), alias=exp.TableAlias(this=_id("i"))),
                on=exp.EQ(this=_col("device_id", "e"), expression=_col("id_device", "i")),
                join_type="LEFT",
                copy=False,
            )
        )
        self.ctes.append(("_base", joined))
        columns = {c: EVENT_COLUMNS.get(c, "json") for c in BASE_COLUMNS}
        if not self.needs_profiles:
            return _Relation("_base", columns, True, [])
        return _Relation(self.profiles_join(), columns, True, [], hidden=[PROFILE_COLUMN])

    def profiles_join(self) -> str:
        """``_pbase``: ``_base`` with the resolved user's profile properties (JSON text) in
        the hidden column ``_profile`` (null without a profile)."""
        profiles = (
            exp.select(
                exp.alias_(_col("user_id"), _id("profile_user")),
                exp.alias_(_col("properties"), _id("profile_properties")),
                copy=False,
            )
            .from_(exp.Table(this=_id("profiles")), copy=False)
            .where(
                exp.EQ(this=_col("project_id"), expression=exp.Literal.string(self.project_id)),
                copy=False,
            )
        )
        self.ctes.append(("_profiles", profiles))
        projections: list[exp.Expression] = [_col(c, "b") for c in BASE_COLUMNS]
        projections.append(
            exp.Alias(this=_col("profile_properties", "p"), alias=_id(PROFILE_COLUMN))
        )
        joined = (
            exp.select(*projections, copy=False)
            .from_(exp.Table(this=_id("_base"), alias=exp.TableAlias(this=_id("b"))), copy=False)
            .join(
                exp.Table(this=_id("_profiles"), alias=exp.TableAlias(this=_id("p"))),
                on=exp.EQ(this=_col("user_id", "b"), expression=_col("profile_user", "p")),
                join_type="LEFT",
                copy=False,
            )
        )
        self.ctes.append(("_pbase", joined))
        return "_pbase"

    # ---- expressions -----------------------------------------------------------------------

    def path(self, rel: _Relation, node: ast.Path) -> tuple[exp.Expression, Kind]:
        parts = node.parts
        if not rel.raw:
            for candidate in (node.dotted, column_name(node)):
                if candidate in rel.columns:
                    return _col(candidate), rel.columns[candidate]
            raise self.unknown(node.dotted, node.span, list(rel.columns))
        if len(parts) == 1:
            name = parts[0]
            if name in rel.columns and name not in ("event_properties", "user_properties"):
                return _col(name), rel.columns[name]
            raise self.unknown(name, node.span, [c for c in EVENT_COLUMNS])
        root = parts[0]
        if root in JSON_ROOTS:
            extract = exp.JSONExtractScalar(
                this=_col(JSON_ROOTS[root]), expression=_json_path(parts[1:])
            )
            return extract, "json"
        if root == "profile":
            # The derived profiles table, joined on the resolved user (null without one).
            if PROFILE_COLUMN not in rel.carried:
                return exp.Null(), "null"
            extract = exp.JSONExtractScalar(
                this=_col(PROFILE_COLUMN), expression=_json_path(parts[1:])
            )
            return extract, "json"
        raise self.unknown(
            node.dotted, node.span, [*EVENT_COLUMNS, "prop.<name>", "user.<name>", "profile.<name>"]
        )

    def expr(self, rel: _Relation, node: ast.Expr) -> tuple[exp.Expression, Kind]:
        if isinstance(node, ast.Const):
            return self.const(node)
        if isinstance(node, ast.Path):
            return self.path(rel, node)
        if isinstance(node, ast.Unary):
            inner, kind = self.expr(rel, node.operand)
            if node.op == "not":
                return exp.Not(this=_paren(inner)), "bool"
            return exp.Neg(this=_paren(self.numeric(inner, kind))), "number"
        if isinstance(node, ast.Binary):
            return self.binary(rel, node)
        if isinstance(node, ast.InList):
            left, kind = self.expr(rel, node.expr)
            items = [self.expr(rel, item) for item in node.items]
            if any(k == "number" for _, k in items):
                left = self.numeric(left, kind)
            in_node: exp.Expression = exp.In(this=left, expressions=[e for e, _ in items])
            return (exp.Not(this=_paren(in_node)) if node.negated else in_node), "bool"
        if isinstance(node, ast.StringMatch):
            left, kind = self.expr(rel, node.expr)
            pattern = exp.Literal.string(node.pattern)
            matcher: exp.Expression
            if node.op == "contains":
                matcher = exp.Contains(this=left, expression=pattern)
            elif node.op == "startswith":
                matcher = exp.StartsWith(this=left, expression=pattern)
            elif node.op == "endswith":
                matcher = exp.EndsWith(this=left, expression=pattern)
            else:
                matcher = exp.RegexpLike(this=left, expression=pattern)
            return (exp.Not(this=_paren(matcher)) if node.negated else matcher), "bool"
        if isinstance(node, ast.Exists):
            inner, _ = self.expr(rel, node.expr)
            is_null = exp.Is(this=inner, expression=exp.Null())
            return (is_null if node.negated else exp.Not(this=is_null)), "bool"
        raise self.error(f"unsupported expression {type(node).__name__}", node.span)

    def const(self, node: ast.Const) -> tuple[exp.Expression, Kind]:
        if node.kind == "number":
            return exp.Literal.number(node.value), "number"
        if node.kind == "string":
            return exp.Literal.string(str(node.value)), "string"
        if node.kind == "bool":
            return exp.Boolean(this=bool(node.value)), "bool"
        if node.kind == "datetime":
            assert isinstance(node.value, datetime)
            return _ts(node.value), "time"
        return exp.Null(), "null"

    def numeric(self, node: exp.Expression, kind: Kind) -> exp.Expression:
        """A JSON value read as a number (null when it is not one)."""
        if kind in ("json", "string"):
            return exp.TryCast(this=node, to=exp.DataType.build("DOUBLE"))
        return node

    def binary(self, rel: _Relation, node: ast.Binary) -> tuple[exp.Expression, Kind]:
        left, lk = self.expr(rel, node.left)
        right, rk = self.expr(rel, node.right)
        if node.op in ("and", "or"):
            cls = exp.And if node.op == "and" else exp.Or
            return cls(this=_paren(left), expression=_paren(right)), "bool"
        if node.op in ("+", "-", "*", "/"):
            ops = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "/": exp.Div}
            result = ops[node.op](
                this=_paren(self.numeric(left, lk)), expression=_paren(self.numeric(right, rk))
            )
            if node.op == "/":
                result.set("typed", False)
                result.set("safe", True)
            return _paren(cast(exp.Expression, result)), "number"
        if lk == "number" or rk == "number":
            left, right = self.numeric(left, lk), self.numeric(right, rk)
        cmp = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}[
            node.op
        ]
        return cast(exp.Expression, cmp(this=left, expression=right)), "bool"

    def condition(self, rel: _Relation, node: ast.Expr) -> exp.Expression:
        cond, kind = self.expr(rel, node)
        if kind not in ("bool", "null", "any"):
            raise self.error(
                "a filter needs a condition, like x = 1 or prop.coupon exists",
                ast_span(node),
                expected=["=", "in", "exists", "contains"],
            )
        return cond

    # ---- stages ----------------------------------------------------------------------------

    def where(self, rel: _Relation, stage: ast.Where) -> _Relation:
        cond = self.condition(rel, stage.condition)
        body = (
            exp.select(*(_col(c) for c in rel.carried))
            .from_(_id(rel.name), copy=False)
            .where(cond, copy=False)
        )
        return _Relation(
            self.add_cte(body), rel.columns, rel.raw, rel.order, rel.buckets, rel.hidden
        )

    def aggregate(self, rel: _Relation, stage: ast.Aggregate) -> _Relation:
        projections: list[exp.Expression] = []
        columns: dict[str, Kind] = {}
        group_exprs: list[exp.Expression] = []
        buckets: list[str] = []
        group_names: list[str] = []
        for group in stage.groups:
            if group.bucket:
                if "time" not in rel.columns:
                    raise self.error(f"'{group.bucket}' needs event rows with a time", group.span)
                node: exp.Expression = exp.TimestampTrunc(
                    this=_col("time"), unit=exp.var(BUCKET_UNITS[group.bucket])
                )
                name, kind = group.alias or group.bucket, "time"
                buckets.append(name)
            else:
                assert group.expr is not None
                node, kind = self.expr(rel, group.expr)
                default = (
                    column_name(group.expr)
                    if isinstance(group.expr, ast.Path)
                    else f"group_{len(group_names) + 1}"
                )
                name = group.alias or default
            if name in columns:
                raise self.error(
                    f"two columns are named '{name}'", group.span, hint="name one with 'as'"
                )
            columns[name] = "string" if kind == "json" else cast(Kind, kind)
            projections.append(cast(exp.Expression, exp.alias_(node, _id(name))))
            group_exprs.append(node)
            group_names.append(name)
        agg_names: list[str] = []
        for agg in stage.aggs:
            node, name = self.agg(rel, agg)
            if name in columns:
                raise self.error(
                    f"two columns are named '{name}'", agg.span, hint="name one with 'as'"
                )
            columns[name] = (
                "time"
                if (agg.func in ("min", "max") and self.kind_of(rel, agg) == "time")
                else "number"
            )
            projections.append(cast(exp.Expression, exp.alias_(node, _id(name))))
            agg_names.append(name)
        body = exp.select(*projections).from_(_id(rel.name))
        if group_exprs:
            body = body.group_by(*group_exprs)
        order = [exp.Ordered(this=_col(b), desc=False, nulls_first=False) for b in buckets]
        order.append(exp.Ordered(this=_col(agg_names[0]), desc=True, nulls_first=False))
        order += [
            exp.Ordered(this=_col(g), desc=False, nulls_first=False)
            for g in group_names
            if g not in buckets
        ]
        return _Relation(self.add_cte(body), columns, False, order, buckets)

    def kind_of(self, rel: _Relation, agg: ast.Agg) -> Kind:
        if agg.arg is None:
            return "number"
        return self.expr(rel, agg.arg)[1]

    def agg(self, rel: _Relation, agg: ast.Agg) -> tuple[exp.Expression, str]:
        if agg.arg is None:
            return exp.Count(this=exp.Star()), agg.alias or "count"
        arg, kind = self.expr(rel, agg.arg)
        base = column_name(agg.arg) if isinstance(agg.arg, ast.Path) else "expr"
        name = agg.alias or f"{agg.func}_{base}"
        func = agg.func
        if func == "count":
            return exp.Count(this=arg), name
        if func == "uniq":
            return exp.Count(this=exp.Distinct(expressions=[arg])), name
        if func in ("min", "max") and kind in ("time", "string", "date"):
            return (exp.Min if func == "min" else exp.Max)(this=arg), name
        value = self.numeric(arg, kind)
        if func == "sum":
            return exp.Sum(this=value), name
        if func == "avg":
            return exp.Avg(this=value), name
        if func in ("min", "max"):
            return (exp.Min if func == "min" else exp.Max)(this=value), name
        quantile = 0.5 if func == "median" else int(func[1:]) / 100
        return exp.PercentileCont(this=value, expression=exp.Literal.number(quantile)), name

    def select(self, rel: _Relation, stage: ast.Select) -> _Relation:
        projections = []
        columns: dict[str, Kind] = {}
        for item in stage.items:
            node, kind = self.expr(rel, item.expr)
            name = item.alias or (
                column_name(item.expr)
                if isinstance(item.expr, ast.Path)
                else f"expr_{len(columns) + 1}"
            )
            if name in columns or name.startswith("_order_"):
                raise self.error(
                    f"two columns are named '{name}'", item.span, hint="name one with 'as'"
                )
            columns[name] = "string" if kind == "json" else kind
            projections.append(exp.alias_(node, _id(name)))
        hidden: list[str] = []
        if rel.raw and not rel.order:
            # Event rows keep their event order: carry it in hidden columns.
            for source in ("time", "event_id"):
                hidden.append(f"_order_{source}")
                projections.append(exp.alias_(_col(source), _id(f"_order_{source}")))
            order = [exp.Ordered(this=_col(h), desc=False, nulls_first=False) for h in hidden]
        else:
            order = [o for o in rel.order if o.this.name in columns]
        body = exp.select(*projections).from_(_id(rel.name))
        return _Relation(self.add_cte(body), columns, False, order, [], hidden)

    def raw_order(self) -> list[exp.Ordered]:
        return [
            exp.Ordered(this=_col(c), desc=False, nulls_first=False) for c in ("time", "event_id")
        ]

    def sort_keys(self, rel: _Relation, keys: list[tuple[ast.Expr, bool]]) -> list[exp.Ordered]:
        out = []
        for node, descending in keys:
            expr, _ = self.expr(rel, node)
            out.append(exp.Ordered(this=expr, desc=descending, nulls_first=False))
        # Ties are broken by the default order, so pages stay stable.
        seen = {o.this.sql() for o in out}
        default = rel.order or (self.raw_order() if rel.raw else [])
        out += [o for o in default if o.this.sql() not in seen]
        return out

    def sort(self, rel: _Relation, stage: ast.Sort) -> _Relation:
        order = self.sort_keys(rel, [(k.expr, k.descending) for k in stage.keys])
        return _Relation(rel.name, rel.columns, rel.raw, order, rel.buckets, rel.hidden)

    def top(self, rel: _Relation, stage: ast.Top) -> _Relation:
        if stage.by is not None:
            order = self.sort_keys(rel, [(stage.by, True)])
            rel = _Relation(rel.name, rel.columns, rel.raw, order, rel.buckets, rel.hidden)
        return self.limit(rel, stage.count, stage.span)

    def limit(self, rel: _Relation, count: int, span: ast.Span) -> _Relation:
        if not 0 <= count <= MAX_LIMIT:
            raise self.error(f"limit must be between 0 and {MAX_LIMIT}", span)
        order = rel.order or (self.raw_order() if rel.raw else [])
        body = exp.select(*(_col(c) for c in rel.carried)).from_(_id(rel.name))
        if order:
            body = body.order_by(*order)
        body = body.limit(count)
        return _Relation(self.add_cte(body), rel.columns, rel.raw, order, rel.buckets, rel.hidden)

    def sessions(self, rel: _Relation, stage: ast.Sessions) -> _Relation:
        if not rel.raw:
            raise self.error("'sessions' needs event rows, before any aggregation", stage.span)
        node = SessionsOp(this=_id(rel.name), gap=exp.Literal.number(1800))
        order = [
            exp.Ordered(this=_col("session_start"), desc=False, nulls_first=False),
            exp.Ordered(this=_col("session_id"), desc=False, nulls_first=False),
        ]
        return _Relation(self.add_cte(node), dict(SESSION_COLUMNS), False, order)

    def funnel(self, rel: _Relation, stage: ast.Funnel) -> _Relation:
        if not rel.raw:
            raise self.error("'funnel' needs event rows, before any aggregation", stage.span)
        steps = [self.condition(rel, step.condition) for step in stage.steps]
        within = stage.within.seconds if stage.within else 86400
        columns: dict[str, Kind] = {}
        by_node: exp.Expression | None = None
        by_name = None
        if stage.by is not None:
            if stage.by.bucket:
                raise self.error("a funnel is split by a column, not a time bucket", stage.by.span)
            assert stage.by.expr is not None
            by_node, kind = self.expr(rel, stage.by.expr)
            by_name = stage.by.alias or (
                column_name(stage.by.expr) if isinstance(stage.by.expr, ast.Path) else "group"
            )
            columns[by_name] = "string" if kind == "json" else kind
        columns.update(FUNNEL_COLUMNS)
        node = FunnelOp(
            this=_id(rel.name),
            steps=steps,
            names=[exp.Literal.string(s.name) for s in stage.steps],
            within=exp.Literal.number(within),
            by=by_node,
            by_name=_id(by_name) if by_name else None,
        )
        order = [exp.Ordered(this=_col(by_name), desc=False, nulls_first=False)] if by_name else []
        order.append(exp.Ordered(this=_col("step"), desc=False, nulls_first=False))
        return _Relation(self.add_cte(node), columns, False, order)

    def retention(self, rel: _Relation, stage: ast.Retention, start: datetime) -> _Relation:
        if not rel.raw:
            raise self.error("'retention' needs event rows, before any aggregation", stage.span)
        first = self.condition(rel, stage.start.condition)
        returning = (
            self.condition(rel, stage.returning.condition)
            if stage.returning
            else exp.Boolean(this=True)
        )
        node = RetentionOp(
            this=_id(rel.name),
            start=first,
            returning=returning,
            every=exp.var(stage.every.upper()),
            periods=exp.Literal.number(stage.periods),
        )
        order = [
            exp.Ordered(this=_col("cohort"), desc=False, nulls_first=False),
            exp.Ordered(this=_col("period"), desc=False, nulls_first=False),
        ]
        return _Relation(self.add_cte(node), dict(RETENTION_COLUMNS), False, order, ["cohort"])


def ast_span(node: ast.Expr) -> ast.Span:
    return node.span


def compile_query(text: str, project_id: str, *, now: datetime | None = None) -> Compiled:
    """Parse and compile ``text`` for ``project_id`` (relative time against ``now``)."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _Compiler(parse(text), project_id, moment.astimezone(UTC)).compile()
