"""Demo data: a few days in the life of a small product, sent through the ingest path.

The product is "Boardly", a project-board app with a marketing site. Visitors arrive from
search, social sites, newsletters and direct, on real browsers and phones from a dozen
countries; they read pages, some look at pricing, some sign up, activate (create a board,
invite a teammate) and some buy a plan, now and then with a coupon. Each visitor has a device
id; an anonymous ``identify`` records the first touch before login, and the ``identify`` at
signup or login binds the device to the user id (returning users come back on a second
device). Sessions carry a session id (the session's start in epoch milliseconds).

The sample is deterministic for a seed and an end time, and goes through the same mappers
(:func:`growthos.track`, :func:`growthos.identify`) and :class:`Ingestor` as the HTTP API.

Examples
--------
>>> from datetime import datetime, UTC
>>> sample = generate(users=20, days=2, seed=7, end=datetime(2024, 5, 1, tzinfo=UTC))
>>> sample == generate(users=20, days=2, seed=7, end=datetime(2024, 5, 1, tzinfo=UTC))
True
>>> sorted({call.kind for call in sample})
['identify', 'track']
>>> first = min(sample, key=lambda call: call.body["time"])
>>> first.body["event_type"], first.body["url"].startswith("https://boardly.app/")
('page_view', True)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from growthos_pipeline.events.protocols import growthos
from growthos_pipeline.events.validate import IngestContext
from growthos_pipeline.ingest.accept import Ingestor, Mapper
from growthos_pipeline.ingest.backfill import ImportSummary, Where, ingest_batch
from growthos_pipeline.ingest.receive import now_us

SITE = "https://boardly.app"
LIBRARY = "growthos-js/1.4.2"

#: (user agent, weight): desktop browsers, phones and a tablet, as sent by real browsers.
USER_AGENTS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        26,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        14,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        " Version/17.4.1 Safari/605.1.15",
        9,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 6),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
        6,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        3,
    ),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", 2),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        16,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Mobile Safari/537.36",
        8,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        5,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        3,
    ),
]
_MOBILE = [(ua, w) for ua, w in USER_AGENTS if "Mobile" in ua and "iPad" not in ua]

COUNTRIES = [
    ("US", 30),
    ("GB", 9),
    ("DE", 9),
    ("IN", 8),
    ("FR", 6),
    ("CA", 5),
    ("BR", 5),
    ("NL", 4),
    ("ES", 4),
    ("AU", 4),
    ("SE", 3),
    ("PL", 3),
    ("JP", 3),
    ("MX", 2),
]
_CURRENCY = {"DE": "EUR", "FR": "EUR", "NL": "EUR", "ES": "EUR", "GB": "GBP"}

#: (referrer or None for direct, landing path with campaign tags, weight)
SOURCES = [
    ("https://www.google.com/", "/", 30),
    ("https://www.google.com/", "/blog/kanban-vs-scrum", 8),
    ("https://duckduckgo.com/", "/", 4),
    (None, "/", 18),
    ("https://news.ycombinator.com/", "/blog/how-we-built-boardly", 6),
    ("https://t.co/", "/?utm_source=twitter&utm_medium=social&utm_campaign=launch", 7),
    ("https://www.reddit.com/r/productivity/", "/blog/kanban-vs-scrum", 5),
    ("https://www.linkedin.com/", "/features?utm_source=linkedin&utm_medium=social", 4),
    ("https://www.producthunt.com/", "/?ref=producthunt", 6),
    (None, "/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=may_digest", 5),
    ("https://github.com/", "/docs/api", 3),
]

MARKETING_PAGES = [
    ("/features", 5),
    ("/pricing", 4),
    ("/blog", 2),
    ("/blog/kanban-vs-scrum", 2),
    ("/templates", 2),
    ("/docs", 1),
    ("/docs/api", 1),
    ("/about", 1),
    ("/customers", 1),
]
APP_PAGES = ["/app", "/app/boards", "/app/settings", "/app/board/{board}"]
PLANS = {"pro": 12.0, "team": 49.0}
COUPONS = [("LAUNCH20", 0.20), ("FRIENDS10", 0.10)]
SIGNUP_METHODS = [("email", 5), ("google", 4), ("github", 2)]
TEMPLATES = ["blank", "kanban", "sprint", "roadmap", "bug-tracker", "content-calendar"]


@dataclass(frozen=True)
class Call:
    """One ingest call of the sample: ``kind`` is track or identify, ``body`` its object."""

    kind: str
    country: str
    body: dict[str, Any]


def _pick(rng: random.Random, weighted: list[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


class _Writer:
    """Builds the calls of one visitor, in time order."""

    def __init__(self, rng: random.Random, seed: int, calls: list[Call]) -> None:
        self.rng = rng
        self.seed = seed
        self.calls = calls

    def add(self, kind: str, country: str, body: dict[str, Any]) -> None:
        body["insert_id"] = f"demo-{self.seed}-{len(self.calls)}"
        body["library"] = LIBRARY
        self.calls.append(Call(kind, country, body))


@dataclass
class _Visit:
    """The state of one session being written."""

    when: datetime
    device: str
    ua: str
    session: str
    user: str | None
    country: str

    def tick(self, rng: random.Random, low: float = 4, high: float = 90) -> str:
        self.when += timedelta(seconds=rng.uniform(low, high))
        return self.when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _start_visit(
    rng: random.Random, when: datetime, device: str, ua: str, user: str | None, country: str
) -> _Visit:
    return _Visit(
        when=when,
        device=device,
        ua=ua,
        session=str(int(when.timestamp() * 1000)),
        user=user,
        country=country,
    )


def _track(
    w: _Writer,
    v: _Visit,
    event_type: str,
    props: dict[str, Any] | None = None,
    *,
    path: str | None = None,
    referrer: str | None = None,
) -> None:
    body: dict[str, Any] = {
        "event_type": event_type,
        "device_id": v.device,
        "session_id": v.session,
        "time": v.tick(w.rng),
        "user_agent": v.ua,
    }
    if v.user:
        body["user_id"] = v.user
    if path is not None:
        body["url"] = SITE + path
    if referrer:
        body["referrer"] = referrer
    if props:
        body["event_properties"] = props
    w.add("track", v.country, body)


def _identify(
    w: _Writer, v: _Visit, props: dict[str, Any] | None = None, ops: dict[str, Any] | None = None
) -> None:
    body: dict[str, Any] = {
        "device_id": v.device,
        "time": v.tick(w.rng, 0.2, 2),
        "user_agent": v.ua,
    }
    if v.user:
        body["user_id"] = v.user
    if props:
        body["user_properties"] = props
    if ops:
        body["user_property_ops"] = ops
    w.add("identify", v.country, body)


def _browse(w: _Writer, v: _Visit, pages: int) -> list[str]:
    seen = []
    for _ in range(pages):
        path = _pick(w.rng, MARKETING_PAGES)
        _track(w, v, "page_view", path=path, referrer=SITE + "/")
        seen.append(path)
    return seen


def _visitor(w: _Writer, number: int, start: datetime, end: datetime) -> None:
    """One person: a first visit, maybe signup, activation, purchase and return visits."""
    rng = w.rng
    country = _pick(rng, COUNTRIES)
    ua = _pick(rng, USER_AGENTS)
    device = f"dev_{rng.getrandbits(48):012x}"
    span = (end - start).total_seconds()
    first = start + timedelta(seconds=rng.uniform(0, span * 0.92))
    hour = rng.choices(
        range(24), weights=[1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 7, 8, 8, 8, 7, 6, 6, 6, 5, 4, 3, 2]
    )[0]
    first = first.replace(hour=hour)
    if first >= end:
        first = end - timedelta(hours=2)
    v = _start_visit(rng, first, device, ua, None, country)

    referrer, landing, _ = rng.choices(SOURCES, weights=[s[2] for s in SOURCES])[0]
    _track(w, v, "page_view", path=landing, referrer=referrer)
    first_touch = {
        "initial_referrer": referrer or "$direct",
        "initial_landing_page": landing.split("?")[0],
    }
    if "utm_source=" in landing:
        first_touch["initial_utm_source"] = landing.split("utm_source=")[1].split("&")[0]
    _identify(w, v, ops={"$set_once": first_touch})  # anonymous: before any login
    seen = _browse(w, v, rng.choices([0, 1, 2, 3, 5], weights=[30, 30, 20, 12, 8])[0])
    if rng.random() < 0.3 and "/pricing" not in seen:
        _track(w, v, "page_view", path="/pricing", referrer=SITE + "/features")
        seen.append("/pricing")
    if "/pricing" in seen and rng.random() < 0.35:
        _track(
            w,
            v,
            "pricing_plan_toggled",
            {"billing": rng.choice(["monthly", "yearly"])},
            path="/pricing",
        )
    if rng.random() > (0.38 if "/pricing" in seen else 0.22):
        return  # most visitors leave without signing up

    user = f"user_{number:04d}"
    method = _pick(rng, SIGNUP_METHODS)
    _track(w, v, "page_view", path="/signup", referrer=SITE + "/pricing")
    v.user = user
    email_domain = rng.choice(
        ["gmail.com", "outlook.com", "acme.io", "globex.com", "initech.dev", "proton.me", "hey.com"]
    )
    _identify(
        w,
        v,
        {"email_domain": email_domain, "plan": "free", "signup_method": method, "country": country},
    )
    _track(w, v, "signup", {"method": method, "plan": "free"}, path="/signup")
    _track(w, v, "page_view", path="/app/onboarding")
    steps = rng.choices([0, 1, 2, 3], weights=[15, 15, 20, 50])[0]
    for step in range(1, steps + 1):
        _track(
            w,
            v,
            "onboarding_step_completed",
            {"step": step, "name": ["profile", "workspace", "first_board"][step - 1]},
            path="/app/onboarding",
        )
    activated = steps == 3 or rng.random() < 0.25
    board = 0
    if activated:
        board += 1
        _track(
            w,
            v,
            "board_created",
            {"template": rng.choice(TEMPLATES), "board_number": 1},
            path="/app/boards",
        )
        for _ in range(rng.randint(1, 6)):
            _track(
                w,
                v,
                "card_created",
                {"board_id": f"{user}-b{board}"},
                path=f"/app/board/{user}-b{board}",
            )
        if rng.random() < 0.4:
            _track(
                w,
                v,
                "invite_sent",
                {"invitees": rng.randint(1, 4), "role": "editor"},
                path="/app/settings",
            )
            _identify(w, v, ops={"$add": {"invites_sent": 1}})

    # return visits on later days, sometimes on a phone (a second device, bound at login)
    day = first
    paid = False
    while activated or rng.random() < 0.3:
        day += timedelta(days=rng.uniform(0.6, 2.2), hours=rng.uniform(-3, 3))
        if day >= end - timedelta(minutes=20):
            break
        mobile = rng.random() < 0.3
        return_device = f"dev_{rng.getrandbits(48):012x}" if mobile else device
        v = _start_visit(
            rng, day, return_device, _pick(rng, _MOBILE) if mobile else ua, user, country
        )
        if mobile:
            _track(w, v, "page_view", path="/login")
            _identify(w, v, ops={"$add": {"devices": 1}})  # binds the phone to the user
            _track(w, v, "login", {"method": method}, path="/login")
        _track(w, v, "page_view", path="/app")
        for _ in range(rng.randint(1, 5)):
            path = rng.choice(APP_PAGES).format(board=f"{user}-b{max(board, 1)}")
            _track(w, v, "page_view", path=path)
        if activated:
            for _ in range(rng.randint(0, 6)):
                _track(
                    w,
                    v,
                    rng.choice(["card_created", "card_moved", "card_moved", "comment_added"]),
                    {"board_id": f"{user}-b{max(board, 1)}"},
                )
            if rng.random() < 0.2:
                board += 1
                _track(
                    w,
                    v,
                    "board_created",
                    {"template": rng.choice(TEMPLATES), "board_number": board},
                )
            if rng.random() < 0.12:
                _track(
                    w,
                    v,
                    "integration_connected",
                    {"integration": rng.choice(["slack", "github", "google_drive", "jira"])},
                )
        if activated and not paid and rng.random() < 0.3:
            paid = True
            _purchase(w, v, country)
        if not activated and rng.random() < 0.5:
            break


def _purchase(w: _Writer, v: _Visit, country: str) -> None:
    rng = w.rng
    plan = rng.choices(list(PLANS), weights=[4, 1])[0]
    billing = rng.choices(["monthly", "yearly"], weights=[3, 1])[0]
    price = PLANS[plan] * (10 if billing == "yearly" else 1)
    coupon, discount = rng.choices([(None, 0.0), *COUPONS], weights=[7, 2, 1])[0]
    amount = round(price * (1 - discount), 2)
    currency = _CURRENCY.get(country, "USD")
    _track(w, v, "page_view", path="/app/billing")
    _track(
        w,
        v,
        "checkout_started",
        {"plan": plan, "billing": billing, "currency": currency},
        path="/checkout",
    )
    if rng.random() < 0.15:
        _track(w, v, "checkout_abandoned", {"plan": plan, "step": "payment"}, path="/checkout")
        return
    props: dict[str, Any] = {
        "plan": plan,
        "billing": billing,
        "amount": amount,
        "currency": currency,
        "payment_method": rng.choice(["card", "card", "card", "paypal", "apple_pay"]),
    }
    if coupon:
        props["coupon"] = coupon
        props["discount"] = round(price - amount, 2)
    _track(w, v, "purchase_completed", props, path="/checkout/success")
    _identify(
        w,
        v,
        {"plan": plan, "billing": billing},
        {"$add": {"lifetime_value": amount}, "$set_once": {"first_purchase_plan": plan}},
    )


def generate(
    *, users: int = 500, days: int = 7, seed: int = 42, end: datetime | None = None
) -> list[Call]:
    """The sample's ingest calls, in time order: ``users`` visitors over the ``days`` before
    ``end`` (default: now, to the minute)."""
    if end is None:
        end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=days)
    rng = random.Random(seed)
    calls: list[Call] = []
    writer = _Writer(rng, seed, calls)
    for number in range(1, users + 1):
        _visitor(writer, number, start, end)
    end_text = end.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    kept = [c for c in calls if c.body["time"] <= end_text]
    kept.sort(key=lambda call: call.body["time"])
    return kept


MAPPERS: dict[str, Mapper] = {"track": growthos.track, "identify": growthos.identify}


def load(
    ingestor: Ingestor,
    project_id: str,
    calls: list[Call],
    *,
    source: str = "demo",
    batch_events: int = 1000,
    on_batch: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Send ``calls`` through the GrowthOS mappers and ``ingestor`` (not flushed: call
    :meth:`Ingestor.flush_now` or :meth:`Ingestor.stop`). ``on_batch(n)`` after each batch of
    ``n`` calls."""
    summary = ImportSummary(path="demo", format="demo", project_id=project_id)

    def context(code: str | None) -> IngestContext:
        return IngestContext(
            project_id=project_id,
            received_at=now_us(),
            limits=ingestor.limits,
            source=source,
            country=code,
        )

    for offset in range(0, len(calls), batch_events):
        chunk = calls[offset : offset + batch_events]
        summary.read += len(chunk)
        for kind, mapper in MAPPERS.items():
            batch: list[tuple[Where, Any, str | None]] = [
                (offset + i, c.body, c.country) for i, c in enumerate(chunk) if c.kind == kind
            ]
            if batch:
                ingest_batch(ingestor, mapper, context, batch, summary)
        if on_batch is not None:
            on_batch(len(chunk))
    return summary
