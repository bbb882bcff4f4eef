"""The Segment tracking spec (what ``analytics-python`` and friends send to ``/v1/batch``).

Message types map as: track -> its ``event``; identify -> ``$identify`` with ``traits`` set on
the user; page -> ``page_view``; screen -> ``screen_view``; group -> ``$group``; alias ->
``$alias``. ``messageId`` is the dedup id; ``sentAt`` corrects the client's clock.

Examples
--------
>>> ctx = IngestContext(project_id="proj_1", received_at=1_700_000_000_000_000)
>>> result = batch(ctx, {"batch": [
...     {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m1",
...      "properties": {"total": 30}, "timestamp": "2023-11-14T22:13:20Z",
...      "context": {"library": {"name": "analytics-python", "version": "2.4.0"}}},
...     {"type": "identify", "anonymousId": "a1", "userId": "u1", "traits": {"plan": "pro"}},
...     {"type": "shout", "userId": "u1"},
... ]})
>>> [(e.event_type, e.insert_id, e.library) for e in result.events][0]
('Order Completed', 'm1', 'analytics-python/2.4.0')
>>> result.events[1].event_type, result.events[1].device_id, result.events[1].user_properties
('$identify', 'a1', '{"plan":"pro"}')
>>> result.rejected[0]["code"]
'unknown_type'
"""

from __future__ import annotations

from typing import Any

from growthos_pipeline.errors import BadRequest
from growthos_pipeline.events.model import Event
from growthos_pipeline.events.protocols.growthos import Result, split_batch
from growthos_pipeline.events.validate import (
    IngestContext,
    InvalidEvent,
    build_event,
    parse_time,
    user_property_ops,
)

TYPES = ("track", "identify", "page", "screen", "group", "alias")


def _library(msg: dict[str, Any]) -> str | None:
    context = msg.get("context")
    library = context.get("library") if isinstance(context, dict) else None
    if isinstance(library, dict) and library.get("name"):
        version = library.get("version")
        return f"{library['name']}/{version}" if version else str(library["name"])
    return None


def message_to_event(ctx: IngestContext, msg: dict[str, Any]) -> Event:
    """One Segment message as a canonical event."""
    kind = msg.get("type")
    if kind not in TYPES:
        raise InvalidEvent(
            "unknown_type",
            f"type must be one of {', '.join(TYPES)}; found {str(kind)[:40]!r}",
            "type",
        )
    raw_context = msg.get("context")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    raw_page = context.get("page")
    page: dict[str, Any] = raw_page if isinstance(raw_page, dict) else {}
    properties = msg.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise InvalidEvent("invalid_properties", "properties must be a JSON object", "properties")
    properties = dict(properties or {})
    url = properties.get("url") or page.get("url")
    referrer = properties.get("referrer") or page.get("referrer")
    common: dict[str, Any] = {
        "user_id": msg.get("userId"),
        "device_id": msg.get("anonymousId"),
        "time": msg.get("timestamp") or msg.get("originalTimestamp"),
        "insert_id": msg.get("messageId"),
        "url": url if isinstance(url, str) else None,
        "referrer": referrer if isinstance(referrer, str) else None,
        "user_agent": context.get("userAgent"),
        "library": _library(msg),
    }
    if kind == "track":
        return build_event(
            ctx,
            event_type=msg.get("event"),
            event_properties=properties,
            user_properties=context.get("traits"),
            **common,
        )
    if kind == "identify":
        traits = msg.get("traits", context.get("traits"))
        return build_event(
            ctx, event_type="$identify", user_properties=user_property_ops(traits, None), **common
        )
    if kind in ("page", "screen"):
        if msg.get("name"):
            properties.setdefault("name", msg["name"])
        event_type = "page_view" if kind == "page" else "screen_view"
        return build_event(ctx, event_type=event_type, event_properties=properties, **common)
    if kind == "group":
        group_id = msg.get("groupId")
        if group_id in (None, ""):
            raise InvalidEvent("missing_group", "group needs a groupId", "groupId")
        return build_event(
            ctx,
            event_type="$group",
            event_properties=msg.get("traits"),
            groups={"group": str(group_id)},
            **common,
        )
    previous = msg.get("previousId")
    if previous in (None, "") or msg.get("userId") in (None, ""):
        raise InvalidEvent("missing_alias", "alias needs userId and previousId", "previousId")
    common["device_id"] = previous
    return build_event(
        ctx, event_type="$alias", event_properties={"previous_id": str(previous)}, **common
    )


def batch(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    """A ``/v1/batch`` body (``{"batch": [...], "sentAt": ...}``) or a single message."""
    if isinstance(body, dict) and "sentAt" in body and body["sentAt"] is not None:
        try:
            ctx.sent_at = parse_time(body["sentAt"], field_name="sentAt")
        except InvalidEvent as err:
            raise BadRequest("invalid_sent_at", err.message) from None
    items, is_batch = split_batch(ctx, body, max_events, key="batch")
    result = Result(batch=is_batch)
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidEvent("invalid_event", "a message must be a JSON object")
            result.events.append(message_to_event(ctx, item))
        except InvalidEvent as err:
            result.rejected.append(err.as_detail(index))
    return result
