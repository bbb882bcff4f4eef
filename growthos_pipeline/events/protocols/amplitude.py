"""Amplitude's HTTP API v2 (``/2/httpapi``) and Batch API (``/batch``) bodies.

A body is ``{"api_key": ..., "events": [...], "options": {...}}``. Each event maps as:

============================  ===============================================================
Amplitude field               canonical event
============================  ===============================================================
event_type                    ``event_type`` (``$identify`` and ``$groupidentify`` kept)
user_id, device_id            ``user_id``, ``device_id`` (at least one is required)
time (ms since the epoch)     ``time`` (no clock correction: Amplitude sends no send time)
insert_id                     ``insert_id`` (the dedup id)
session_id (ms; -1 = none)    ``session_id`` as text
event_properties              ``event_properties``
user_properties               ``user_properties``: plain keys and ``$set``, ``$setOnce`` (as
                              ``$set_once``), ``$add``, ``$append``, ``$prepend``,
                              ``$remove``, ``$unset``, ``$clearAll``; ``$preInsert`` and
                              ``$postInsert`` are kept as ``$prepend`` and ``$append`` (the
                              "only if absent" part is lost)
groups                        ``groups``
group_properties              of a ``$groupidentify``: its property operations become the
                              event's ``event_properties``
library, user_agent           ``library``; ``user_agent`` feeds ``_browser``/``_os``
price, quantity, revenue,     ``event_properties`` as ``$price``, ``$quantity``,
productId, revenueType,       ``$revenue``, ``$productId``, ``$revenueType``, ``$currency``
currency                      (Amplitude's own revenue property names)
every other field             ``event_properties`` as ``$<field>`` (``$platform``,
(platform, os_name,           ``$os_name``, ``$device_model``, ``$ip``, ...), never overwriting
device_model, ip, city, ...)  a property the event sent itself; ``ip: "$remote"`` is dropped
idfa, idfv, adid, android_id  dropped: GrowthOS keeps no advertising identifiers
============================  ===============================================================

A request with an invalid event is refused whole, as Amplitude's own server does: nothing of it
is stored, the answer lists the bad indexes, and Amplitude's client drops exactly those and
sends the rest again. Accepting the valid events at once would store them twice (the client
resends them whatever the answer says) and rest exactly-once on every sender setting
``insert_id``; refusing the whole request makes it exactly-once by construction, with
``insert_id`` dedup as a second guard. ``options.min_id_length`` is honoured when sent;
Amplitude's default minimum of 5 characters is not imposed (GrowthOS accepts any non-empty id).

Examples
--------
>>> ctx = IngestContext(project_id="proj_1", received_at=1_700_000_000_000_000)
>>> result = batch(ctx, {"api_key": "pk_x", "events": [
...     {"event_type": "Song Played", "user_id": "u1", "time": 1_699_999_999_000,
...      "insert_id": "i1", "platform": "iOS", "event_properties": {"genre": "jazz"},
...      "library": "amplitude-python/1.3.0"},
...     {"event_type": "$identify", "device_id": "d1",
...      "user_properties": {"$setOnce": {"first_seen": "2023"}, "$add": {"plays": 1}}},
... ]})
>>> [(e.event_type, e.insert_id, e.time) for e in result.events][0]
('Song Played', 'i1', 1699999999000000)
>>> result.events[0].event_properties
'{"genre":"jazz","$platform":"iOS"}'
>>> result.events[1].user_properties
'{"$set_once":{"first_seen":"2023"},"$add":{"plays":1}}'
>>> refused = batch(ctx, {"events": [{"event_type": "ok", "user_id": "u1"},
...                                  {"event_type": "late", "user_id": "u1", "time": 9e15}]})
>>> refused.events, [r["index"] for r in refused.rejected]
([], [1])
>>> invalid_events_body(refused.rejected)["events_with_invalid_fields"]
{'time': [1]}
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

#: Amplitude's user-property operations, as GrowthOS names them.
OPERATIONS = {
    "$set": "$set",
    "$setOnce": "$set_once",
    "$set_once": "$set_once",
    "$add": "$add",
    "$append": "$append",
    "$prepend": "$prepend",
    "$remove": "$remove",
    "$unset": "$unset",
    "$clearAll": "$clearAll",
    "$preInsert": "$prepend",
    "$postInsert": "$append",
}

#: Fields mapped onto columns of the canonical event (not copied into event_properties).
_MAPPED = frozenset(
    {
        "event_type",
        "user_id",
        "device_id",
        "time",
        "insert_id",
        "session_id",
        "event_properties",
        "user_properties",
        "groups",
        "group_properties",
        "library",
        "user_agent",
    }
)
#: Fields renamed when copied into event_properties (Amplitude's revenue property names).
_RENAMED = {
    "price": "$price",
    "quantity": "$quantity",
    "revenue": "$revenue",
    "productId": "$productId",
    "revenueType": "$revenueType",
    "currency": "$currency",
}
#: Advertising identifiers: dropped.
_DROPPED = frozenset({"idfa", "idfv", "adid", "android_id"})

#: Our field names that Amplitude's answer reports under another name.
_FIELD_NAMES = {"user_property_ops": "user_properties"}


def translate_operations(value: Any, name: str = "user_properties") -> dict[str, Any] | None:
    """Amplitude's property operations renamed to GrowthOS's, then checked.

    >>> translate_operations({"plan": "pro", "$setOnce": {"a": 1}, "$postInsert": {"t": "x"}})
    {'plan': 'pro', '$set_once': {'a': 1}, '$append': {'t': 'x'}}
    >>> translate_operations({"$clearAll": "-"})
    {'$clearAll': True}
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidEvent("invalid_properties", f"{name} must be a JSON object", name)
    plain: dict[str, Any] = {}
    ops: dict[str, Any] = {}
    for key, item in value.items():
        if not (isinstance(key, str) and key.startswith("$")):
            plain[key] = item
            continue
        op = OPERATIONS.get(key)
        if op is None:
            raise InvalidEvent(
                "unknown_operation",
                f"unknown property operation '{key[:40]}'; expected one of {', '.join(OPERATIONS)}",
                name,
            )
        previous = ops.get(op)
        if isinstance(previous, dict) and isinstance(item, dict):
            item = {**previous, **item}
        ops[op] = item
    try:
        return user_property_ops(plain, ops or None)
    except InvalidEvent as err:
        raise InvalidEvent(err.code, err.message, name) from None


def _time(value: Any) -> int | None:
    """Amplitude's ``time``: milliseconds since the epoch (ISO text is accepted too)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidEvent("invalid_time", "time must be milliseconds since the epoch", "time")
    if isinstance(value, int | float):
        return int(value * 1000)
    return parse_time(value)


def _session(value: Any) -> str | None:
    if value is None or value == -1 or value == "-1":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidEvent("invalid_id", "session_id must be a number", "session_id")
    return str(value)


def _check_id_length(item: dict[str, Any], min_length: int | None) -> None:
    if not min_length:
        return
    for name in ("user_id", "device_id"):
        value = item.get(name)
        if isinstance(value, str | int) and value != "" and len(str(value)) < min_length:
            raise InvalidEvent(
                "id_too_short", f"{name} is shorter than min_id_length ({min_length})", name
            )


def _extras(item: dict[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for key, value in item.items():
        if key in _MAPPED or key in _DROPPED or value is None:
            continue
        if key == "ip" and value == "$remote":
            continue
        extras[_RENAMED.get(key, f"${key}")] = value
    return extras


def event_to_canonical(
    ctx: IngestContext, item: dict[str, Any], *, min_id_length: int | None = None
) -> Event:
    """One Amplitude event as a canonical event, or :class:`InvalidEvent`."""
    _check_id_length(item, min_id_length)
    event_type = item.get("event_type")
    properties = item.get("event_properties")
    if properties is not None and not isinstance(properties, dict):
        raise InvalidEvent(
            "invalid_properties", "event_properties must be a JSON object", "event_properties"
        )
    properties = dict(properties or {})
    if event_type == "$groupidentify":
        group_props = translate_operations(item.get("group_properties"), "group_properties")
        properties.update(group_props or {})
    for key, value in _extras(item).items():
        properties.setdefault(key, value)
    library = item.get("library")
    return build_event(
        ctx,
        event_type=event_type,
        user_id=item.get("user_id"),
        device_id=item.get("device_id"),
        session_id=_session(item.get("session_id")),
        time=_time(item.get("time")),
        insert_id=item.get("insert_id"),
        event_properties=properties,
        user_properties=translate_operations(item.get("user_properties")),
        groups=item.get("groups"),
        user_agent=item.get("user_agent"),
        library=library[:200] if isinstance(library, str) and library else None,
    )


def batch(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    """A ``/2/httpapi`` or ``/batch`` body. Any invalid event refuses the whole request:
    ``events`` is then empty and ``rejected`` lists every invalid index."""
    if not isinstance(body, dict):
        raise BadRequest("invalid_body", "the body must be a JSON object with api_key and events")
    if not isinstance(body.get("events"), list) or not body["events"]:
        raise BadRequest(
            "missing_events",
            "the body needs events: a non-empty JSON array",
            details=[{"missing_field": "events"}],
        )
    options = body.get("options")
    min_id_length = options.get("min_id_length") if isinstance(options, dict) else None
    if isinstance(min_id_length, bool) or not isinstance(min_id_length, int):
        min_id_length = None
    items, _ = split_batch(ctx, body["events"], max_events)
    result = Result(batch=True)
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidEvent("invalid_event", "an event must be a JSON object")
            result.events.append(event_to_canonical(ctx, item, min_id_length=min_id_length))
        except InvalidEvent as err:
            result.rejected.append(err.as_detail(index))
    if result.rejected:
        result.events = []
    return result


def invalid_events_body(rejected: list[dict[str, Any]]) -> dict[str, Any]:
    """Amplitude's 400 answer for refused events: the indexes grouped by field, under
    ``events_with_missing_fields``, ``events_with_invalid_id_lengths`` or
    ``events_with_invalid_fields`` (what Amplitude's clients read), plus our reasons.

    >>> invalid_events_body([{"index": 2, "code": "missing_event_type", "message": "m",
    ...                       "field": "event_type"}])["events_with_missing_fields"]
    {'event_type': [2]}
    """
    groups: dict[str, dict[str, list[int]]] = {
        "events_with_missing_fields": {},
        "events_with_invalid_id_lengths": {},
        "events_with_invalid_fields": {},
    }
    for reason in rejected:
        code, index = reason["code"], reason["index"]
        field = reason.get("field")
        if code == "missing_identity":
            field = "user_id"
        field = _FIELD_NAMES.get(field or "", field or "event")
        if code.startswith("missing_"):
            kind = "events_with_missing_fields"
        elif code == "id_too_short":
            kind = "events_with_invalid_id_lengths"
        else:
            kind = "events_with_invalid_fields"
        groups[kind].setdefault(field, []).append(index)
    first = rejected[0]["message"] if rejected else "invalid events"
    body: dict[str, Any] = {
        "code": 400,
        "error": f"Request rejected: {len(rejected)} invalid event(s); first: {first}",
    }
    body.update({kind: fields for kind, fields in groups.items() if fields})
    body["rejected"] = rejected
    return body
