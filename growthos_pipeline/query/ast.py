"""The pipe language's syntax tree. Every node keeps the span of text it came from, so that
every later error can point at it.

Examples
--------
>>> Span(32, 1).end
33
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias


@dataclass(frozen=True)
class Span:
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of ``other``."""
        return Span(self.offset, max(other.end, self.end) - self.offset)


# ---- expressions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    value: object  # int | float | str | bool | None | datetime
    kind: Literal["number", "string", "bool", "null", "datetime"]
    span: Span


@dataclass(frozen=True)
class Path:
    """A column (``event_type``), a property (``prop.item.sku``), a user property
    (``user.plan``) or a profile field (``profile.plan``)."""

    parts: tuple[str, ...]
    span: Span

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Unary:
    op: Literal["-", "not"]
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Binary:
    op: Literal["+", "-", "*", "/", "and", "or", "=", "!=", "<", "<=", ">", ">="]
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class InList:
    expr: Expr
    items: tuple[Expr, ...]
    negated: bool
    span: Span


@dataclass(frozen=True)
class StringMatch:
    expr: Expr
    op: Literal["contains", "startswith", "endswith", "matches"]
    pattern: str
    negated: bool
    span: Span


@dataclass(frozen=True)
class Exists:
    expr: Expr
    negated: bool  # "missing"
    span: Span


Expr: TypeAlias = Const | Path | Unary | Binary | InList | StringMatch | Exists


# ---- stages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    value: int
    unit: Literal["s", "m", "h", "d", "w"]
    span: Span

    @property
    def seconds(self) -> int:
        return self.value * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[self.unit]


@dataclass(frozen=True)
class Where:
    condition: Expr
    span: Span


@dataclass(frozen=True)
class Last:
    duration: Duration
    span: Span


@dataclass(frozen=True)
class FromTo:
    start: datetime
    end: datetime | None
    span: Span


@dataclass(frozen=True)
class Agg:
    func: str  # count uniq sum avg min max median p50 .. p99
    arg: Expr | None  # None: count / count(*)
    alias: str | None
    span: Span


BUCKETS = ("minute", "hour", "day", "week", "month")


@dataclass(frozen=True)
class Group:
    bucket: str | None  # one of BUCKETS, or None for an expression
    expr: Expr | None
    alias: str | None
    span: Span


@dataclass(frozen=True)
class Aggregate:
    aggs: tuple[Agg, ...]
    groups: tuple[Group, ...]
    span: Span


@dataclass(frozen=True)
class Item:
    expr: Expr
    alias: str | None
    span: Span


@dataclass(frozen=True)
class Select:
    items: tuple[Item, ...]
    span: Span


@dataclass(frozen=True)
class SortKey:
    expr: Expr
    descending: bool
    span: Span


@dataclass(frozen=True)
class Sort:
    keys: tuple[SortKey, ...]
    span: Span


@dataclass(frozen=True)
class Top:
    count: int
    by: Expr | None
    span: Span


@dataclass(frozen=True)
class Limit:
    count: int
    span: Span


@dataclass(frozen=True)
class Step:
    condition: Expr
    name: str  # the text of the step, for the output's step_name
    span: Span


@dataclass(frozen=True)
class Funnel:
    steps: tuple[Step, ...]
    within: Duration | None
    by: Group | None
    span: Span


@dataclass(frozen=True)
class Retention:
    start: Step
    returning: Step | None
    every: Literal["day", "week", "month"]
    periods: int
    span: Span


@dataclass(frozen=True)
class Sessions:
    span: Span


Stage: TypeAlias = (
    Where | Last | FromTo | Aggregate | Select | Sort | Top | Limit | Funnel | Retention | Sessions
)


@dataclass(frozen=True)
class Query:
    stages: tuple[Stage, ...]
    text: str = field(repr=False)
