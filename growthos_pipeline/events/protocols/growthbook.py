"""GrowthBook's tracking-plugin format (``GrowthBookTrackingPlugin`` of the ``growthbook``
SDKs), which posts a JSON array of events as ``text/plain`` to
``{ingestor_host}/track?client_key=...``.

Each event, as the plugin builds it::

    {"event_name": "$$experiment_viewed", "properties_json": {...}, "context_json": {...},
     "user_id": ..., "device_id": ..., "session_id": ..., "page_id": ..., "url": "...",
     "sdk_language": "python", "sdk_version": "4.0.0", "utm_source": ..., "page_title": ...}

The mapping into canonical events:

=============================  ==========================================================
GrowthBook                     GrowthOS
=============================  ==========================================================
``$$experiment_viewed``        ``event_type`` ``experiment_viewed``; properties keep
                               GrowthBook's names: ``experiment_id`` (the experiment's
                               tracking key), ``variation_id``, ``variation_key``,
                               ``in_experiment``, ``hash_used``, ``hash_attribute``,
                               ``hash_value``
``$$feature_evaluated``        ``feature_evaluated`` (``feature_key``, ``feature_value``,
                               ``source``, ``rule_id``, ``experiment_id``, ...)
any other ``event_name``       kept as is (``gb.log_event(...)`` custom events)
``user_id``, ``device_id``     ``user_id``, ``device_id`` (the plugin fills ``device_id``
                               from the ``device_id``, ``anonymous_id`` or ``id``
                               attribute)
``session_id``, ``url``        ``session_id``, ``url``
``properties_json``            ``event_properties``
``context_json``               ``event_properties.attributes`` (the other targeting
                               attributes at evaluation time)
``page_id``, ``page_title``,   ``event_properties``
``utm_*``
``sdk_language``,              ``library`` (``growthbook-python/4.0.0``)
``sdk_version``
=============================  ==========================================================

The plugin sends no timestamp and no event id: the time is when the server received the
event, and each event gets a server-made ``insert_id``.

Examples
--------
>>> ctx = IngestContext(project_id="proj_1", received_at=1_700_000_000_000_000)
>>> result = track(ctx, [
...     {"event_name": "$$experiment_viewed", "user_id": "u1", "device_id": "d1",
...      "properties_json": {"experiment_id": "checkout-v2", "variation_id": 1,
...                          "hash_attribute": "id", "hash_value": "d1"},
...      "context_json": {"country": "FR"}, "url": "https://x.io/cart",
...      "sdk_language": "python", "sdk_version": "4.0.0"},
...     {"event_name": "$$feature_evaluated", "properties_json": {"feature_key": "f"}},
... ])
>>> e = result.events[0]
>>> e.event_type, e.user_id, e.device_id, e.library, e._path
('experiment_viewed', 'u1', 'd1', 'growthbook-python/4.0.0', '/cart')
>>> e.event_properties
'{"experiment_id":"checkout-v2","variation_id":1,"hash_attribute":"id","hash_value":"d1",\
"attributes":{"country":"FR"}}'
>>> result.rejected[0]["code"]
'missing_identity'
"""

from __future__ import annotations

from typing import Any

import orjson

from growthos_pipeline.events.model import Event
from growthos_pipeline.events.protocols.growthos import Result, split_batch
from growthos_pipeline.events.validate import IngestContext, InvalidEvent, build_event

#: GrowthBook's reserved event names, stored under these GrowthOS names.
RENAMED = {
    "$$experiment_viewed": "experiment_viewed",
    "$$feature_evaluated": "feature_evaluated",
}

#: Top-level fields of an event that are copied into its properties as they are.
_EXTRA = (
    "page_id",
    "page_title",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)


def _object(value: Any, name: str) -> dict[str, Any]:
    """A JSON object, also when sent as JSON text (the fields are named ``*_json``)."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidEvent("invalid_properties", f"{name} is not JSON", name) from None
    if not isinstance(value, dict):
        raise InvalidEvent("invalid_properties", f"{name} must be a JSON object", name)
    return value


def _library(item: dict[str, Any]) -> str | None:
    language, version = item.get("sdk_language"), item.get("sdk_version")
    if not isinstance(language, str) or not language:
        return None
    name = f"growthbook-{language}"
    return f"{name}/{version}" if isinstance(version, str) and version else name


def message_to_event(ctx: IngestContext, item: dict[str, Any]) -> Event:
    """One tracking-plugin event as a canonical event."""
    name = item.get("event_name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidEvent(
            "missing_event_type", "event_name must be a non-empty string", "event_name"
        )
    properties = dict(_object(item.get("properties_json"), "properties_json"))
    attributes = _object(item.get("context_json"), "context_json")
    if attributes:
        properties.setdefault("attributes", attributes)
    for key in _EXTRA:
        if item.get(key) not in (None, ""):
            properties.setdefault(key, item[key])
    return build_event(
        ctx,
        event_type=RENAMED.get(name, name),
        user_id=item.get("user_id"),
        device_id=item.get("device_id"),
        session_id=item.get("session_id"),
        time=item.get("timestamp"),
        event_properties=properties,
        url=item.get("url") or None,
        library=_library(item),
    )


def track(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    """A tracking-plugin body: a JSON array of events (or one event object)."""
    items, is_batch = split_batch(ctx, body, max_events)
    result = Result(batch=is_batch)
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise InvalidEvent("invalid_event", "an event must be a JSON object")
            result.events.append(message_to_event(ctx, item))
        except InvalidEvent as err:
            result.rejected.append(err.as_detail(index))
    return result
