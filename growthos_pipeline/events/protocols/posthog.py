"""PostHog's capture format (what ``posthog-python``, ``posthog-js`` and friends send).

A request holds ``{"api_key", "batch": [...], "sent_at"}`` (``/batch/``), one event
``{"api_key", "event", "distinct_id", "properties", ...}`` (``/i/v0/e/``, ``/capture/``), or
a JSON array of events; the project key is the body's ``api_key`` (or ``token``, also inside
an event's properties, as posthog-js sends it). The mapping into canonical events:

============================  ===========================================================
PostHog                       GrowthOS
============================  ===========================================================
``event``                     ``event_type``, PostHog's own name, except: ``$pageview``
                              -> ``page_view``, ``$screen`` -> ``screen_view``,
                              ``$create_alias`` -> ``$alias``, ``$groupidentify`` ->
                              ``$group``, ``$set``/``$set_once`` -> ``$identify``
``distinct_id``               ``user_id``; ``device_id`` instead when the event is
                              anonymous (``$process_person_profile`` false,
                              ``$is_identified`` false, or ``distinct_id == $device_id``)
``$device_id``                ``device_id`` (``$anon_distinct_id`` on ``$identify``)
``$set``, ``$set_once``,      ``user_properties`` operations (top level or in properties)
``$unset``
``$groups``                   ``groups`` (``$group_type``/``$group_key`` on
                              ``$groupidentify``, whose ``$group_set`` becomes the
                              event properties)
``uuid``                      ``insert_id``
``timestamp``, ``sent_at``    ``time``, corrected for the client's clock skew
``$session_id``               ``session_id``
``$current_url``,             ``url``, ``referrer`` (``$direct`` is a direct visit)
``$referrer``
``$raw_user_agent``           the user agent (browser, OS, device type)
``$lib``/``$lib_version``     ``library`` (``posthog-python/7.0.0``)
other properties              ``event_properties``
============================  ===========================================================

Examples
--------
>>> ctx = IngestContext(project_id="proj_1", received_at=1_700_000_000_000_000)
>>> result = batch(ctx, {"api_key": "pk_x", "sent_at": "2023-11-14T22:13:20Z", "batch": [
...     {"event": "$pageview", "distinct_id": "u1", "uuid": "0190-a", "timestamp":
...      "2023-11-14T22:13:19Z", "properties": {"$current_url": "https://x.io/a",
...      "$lib": "posthog-python", "$lib_version": "7.0.0", "plan": "pro"}},
...     {"event": "$identify", "distinct_id": "u1", "properties": {
...      "$anon_distinct_id": "anon-1", "$set": {"email": "a@x.io"}}},
...     {"event": "", "distinct_id": "u1"},
... ]})
>>> e = result.events[0]
>>> (e.event_type, e.user_id, e.insert_id, e._path, e.library, e.event_properties)
('page_view', 'u1', '0190-a', '/a', 'posthog-python/7.0.0', '{"plan":"pro"}')
>>> result.events[1].device_id, result.events[1].user_properties
('anon-1', '{"$set":{"email":"a@x.io"}}')
>>> result.rejected[0]["code"]
'missing_event_type'
>>> api_key({"batch": [{"event": "x", "properties": {"token": "pk_1"}}]})
'pk_1'
"""

from __future__ import annotations

from typing import Any

from growthos_pipeline.events.model import Event
from growthos_pipeline.events.protocols.growthos import Result, split_batch
from growthos_pipeline.events.validate import (
    IngestContext,
    InvalidEvent,
    build_event,
    user_property_ops,
)

#: PostHog event names stored under the canonical GrowthOS name.
RENAMED = {
    "$pageview": "page_view",
    "$screen": "screen_view",
    "$create_alias": "$alias",
    "$groupidentify": "$group",
    "$set": "$identify",
    "$set_once": "$identify",
}

#: Properties that become columns (or operations) and are not kept in event_properties.
_MAPPED = frozenset(
    {
        "token",
        "api_key",
        "distinct_id",
        "$set",
        "$set_once",
        "$unset",
        "$groups",
        "$current_url",
        "$referrer",
        "$raw_user_agent",
        "$lib",
        "$lib_version",
        "$session_id",
        "$device_id",
        "$anon_distinct_id",
    }
)

_OPS = ("$set", "$set_once", "$unset")


def api_key(body: Any) -> str | None:
    """The project key a PostHog body carries: ``api_key`` or ``token`` at the top, else in
    the first event (posthog-js puts ``token`` in each event's properties)."""
    if isinstance(body, dict):
        for name in ("api_key", "token"):
            if isinstance(body.get(name), str) and body[name]:
                return str(body[name])
        events = body.get("batch")
        first = events[0] if isinstance(events, list) and events else body
    elif isinstance(body, list) and body:
        first = body[0]
    else:
        return None
    if not isinstance(first, dict):
        return None
    properties = first.get("properties")
    for source in (first, properties if isinstance(properties, dict) else {}):
        for name in ("api_key", "token"):
            if isinstance(source.get(name), str) and source[name]:
                return str(source[name])
    return None


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent("invalid_properties", f"{name} must be a JSON object", name)
    return value


def _operations(msg: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any] | None:
    """``$set``/``$set_once``/``$unset`` from the top level and from the properties."""
    ops: dict[str, Any] = {}
    for op in _OPS:
        for source in (properties, msg):
            value = source.get(op)
            if value is None:
                continue
            if op == "$unset":
                names = list(value) if isinstance(value, dict) else value
                if not isinstance(names, list):
                    raise InvalidEvent(
                        "invalid_operations", "$unset takes a list of property names", "$unset"
                    )
                ops[op] = [*ops.get(op, []), *names]
            else:
                ops[op] = {**ops.get(op, {}), **_object(value, op)}
    return user_property_ops(None, ops) if ops else None


def _library(properties: dict[str, Any]) -> str | None:
    name, version = properties.get("$lib"), properties.get("$lib_version")
    if not isinstance(name, str) or not name:
        return None
    return f"{name}/{version}" if isinstance(version, str) and version else name


def _anonymous(distinct_id: Any, properties: dict[str, Any]) -> bool:
    return (
        properties.get("$process_person_profile") is False
        or properties.get("$is_identified") is False
        or (distinct_id is not None and properties.get("$device_id") == distinct_id)
    )


def message_to_event(ctx: IngestContext, msg: dict[str, Any]) -> Event:
    """One PostHog event as a canonical event."""
    name = msg.get("event")
    if not isinstance(name, str) or not name.strip():
        raise InvalidEvent("missing_event_type", "event must be a non-empty string", "event")
    properties = _object(msg.get("properties"), "properties")
    distinct_id = msg.get("distinct_id", properties.get("distinct_id"))
    rest = {k: v for k, v in properties.items() if k not in _MAPPED}
    referrer = properties.get("$referrer")
    groups = _object(properties.get("$groups"), "$groups")
    user_id: Any = distinct_id
    device_id: Any = properties.get("$device_id")
    if name == "$identify":
        device_id = properties.get("$anon_distinct_id") or device_id
    elif name == "$create_alias":
        # alias(previous_id, distinct_id): the event's distinct_id is the previous id.
        previous, alias = distinct_id, properties.get("alias")
        if previous in (None, "") or alias in (None, ""):
            raise InvalidEvent(
                "missing_alias", "$create_alias needs distinct_id and properties.alias", "alias"
            )
        user_id, device_id = alias, previous
        rest = {"previous_id": str(previous)}
    elif name == "$groupidentify":
        group_type, group_key = properties.get("$group_type"), properties.get("$group_key")
        if not isinstance(group_type, str) or not group_type or group_key in (None, ""):
            raise InvalidEvent(
                "missing_group", "$groupidentify needs $group_type and $group_key", "$group_key"
            )
        groups = {**groups, group_type: str(group_key)}
        rest = _object(properties.get("$group_set"), "$group_set")
    elif _anonymous(distinct_id, properties):
        user_id, device_id = None, distinct_id
    return build_event(
        ctx,
        event_type=RENAMED.get(name, name),
        user_id=user_id,
        device_id=device_id,
        session_id=properties.get("$session_id"),
        time=msg.get("timestamp"),
        insert_id=msg.get("uuid"),
        event_properties=rest,
        user_properties=_operations(msg, properties),
        groups={k: str(v) for k, v in groups.items()} or None,
        url=properties.get("$current_url"),
        referrer="" if referrer == "$direct" else referrer,
        user_agent=properties.get("$raw_user_agent"),
        library=_library(properties),
    )


def batch(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    """A PostHog body: ``{"batch": [...], "sent_at": ...}``, an array, or one event."""
    items, is_batch = split_batch(ctx, body, max_events, key="batch")
    result = Result(batch=is_batch)
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidEvent("invalid_event", "an event must be a JSON object")
            result.events.append(message_to_event(ctx, item))
        except InvalidEvent as err:
            result.rejected.append(err.as_detail(index))
    return result
