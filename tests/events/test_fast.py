"""The typed fast path of /v1/track gives what the general mapper gives, or steps aside.

For any body, :func:`growthos_pipeline.events.fast.track` either returns ``None`` (the general
path then decides) or exactly the events the general path accepts from that body, as columns:
same fields, same values, the property objects the same JSON values. Hypothesis throws
bodies at both, valid and not, with every field in odd types, limits crossed, escapes, deep
nesting, odd URLs and numbers.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from growthos_pipeline.errors import GrowthOSError
from growthos_pipeline.events import fast
from growthos_pipeline.events.protocols import growthos
from growthos_pipeline.events.validate import IngestContext, Limits
from growthos_pipeline.ingest.receive import parse_json

RECEIVED = 1_764_000_000_000_000
LIMITS = Limits(max_event_bytes=600, max_depth=4, max_string_chars=64, max_id_chars=24)
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def context(**overrides: Any) -> IngestContext:
    values: dict[str, Any] = {
        "project_id": "proj_1",
        "received_at": RECEIVED,
        "limits": LIMITS,
        "user_agent": CHROME,
        "country": "DE",
    }
    values.update(overrides)
    return IngestContext(**values)


def general(data: bytes, ctx: IngestContext) -> growthos.Result | None:
    """The general path's answer, or None where it refuses the whole request."""
    try:
        return growthos.track(ctx, parse_json(data), max_events=50)
    except GrowthOSError:
        return None


def as_parsed(digits: str) -> int | float:
    """An integer as the general path's parser reads it: beyond 64 bits, a float (the fast
    path keeps the client's exact digits, which is the documented difference)."""
    number = int(digits)
    return number if -(2**63) <= number <= 2**64 - 1 else float(number)


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    if row["insert_id"] == row["event_id"]:
        row["insert_id"] = "<event_id>"
    row.pop("event_id")
    for name in ("event_properties", "user_properties", "groups"):
        if row.get(name) is not None:
            row[name] = json.loads(row[name], parse_int=as_parsed)
    return {k: v for k, v in row.items() if v is not None}


def check(data: bytes, **ctx_overrides: Any) -> fast.Result | None:
    quick = fast.track(context(**ctx_overrides), data, max_events=50, min_events=1)
    if quick is None:
        return None
    slow = general(data, context(**ctx_overrides))
    assert slow is not None, "the fast path took a body the general path refuses"
    assert not slow.rejected, f"the fast path took a body with invalid events: {slow.rejected}"
    assert quick.batch == slow.batch
    rows = quick.columns.to_pylist() if quick.columns is not None else []
    got = [comparable(row) for row in rows]
    want = [comparable(msgspec.structs.asdict(event)) for event in slow.events]
    assert got == want
    return quick


# ---- bodies --------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=80),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=30), inner, max_size=4)
    ),
    max_leaves=12,
)
objects = st.dictionaries(st.text(max_size=30), json_values, max_size=5)
ids = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=30),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
times = st.one_of(
    st.none(),
    st.just(""),
    st.integers(-(10**17), 10**17),
    st.integers(1_700_000_000, 1_764_000_000),  # seconds
    st.integers(1_700_000_000_000, 1_764_000_000_000),  # milliseconds
    st.integers(1_700_000_000_000_000, 1_764_090_000_000_000),  # microseconds
    st.floats(1e9, 2e12),
    st.sampled_from(
        ["2025-11-24T15:00:00Z", "2025-11-24 15:00:00.5+02:00", "1764000000", "yesterday"]
    ),
)
urls = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(
        [
            "https://shop.example.com/products/sku_1?utm_source=google#top",
            "http://a.io",
            "https://a.io?x=1",
            "https://a.io#frag/with/slash",
            "HTTPS://A.IO/Upper",
            "https://[::1]:8080/ipv6",
            "https://bad[host/x",
            "https://exämple.de/umlaut",
            "https://a.io/path with space",
            "https://a.io/tab\there",
            "/relative/path?q=1",
            "mailto:someone@example.com",
        ]
    ),
    st.text(max_size=90),
    st.integers(),
)
properties = st.one_of(st.none(), objects, json_values)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_type": draw(
            st.one_of(st.sampled_from(["page_view", "signup", "", "  "]), st.text(max_size=8))
        )
    }
    optional = {
        "user_id": ids,
        "device_id": ids,
        "session_id": ids,
        "insert_id": ids,
        "time": times,
        "event_properties": properties,
        "user_properties": properties,
        "groups": properties,
        "url": urls,
        "referrer": urls,
        "user_agent": st.one_of(st.none(), st.just(""), st.just(CHROME), st.text(max_size=20)),
        "library": st.one_of(st.none(), st.just("growthos-js/1.0"), st.integers()),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            event[name] = draw(strategy)
    if draw(st.integers(0, 20)) == 0:
        event["unknown"] = 1
    if draw(st.integers(0, 3)):  # most events name somebody
        event.setdefault("user_id", "u1")
    return event


plain = st.text("abcxyz _-.:/", max_size=12)
plain_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 10**6), st.floats(-1e6, 1e6), plain),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(plain, inner, max_size=3)),
    max_leaves=5,
)


@st.composite
def usual_events(draw: st.DrawFn) -> dict[str, Any]:
    """Events as SDKs send them, with the odd field missing, empty or a number."""
    event: dict[str, Any] = {
        "event_type": draw(st.sampled_from(["page_view", "signup", "purchase"])),
        "user_id": draw(st.one_of(st.none(), st.just(""), plain, st.integers(0, 10**9))),
        "device_id": draw(st.one_of(plain.filter(bool), st.integers(0, 10**9))),
        "time": draw(
            st.one_of(
                st.none(),
                st.integers(1_700_000_000, 1_764_000_000),
                st.integers(1_700_000_000_000, 1_764_000_000_000),
                st.integers(1_700_000_000_000_000, 1_764_000_000_000_000),
                st.floats(1.7e9, 1.76e9),
                st.sampled_from(["2025-11-24T15:00:00Z", "2025-11-24 15:00:00.5+02:00", ""]),
            )
        ),
        "event_properties": draw(
            st.one_of(st.none(), st.dictionaries(plain, plain_values, max_size=4))
        ),
        "user_properties": draw(st.one_of(st.none(), st.dictionaries(plain, plain, max_size=3))),
        "url": draw(st.one_of(st.none(), st.just(""), urls.filter(lambda u: isinstance(u, str)))),
        "referrer": draw(st.one_of(st.none(), st.just(""), st.just("https://www.google.com/"))),
    }
    for name, strategy in (
        ("insert_id", st.one_of(st.none(), st.just(""), plain, st.integers())),
        ("session_id", st.one_of(st.none(), st.integers(0, 10**13))),
        ("user_agent", st.one_of(st.none(), st.just(""), st.just(CHROME))),
        ("library", st.one_of(st.none(), st.just("growthos-js/1.0"))),
        ("groups", st.one_of(st.none(), st.dictionaries(plain, plain, max_size=2))),
    ):
        if draw(st.booleans()):
            event[name] = draw(strategy)
    return event


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Batches (the fast path's shape), now and then a single event (never fast)."""
    if draw(st.integers(0, 5)):
        mixture = usual_events() if draw(st.booleans()) else st.one_of(usual_events(), events())
        body: Any = {"events": draw(st.lists(mixture, max_size=6))}
        if draw(st.booleans()):  # mostly a clock a few minutes off, at times nonsense
            body["sent_at"] = draw(
                st.one_of(st.integers(1_763_999_000_000, 1_764_000_100_000), times)
            )
        if draw(st.integers(0, 10)) == 0:
            body["extra"] = True
    else:
        body = draw(st.one_of(usual_events(), events()))
    ascii_only = draw(st.booleans())  # json.dumps escapes non-ASCII text as \\u....
    spaced = draw(st.booleans())
    text = json.dumps(
        body, ensure_ascii=ascii_only, separators=(", ", ": ") if spaced else (",", ":")
    )
    return text.encode()


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_the_fast_path_gives_what_the_general_path_gives(data: bytes) -> None:
    result = check(data)
    taken = result is not None and result.columns is not None and result.columns.num_rows > 1
    event("fast path, several events" if taken else "other")  # see --hypothesis-show-statistics


@settings(max_examples=200, deadline=None)
@given(bodies())
def test_also_with_a_clock_skew_and_without_a_browser(data: bytes) -> None:
    check(data, user_agent=None, country=None, library="server/1.0", sent_at=None)


# ---- the usual bodies take the fast path -----------------------------------------------------


def usual_event(n: int) -> dict[str, Any]:
    return {
        "event_type": "product_viewed",
        "user_id": f"user_{n}",
        "device_id": f"d{n}",
        "session_id": 1_764_000_000_000 + n,
        "time": 1_763_999_000_000 + n,
        "insert_id": f"ins-{n}",
        "event_properties": {"sku": f"sku_{n}", "price": 89.99, "tags": ["a", "b"]},
        "user_properties": {"plan": "pro"},
        "url": f"https://shop.example.com/products/{n}?utm_source=google",
        "referrer": "https://www.google.com/",
        "library": "growthos-js/1.4.2",
    }


def test_a_usual_batch_takes_the_fast_path() -> None:
    body = {"events": [usual_event(n) for n in range(20)], "sent_at": 1_764_000_000_000}
    result = check(json.dumps(body).encode())
    assert result is not None and result.columns is not None and result.columns.num_rows == 20
    row = result.columns.to_pylist()[3]
    assert row["_path"] == "/products/3" and row["_browser"] == "Chrome"
    assert row["session_id"] == "1764000000003"  # a number, written as text
    assert row["time"] == (1_763_999_000_000 + 3) * 1000  # no skew: sent_at == received_at


def test_single_events_and_small_batches_take_the_general_path() -> None:
    assert fast.track(context(), json.dumps(usual_event(1)).encode()) is None
    small = {"events": [usual_event(n) for n in range(fast.MIN_EVENTS - 1)]}
    assert fast.track(context(), json.dumps(small).encode()) is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"event_type": ""}, "missing event type"),
        ({"user_id": None, "device_id": ""}, "no identity"),
        ({"user_id": True}, "a boolean id"),
        ({"user_id": "x" * 25}, "an id over the limit"),
        ({"time": "next tuesday"}, "an unreadable time"),
        ({"time": 946_684_799_000}, "before 2000"),
        ({"event_properties": [1, 2]}, "properties not an object"),
        ({"event_properties": {"a": {"b": {"c": {"d": {}}}}}}, "nested too deep"),
        ({"event_properties": {"k": "v" * 70}}, "a string over the limit"),
        ({"event_properties": {"k": "caf\u00e9 \\ back"}}, "an escape to normalise"),
        ({"url": 7}, "a URL of the wrong type"),
        ({"colour": "red"}, "an unknown field"),
    ],
)
def test_doubtful_events_take_the_general_path(change: dict[str, Any], why: str) -> None:
    event = {**usual_event(1), **change}
    body = json.dumps({"events": [usual_event(0), event]}).encode()
    assert fast.track(context(), body, max_events=50, min_events=1) is None, why


def test_empty_objects_store_no_properties() -> None:
    body = {
        "events": [
            {**usual_event(n), "event_properties": p} for n, p in enumerate([{}, None, {"a": 1}])
        ]
    }
    for spacing in ((",", ":"), (", ", ": ")):
        data = json.dumps(body, separators=spacing).encode().replace(b"{}", b"{ }")
        result = check(data)
        assert result is not None and result.columns is not None
        assert result.columns.column("event_properties").to_pylist()[:2] == [None, None]


def test_a_batch_over_the_event_limit_takes_the_general_path() -> None:
    body = json.dumps({"events": [usual_event(n) for n in range(51)]}).encode()
    assert fast.track(context(), body, max_events=50, min_events=1) is None


def test_page_path_agrees_with_urlsplit() -> None:
    from growthos_pipeline.events.enrich import page

    for url in [
        "https://a.io",
        "https://a.io/",
        "https://a.io/x/y?z#w",
        "https://a.io#x/y",
        "https://a.io?x/y",
        "http://user:pw@a.io:80/p",
        "https://exämple.de/p",
        "https://[::1]/p",
        "HTTP://a.io/p",
    ]:
        assert fast.page_path(url) == page(url, None)[1], url
