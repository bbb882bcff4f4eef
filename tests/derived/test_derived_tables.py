"""identities, profiles, sessions, usage_daily and segment_members built from real events
(sent through the Ingestor into Delta), and profile.<name> in the query language."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from deltalake import DeltaTable

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.catalog.query_usage import query_counts, record_query
from growthos_pipeline.identity import IDENTITIES, build_identities, devices_of
from growthos_pipeline.lake.derived import read_table, uri
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.profiles import PROFILES, build_profiles, get_profile
from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.engines import execute
from growthos_pipeline.query.run import run, sources
from growthos_pipeline.query.to_polars import to_polars
from growthos_pipeline.sessions import SESSIONS, build_sessions
from growthos_pipeline.settings import Settings
from growthos_pipeline.usage import USAGE_DAILY, build_usage
from tests.derived.world import U1, ingest, story

P1, P2 = "p1", "p2"


@pytest.fixture
def lake(settings: Settings) -> Settings:
    ingest(settings, P1, story())
    ingest(
        settings,
        P2,
        [
            {
                "event_type": "$identify",
                "device_id": "d1",
                "user_id": "other",
                "user_properties": {"plan": "ent"},
            }
        ],
    )
    return settings


def test_identities_one_row_per_device_first_identify_wins(lake: Settings) -> None:
    ingest(lake, P1, [{"event_type": "$identify", "device_id": "d1", "user_id": "late"}])
    assert build_identities(lake, P1) == 3
    rows = read_table(lake, IDENTITIES, P1).sort("device_id")
    assert rows.select("device_id", "user_id").rows() == [("d1", "u1"), ("d2", "u1"), ("d4", "u2")]
    d1 = rows.row(0, named=True)
    assert d1["first_seen"] < d1["identified_at"] <= d1["last_seen"]
    assert [d["device_id"] for d in devices_of(lake, P1, "u1")] == ["d1", "d2"]


def test_identities_match_the_query_compiler(lake: Settings) -> None:
    build_identities(lake, P1)
    by_query = run(lake, P1, "last 2d | count by device_id, user_id").frame
    resolved = {d: u for d, u, _ in by_query.rows() if d is not None and u is not None}
    table = dict(read_table(lake, IDENTITIES, P1).select("device_id", "user_id").rows())
    assert {d: resolved[d] for d in table} == table


def test_profiles_apply_every_operation_including_pre_login_events(lake: Settings) -> None:
    assert build_profiles(lake, P1) == 2
    u1 = get_profile(lake, P1, "u1")
    assert u1 is not None
    assert u1["properties"] == U1
    assert u1["first_seen"] < u1["updated_at"] <= u1["last_seen"]
    assert get_profile(lake, P1, "u2")["properties"] == {"plan": "free"}  # type: ignore[index]
    assert get_profile(lake, P1, "other") is None  # another project's user
    assert get_profile(lake, P2, "other") is None  # p2 not built yet


def test_rebuild_replaces_one_project_atomically(lake: Settings) -> None:
    build_profiles(lake, P1)
    build_profiles(lake, P2)
    ingest(lake, P1, [{"event_type": "x", "user_id": "u3", "user_properties": {"a": 1}}])
    before = DeltaTable(uri(lake, PROFILES)).version()
    build_profiles(lake, P1)
    assert DeltaTable(uri(lake, PROFILES)).version() == before + 1  # one commit
    assert sorted(read_table(lake, PROFILES, P1)["user_id"]) == ["u1", "u2", "u3"]
    assert read_table(lake, PROFILES, P2)["user_id"].to_list() == ["other"]


def test_personal_columns_stay_out_of_the_delta_log(lake: Settings) -> None:
    build_identities(lake, P1)
    build_profiles(lake, P1)
    build_sessions(lake, P1)
    for spec in (IDENTITIES, PROFILES, SESSIONS):
        log = Path(uri(lake, spec)) / "_delta_log"
        text = "".join(p.read_text() for p in log.glob("*.json"))
        for identifier in ("u1", "d1", "buyer"):
            assert f'"{identifier}"' not in text and f":{identifier}" not in text, spec.name


def test_sessions_equal_the_query_languages_sessions(lake: Settings) -> None:
    count = build_sessions(lake, P1)
    table = read_table(lake, SESSIONS, P1).drop("project_id").sort("session_id")
    query = run(lake, P1, "last 2d | sessions").frame.sort("session_id")
    assert count == table.height == query.height > 0
    assert table.to_dicts() == query.to_dicts()
    assert (table["session_end"] >= table["session_start"]).all()


def test_profile_paths_read_the_profiles_table(lake: Settings) -> None:
    text = 'last 2d | where profile.plan = "pro" | count by user_id'
    assert run(lake, P1, text).frame.rows() == []  # no profiles table yet: null
    build_profiles(lake, P1)
    # u1's events (with d1's before login and d2's after alias) all see plan = pro
    assert run(lake, P1, text).frame.rows() == [("u1", 5)]
    grouped = run(lake, P1, "last 2d | count by profile.plan").frame
    assert dict(grouped.rows()) == {"pro": 5, "free": 1, None: 1}
    compiled = compile_query("last 2d | count by profile.plan", P1)
    duck = execute(compiled, engine="duckdb", settings=lake)
    assert sorted(duck.rows(), key=str) == sorted(grouped.rows(), key=str)
    # the other project's profiles never leak in
    frames, _ = sources(lake, None)
    other = to_polars(compile_query("last 2d | count by profile.plan", P2).tree, frames)
    assert other.collect().rows() == [(None, 1)]


def test_profiles_missing_table_reads_null(settings: Settings) -> None:
    ingest(settings, P1, [{"event_type": "x", "user_id": "u"}])
    assert run(settings, P1, "last 1d | select profile.plan").frame.rows() == [(None,)]


def test_usage_counts_ingested_events_and_queries(settings: Settings, catalog: Catalog) -> None:
    project = bootstrap(catalog, settings, org_name="Acme", project_name="Web")["project_id"]
    ingest(settings, project, story())
    with catalog.begin() as conn:
        for _ in range(3):
            record_query(conn, project)
        record_query(conn, project, day=date(2026, 1, 2))
    today = datetime.now(UTC).date()
    assert {r["day"]: r["queries"] for r in query_counts(catalog, project)} == {
        today: 3,
        date(2026, 1, 2): 1,
    }
    assert build_usage(settings, catalog, project) == 2
    rows = read_table(settings, USAGE_DAILY, project).sort("day")
    # every row the lake accepted counts (the ingest path already dropped the in-batch retry)
    stored = read_events(settings, project, dedup=False).height
    assert stored >= 7
    assert rows.select("day", "events_ingested", "queries_run").rows() == [
        (date(2026, 1, 2), 0, 1),
        (today, stored, 3),
    ]
