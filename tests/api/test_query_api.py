"""POST /v1/query: formats, errors, tenant isolation, lake versions and as_of, time budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from tests.conftest import MakeSettings, auth

SEED = 'event_type = "page_view" | last 7d | count by _browser'
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Safari/605.1.15"
)


def send(client: TestClient, key: str, events: list[dict[str, Any]]) -> None:
    response = client.post("/v1/track", json={"events": events}, headers=auth(key))
    assert response.json()["accepted"] == len(events), response.text
    client.app.state.ingestor.flush_now()  # type: ignore[attr-defined]


def views(n: int, ua: str, prefix: str = "d") -> list[dict[str, Any]]:
    return [
        {"event_type": "page_view", "device_id": f"{prefix}{i}", "user_agent": ua} for i in range(n)
    ]


def query(client: TestClient, key: str, **body: Any) -> Any:
    return client.post("/v1/query", json=body, headers=auth(key))


def test_the_seed_query_in_every_format(client: TestClient, keys: dict[str, str]) -> None:
    send(client, keys["public_key"], views(5, CHROME) + views(2, SAFARI, "s"))
    answer = query(client, keys["secret_key"], q=SEED).json()
    assert answer["columns"] == ["_browser", "count"]
    assert answer["rows"] == [
        {"_browser": "Chrome", "count": 5},
        {"_browser": "Safari", "count": 2},
    ]
    assert answer["lake_version"] >= 1 and answer["has_more"] is False
    markdown = query(client, keys["secret_key"], q=SEED, format="llm")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.splitlines()[:4] == [
        "| _browser | count |",
        "|---|---|",
        "| Chrome | 5 |",
        "| Safari | 2 |",
    ]
    assert f"lake version {answer['lake_version']}" in markdown.text
    csv = query(client, keys["secret_key"], q=SEED, format="csv")
    assert csv.text.splitlines() == ["_browser,count", "Chrome,5", "Safari,2"]
    assert csv.headers["x-lake-version"] == str(answer["lake_version"])
    alias = client.post("/query", json={"q": SEED}, headers=auth(keys["secret_key"]))
    assert alias.json()["rows"] == answer["rows"]


def test_results_never_cross_projects(
    client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    send(client, keys["public_key"], views(4, CHROME))
    send(client, other_keys["public_key"], views(9, SAFARI))
    mine = query(client, keys["secret_key"], q="last 7d | count by _browser").json()["rows"]
    theirs = query(client, other_keys["secret_key"], q="last 7d | count by _browser").json()
    assert mine == [{"_browser": "Chrome", "count": 4}]
    assert theirs["rows"] == [{"_browser": "Safari", "count": 9}]
    foreign = query(
        client, keys["admin_key"], q="last 7d | count", project_id=other_keys["project_id"]
    )
    assert foreign.status_code == 404


def test_as_of_reproduces_an_earlier_answer(client: TestClient, keys: dict[str, str]) -> None:
    send(client, keys["public_key"], views(3, CHROME))
    first = query(client, keys["secret_key"], q="last 7d | count").json()
    send(client, keys["public_key"], views(2, CHROME, "late"))
    now = query(client, keys["secret_key"], q="last 7d | count").json()
    assert now["rows"] == [{"count": 5}] and now["lake_version"] > first["lake_version"]
    again = query(
        client, keys["secret_key"], q="last 7d | count", as_of=first["lake_version"]
    ).json()
    assert again["rows"] == first["rows"] == [{"count": 3}]
    assert again["lake_version"] == first["lake_version"]
    future = query(client, keys["secret_key"], q="last 7d | count", as_of=999)
    assert (future.status_code, future.json()["error"]["code"]) == (400, "invalid_as_of")


def test_paging_with_limit_and_offset(client: TestClient, keys: dict[str, str]) -> None:
    send(client, keys["public_key"], views(7, CHROME))
    q = "last 7d | select device_id"
    page = query(client, keys["secret_key"], q=q, limit=3).json()
    assert page["row_count"] == 3 and page["has_more"] and page["next_offset"] == 3
    rest = query(client, keys["secret_key"], q=q, limit=10, offset=3).json()
    assert rest["row_count"] == 4 and not rest["has_more"]
    ids = [r["device_id"] for r in page["rows"] + rest["rows"]]
    assert sorted(ids) == sorted(f"d{i}" for i in range(7)) and len(set(ids)) == 7
    too_many = query(client, keys["secret_key"], q=q, limit=10_001)
    assert too_many.status_code == 422


def test_query_errors(client: TestClient, keys: dict[str, str]) -> None:
    bad = 'event_type = "page_view" | last 7 | count by _browser'
    as_json = query(client, keys["secret_key"], q=bad)
    assert as_json.status_code == 400
    error = as_json.json()["error"]
    assert error["code"] == "query_syntax_error"
    assert error["details"][0] | {"hint": None} == {
        "line": 1,
        "column": 33,
        "offset": 32,
        "length": 1,
        "expected": ["7d", "24h", "30m", "2w"],
        "hint": None,
    }
    as_text = query(client, keys["secret_key"], q=bad, format="llm")
    assert as_text.status_code == 400
    assert as_text.text.splitlines()[:2] == [
        "syntax error: 'last' needs a unit, found '7'",
        " --> line 1, column 33",
    ]
    unknown = query(client, keys["secret_key"], q="last 7d | count by _brwoser").json()
    assert unknown["error"]["message"] == ("unknown column '_brwoser', did you mean '_browser'?")
    assert query(client, keys["public_key"], q=SEED).status_code == 403


def test_the_time_budget_answers_504(
    make_settings: MakeSettings, catalog: Catalog, keys: dict[str, str]
) -> None:
    settings = make_settings(query_timeout_s=0.000001)
    with TestClient(create_app(settings, catalog=catalog)) as client:
        response = query(client, keys["secret_key"], q="last 30d | count by day")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "query_timeout"


def test_the_query_feature_can_be_switched_off(
    make_settings: MakeSettings, catalog: Catalog, keys: dict[str, str]
) -> None:
    settings = make_settings(disabled_features="query")
    with TestClient(create_app(settings, catalog=catalog)) as client:
        response = query(client, keys["secret_key"], q=SEED)
    assert (response.status_code, response.json()["error"]["code"]) == (503, "feature_disabled")


def test_growthos_query_on_the_command_line(tmp_path: Path) -> None:
    growthos = str(Path(sys.executable).with_name("growthos"))
    data = str(tmp_path / "data")
    setup = subprocess.run(
        [growthos, "demo", "--no-serve", "--data-dir", data],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert setup.returncode == 0, setup.stderr
    assert "growthos query" in setup.stderr and "lake version" in setup.stderr
    result = subprocess.run(
        [growthos, "query", SEED, "--data-dir", data, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["columns"] == ["_browser", "count"] and answer["rows"]
    assert sum(r["count"] for r in answer["rows"]) > 100
    wrong = subprocess.run(
        [growthos, "query", "last 7 | count", "--data-dir", data],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2
    assert "--> line 1, column 6" in wrong.stderr
