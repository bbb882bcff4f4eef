"""The pipe language's parser: text -> :class:`~growthos_pipeline.query.ast.Query`.

A recursive-descent parser over :func:`~growthos_pipeline.query.lexer.tokenize`. Errors name
what was expected and what was found, with the position and, where it helps, a hint.

Examples
--------
>>> q = parse('event_type = "page_view" | last 7d | count by _browser')
>>> [type(s).__name__ for s in q.stages]
['Where', 'Last', 'Aggregate']
>>> q.stages[2].groups[0].expr.parts
('_browser',)
>>> parse('event_type = "page_view" | last 7 | count by _browser')
Traceback (most recent call last):
...
growthos_pipeline.query.errors.QueryError: query_syntax_error: 'last' needs a unit, found '7'
"""

from __future__ import annotations

import re
import warnings

from growthos_pipeline.query import ast
from growthos_pipeline.query.ast import Span
from growthos_pipeline.query.errors import QueryError
from growthos_pipeline.query.lexer import Token, tokenize

AGG_FUNCS = ("count", "uniq", "sum", "avg", "min", "max", "median")
_PERCENTILE = re.compile(r"^p\d{1,2}$")
_CMP = ("=", "==", "!=", "<", "<=", ">", ">=")
_MATCHERS = ("contains", "startswith", "endswith", "matches")
_STAGE_WORDS = (
    "where",
    "last",
    "from",
    "select",
    "sort",
    "top",
    "limit",
    "funnel",
    "retention",
    "sessions",
)
_DURATIONS = ["7d", "24h", "30m", "2w"]


def is_agg_name(name: str) -> bool:
    return name in AGG_FUNCS or bool(_PERCENTILE.match(name))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    # ---- token helpers ---------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def at_eof(self) -> bool:
        return self.tok.kind == "eof"

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text in words

    def describe(self, tok: Token) -> str:
        if tok.kind == "eof":
            return "the end of the query"
        return f"'{tok.text}'"

    def error(
        self,
        message: str,
        tok: Token | None = None,
        *,
        expected: list[str] | None = None,
        hint: str | None = None,
        code: str = "query_syntax_error",
    ) -> QueryError:
        tok = tok or self.tok
        span = tok.span if tok.span.length else Span(tok.span.offset, 1)
        return QueryError(code, message, span, text=self.text, expected=expected or [], hint=hint)

    def expect_op(self, op: str, context: str) -> Token:
        if not self.at_op(op):
            raise self.error(
                f"{context} needs '{op}', found {self.describe(self.tok)}", expected=[op]
            )
        return self.advance()

    def expect_word(self, word: str, context: str) -> Token:
        if not self.at_word(word):
            raise self.error(
                f"{context} needs '{word}', found {self.describe(self.tok)}", expected=[word]
            )
        return self.advance()

    def expect_int(self, context: str) -> tuple[int, Token]:
        tok = self.tok
        if tok.kind != "number" or not isinstance(tok.value, int):
            raise self.error(
                f"{context} needs a whole number, found {self.describe(tok)}", expected=["10"]
            )
        self.advance()
        return int(tok.value), tok

    def ident(self, context: str) -> Token:
        if self.tok.kind != "ident":
            raise self.error(
                f"{context} needs a name, found {self.describe(self.tok)}", expected=["a name"]
            )
        return self.advance()

    # ---- query and stages ------------------------------------------------------------------

    def query(self) -> ast.Query:
        stages: list[ast.Stage] = []
        if self.tok.kind == "eof":
            raise self.error(
                "the query is empty", expected=['event_type = "page_view"', "last 7d", "count"]
            )
        while True:
            stages.append(self.stage(first=not stages))
            if self.at_eof():
                break
            if not self.at_op("|"):
                raise self.after_stage_error(stages[-1])
            self.advance()
        return ast.Query(tuple(stages), self.text)

    def after_stage_error(self, stage: ast.Stage) -> QueryError:
        tok = self.tok
        if isinstance(stage, ast.Where) and tok.kind in ("ident", "string", "number"):
            return self.error(
                f"expected '|' or 'and' after the filter, found {self.describe(tok)}",
                expected=["|", "and", "or"],
                hint="two filters are joined with 'and' (or 'or'), not a space",
            )
        return self.error(
            f"expected '|' before the next stage, found {self.describe(tok)}", expected=["|"]
        )

    def stage(self, *, first: bool) -> ast.Stage:
        tok = self.tok
        word = tok.text if tok.kind == "ident" else ""
        if word == "where":
            self.advance()
            cond = self.bool_expr()
            return ast.Where(cond, tok.span.to(self.prev_span()))
        if word == "last" and self.peek().kind in ("duration", "number", "ident", "eof", "op"):
            return self.last()
        if word == "from" and self.peek().kind in (
            "datetime",
            "number",
            "ident",
            "eof",
            "op",
            "string",
        ):
            return self.from_to()
        if word == "select":
            return self.select()
        if word == "sort":
            return self.sort()
        if word == "top":
            return self.top()
        if word == "limit":
            self.advance()
            count, _ = self.expect_int("'limit'")
            return ast.Limit(count, tok.span.to(self.prev_span()))
        if word == "funnel":
            return self.funnel()
        if word == "retention":
            return self.retention()
        if word == "sessions" and (self.peek().kind == "eof" or self.peek().text == "|"):
            self.advance()
            return ast.Sessions(tok.span)
        if (
            word
            and is_agg_name(word)
            and (self.peek().kind == "eof" or self.peek().text in ("(", ",", "by", "as", "|"))
        ):
            return self.aggregate()
        if not first:
            raise self.error(
                f"expected a stage after '|', found {self.describe(tok)}",
                expected=["where", "last", "from", "count", "select", "sort", "top", "limit"],
                hint="a filter after the first stage starts with 'where'",
            )
        cond = self.bool_expr()
        return ast.Where(cond, tok.span.to(self.prev_span()))

    def prev_span(self) -> Span:
        return self.tokens[max(0, self.pos - 1)].span

    def duration(self, context: str) -> ast.Duration:
        tok = self.tok
        if tok.kind == "duration":
            self.advance()
            pair = tok.value
            assert isinstance(pair, tuple)
            value, unit = int(pair[0]), str(pair[1])
            if value <= 0:
                raise self.error(
                    f"{context} needs a positive duration, found '{tok.text}'",
                    tok,
                    expected=_DURATIONS,
                )
            return ast.Duration(value, unit, tok.span)  # type: ignore[arg-type]
        if tok.kind == "number":
            raise self.error(
                f"{context} needs a unit, found '{tok.text}'",
                tok,
                expected=_DURATIONS,
                hint=f"write {tok.text}d for days",
            )
        raise self.error(
            f"{context} needs a duration, found {self.describe(tok)}", tok, expected=_DURATIONS
        )

    def last(self) -> ast.Last:
        start = self.advance()
        duration = self.duration("'last'")
        return ast.Last(duration, start.span.to(duration.span))

    def datetime_token(self, context: str) -> Token:
        tok = self.tok
        if tok.kind != "datetime":
            raise self.error(
                f"{context} needs a date like 2025-12-01 or 2025-12-01T10:00Z, "
                f"found {self.describe(tok)}",
                expected=["2025-12-01"],
            )
        return self.advance()

    def from_to(self) -> ast.FromTo:
        start = self.advance()
        begin = self.datetime_token("'from'")
        end = None
        if self.at_word("to"):
            self.advance()
            end_tok = self.datetime_token("'to'")
            end = end_tok.value
            if end <= begin.value:  # type: ignore[operator]
                raise self.error("'to' must be after 'from'", end_tok)
        return ast.FromTo(begin.value, end, start.span.to(self.prev_span()))  # type: ignore[arg-type]

    def alias(self) -> str | None:
        if self.at_word("as"):
            self.advance()
            return self.ident("'as'").text
        return None

    def agg(self) -> ast.Agg:
        tok = self.advance()
        name = tok.text
        arg: ast.Expr | None = None
        if self.at_op("("):
            self.advance()
            if self.at_op("*"):
                if name != "count":
                    raise self.error(
                        f"'{name}(*)' is not allowed; only count(*)", expected=["a column"]
                    )
                self.advance()
            elif not self.at_op(")"):
                arg = self.sum_expr()
            self.expect_op(")", f"'{name}('")
        if arg is None and name != "count":
            raise self.error(
                f"'{name}' needs a column, like {name}(prop.amount)",
                tok,
                expected=[f"{name}(prop.amount)"],
            )
        if name.startswith("p") and name not in AGG_FUNCS and int(name[1:]) == 0:
            raise self.error("a percentile must be between p1 and p99", tok)
        return ast.Agg(name, arg, self.alias(), tok.span.to(self.prev_span()))

    def group(self) -> ast.Group:
        tok = self.tok
        if (
            tok.kind == "ident"
            and tok.text in ast.BUCKETS
            and (self.peek().kind == "eof" or self.peek().text in (",", "as", "|"))
        ):
            self.advance()
            return ast.Group(tok.text, None, self.alias(), tok.span.to(self.prev_span()))
        expr = self.sum_expr()
        return ast.Group(None, expr, self.alias(), tok.span.to(self.prev_span()))

    def aggregate(self) -> ast.Aggregate:
        start = self.tok
        aggs = [self.agg()]
        while self.at_op(","):
            self.advance()
            if self.tok.kind != "ident" or not is_agg_name(self.tok.text):
                raise self.error(
                    f"expected an aggregate after ',', found {self.describe(self.tok)}",
                    expected=["count", "uniq(...)", "sum(...)", "avg(...)"],
                )
            aggs.append(self.agg())
        groups: list[ast.Group] = []
        if self.at_word("by"):
            self.advance()
            groups.append(self.group())
            while self.at_op(","):
                self.advance()
                groups.append(self.group())
        return ast.Aggregate(tuple(aggs), tuple(groups), start.span.to(self.prev_span()))

    def select(self) -> ast.Select:
        start = self.advance()
        items = []
        while True:
            tok = self.tok
            expr = self.sum_expr()
            items.append(ast.Item(expr, self.alias(), tok.span.to(self.prev_span())))
            if not self.at_op(","):
                break
            self.advance()
        return ast.Select(tuple(items), start.span.to(self.prev_span()))

    def sort(self) -> ast.Sort:
        start = self.advance()
        keys = []
        while True:
            tok = self.tok
            descending = False
            if self.at_op("-"):
                self.advance()
                descending = True
            expr = self.sum_expr()
            if self.at_word("asc", "desc"):
                descending = self.advance().text == "desc"
            keys.append(ast.SortKey(expr, descending, tok.span.to(self.prev_span())))
            if not self.at_op(","):
                break
            self.advance()
        return ast.Sort(tuple(keys), start.span.to(self.prev_span()))

    def top(self) -> ast.Top:
        start = self.advance()
        count, _ = self.expect_int("'top'")
        by = None
        if self.at_word("by"):
            self.advance()
            by = self.sum_expr()
        return ast.Top(count, by, start.span.to(self.prev_span()))

    def step(self, context: str) -> ast.Step:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            cond: ast.Expr = ast.Binary(
                "=",
                ast.Path(("event_type",), tok.span),
                ast.Const(tok.value, "string", tok.span),
                tok.span,
            )
            return ast.Step(cond, str(tok.value), tok.span)
        if self.at_op("("):
            self.advance()
            cond = self.bool_expr()
            close = self.expect_op(")", "a step")
            span = tok.span.to(close.span)
            return ast.Step(cond, self.text[span.offset + 1 : span.end - 1].strip(), span)
        raise self.error(
            f"{context} needs a step: an event type in quotes or a filter in "
            f"parentheses, found {self.describe(tok)}",
            expected=['"signup"', '(event_type = "signup")'],
        )

    def funnel(self) -> ast.Funnel:
        start = self.advance()
        steps = [self.step("'funnel'")]
        while self.at_op("->"):
            self.advance()
            steps.append(self.step("'->'"))
        if len(steps) < 2:
            raise self.error("a funnel needs at least two steps joined by '->'", expected=["->"])
        within = None
        if self.at_word("within"):
            self.advance()
            within = self.duration("'within'")
        by = None
        if self.at_word("by"):
            self.advance()
            by = self.group()
        return ast.Funnel(tuple(steps), within, by, start.span.to(self.prev_span()))

    def retention(self) -> ast.Retention:
        start = self.advance()
        first = self.step("'retention'")
        returning = None
        if self.at_op("->"):
            self.advance()
            returning = self.step("'->'")
        every = "week"
        periods = 8
        if self.at_word("every"):
            self.advance()
            tok = self.tok
            if not self.at_word("day", "week", "month"):
                raise self.error(
                    f"'every' needs day, week or month, found {self.describe(tok)}",
                    expected=["day", "week", "month"],
                )
            every = self.advance().text
        if self.at_word("periods"):
            self.advance()
            periods, tok = self.expect_int("'periods'")
            if not 1 <= periods <= 366:
                raise self.error("'periods' must be between 1 and 366", tok)
        return ast.Retention(
            first,
            returning,
            every,  # type: ignore[arg-type]
            periods,
            start.span.to(self.prev_span()),
        )

    # ---- expressions -----------------------------------------------------------------------

    def bool_expr(self) -> ast.Expr:
        left = self.and_expr()
        while self.at_word("or"):
            self.advance()
            right = self.and_expr()
            left = ast.Binary("or", left, right, _span(left).to(_span(right)))
        return left

    def and_expr(self) -> ast.Expr:
        left = self.not_expr()
        while self.at_word("and"):
            self.advance()
            right = self.not_expr()
            left = ast.Binary("and", left, right, _span(left).to(_span(right)))
        return left

    def not_expr(self) -> ast.Expr:
        if self.at_word("not"):
            tok = self.advance()
            operand = self.not_expr()
            return ast.Unary("not", operand, tok.span.to(_span(operand)))
        return self.predicate()

    def predicate(self) -> ast.Expr:
        left = self.sum_expr()
        tok = self.tok
        if tok.kind == "op" and tok.text in _CMP:
            self.advance()
            right = self.sum_expr()
            op = "=" if tok.text == "==" else tok.text
            return ast.Binary(op, left, right, _span(left).to(_span(right)))  # type: ignore[arg-type]
        negated = False
        if (
            self.at_word("not")
            and self.peek().kind == "ident"
            and self.peek().text in ("in", *_MATCHERS)
        ):
            self.advance()
            negated = True
        if self.at_word("in"):
            self.advance()
            self.expect_op("(", "'in'")
            items = [self.sum_expr()]
            while self.at_op(","):
                self.advance()
                items.append(self.sum_expr())
            close = self.expect_op(")", "the list after 'in'")
            return ast.InList(left, tuple(items), negated, _span(left).to(close.span))
        if self.at_word(*_MATCHERS):
            op = self.advance().text
            pat = self.tok
            if pat.kind != "string":
                raise self.error(
                    f"'{op}' needs a string in quotes, found {self.describe(pat)}",
                    expected=['"text"'],
                )
            self.advance()
            if op == "matches":
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        re.compile(str(pat.value))
                except re.error as exc:
                    raise self.error(
                        f"the regular expression does not compile: {exc}",
                        pat,
                        code="query_invalid_regex",
                    ) from None
            return ast.StringMatch(
                left,
                op,  # type: ignore[arg-type]
                str(pat.value),
                negated,
                _span(left).to(pat.span),
            )
        if negated:
            raise self.error(
                "expected 'in', 'contains', 'startswith', 'endswith' or "
                f"'matches' after 'not', found {self.describe(self.tok)}"
            )
        if self.at_word("exists", "missing"):
            word = self.advance()
            return ast.Exists(left, word.text == "missing", _span(left).to(word.span))
        return left

    def sum_expr(self) -> ast.Expr:
        left = self.product()
        while self.at_op("+", "-"):
            op = self.advance().text
            right = self.product()
            left = ast.Binary(op, left, right, _span(left).to(_span(right)))  # type: ignore[arg-type]
        return left

    def product(self) -> ast.Expr:
        left = self.unary()
        while self.at_op("*", "/"):
            op = self.advance().text
            right = self.unary()
            left = ast.Binary(op, left, right, _span(left).to(_span(right)))  # type: ignore[arg-type]
        return left

    def unary(self) -> ast.Expr:
        if self.at_op("-"):
            tok = self.advance()
            operand = self.primary()
            return ast.Unary("-", operand, tok.span.to(_span(operand)))
        return self.primary()

    def primary(self) -> ast.Expr:
        tok = self.tok
        if tok.kind == "number":
            self.advance()
            return ast.Const(tok.value, "number", tok.span)
        if tok.kind == "string":
            self.advance()
            return ast.Const(tok.value, "string", tok.span)
        if tok.kind == "datetime":
            self.advance()
            return ast.Const(tok.value, "datetime", tok.span)
        if tok.kind == "duration":
            raise self.error(
                f"a duration like '{tok.text}' goes after 'last' or 'within'", expected=["a value"]
            )
        if self.at_op("("):
            self.advance()
            inner = self.bool_expr()
            self.expect_op(")", "'('")
            return inner
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                self.advance()
                return ast.Const(tok.text == "true", "bool", tok.span)
            if tok.text == "null":
                self.advance()
                return ast.Const(None, "null", tok.span)
            return self.path()
        raise self.error(
            f"expected a value or a column, found {self.describe(tok)}",
            expected=["a column", "a number", '"text"'],
        )

    def path(self) -> ast.Path:
        first = self.advance()
        parts = [first.text]
        while True:
            if self.at_op(".") and self.peek().kind == "ident":
                self.advance()
                parts.append(self.advance().text)
            elif self.at_op("["):
                self.advance()
                key = self.tok
                if key.kind != "string":
                    raise self.error(
                        f"'[' needs a key in quotes, found {self.describe(key)}",
                        expected=['["key"]'],
                    )
                self.advance()
                self.expect_op("]", "'[\"key\"'")
                parts.append(str(key.value))
            else:
                break
        return ast.Path(tuple(parts), first.span.to(self.prev_span()))


def _span(node: ast.Expr) -> Span:
    return node.span


def parse(text: str) -> ast.Query:
    """The syntax tree of a query; :class:`QueryError` with a position otherwise."""
    return _Parser(text).query()
