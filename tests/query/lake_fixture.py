"""A deterministic events lake for the query tests, written through the real ingest path.

:func:`build_lake` sends a few thousand events over ~56 days for three projects through
``build_event`` and the ``Ingestor`` (WAL -> flush -> Delta), in two deliveries, so the lake
has both layouts the query engine treats differently: partitions of one file (whose retries
came in the first delivery and were dropped by the flusher within its commit) and partitions
of two files, where late retries in the second delivery duplicate rows of the first (see
:mod:`growthos_pipeline.lake.partitions`). With: JSON properties holding
numbers, strings, numeric strings (``"42.5"``, ``" 7"``, ``"1_000"``), nested objects, arrays,
booleans and nulls; retried events (the same insert_id with identical content, sometimes in
another request); identify calls before and after login (and a device later used by a second
user); named and unnamed sessions, with gaps around the 30-minute boundary; several countries,
browsers, device types, paths and referrers; the same insert_ids reused in another project.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from growthos_pipeline.events.model import Event
from growthos_pipeline.events.validate import IngestContext, build_event
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.settings import Settings

NOW = datetime(2026, 1, 12, 12, 0, tzinfo=UTC)
PROJECTS = ("p1", "p2", "p3")
DAYS = 56

AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    None,
]
PATHS = [
    "/",
    "/pricing",
    "/blog",
    "/blog/abc",
    "/blog/zed",
    "/blog/Zed",
    "/blog/abc-def",
    "/docs/a",
    "/docs/b?x=1",
    "/signup",
]
REFERRERS = [
    None,
    None,
    "https://www.google.com/search?q=x",
    "https://news.ycombinator.com/",
    "https://t.co/abc",
    "",
]
COUNTRIES = ["US", "US", "DE", "FR", "GB", "BR", None]
AMOUNTS: list[Any] = [
    10,
    55.5,
    120,
    49.99,
    0,
    -5,
    1e3,
    "42.5",
    " 7",
    "1_000",
    "x",
    None,
    True,
    75,
    200.25,
    51,
]
COUPONS: list[Any] = ["XMAS", "VIP", "", None, "vip"]


def _props(rng: random.Random, event_type: str) -> dict[str, Any]:
    props: dict[str, Any] = {}
    if rng.random() < 0.8:
        props["amount"] = rng.choice(AMOUNTS)
    if rng.random() < 0.5:
        props["coupon"] = rng.choice(COUPONS)
    if rng.random() < 0.6:
        props["item"] = {
            "sku": f"S{rng.randint(1, 6)}",
            "qty": rng.randint(1, 4),
            "tags": ["a", "b"][: rng.randint(0, 2)],
        }
    if rng.random() < 0.3:
        props["flag"] = rng.random() < 0.5
    if rng.random() < 0.2:
        props["weird key"] = rng.choice(["a b", 1, None])
    if event_type == "purchase":
        props["currency"] = rng.choice(["USD", "EUR"])
    return props


def _user_props(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.2:
        return None
    return {"plan": rng.choice(["free", "pro", "team", None]), "age": rng.choice([19, 34, "41"])}


FLOW = ["page_view", "page_view", "click", "add_to_cart", "checkout", "purchase"]


def generate(seed: int = 7) -> list[Event]:
    """The events (duplicates included), in the order they are sent."""
    first, late = deliveries(seed)
    return first + late


#: Retries of events on days whose ordinal is a multiple of this come late (a second file).
LATE_EVERY = 3


def deliveries(seed: int = 7) -> tuple[list[Event], list[Event]]:
    """The events in two deliveries: every event and the retries of events on most days, then
    the retries of events on every :data:`LATE_EVERY`-th day."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=DAYS)
    events: list[Event] = []
    late: list[Event] = []
    sent: dict[str, list[tuple[IngestContext, dict[str, Any]]]] = {p: [] for p in PROJECTS}
    for project in PROJECTS:
        size = {"p1": 2600, "p2": 500, "p3": 200}[project]
        devices = [f"{project}-d{i}" for i in range(1, 160)]
        users = [f"{project}-u{i}" for i in range(1, 70)]
        login: dict[str, str] = {}
        count = 0
        while count < size:
            device = rng.choice(devices)
            country = rng.choice(COUNTRIES)
            agent = rng.choice(AGENTS)
            ctx = IngestContext(
                project_id=project,
                received_at=int(NOW.timestamp() * 1e6),
                country=country,
                user_agent=agent,
            )
            moment = start + timedelta(microseconds=rng.randint(0, DAYS * 86_400_000_000 - 1))
            user = login.get(device) if rng.random() < 0.7 else None
            if user is None and rng.random() < 0.25:
                user = rng.choice(users)
                login[device] = user
                identify_at = moment + timedelta(seconds=rng.choice([-600, 5, 900, 86400]))
                if identify_at < NOW:
                    args = {
                        "event_type": "$identify",
                        "user_id": user,
                        "device_id": device,
                        "time": identify_at.isoformat(),
                        "user_properties": {"plan": "pro"},
                    }
                    events.append(build_event(ctx, **args))
            session = f"{project}-s{rng.randint(1, 400)}" if rng.random() < 0.3 else None
            steps = rng.randint(1, 8)
            position = 0
            for _ in range(steps):
                if moment >= NOW:
                    break
                event_type = (
                    rng.choice(["signup", "page_view", "click"])
                    if rng.random() < 0.12
                    else FLOW[min(position, len(FLOW) - 1)]
                )
                if rng.random() < 0.6:
                    position += 1
                args = {
                    "event_type": event_type,
                    "user_id": user,
                    "device_id": device if (user is None or rng.random() < 0.9) else None,
                    "session_id": session,
                    "time": moment.isoformat(),
                    "insert_id": f"ins-{project}-{count}" if rng.random() < 0.9 else None,
                    "event_properties": _props(rng, event_type),
                    "user_properties": _user_props(rng),
                    "url": "https://shop.example" + rng.choice(PATHS),
                    "referrer": rng.choice(REFERRERS),
                }
                if project == "p2" and rng.random() < 0.3:  # insert_ids shared with p1
                    args["insert_id"] = f"ins-p1-{rng.randint(0, 2000)}"
                events.append(build_event(ctx, **args))
                sent[project].append((ctx, args))
                count += 1
                gap = rng.choice([3, 40, 300, 1799, 1800, 1801, 5000, 90_000])
                moment += timedelta(seconds=gap, microseconds=rng.choice([0, 500_000, 17]))
    for project in PROJECTS:  # retries: the same insert_id and content, sent again
        for ctx, args in rng.sample(sent[project], k=len(sent[project]) // 25):
            if args["insert_id"] is not None:
                retry = build_event(ctx, **args)
                day = retry.time // 86_400_000_000
                (late if day % LATE_EVERY == 0 else events).append(retry)
    return events, late


def build_lake(data_dir: Path, seed: int = 7) -> Settings:
    """Ingest :func:`generate` into ``data_dir`` and return its settings."""
    settings = Settings(data_dir=data_dir)
    ingestor = Ingestor(settings)
    ingestor.start()
    try:
        for delivery in deliveries(seed):
            for offset in range(0, len(delivery), 500):
                ingestor.accept_sync(delivery[offset : offset + 500])
            ingestor.flush_now()
    finally:
        ingestor.stop()
    return settings
