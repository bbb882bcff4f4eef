"""The allow-list every compiled tree passes before it runs.

Only the node types and functions the compiler emits; only the tables ``events`` and
``profiles`` and the query's own CTEs; every scan of a lake table filtered to the caller's
project. Nothing in a query can name a file, a URL, another project, a catalog or a setting:
the compiler never emits such nodes, and this check makes sure of it.

Examples
--------
>>> from datetime import datetime, UTC
>>> from growthos_pipeline.query.compile import compile_query
>>> tree = compile_query("last 7d | count", "proj_1", now=datetime(2026, 1, 8, tzinfo=UTC)).tree
>>> check(tree, "proj_1")
>>> check(tree, "proj_2")
Traceback (most recent call last):
...
growthos_pipeline.query.guard.GuardViolation: a scan of 'events' is not filtered to project \
'proj_2'
"""

from __future__ import annotations

from sqlglot import exp

from growthos_pipeline.query.nodes import CUSTOM_NODES

LAKE_TABLES = frozenset({"events", "profiles"})

ALLOWED: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.With,
    exp.CTE,
    exp.TableAlias,
    exp.From,
    exp.Join,
    exp.Where,
    exp.Group,
    exp.Order,
    exp.Ordered,
    exp.Limit,
    exp.Qualify,
    exp.Table,
    exp.Column,
    exp.Identifier,
    exp.Alias,
    exp.Star,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.Cast,
    exp.TryCast,
    exp.DataType,
    exp.Var,
    exp.JSONExtractScalar,
    exp.JSONPath,
    exp.JSONPathRoot,
    exp.JSONPathKey,
    exp.EQ,
    exp.NEQ,
    exp.LT,
    exp.LTE,
    exp.GT,
    exp.GTE,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Is,
    exp.In,
    exp.Contains,
    exp.StartsWith,
    exp.EndsWith,
    exp.RegexpLike,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Neg,
    exp.Coalesce,
    exp.TimestampTrunc,
    exp.Count,
    exp.Distinct,
    exp.Sum,
    exp.Avg,
    exp.Min,
    exp.Max,
    exp.PercentileCont,
    exp.ArgMin,
    exp.Window,
    exp.RowNumber,
    *CUSTOM_NODES,
)


class GuardViolation(RuntimeError):
    """The compiled tree is outside the allow-list: a compiler bug, never run."""


def _filters_project(select: exp.Select, project_id: str) -> bool:
    where = select.args.get("where")
    if where is None:
        return False
    for node in where.find_all(exp.EQ):
        left, right = node.this, node.expression
        if (
            isinstance(left, exp.Column)
            and left.name == "project_id"
            and isinstance(right, exp.Literal)
            and right.is_string
            and right.this == project_id
        ):
            # The filter must be a conjunct of the WHERE, not under an OR or a NOT.
            parent = node.parent
            while parent is not None and parent is not where:
                if not isinstance(parent, exp.And | exp.Paren):
                    return False
                parent = parent.parent
            return True
    return False


def check(tree: exp.Expression, project_id: str) -> None:
    """Raise :class:`GuardViolation` unless ``tree`` is safe to run for ``project_id``."""
    with_ = tree.args.get("with_") or tree.args.get("with")
    ctes = {cte.alias for cte in with_.expressions} if with_ is not None else set()
    for node in tree.walk():
        if not isinstance(node, ALLOWED):
            raise GuardViolation(f"node {type(node).__name__} is not allowed")
        if isinstance(node, exp.Table):
            if node.args.get("db") or node.args.get("catalog"):
                raise GuardViolation(f"table {node.sql()} names a schema or catalog")
            name = node.name
            if name in ctes and name not in LAKE_TABLES:
                continue
            if name not in LAKE_TABLES:
                raise GuardViolation(f"table '{name}' is not allowed")
            select = node.find_ancestor(exp.Select)
            if select is None or not _filters_project(select, project_id):
                raise GuardViolation(
                    f"a scan of '{name}' is not filtered to project '{project_id}'"
                )
