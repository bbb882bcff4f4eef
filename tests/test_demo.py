"""Demo data: a realistic, deterministic sample sent through the ingest path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from growthos_pipeline import demo
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.settings import Settings

GROWTHOS = str(Path(sys.executable).with_name("growthos"))
END = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_the_sample_is_deterministic_and_tells_a_plausible_story() -> None:
    calls = demo.generate(users=400, days=5, seed=3, end=END)
    assert calls == demo.generate(users=400, days=5, seed=3, end=END)
    assert calls != demo.generate(users=400, days=5, seed=4, end=END)
    times = [c.body["time"] for c in calls]
    assert times == sorted(times)
    assert times[0] >= (END - timedelta(days=5, hours=24)).isoformat()[:10]
    assert times[-1] <= "2024-05-01T12:00:00.000Z"

    kinds = Counter(c.body.get("event_type", "$identify") for c in calls)
    assert kinds["page_view"] > kinds["signup"] > kinds["purchase_completed"] > 0
    assert kinds["signup"] < 400 * 0.5 and kinds["board_created"] > 0
    assert kinds["$identify"] > kinds["signup"]
    visitors = {c.body["device_id"] for c in calls if c.body.get("event_type") == "page_view"}
    assert len(visitors) >= 400

    identifies = [c.body for c in calls if c.kind == "identify"]
    anonymous = [b for b in identifies if "user_id" not in b]
    bound = {(b["user_id"], b["device_id"]) for b in identifies if "user_id" in b}
    assert anonymous and all("$set_once" in b["user_property_ops"] for b in anonymous)
    per_user = Counter(user for user, _ in bound)
    assert max(per_user.values()) >= 2  # some users log in on a second device
    signups = {c.body["user_id"] for c in calls if c.body.get("event_type") == "signup"}
    assert signups <= {user for user, _ in bound}

    purchases = [
        c.body["event_properties"]
        for c in calls
        if c.body.get("event_type") == "purchase_completed"
    ]
    assert all(p["amount"] > 0 and p["plan"] in demo.PLANS for p in purchases)
    assert {c.country for c in calls} >= {"US", "DE", "GB"}
    assert len({c.body["user_agent"] for c in calls}) >= 8
    assert len({c.body["insert_id"] for c in calls}) == len(calls)


def test_load_goes_through_the_mappers_and_ingestor(settings: Settings) -> None:
    calls = demo.generate(users=120, days=3, seed=1, end=END)
    ingestor = Ingestor(settings)
    ingestor.start()
    try:
        summary = demo.load(ingestor, "proj_demo", calls, batch_events=250)
        ingestor.flush_now()
    finally:
        ingestor.stop()
    assert (summary.read, summary.accepted, summary.skipped_total) == (len(calls), len(calls), 0)
    rows = read_events(settings, "proj_demo")
    assert rows.height == len(calls)
    assert set(rows["source"]) == {"demo"}
    views = rows.filter(pl.col("event_type") == "page_view")
    assert views["_path"].null_count() == 0 and views["_browser"].null_count() == 0
    assert set(views["_device_type"]) >= {"desktop", "mobile"}
    assert rows["_country"].null_count() == 0
    assert rows.filter(pl.col("event_type") == "$identify")["user_properties"].null_count() == 0


def test_growthos_demo_no_serve_loads_the_sample_once(tmp_path: Path) -> None:
    env = {**os.environ, "GROWTHOS_SECRET_KEY": "demo-test-" + "s" * 40}
    args = [GROWTHOS, "demo", "--data-dir", str(tmp_path), "--no-serve"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert first.returncode == 0, first.stderr
    info = json.loads(first.stdout)
    assert info["sample_events"] > 3000
    assert "demo events" in first.stderr

    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    rows = read_events(settings, info["project_id"])
    assert rows.height == info["sample_events"]
    counts = dict(rows.group_by("event_type").len().iter_rows())
    assert counts["page_view"] > counts["$identify"] > counts["signup"]
    assert counts["signup"] > counts["purchase_completed"] > 0
    assert rows["user_id"].drop_nulls().n_unique() > 50
    assert rows["event_date"].n_unique() >= 7

    again = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["sample_events"] == 0
    assert read_events(settings, info["project_id"], dedup=False).height == rows.height
