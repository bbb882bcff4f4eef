"""Tokens of the pipe language, each with its span.

Examples
--------
>>> [(t.kind, t.text) for t in tokenize('event_type = "page_view" | last 7d')]
[('ident', 'event_type'), ('op', '='), ('string', '"page_view"'), ('op', '|'), \
('ident', 'last'), ('duration', '7d'), ('eof', '')]
>>> tokenize("from 2025-12-01T10:00Z")[1].value
datetime.datetime(2025, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from growthos_pipeline.query.ast import Span
from growthos_pipeline.query.errors import QueryError

TokenKind = Literal["ident", "string", "number", "duration", "datetime", "op", "eof"]

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?"
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_OPS = (
    "->",
    "==",
    "!=",
    "<=",
    ">=",
    "|",
    "=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
MAX_QUERY_CHARS = 10_000


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    span: Span
    value: object = None


def _syntax(message: str, span: Span, text: str, **kw: object) -> QueryError:
    return QueryError("query_syntax_error", message, span, text=text, **kw)  # type: ignore[arg-type]


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        ch = text[pos]
        if ch == quote:
            return "".join(out), pos + 1
        if ch == "\n":
            break
        if ch == "\\" and pos + 1 < len(text):
            nxt = text[pos + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[pos + 2 : pos + 6]):
                out.append(chr(int(text[pos + 2 : pos + 6], 16)))
                pos += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            pos += 2
            continue
        out.append(ch)
        pos += 1
    raise _syntax(
        f"unterminated string: it needs a closing {quote}",
        Span(start, max(1, pos - start)),
        text,
        expected=[quote],
    )


def _datetime(match: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second, frac, zone = match.groups()
    micro = int((frac or "0").ljust(6, "0"))
    moment = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro
    )
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        from datetime import timedelta, timezone

        return moment.replace(
            tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes))
        ).astimezone(UTC)
    return moment.replace(tzinfo=UTC)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``; :class:`QueryError` for a character that starts none."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            "query_too_long",
            f"a query has at most {MAX_QUERY_CHARS} characters; this one has {len(text)}",
            Span(MAX_QUERY_CHARS, 1),
            text=text,
        )
    tokens: list[Token] = []
    pos = 0
    length = len(text)
    while pos < length:
        ch = text[pos]
        if ch in " \t\r\n":
            pos += 1
            continue
        if ch == "#":
            end = text.find("\n", pos)
            pos = length if end < 0 else end + 1
            continue
        if ch in "\"'":
            value, end = _string(text, pos)
            tokens.append(Token("string", text[pos:end], Span(pos, end - pos), value))
            pos = end
            continue
        if ch.isdigit():
            match = _DATETIME.match(text, pos)
            if (
                match
                and not _IDENT.match(text, match.end())
                and not (match.end() < length and text[match.end()].isdigit())
            ):
                try:
                    moment = _datetime(match)
                except ValueError as exc:
                    raise _syntax(
                        f"not a valid date or time: {exc}", Span(pos, match.end() - pos), text
                    ) from None
                tokens.append(
                    Token("datetime", match.group(0), Span(pos, match.end() - pos), moment)
                )
                pos = match.end()
                continue
            number = _NUMBER.match(text, pos)
            assert number is not None
            end = number.end()
            ident = _IDENT.match(text, end)
            if ident and "." not in number.group(0) and "e" not in number.group(0).lower():
                unit = ident.group(0)
                if unit in ("s", "m", "h", "d", "w"):
                    tokens.append(
                        Token(
                            "duration",
                            text[pos : ident.end()],
                            Span(pos, ident.end() - pos),
                            (int(number.group(0)), unit),
                        )
                    )
                    pos = ident.end()
                    continue
                raise _syntax(
                    f"unknown duration unit '{unit}' in '{text[pos : ident.end()]}'",
                    Span(end, ident.end() - end),
                    text,
                    expected=["s", "m", "h", "d", "w"],
                    hint=f"write {number.group(0)}d for days, {number.group(0)}h for hours",
                )
            raw = number.group(0)
            value_num: int | float = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(Token("number", raw, Span(pos, end - pos), value_num))
            pos = end
            continue
        ident = _IDENT.match(text, pos)
        if ident:
            tokens.append(Token("ident", ident.group(0), Span(pos, ident.end() - pos)))
            pos = ident.end()
            continue
        for op in _OPS:
            if text.startswith(op, pos):
                tokens.append(Token("op", op, Span(pos, len(op))))
                pos += len(op)
                break
        else:
            raise _syntax(f"unexpected character {ch!r}", Span(pos, 1), text)
    tokens.append(Token("eof", "", Span(length, 0)))
    return tokens
