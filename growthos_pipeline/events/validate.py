"""From decoded wire fields to a canonical :class:`Event`, or a reason it is refused.

Every protocol mapper calls :func:`build_event`; the checks and limits are the same whatever
the protocol. A refused event raises :class:`InvalidEvent` with a stable ``code`` and a
message; a batch skips it and lists it by index.

Examples
--------
>>> ctx = IngestContext(project_id="proj_1", received_at=1_700_000_000_000_000,
...                     limits=Limits())
>>> event = build_event(ctx, event_type="signup", user_id=42, time="2023-11-14T22:13:20Z",
...                     event_properties={"plan": "pro"})
>>> event.user_id, event.time, event.event_properties
('42', 1700000000000000, '{"plan":"pro"}')
>>> build_event(ctx, event_type="signup", time="2023-11-14T22:13:20Z")
Traceback (most recent call last):
...
growthos_pipeline.events.validate.InvalidEvent: missing_identity: an event needs a user_id or \
a device_id
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from growthos_pipeline.events import enrich
from growthos_pipeline.events.model import Event
from growthos_pipeline.ids import MonotonicIds
from growthos_pipeline.settings import Settings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MIN_TIME_US = 946_684_800_000_000  # 2000-01-01
_MAX_FUTURE_US = 24 * 3600 * 1_000_000  # one day ahead of the server clock


#: The process's event ids: ``evt_<ULID>``, increasing.
event_ids = MonotonicIds("evt")


class InvalidEvent(ValueError):
    """One event refused, with a stable code and a reason."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        self.code = code
        self.message = message
        self.field = field
        super().__init__(f"{code}: {message}")

    def as_detail(self, index: int) -> dict[str, Any]:
        detail: dict[str, Any] = {"index": index, "code": self.code, "message": self.message}
        if self.field:
            detail["field"] = self.field
        return detail


@dataclass(frozen=True)
class Limits:
    """Size limits of one event (from :class:`Settings`)."""

    max_event_bytes: int = 64 * 1024
    max_depth: int = 10
    max_string_chars: int = 8192
    max_id_chars: int = 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_event_bytes=settings.ingest_max_event_bytes,
            max_depth=settings.ingest_max_depth,
            max_string_chars=settings.ingest_max_string_chars,
            max_id_chars=settings.ingest_max_id_chars,
        )


@dataclass
class IngestContext:
    """What one request tells about all its events."""

    project_id: str
    received_at: int  #: microseconds since the epoch
    limits: Limits = field(default_factory=Limits)
    source: str = "growthos"
    user_agent: str | None = None
    country: str | None = None
    sent_at: int | None = None  #: the client's clock when it sent the request (skew)
    library: str | None = None


def parse_time(value: Any, *, field_name: str = "time") -> int:
    """Microseconds since the epoch from ISO-8601 text or a number of seconds, milliseconds or
    microseconds since the epoch (told apart by magnitude).

    >>> parse_time("2023-11-14T22:13:20.5+00:00"), parse_time(1700000000500)
    (1700000000500000, 1700000000500000)
    """
    if isinstance(value, bool):
        raise InvalidEvent(
            "invalid_time", f"{field_name} must be a time, found a boolean", field_name
        )
    if isinstance(value, int | float):
        number = float(value)
        if abs(number) >= 1e14:
            return int(number)
        if abs(number) >= 1e11:
            return int(number * 1000)
        return int(number * 1_000_000)
    if isinstance(value, str) and 0 < len(value) <= 64:
        text = value.strip()
        if text.isdigit():
            return parse_time(int(text), field_name=field_name)
        try:
            moment = datetime.fromisoformat(text.replace(" ", "T", 1) if " " in text else text)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:  # no offset: UTC
                moment = moment.replace(tzinfo=UTC)
            return (moment - _EPOCH) // _MICROSECOND
    raise InvalidEvent(
        "invalid_time",
        f"{field_name} must be ISO-8601 text or epoch seconds/milliseconds, "
        f"found {str(value)[:40]!r}",
        field_name,
    )


def identifier(value: Any, name: str, limits: Limits) -> str | None:
    """An id as text (numbers are accepted and written as text)."""
    if type(value) is str and 0 < len(value) <= limits.max_id_chars:  # the common case
        return value
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidEvent("invalid_id", f"{name} must be a string or number", name)
    text = value if isinstance(value, str) else str(value)
    if len(text) > limits.max_id_chars:
        raise InvalidEvent(
            "id_too_long", f"{name} is longer than {limits.max_id_chars} characters", name
        )
    return text


def properties(value: Any, name: str, limits: Limits) -> str | None:
    """A property object as JSON text, after the nesting and string-length checks."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidEvent("invalid_properties", f"{name} must be a JSON object", name)
    if not value:
        return None
    max_chars = limits.max_string_chars
    try:
        text = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        text = None  # the checks below tell why
    # A text this short holds no key over 256 and no string over max_chars characters, and
    # no deeper nesting than it has opening brackets: the walk below would pass.
    if (
        text is not None
        and len(text) <= 256
        and len(text) <= max_chars
        and text.count(b"{") + text.count(b"[") <= limits.max_depth
    ):
        return text.decode()
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            raise InvalidEvent(
                "too_deep", f"{name} nests deeper than {limits.max_depth} levels", name
            )
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in items:
            if isinstance(key, str) and len(key) > 256:
                raise InvalidEvent(
                    "key_too_long", f"a key in {name} is longer than 256 characters", name
                )
            if isinstance(item, str):
                if len(item) > max_chars:
                    raise InvalidEvent(
                        "string_too_long",
                        f"a value in {name} is longer than {max_chars} characters",
                        name,
                    )
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1))
    if text is not None:
        return text.decode()
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise InvalidEvent("invalid_properties", f"{name} is not JSON: {exc}", name) from None


def build_event(
    ctx: IngestContext,
    *,
    event_type: Any,
    user_id: Any = None,
    device_id: Any = None,
    session_id: Any = None,
    time: Any = None,
    insert_id: Any = None,
    event_properties: Any = None,
    user_properties: Any = None,
    groups: Any = None,
    url: Any = None,
    referrer: Any = None,
    user_agent: Any = None,
    library: str | None = None,
) -> Event:
    """The canonical event, or :class:`InvalidEvent`."""
    limits = ctx.limits
    if not isinstance(event_type, str) or not event_type.strip():
        raise InvalidEvent(
            "missing_event_type", "event_type must be a non-empty string", "event_type"
        )
    if len(event_type) > 1024:
        raise InvalidEvent(
            "event_type_too_long", "event_type is longer than 1024 characters", "event_type"
        )
    uid = identifier(user_id, "user_id", limits)
    did = identifier(device_id, "device_id", limits)
    if uid is None and did is None:
        raise InvalidEvent("missing_identity", "an event needs a user_id or a device_id")
    received = ctx.received_at
    if time is None or time == "":
        moment = received
    else:
        moment = parse_time(time)
        if ctx.sent_at is not None:  # the client's clock is off by (sent_at - received_at)
            moment += received - ctx.sent_at
    if moment < _MIN_TIME_US or moment > received + _MAX_FUTURE_US:
        raise InvalidEvent(
            "time_out_of_range",
            "time must be after 2000-01-01 and at most a day ahead of the server's clock",
            "time",
        )
    props = properties(event_properties, "event_properties", limits)
    uprops = properties(user_properties, "user_properties", limits)
    grps = properties(groups, "groups", limits)
    size = len(props or "") + len(uprops or "") + len(grps or "")
    if size > limits.max_event_bytes:
        raise InvalidEvent(
            "event_too_large",
            f"the event's properties take {size} bytes; "
            f"at most {limits.max_event_bytes} are allowed",
        )
    ua = user_agent if isinstance(user_agent, str) else ctx.user_agent
    browser, os_name, device_type = enrich.user_agent(ua) if ua else (None, None, None)
    page_url = url if isinstance(url, str) and len(url) <= limits.max_string_chars else None
    ref = (
        referrer if isinstance(referrer, str) and len(referrer) <= limits.max_string_chars else None
    )
    full_url, path, ref_out = enrich.page(page_url, ref)
    event_id = event_ids.new()
    dedup = identifier(insert_id, "insert_id", limits) or event_id
    return Event(
        project_id=ctx.project_id,
        event_id=event_id,
        insert_id=dedup,
        event_type=event_type,
        time=moment,
        received_at=received,
        source=ctx.source,
        user_id=uid,
        device_id=did,
        session_id=identifier(session_id, "session_id", limits),
        event_properties=props,
        user_properties=uprops,
        groups=grps,
        library=library or ctx.library,
        _browser=browser,
        _os=os_name,
        _device_type=device_type,
        _path=path,
        _url=full_url,
        _referrer=ref_out,
        _country=ctx.country,
    )


#: The user-property operations a profile understands, applied in event-time order.
PROPERTY_OPS = (
    "$set",
    "$set_once",
    "$add",
    "$append",
    "$prepend",
    "$remove",
    "$unset",
    "$clearAll",
)


def user_property_ops(plain: Any, ops: Any) -> dict[str, Any] | None:
    """One ``user_properties`` object: plain keys (meaning ``$set``) plus operations.

    >>> user_property_ops({"plan": "pro"}, {"$add": {"logins": 1}, "$unset": ["trial"]})
    {'plan': 'pro', '$add': {'logins': 1}, '$unset': ['trial']}
    >>> user_property_ops(None, {"$increment": {"x": 1}})
    Traceback (most recent call last):
    ...
    growthos_pipeline.events.validate.InvalidEvent: unknown_operation: unknown user-property \
operation '$increment'; expected one of $set, $set_once, $add, $append, $prepend, $remove, \
$unset, $clearAll
    """
    if plain is not None and not isinstance(plain, dict):
        raise InvalidEvent(
            "invalid_properties", "user_properties must be a JSON object", "user_properties"
        )
    merged: dict[str, Any] = {}
    for key, value in (plain or {}).items():
        if isinstance(key, str) and key.startswith("$"):
            ops = {**(ops or {}), key: value} if isinstance(ops, dict) or ops is None else ops
        else:
            merged[key] = value
    if ops is None:
        return merged or None
    if not isinstance(ops, dict):
        raise InvalidEvent(
            "invalid_operations", "user_property_ops must be a JSON object", "user_property_ops"
        )
    for op, value in ops.items():
        if op not in PROPERTY_OPS:
            raise InvalidEvent(
                "unknown_operation",
                f"unknown user-property operation "
                f"'{str(op)[:40]}'; expected one of {', '.join(PROPERTY_OPS)}",
                "user_property_ops",
            )
        if op == "$clearAll":
            merged[op] = True
            continue
        if op == "$unset":
            if isinstance(value, dict):
                value = list(value)
            if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                raise InvalidEvent(
                    "invalid_operations",
                    "$unset takes a list of property names",
                    "user_property_ops",
                )
        elif not isinstance(value, dict):
            raise InvalidEvent(
                "invalid_operations", f"{op} takes an object of properties", "user_property_ops"
            )
        elif op == "$add" and not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
        ):
            raise InvalidEvent("invalid_operations", "$add takes numbers", "user_property_ops")
        merged[op] = value
    return merged or None
