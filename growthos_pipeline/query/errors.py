"""Query errors: a stable code, what was expected and what was found, and where.

Examples
--------
>>> text = 'event_type = "page_view" | last 7 | count by _browser'
>>> err = QueryError("query_syntax_error", "'last' needs a unit, found '7'", Span(32, 1),
...                  text=text, expected=["7d", "24h", "30m", "2w"], hint="write 7d for days")
>>> print(err.render())
syntax error: 'last' needs a unit, found '7'
 --> line 1, column 33
  |
1 | event_type = "page_view" | last 7 | count by _browser
  |                                 ^
expected: 7d, 24h, 30m, 2w
hint: write 7d for days
>>> err.details[0]["line"], err.details[0]["column"], err.details[0]["offset"]
(1, 33, 32)
"""

from __future__ import annotations

from collections.abc import Sequence

from growthos_pipeline.errors import BadRequest
from growthos_pipeline.query.ast import Span

_KIND = {
    "query_syntax_error": "syntax error",
    "query_unknown_column": "unknown name",
    "query_invalid_regex": "invalid regular expression",
    "query_invalid": "invalid query",
}


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    before = text[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return line, column


class QueryError(BadRequest):
    """An error in query text (HTTP 400), with its position."""

    def __init__(
        self,
        code: str,
        message: str,
        span: Span,
        *,
        text: str = "",
        expected: Sequence[str] = (),
        hint: str | None = None,
    ) -> None:
        self.span = span
        self.text = text
        self.expected = list(expected)
        self.hint = hint
        line, column = line_column(text, span.offset)
        detail: dict[str, object] = {
            "line": line,
            "column": column,
            "offset": span.offset,
            "length": span.length,
            "expected": self.expected,
        }
        if hint:
            detail["hint"] = hint
        super().__init__(code, message, details=[detail])

    def render(self) -> str:
        """The error as a block of text with the query line and a caret (the llm format)."""
        line, column = line_column(self.text, self.span.offset)
        source = self.text.splitlines()[line - 1] if self.text.splitlines() else ""
        gutter = " " * len(str(line))
        caret = " " * (column - 1) + "^" * max(1, min(self.span.length, len(source) - column + 1))
        out = [
            f"{_KIND.get(self.code, 'error')}: {self.message}",
            f"{gutter}--> line {line}, column {column}",
            f"{gutter} |",
            f"{line} | {source}",
            f"{gutter} | {caret}",
        ]
        if self.expected:
            out.append("expected: " + ", ".join(self.expected))
        if self.hint:
            out.append(f"hint: {self.hint}")
        return "\n".join(out)
