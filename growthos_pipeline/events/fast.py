"""The hot path of ``/v1/track``: well-formed batches decoded by type, in C.

Nearly every request an SDK sends is valid. For those, decoding the body into Python dicts
(every property of every event an object) and checking each event field by field in Python
costs several times what the rest of ingest does. :func:`track` instead decodes the body with
``msgspec`` straight into typed structs: types, unknown fields and malformed JSON are checked
while parsing, and property objects stay as their raw JSON text (``msgspec.Raw``), which is
what the lake stores anyway. The events are then checked and built column by column, into
the Arrow record batch that the write-ahead log stores
(:mod:`growthos_pipeline.ingest.records`), with little Python per event.

It is an accelerator, not a second implementation of the rules: it returns ``None`` for any
body it is not sure about (a type it does not expect, an invalid event, an escape sequence
in a property text, a nesting it cannot bound cheaply, ...), and the caller then runs the
general mapper (:func:`growthos_pipeline.events.protocols.growthos.track`), which refuses or
reports exactly as documented. For a body it accepts, it produces the events the general
mapper would (as columns), except that a property object keeps the client's own JSON
spelling (white space, number notation, integers beyond 64 bits) where the general path
re-serialises it: the same JSON value, or (for such integers) a more exact one.

Examples
--------
>>> from growthos_pipeline.events.validate import IngestContext
>>> ctx = IngestContext(project_id="proj_1", received_at=1_700_000_000_000_000)
>>> one = b'{"event_type": "signup", "user_id": "u1", "time": 1699999999000, '
>>> one += b'"event_properties": {"plan": "pro"}}'
>>> result = track(ctx, b'{"events": [' + b",".join([one] * 20) + b"]}")
>>> event = result.columns.to_pylist()[0]
>>> event["event_type"], event["user_id"], event["time"], event["event_properties"]
('signup', 'u1', 1699999999000000, '{"plan": "pro"}')
>>> track(ctx, b'{"events": [' + b",".join([one] * 19 + [b'{"event_type": ""}']) + b"]}") is None
True
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import cast

import msgspec
import pyarrow as pa

from growthos_pipeline.events import enrich
from growthos_pipeline.events.model import WAL_ARROW_SCHEMA
from growthos_pipeline.events.protocols.growthos import Result
from growthos_pipeline.events.validate import (
    _MAX_FUTURE_US,
    _MIN_TIME_US,
    IngestContext,
    InvalidEvent,
    event_ids,
    parse_time,
)

_NULL = msgspec.Raw(b"null")

Scalar = str | int | float | None


class _TrackEvent(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One event of ``/v1/track``, with exactly the fields the general mapper allows (only
    scalars and raw text, so no reference cycles: untracked by the garbage collector)."""

    event_type: str
    user_id: Scalar = None
    device_id: Scalar = None
    session_id: Scalar = None
    time: Scalar = None
    insert_id: Scalar = None
    event_properties: msgspec.Raw = _NULL
    user_properties: msgspec.Raw = _NULL
    groups: msgspec.Raw = _NULL
    url: str | None = None
    referrer: str | None = None
    user_agent: str | None = None
    library: str | None = None


class _TrackBatch(msgspec.Struct, gc=False):
    """``{"events": [...], "sent_at": ...}``; other keys are ignored, as the general path does."""

    events: list[_TrackEvent]
    sent_at: Scalar = None


_batch_decoder = msgspec.json.Decoder(_TrackBatch)


class _Unsure(Exception):
    """This body takes the general path."""


def _blank_to_none(values: list[Scalar]) -> list[Scalar]:
    """``""`` means no id, as in the general path."""
    return [None if v == "" else v for v in values] if "" in values else values


#: The integers the general path's JSON parser keeps as integers (beyond, it reads floats).
_JSON_INTS = (-(2**63), 2**64 - 1)


def _ids(values: list[Scalar], max_chars: int) -> pa.Array:
    """A column of ids: text as it is, numbers written as text."""
    try:
        longest = max(map(len, filter(None, values)), default=0)  # type: ignore[arg-type]
        column = pa.array(values, type=pa.string())
    except TypeError:  # numbers among them (ArrowTypeError is a TypeError): the rare case
        if any(type(v) is int and not _JSON_INTS[0] <= v <= _JSON_INTS[1] for v in values):
            raise _Unsure from None  # the general path reads it as a float
        texts = [None if v is None else str(v) for v in values]
        longest = max(map(len, filter(None, texts)), default=0)
        column = pa.array(texts, type=pa.string())
    if longest > max_chars:
        raise _Unsure  # refused by the general path
    return column


def _insert_ids(values: list[Scalar], event_ids: list[str], max_chars: int) -> pa.Array:
    """The client's dedup ids, else the event's own id."""
    column = _ids(values, max_chars).to_pylist()
    return pa.array(
        [e if i is None else i for i, e in zip(column, event_ids, strict=True)], type=pa.string()
    )


#: Bytes dropped to leave, of each property text, its opening brackets (and the separator).
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"{[\x00")))


def _properties(raws: list[msgspec.Raw], max_depth: int, max_chars: int) -> pa.Array:
    """A column of property objects as JSON text, when the limits provably hold without
    parsing them: every text short enough that no key or string in it can be too long, and
    with no more opening brackets than the nesting allowed. The checks run over the whole
    column at once where they can (measured: a check per text costs more than the rest)."""
    count = len(raws)
    joined = b"\x00".join(raws)  # NUL cannot occur in JSON text
    if len(joined) == 5 * count - 1 and joined.count(b"null") == count:
        return pa.nulls(count, pa.string())
    if b"\\" in joined:  # escapes, to be normalised by the general path
        raise _Unsure
    texts = joined.split(b"\x00")
    if max(map(len, texts)) > min(256, max_chars):
        raise _Unsure
    if {text[:1] for text in texts} != {b"{"} or b"{}" in texts or _SPACED_BRACE.search(joined):
        return _some_properties(texts, max_depth)  # null, an empty object, not an object
    opening, arrays = joined.count(b"{"), joined.count(b"[")
    # Flat objects (one brace each, the usual case) nest one deep; otherwise count per text.
    if not (opening + arrays <= max_depth or (opening == count and not arrays)) and (
        max(map(len, joined.translate(None, _NOT_BRACKETS).split(b"\x00"))) > max_depth
    ):
        raise _Unsure
    column = pa.array(texts, type=pa.binary()).view(pa.string())
    try:
        column.validate(full=True)  # UTF-8
    except pa.ArrowInvalid:
        raise _Unsure from None
    return column


#: A brace followed by white space: perhaps an empty object spelt ``{ }``.
_SPACED_BRACE = re.compile(rb"\{[ \t\r\n]")


def _some_properties(texts: list[bytes], max_depth: int) -> pa.Array:
    """:func:`_properties` for a column with nulls, empty objects or other values, text by
    text."""
    kept: list[bytes | None] = []
    for text in texts:
        if text == b"null":
            kept.append(None)
        elif text[:1] != b"{":
            raise _Unsure  # not an object: refused by the general path
        elif b'"' not in text:  # {} (or { }): no key, no properties
            kept.append(None)
        elif text.count(b"{") + text.count(b"[") > max_depth:
            raise _Unsure
        else:
            kept.append(text)
    try:
        return pa.array(kept, type=pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:  # not UTF-8
        raise _Unsure from None


def _times(values: list[Scalar], received: int, skew: int, latest: int) -> pa.Array:
    """Event times in microseconds, skew-corrected, or the receive time when absent."""
    try:  # every time in epoch milliseconds, as SDKs send them: one multiplication each
        numbers = cast(list[int], values)
        if (
            type(sum(numbers)) is int  # all integers (a float or None makes it fail or float)
            and min(numbers) >= 100_000_000_000
            and max(numbers) < 100_000_000_000_000
        ):
            return _checked([v * 1000 + skew for v in numbers], latest)
    except TypeError:  # a missing time, or text among them
        pass
    if all(type(v) is int or v is None for v in values):  # epoch numbers
        optional = cast(list[int | None], values)
        times = [
            received
            if v is None
            else (
                v
                if v >= 100_000_000_000_000
                else v * 1000
                if v >= 100_000_000_000
                else v * 1_000_000
            )
            + skew
            for v in optional
        ]
    else:
        times = [received if v is None or v == "" else parse_time(v) + skew for v in values]
    return _checked(times, latest)


def _checked(times: list[int], latest: int) -> pa.Array:
    if min(times) < _MIN_TIME_US or max(times) > latest:
        raise _Unsure
    return pa.array(times, type=pa.int64())


@functools.lru_cache(maxsize=8192)
def page_path(url: str) -> str | None:
    """The path of a page URL, as :func:`growthos_pipeline.events.enrich.page` gives it.

    >>> page_path("https://shop.example.com/blog/post?x=1#top"), page_path("http://a.io")
    ('/blog/post', '/')
    """
    # ``urlsplit(url).path or "/"`` for the common absolute http(s) URL, without urlsplit's
    # general machinery: no characters urlsplit strips, and a host of ASCII without brackets
    # (urlsplit validates IPv6 hosts and normalises non-ASCII ones).
    start = 8 if url.startswith("https://") else 7 if url.startswith("http://") else 0
    if not start or "\t" in url or "\n" in url or "\r" in url:
        return enrich.page(url, None)[1]
    end = len(url)
    for delimiter in "/?#":
        found = url.find(delimiter, start)
        if 0 <= found < end:
            end = found
    host = url[start:end]
    if "[" in host or "]" in host or not host.isascii():
        return enrich.page(url, None)[1]
    return url[end:].split("#", 1)[0].split("?", 1)[0] or "/"


#: Fewer events than this take the general path: building an Arrow column costs a few
#: microseconds whatever its length, more than the general path spends on one event.
MIN_EVENTS = 16


def track(
    ctx: IngestContext, data: bytes, *, max_events: int = 2000, min_events: int = MIN_EVENTS
) -> Result | None:
    """The events of a well-formed ``/v1/track`` batch, or ``None`` to take the general
    path (which also takes single events and batches under ``min_events``)."""
    if data[:1] != b"{" or b'"events"' not in data[:4096]:
        return None
    try:
        body = _batch_decoder.decode(data)
        items = body.events
        if not min_events <= len(items) <= max_events:
            return None
        if body.sent_at is not None:
            ctx.sent_at = parse_time(body.sent_at, field_name="sent_at")
        return Result(columns=_columns(ctx, items), batch=True)
    except (msgspec.ValidationError, msgspec.DecodeError, InvalidEvent, _Unsure):
        return None


def _text_columns(
    texts: Sequence[Sequence[str | None]], ids: list[list[Scalar]], max_id: int
) -> list[pa.Array] | None:
    """Text columns of one length, built with one conversion and cut into slices (each
    conversion has a fixed cost of a few microseconds, more than most columns' values): the
    columns of ``texts``, then those of ``ids`` (the client's ids, the last one the
    insert_ids: where absent, the event's own id, which is the fifth of ``texts``). None when
    an id is a number (built column by column then); ``_Unsure`` when one is too long."""
    count = len(texts[0])
    insert_ids: list[Scalar] = ids[-1]
    if None in insert_ids:
        event_ids_ = texts[4]
        insert_ids = [e if i is None else i for i, e in zip(insert_ids, event_ids_, strict=True)]
    flat: list[Scalar] = []
    for text in texts:
        flat += text
    for values in (*ids[:-1], insert_ids):
        flat += values
    try:
        column = pa.array(flat, type=pa.string())
    except TypeError:  # ArrowTypeError: a number
        return None
    longest = max(max(map(len, filter(None, values)), default=0) for values in ids)  # type: ignore[arg-type]
    if longest > max_id:
        raise _Unsure  # refused by the general path
    return [column.slice(n * count, count) for n in range(len(texts) + len(ids))]


@functools.lru_cache(maxsize=4096)
def _same(value: str | None, count: int) -> pa.Array:
    """A text column of one value (a project, a source, a country): built once per value and
    batch size, since Arrow arrays are immutable."""
    string = pa.string()
    return pa.nulls(count, string) if value is None else pa.repeat(pa.scalar(value, string), count)


def _columns(ctx: IngestContext, items: list[_TrackEvent]) -> pa.RecordBatch:
    """The events as a record batch in the WAL's schema, checked column by column."""
    limits = ctx.limits
    max_id, max_chars, max_depth = limits.max_id_chars, limits.max_string_chars, limits.max_depth
    count = len(items)
    received = ctx.received_at
    skew = received - ctx.sent_at if ctx.sent_at is not None else 0
    string = pa.string()

    event_types = [item.event_type for item in items]
    if not all(map(str.strip, event_types)) or max(map(len, event_types)) > 1024:
        raise _Unsure
    user_ids = _blank_to_none([item.user_id for item in items])
    device_ids = _blank_to_none([item.device_id for item in items])
    if None in user_ids and any(
        u is None and d is None for u, d in zip(user_ids, device_ids, strict=True)
    ):
        raise _Unsure  # an event needs a user or a device
    times = _times([item.time for item in items], received, skew, received + _MAX_FUTURE_US)
    props = [item.event_properties for item in items]
    uprops = [item.user_properties for item in items]
    groups = [item.groups for item in items]
    largest = max(map(len, props)) + max(map(len, uprops)) + max(map(len, groups))
    if largest > limits.max_event_bytes:
        raise _Unsure  # perhaps too large: the general path measures exactly

    agents = [item.user_agent for item in items]
    if agents.count(None) == count:
        browser, os_name, device_type = (
            enrich.user_agent(ctx.user_agent) if ctx.user_agent else (None, None, None)
        )
        ua_columns = [_same(v, count) for v in (browser, os_name, device_type)]
    else:
        parsed = [
            (enrich.user_agent(a) if a else (None, None, None))
            if a is not None
            else (enrich.user_agent(ctx.user_agent) if ctx.user_agent else (None, None, None))
            for a in agents
        ]
        ua_columns = [pa.array(list(column), type=string) for column in zip(*parsed, strict=True)]

    urls: list[str | None] = []
    paths: list[str | None] = []
    referrers: list[str | None] = []
    for item in items:
        url, referrer = item.url, item.referrer
        if url is not None and len(url) > max_chars:
            url = None
        if referrer is not None and len(referrer) > max_chars:
            referrer = None
        if url:
            urls.append(url)
            paths.append(page_path(url))
            referrers.append(referrer or "")
        else:
            urls.append(None)
            paths.append(None)
            referrers.append(referrer or None)

    ids = event_ids.new_many(count)
    insert_ids = _blank_to_none([item.insert_id for item in items])
    session_ids = _blank_to_none([item.session_id for item in items])
    libraries = [item.library for item in items]
    library = None if libraries.count(None) == count else [lib or ctx.library for lib in libraries]
    texts = _text_columns(
        [event_types, paths, urls, referrers, ids, *([library] if library else [])],
        [user_ids, device_ids, session_ids, insert_ids],
        max_id,
    )
    if texts is None:  # numbers among the ids: column by column
        event_column = pa.array(ids, type=string)
        texts = [
            pa.array(event_types, type=string),
            pa.array(paths, type=string),
            pa.array(urls, type=string),
            pa.array(referrers, type=string),
            event_column,
            *([pa.array(library, type=string)] if library else []),
            _ids(user_ids, max_id),
            _ids(device_ids, max_id),
            _ids(session_ids, max_id),
            event_column
            if insert_ids.count(None) == count
            else _ids(insert_ids, max_id)
            if None not in insert_ids
            else _insert_ids(insert_ids, ids, max_id),
        ]
    event_type, path, url, referrer, event_column, *rest = texts
    library_column = rest.pop(0) if library else _same(ctx.library, count)
    user_column, device_column, session_column, insert_column = rest
    columns = {
        "project_id": _same(ctx.project_id, count),
        "time": times,
        "received_at": pa.array([received] * count, type=pa.int64()),
        "event_id": event_column,
        "insert_id": insert_column,
        "event_type": event_type,
        "user_id": user_column,
        "device_id": device_column,
        "session_id": session_column,
        "event_properties": _properties(props, max_depth, max_chars),
        "user_properties": _properties(uprops, max_depth, max_chars),
        "groups": _properties(groups, max_depth, max_chars),
        "source": _same(ctx.source, count),
        "library": library_column,
        "_browser": ua_columns[0],
        "_os": ua_columns[1],
        "_device_type": ua_columns[2],
        "_path": path,
        "_url": url,
        "_referrer": referrer,
        "_country": _same(ctx.country, count),
    }
    # By names: the types are the schema's already, and checking them again costs more
    # than building most columns did.
    names = WAL_ARROW_SCHEMA.names
    return pa.RecordBatch.from_arrays([columns[name] for name in names], names=names)
