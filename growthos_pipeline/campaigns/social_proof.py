"""Social proof: a feed of recent, anonymised activity ("Someone in Berlin signed up 5 minutes
ago") from the lake's events of the campaign's event types.

Privacy controls (campaign config):

* an item carries only a text, the event type, a place and a rounded age: never a user id, a
  device id, an email or any property other than the place;
* ``min_events``: nothing is shown until the window (``window_hours``) holds that many events;
* ``place_precision`` (``city``, ``country``, ``none``) and ``min_place_events``: a city is
  named only when that many of the window's events share it, else its country when that many
  share the country, else no place;
* ``round_seconds``: ages are rounded down to a multiple of it;
* ``opt_out_property``: events whose properties set it to true are left out (and do not count);
* ``cache_seconds``: a feed is computed at most once per that many seconds per process.

Examples
--------
>>> ago(30), ago(300), ago(7200), ago(172800)
('just now', '5 minutes ago', '2 hours ago', '2 days ago')
>>> from growthos_pipeline.campaigns.config import SocialProofConfig
>>> config = SocialProofConfig(event_types=["signup"], labels={"signup": "signed up"})
>>> render(config, "signup", "Berlin", 300)
'Someone in Berlin signed up 5 minutes ago'
>>> render(config, "signup", None, 60)
'Someone signed up 1 minute ago'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from growthos_pipeline.campaigns.cache import TTLCache
from growthos_pipeline.campaigns.countries import country_name
from growthos_pipeline.campaigns.store import Campaign, active_campaign
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.errors import BadRequest
from growthos_pipeline.lake.read import scan_events
from growthos_pipeline.settings import Settings

MAX_LIMIT = 50
_TRUE = ("true", "1", '"true"', '"yes"', "yes")

_feeds = TTLCache(max_entries=5_000)


@dataclass(frozen=True)
class Feed:
    """The items, and how long a client may keep them (seconds)."""

    items: list[dict[str, Any]]
    max_age: int


def ago(seconds: int) -> str:
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"  # pragma: no cover


def render(config: Any, event_type: str, place: str | None, seconds_ago: int) -> str:
    """An item's text from the campaign's template."""
    label = config.labels.get(event_type) or event_type.replace("_", " ")
    text: str = config.template.format(
        in_place=f" in {place}" if place else "",
        place=place or "",
        label=label,
        ago=ago(seconds_ago),
        event_type=event_type,
    )
    return " ".join(text.split())


def _prop(name: str) -> pl.Expr:
    return pl.col("event_properties").str.json_path_match(f"$['{name}']")


def recent_rows(
    settings: Settings, campaign: Campaign, *, now: datetime
) -> list[tuple[datetime, str, str | None]]:
    """``(time, event_type, place)`` of the newest events the feed may show, after every
    privacy control but the rounding of times (empty under ``min_events``)."""
    config = campaign.config
    start = now - timedelta(hours=config.window_hours)
    frame = (
        scan_events(settings, campaign.project_id)
        .filter(
            (pl.col("event_date") >= start.date())
            & (pl.col("time") >= start)
            & (pl.col("time") <= now)
            & pl.col("event_type").is_in(list(config.event_types))
        )
        .with_columns(
            _prop(config.opt_out_property).alias("_opt_out"),
            _prop(config.city_property).alias("_city"),
            pl.coalesce(pl.col("_country"), _prop("country").str.to_uppercase()).alias("_cc"),
        )
        .filter(pl.col("_opt_out").is_null() | ~pl.col("_opt_out").str.to_lowercase().is_in(_TRUE))
        .select("time", "event_type", "_city", "_cc")
        .collect()
    )
    if frame.height < config.min_events:
        return []
    k = config.min_place_events
    cities = frame.group_by("_city").len().filter(pl.col("len") >= k)["_city"].to_list()
    countries = frame.group_by("_cc").len().filter(pl.col("len") >= k)["_cc"].to_list()
    shown_cities = {c for c in cities if c and len(c) <= 80}
    shown_countries = {c for c in countries if c}
    newest = frame.sort("time", descending=True).head(config.max_items)
    rows = []
    for moment, event_type, city, code in newest.iter_rows():
        place = None
        if config.place_precision == "city" and city in shown_cities:
            place = city
        elif config.place_precision != "none" and code in shown_countries:
            place = country_name(code)
        rows.append((moment, event_type, place))
    return rows


def feed(
    catalog: Catalog,
    settings: Settings,
    project_id: str,
    key: str,
    *,
    limit: int | None = None,
    now: datetime | None = None,
) -> Feed:
    """The feed of an active social-proof campaign: at most ``limit`` items (default and cap:
    the campaign's ``max_items``), newest first."""
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise BadRequest("invalid_limit", f"limit must be between 1 and {MAX_LIMIT}, found {limit}")
    with catalog.connect() as conn:
        campaign = active_campaign(conn, project_id, key, "social_proof")
    config = campaign.config
    moment = now or datetime.now(UTC)
    cache_key = (campaign.id, campaign.updated_at)
    rows = _feeds.get(cache_key) if now is None else None
    if rows is None:
        rows = recent_rows(settings, campaign, now=moment)
        if now is None:
            _feeds.put(cache_key, rows, ttl_s=config.cache_seconds)
    count = min(limit or config.max_items, config.max_items)
    step = config.round_seconds
    items = []
    for when, event_type, place in rows[:count]:
        age = max(0, int((moment - when).total_seconds()))
        seconds_ago = age - age % step
        items.append(
            {
                "text": render(config, event_type, place, seconds_ago),
                "event_type": event_type,
                "place": place,
                "seconds_ago": seconds_ago,
            }
        )
    return Feed(items, config.cache_seconds)


def summary(settings: Settings, campaign: Campaign) -> dict[str, Any]:
    """What the feed would show now: events in the window (after opt-outs) and whether the
    ``min_events`` threshold is met."""
    rows = recent_rows(settings, campaign, now=datetime.now(UTC))
    return {"showing": bool(rows), "items": len(rows)}
