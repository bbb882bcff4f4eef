"""The JavaScript SDK in headless Chromium, on a page of another origin, against the API on
loopback: what a customer's site sends reaches the lake, once, whatever the network does.

The SDK is loaded from the API's ``/public/growthos.js`` (and ``/public/growthos.mjs``), as
a site would; the page lives on another port, so every call crosses origins (CORS).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from playwright.sync_api import Page, Route

from tests.adapters.live_server import LiveServer
from tests.browser.conftest import Site

LIBRARY = "growthos-js/0.1.0"
STATIC = Path(__file__).resolve().parents[2] / "api" / "static"


def sdk_page(site: Site, api: str, key: str, options: dict[str, Any] | None = None) -> str:
    """A page of ``site`` that loads the SDK from the API and initialises it."""
    settings = {"writeKey": key, "host": api, "flushInterval": 60_000, **(options or {})}
    return site.add(
        "/shop.html",
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
        <script src="{api}/public/growthos.js"></script>
        <script>growthos.init({json.dumps(settings)});</script></head>
        <body><h1>Shop</h1><a id="away" href="/away.html">Away</a></body></html>""",
    )


def open_sdk(page: Page, site: Site, live_api: LiveServer, keys: dict[str, str], **options: Any):
    site.add("/away.html", "<!doctype html><title>Away</title><p>Elsewhere</p>")
    page.goto(sdk_page(site, live_api.url, keys["public_key"], options))
    return page


def device_id(page: Page) -> str:
    value: str = page.evaluate("growthos.getClient().deviceId")
    return value


def rows(frame: pl.DataFrame, event_type: str) -> list[dict[str, Any]]:
    return frame.filter(pl.col("event_type") == event_type).to_dicts()


def test_track_identify_page_group_reach_the_lake_across_origins(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    open_sdk(page, site, live_api, keys)
    ids = page.evaluate(
        """async () => {
            const ids = {};
            ids.before = growthos.track("viewed_pricing", {plan: "pro", seats: 3});
            ids.identify = growthos.identify("u-42", {plan: "pro"}, {ops: {$add: {logins: 1}}});
            ids.page = growthos.page("Pricing", {section: "plans"});
            ids.group = growthos.group("company", "acme", {seats: 12});
            ids.after = growthos.track("signup", {plan: "pro"});
            ids.flushed = await growthos.flush();
            return ids;
        }"""
    )
    assert ids.pop("flushed") is True  # every answer was read: CORS let the page see it
    device = device_id(page)

    paths = {a.path for a in live_api.recorder.attempts}
    assert {"/v1/track", "/v1/identify", "/v1/page", "/v1/group"} <= paths
    posts = [a for a in live_api.recorder.attempts if a.path == "/v1/track" and a.body]
    assert posts[0].headers["x-api-key"] == keys["public_key"]
    assert posts[0].headers["origin"] == site.url
    assert "sent_at" in posts[0].body  # clock-skew correction
    # The preflight of a JSON request with a key header was answered.
    assert any(a.headers.get("access-control-request-method") for a in live_api.recorder.attempts)

    events = live_api.events(keys["project_id"])
    assert sorted(events["insert_id"].to_list()) == sorted(ids.values())
    assert set(events["library"].to_list()) == {LIBRARY}
    assert set(events["device_id"].to_list()) == {device}
    assert events["session_id"].n_unique() == 1

    (before,) = rows(events, "viewed_pricing")
    assert before["user_id"] is None
    assert json.loads(before["event_properties"]) == {"plan": "pro", "seats": 3}
    assert before["_path"] == "/shop.html"
    assert before["_browser"] == "HeadlessChrome"  # from the browser's User-Agent

    (identify,) = rows(events, "$identify")
    assert identify["user_id"] == "u-42"
    assert json.loads(identify["user_properties"]) == {"plan": "pro", "$add": {"logins": 1}}

    (page_view,) = rows(events, "page_view")
    assert page_view["user_id"] == "u-42"
    assert json.loads(page_view["event_properties"]) == {
        "section": "plans",
        "name": "Pricing",
        "title": "Shop",
    }
    assert page_view["_referrer"] == ""

    (group,) = rows(events, "$group")
    assert json.loads(group["groups"]) == {"company": "acme"}
    assert json.loads(group["event_properties"]) == {"seats": 12}

    (after,) = rows(events, "signup")
    assert after["user_id"] == "u-42"
    assert json.loads(after["groups"]) == {"company": "acme"}  # the group sticks


def test_batches_by_size(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    """The ``flushAt``-th queued event starts a batch at once, without waiting for the time
    window; what was queued meanwhile follows as soon as it is answered."""
    open_sdk(page, site, live_api, keys, flushAt=5)
    page.evaluate("for (let i = 0; i < 12; i++) growthos.track('tick', {i})")
    page.wait_for_function("growthos.getClient().queue.length === 0")
    sizes = [len(a.body["events"]) for a in live_api.recorder.to("/v1/track") if a.body]
    assert sizes == [5, 7]
    assert len(live_api.events(keys["project_id"])) == 12
    # Fewer than flushAt: the event waits for the window (a minute here) or a flush().
    page.evaluate("growthos.track('late')")
    assert page.evaluate("growthos.getClient().queue.length") == 1
    assert page.evaluate("growthos.flush()") is True


def test_batches_by_time_window(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    open_sdk(page, site, live_api, keys, flushInterval=300)
    started = time.monotonic()
    page.evaluate("growthos.track('a'); growthos.track('b')")
    page.wait_for_function("growthos.getClient().queue.length === 0")
    assert time.monotonic() - started >= 0.3
    (batch,) = [a.body for a in live_api.recorder.to("/v1/track") if a.body]
    assert [e["event_type"] for e in batch["events"]] == ["a", "b"]


def test_a_retry_after_a_lost_answer_is_stored_once(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    """The server stores the batch but the answer never reaches the page: the SDK sends it
    again with the same insert ids, and the lake counts each event once."""
    open_sdk(page, site, live_api, keys, retryBaseMs=50)
    lost = []

    def lose_first_answer(route: Route) -> None:
        if route.request.method == "POST" and not lost:
            lost.append(route.fetch())  # the request reaches the server...
            live_api.app.state.ingestor.flush_now()  # (and the lake: the retry commits apart)
            route.abort("connectionreset")  # ...the answer does not reach the page
        else:
            route.continue_()

    page.route(f"{live_api.url}/v1/track", lose_first_answer)
    assert page.evaluate("growthos.track('purchase', {total: 30}); growthos.flush()") is False
    assert lost[0].status == 200
    page.wait_for_function("growthos.getClient().queue.length === 0")

    attempts = [a for a in live_api.recorder.to("/v1/track") if a.body]
    assert len(attempts) == 2
    assert attempts[0].body["events"] == attempts[1].body["events"]
    raw = live_api.events(keys["project_id"], dedup=False)
    assert raw["event_type"].to_list() == ["purchase", "purchase"]
    assert live_api.events(keys["project_id"])["event_type"].to_list() == ["purchase"]


@pytest.mark.parametrize("status", [503, 429])
def test_retry_honours_retry_after(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str], status: int
) -> None:
    """A 503 or 429 with ``Retry-After: 1`` is retried after a second, not after the
    50 ms the backoff alone would wait."""
    open_sdk(page, site, live_api, keys, retryBaseMs=50)
    seen: list[float] = []

    def busy_once(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        seen.append(time.monotonic())
        if len(seen) == 1:
            route.fulfill(
                status=status,
                headers={
                    "Retry-After": "1",
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Expose-Headers": "Retry-After",
                },
                content_type="application/json",
                body='{"error": {"code": "busy", "message": "try later", "details": []}}',
            )
        else:
            route.continue_()

    page.route(f"{live_api.url}/v1/track", busy_once)
    page.evaluate("growthos.track('checkout'); growthos.flush()")
    page.wait_for_function("growthos.getClient().queue.length === 0", timeout=15_000)
    assert len(seen) == 2
    assert seen[1] - seen[0] >= 0.95
    assert live_api.events(keys["project_id"])["event_type"].to_list() == ["checkout"]


def test_a_refused_batch_is_not_retried(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    """A 4xx other than 408 and 429 would fail again: the batch is dropped, the next one is
    sent alone."""
    open_sdk(page, site, live_api, keys, retryBaseMs=50)
    answered: list[int] = []

    def refuse_first(route: Route) -> None:
        if route.request.method == "POST" and not answered:
            answered.append(400)
            route.fulfill(
                status=400,
                headers={"Access-Control-Allow-Origin": "*"},
                content_type="application/json",
                body='{"error": {"code": "invalid_body", "message": "no", "details": []}}',
            )
        else:
            route.continue_()

    page.route(f"{live_api.url}/v1/track", refuse_first)
    assert page.evaluate("growthos.track('first'); growthos.flush()") is True
    assert page.evaluate("growthos.track('second'); growthos.flush()") is True
    sent = [a.body for a in live_api.recorder.to("/v1/track") if a.body]
    assert [[e["event_type"] for e in body["events"]] for body in sent] == [["second"]]


def test_send_beacon_when_the_page_is_left(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    """Events still queued when the person leaves go with ``sendBeacon``: text/plain, the
    key in the query (a beacon cannot set headers), no preflight."""
    open_sdk(page, site, live_api, keys)
    ids = page.evaluate("[growthos.track('read_article'), growthos.track('clicked_away')]")
    page.click("#away")
    page.wait_for_url("**/away.html")
    (beacon,) = live_api.recorder.wait_for("/v1/track", 1)
    assert beacon.headers["content-type"].startswith("text/plain")
    assert "x-api-key" not in beacon.headers
    assert [e["insert_id"] for e in beacon.body["events"]] == ids
    events = live_api.events(keys["project_id"])
    assert sorted(events["insert_id"].to_list()) == sorted(ids)


def test_the_queue_survives_a_reload(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    """With the network down and no beacon, queued events wait in localStorage and are sent
    by the next page."""
    open_sdk(page, site, live_api, keys, beacon=False)
    page.route(f"{live_api.url}/v1/**", lambda route: route.abort("internetdisconnected"))
    insert_id = page.evaluate("growthos.track('offline_click')")
    assert page.evaluate("growthos.flush()") is False
    stored = page.evaluate(f"localStorage.getItem('gos_queue:{keys['public_key']}')")
    assert insert_id in stored
    page.unroute(f"{live_api.url}/v1/**")
    page.reload()
    page.wait_for_function("growthos.getClient().queue.length === 0")
    assert live_api.events(keys["project_id"])["insert_id"].to_list() == [insert_id]


def test_the_device_id_persists_and_reset_starts_a_new_one(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    open_sdk(page, site, live_api, keys)
    first = device_id(page)
    assert page.evaluate("localStorage.getItem('gos_device_id')") == first
    page.evaluate("growthos.identify('u-7')")
    page.reload()
    assert device_id(page) == first
    assert page.evaluate("growthos.getClient().userId") == "u-7"
    page.evaluate("growthos.reset()")
    assert device_id(page) != first
    assert page.evaluate("growthos.getClient().userId") is None


def test_insert_ids_without_a_secure_context(page: Page) -> None:
    """``crypto.randomUUID`` exists only in secure contexts; a plain-http site still gets
    random version 4 UUIDs (here: a page and the SDK on a non-loopback name, by routing)."""
    script = (STATIC / "growthos.js").read_text()
    page.route(
        "http://shop.example/**",
        lambda route: route.fulfill(
            content_type="text/html" if route.request.url.endswith("/") else "text/javascript",
            body='<script src="/growthos.js"></script>'
            if route.request.url.endswith("/")
            else script,
        ),
    )
    page.goto("http://shop.example/")
    assert page.evaluate("window.isSecureContext") is False
    assert page.evaluate("typeof crypto.randomUUID") == "undefined"
    ids = page.evaluate(
        "growthos.init({writeKey: 'pk_test', persist: false, flushInterval: 60000});"
        "[growthos.track('a'), growthos.track('b')]"
    )
    pattern = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
    assert all(pl.Series(ids).str.contains(pattern))
    assert ids[0] != ids[1]


def test_the_es_module_and_the_loader_snippet(
    page: Page, site: Site, live_api: LiveServer, keys: dict[str, str]
) -> None:
    """``growthos.mjs`` imports across origins; calls made before the classic script
    arrives (the loader snippet's queue) are replayed."""
    key = json.dumps(keys["public_key"])
    api = json.dumps(live_api.url)
    page.goto(
        site.add(
            "/module.html",
            f"""<!doctype html><title>m</title><script type="module">
            import growthos, {{ track }} from {json.dumps(live_api.url + "/public/growthos.mjs")};
            growthos.init({{writeKey: {key}, host: {api}, flushInterval: 60000}});
            window.sent = [track("module_event")];
            window.flushed = await growthos.flush();
            </script>""",
        )
    )
    page.wait_for_function("window.flushed === true")
    page.goto(
        site.add(
            "/snippet.html",
            f"""<!doctype html><title>s</title><script>
            window.growthos = [["init", {{writeKey: {key}, host: {api}, flushAt: 1}}],
                               ["track", "queued_before_load", {{from: "snippet"}}]];
            </script><script async src="{live_api.url}/public/growthos.js"></script>""",
        )
    )
    page.wait_for_function("typeof growthos.getClient === 'function'")
    page.wait_for_function("growthos.getClient().queue.length === 0")
    events = live_api.events(keys["project_id"])
    assert sorted(events["event_type"].to_list()) == ["module_event", "queued_before_load"]
