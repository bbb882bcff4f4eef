"""The GrowthOS ingest API: track, identify, page, group, alias.

Every call takes one object, or a batch: ``{"events": [...], "sent_at": ...}`` or a JSON
array. Invalid events in a batch are skipped and reported by index; the rest are accepted.

Examples
--------
>>> ctx = IngestContext(project_id="proj_1", received_at=1_700_000_000_000_000)
>>> result = track(ctx, {"events": [
...     {"event_type": "signup", "user_id": "u1"},
...     {"event_type": "", "user_id": "u2"},
... ]})
>>> [e.event_type for e in result.events], [r["code"] for r in result.rejected]
(['signup'], ['missing_event_type'])
>>> identify(ctx, {"user_id": "u1", "device_id": "d1", "user_properties": {"plan": "pro"},
...                "user_property_ops": {"$add": {"logins": 1}}}).events[0].user_properties
'{"plan":"pro","$add":{"logins":1}}'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from growthos_pipeline.errors import BadRequest, PayloadTooLarge
from growthos_pipeline.events.model import Event
from growthos_pipeline.events.validate import (
    IngestContext,
    InvalidEvent,
    build_event,
    parse_time,
    user_property_ops,
)

_COMMON = {
    "user_id",
    "device_id",
    "session_id",
    "time",
    "insert_id",
    "url",
    "referrer",
    "user_agent",
    "library",
    "groups",
}
TRACK_FIELDS = _COMMON | {"event_type", "event_properties", "user_properties"}
IDENTIFY_FIELDS = _COMMON | {"user_properties", "user_property_ops"}
PAGE_FIELDS = _COMMON | {"name", "title", "properties", "path"}
GROUP_FIELDS = _COMMON | {"group_type", "group_id", "group_properties"}
ALIAS_FIELDS = {"user_id", "previous_id", "time", "insert_id", "library"}


@dataclass
class Result:
    """Accepted events and the refused ones (index, code, message, field).

    The typed fast path (:mod:`growthos_pipeline.events.fast`) hands its events over as
    ``columns``, an Arrow record batch in the WAL's schema, instead of ``events``.
    """

    events: list[Event] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    batch: bool = False
    columns: pa.RecordBatch | None = None

    @property
    def accepted(self) -> int:
        return self.columns.num_rows if self.columns is not None else len(self.events)


def split_batch(
    ctx: IngestContext, body: Any, max_events: int, key: str = "events"
) -> tuple[list[Any], bool]:
    """The items of a request body (one object, ``{key: [...]}``, or an array)."""
    if isinstance(body, list):
        items, batch = body, True
    elif isinstance(body, dict) and key in body and isinstance(body[key], list):
        items, batch = body[key], True
        sent_at = body.get("sent_at")
        if sent_at is not None:
            try:
                ctx.sent_at = parse_time(sent_at, field_name="sent_at")
            except InvalidEvent as err:
                raise BadRequest("invalid_sent_at", err.message) from None
    elif isinstance(body, dict):
        items, batch = [body], False
    else:
        raise BadRequest("invalid_body", "the body must be a JSON object or array")
    if len(items) > max_events:
        raise PayloadTooLarge(
            "too_many_events",
            f"a batch holds at most {max_events} events; found {len(items)}",
            details=[{"limit": max_events, "received": len(items)}],
        )
    return items, batch


def _run(
    ctx: IngestContext,
    body: Any,
    allowed: set[str],
    make: Callable[[dict[str, Any]], Event],
    max_events: int,
) -> Result:
    items, batch = split_batch(ctx, body, max_events)
    result = Result(batch=batch)
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidEvent("invalid_event", "an event must be a JSON object")
            unknown = item.keys() - allowed
            if unknown:
                name = sorted(unknown)[0]
                raise InvalidEvent(
                    "unknown_field",
                    f"unknown field '{str(name)[:64]}'; expected some of {sorted(allowed)}",
                    str(name)[:64],
                )
            result.events.append(make(item))
        except InvalidEvent as err:
            result.rejected.append(err.as_detail(index))
    return result


def _common(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": item.get("user_id"),
        "device_id": item.get("device_id"),
        "session_id": item.get("session_id"),
        "time": item.get("time"),
        "insert_id": item.get("insert_id"),
        "url": item.get("url"),
        "referrer": item.get("referrer"),
        "user_agent": item.get("user_agent"),
        "groups": item.get("groups"),
        "library": item.get("library") if isinstance(item.get("library"), str) else None,
    }


def track(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    def make(item: dict[str, Any]) -> Event:
        return build_event(
            ctx,
            event_type=item.get("event_type"),
            event_properties=item.get("event_properties"),
            user_properties=item.get("user_properties"),
            **_common(item),
        )

    return _run(ctx, body, TRACK_FIELDS, make, max_events)


def identify(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    def make(item: dict[str, Any]) -> Event:
        props = user_property_ops(item.get("user_properties"), item.get("user_property_ops"))
        return build_event(ctx, event_type="$identify", user_properties=props, **_common(item))

    return _run(ctx, body, IDENTIFY_FIELDS, make, max_events)


def page(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    def make(item: dict[str, Any]) -> Event:
        props = item.get("properties")
        if props is not None and not isinstance(props, dict):
            raise InvalidEvent(
                "invalid_properties", "properties must be a JSON object", "properties"
            )
        props = dict(props or {})
        for key in ("name", "title"):
            if item.get(key) is not None:
                props.setdefault(key, item[key])
        common = _common(item)
        if common["url"] is None and isinstance(item.get("path"), str):
            common["url"] = item["path"]
        return build_event(ctx, event_type="page_view", event_properties=props, **common)

    return _run(ctx, body, PAGE_FIELDS, make, max_events)


def group(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    def make(item: dict[str, Any]) -> Event:
        group_type, group_id = item.get("group_type"), item.get("group_id")
        if not isinstance(group_type, str) or not group_type or group_id in (None, ""):
            raise InvalidEvent("missing_group", "group needs group_type and group_id", "group_id")
        common = _common(item)
        common["groups"] = {**(common["groups"] or {}), group_type: str(group_id)}
        return build_event(
            ctx, event_type="$group", event_properties=item.get("group_properties"), **common
        )

    return _run(ctx, body, GROUP_FIELDS, make, max_events)


def alias(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    def make(item: dict[str, Any]) -> Event:
        previous = item.get("previous_id")
        if previous in (None, "") or item.get("user_id") in (None, ""):
            raise InvalidEvent(
                "missing_alias", "alias needs user_id and previous_id", "previous_id"
            )
        return build_event(
            ctx,
            event_type="$alias",
            user_id=item.get("user_id"),
            device_id=previous,
            time=item.get("time"),
            insert_id=item.get("insert_id"),
            event_properties={"previous_id": str(previous)},
        )

    return _run(ctx, body, ALIAS_FIELDS, make, max_events)
