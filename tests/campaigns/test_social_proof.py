"""Social proof from events in a Delta lake on disk: the feed's text, order and rounding, and
each privacy control (minimum events, place thresholds and precision, opt-out, no ids)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from growthos_pipeline.campaigns import social_proof
from growthos_pipeline.campaigns.config import CampaignUpdate
from growthos_pipeline.campaigns.store import update_campaign
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.settings import Settings
from tests.campaigns.world import MINUTE_US, Project, ingest, now_us, project


def _world(catalog: Catalog, settings: Settings) -> tuple[Project, datetime]:
    p = project(catalog, settings)
    t = now_us()
    events: list[dict[str, Any]] = []
    for i in range(6):  # six signups in Berlin, 10 to 60 minutes ago
        events.append(
            {
                "event_type": "signup",
                "user_id": f"berlin-{i}",
                "country": "DE",
                "time": t - (10 + 10 * i) * MINUTE_US,
                "event_properties": {"city": "Berlin"},
            }
        )
    for i in range(2):  # two in Paris, 3 and 7 minutes ago
        events.append(
            {
                "event_type": "trial_started",
                "user_id": f"paris-{i}",
                "country": "FR",
                "time": t - (3 + 4 * i) * MINUTE_US,
                "event_properties": {"city": "Paris"},
            }
        )
    events += [
        {
            "event_type": "signup",
            "user_id": "private",
            "country": "DE",
            "time": t - MINUTE_US,
            "event_properties": {"city": "Berlin", "social_proof_opt_out": True},
        },
        {
            "event_type": "signup",
            "user_id": "stale",
            "country": "DE",
            "time": t - 100 * 60 * MINUTE_US,
            "event_properties": {"city": "Berlin"},
        },
        {"event_type": "purchase", "user_id": "buyer", "country": "DE", "time": t - MINUTE_US},
    ]
    ingest(settings, p.id, events)
    p.campaign(
        "proof",
        "social_proof",
        {
            "event_types": ["signup", "trial_started"],
            "labels": {"signup": "signed up", "trial_started": "started a trial"},
            "min_events": 8,
            "min_place_events": 3,
        },
    )
    return p, datetime.fromtimestamp(t / 1e6, UTC)


def _feed(p: Project, now: datetime, **config: Any) -> list[dict[str, Any]]:
    if config:
        update_campaign(p.catalog, p.admin, p.id, "proof", CampaignUpdate(config=config))
    return social_proof.feed(p.catalog, p.settings, p.id, "proof", now=now).items


def test_feed_items_and_privacy_controls(catalog: Catalog, settings: Settings) -> None:
    p, now = _world(catalog, settings)
    items = _feed(p, now)
    assert [i["text"] for i in items[:3]] == [
        "Someone started a trial just now",  # Paris: 2 events < 3, France: 2 < 3: no place
        "Someone started a trial 5 minutes ago",
        "Someone in Berlin signed up 10 minutes ago",
    ]
    assert len(items) == 8 and all(i["seconds_ago"] % 300 == 0 for i in items)
    assert [i["place"] for i in items].count("Berlin") == 6
    text = repr(items)
    for secret in ("berlin-", "paris-", "private", "stale", "buyer", "user_id"):
        assert secret not in text
    assert _feed(p, now, min_events=9) == []  # the opted-out and the stale event do not count
    assert {i["place"] for i in _feed(p, now, min_events=8, place_precision="country")} == {
        "Germany",
        None,
    }
    assert {i["place"] for i in _feed(p, now, place_precision="city", min_place_events=2)} == {
        "Berlin",
        "Paris",
    }
    assert {i["place"] for i in _feed(p, now, place_precision="none")} == {None}
    assert len(social_proof.feed(p.catalog, p.settings, p.id, "proof", limit=2, now=now).items) == 2
    rounded = _feed(p, now, round_seconds=3600, template="{label} ({ago}) {place}")
    assert rounded[0]["text"] == "started a trial (just now)" and rounded[0]["seconds_ago"] == 0
