"""Deleting a project removes all its data: catalog rows, lake rows and files, and events
still waiting in the write-ahead log."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi.testclient import TestClient

from growthos_pipeline.lake.read import read_events
from growthos_pipeline.settings import Settings
from tests.conftest import auth


def _files_mentioning(root: Path, needle: bytes) -> list[str]:
    hits = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if needle in path.read_bytes() or needle.decode() in str(path):
                hits.append(str(path.relative_to(root)))
    return hits


def test_delete_removes_lake_data_and_pending_events(
    client: TestClient, settings: Settings, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    doomed, kept = keys["project_id"], other_keys["project_id"]
    for key in (keys["public_key"], other_keys["public_key"]):
        batch = {"events": [{"event_type": "visit", "user_id": f"person-{i}"} for i in range(20)]}
        assert client.post("/v1/track", json=batch, headers=auth(key)).json()["accepted"] == 20
    client.app.state.ingestor.flush_now()  # type: ignore[attr-defined]
    assert read_events(settings, doomed).height == 20
    # One more event that is still in the WAL when the project goes.
    late = {"event_type": "late", "user_id": "person-late-xyz"}
    assert client.post("/v1/track", json=late, headers=auth(keys["public_key"])).status_code == 200

    response = client.request(
        "DELETE",
        f"/v1/admin/projects/{doomed}",
        json={"project_name": "Web", "project_name_confirm": "Web"},
        headers=auth(keys["admin_key"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["lake"]["events"]["rows_deleted"] == 20
    client.app.state.ingestor.flush_now()  # type: ignore[attr-defined]

    assert read_events(settings, doomed).height == 0
    assert read_events(settings, kept).height == 20
    lake = settings.data_dir / "lake" / "events"
    assert not [p for p in lake.iterdir() if p.name == f"project_id={doomed}"] or not any(
        (lake / f"project_id={doomed}").rglob("*.parquet")
    )
    assert _files_mentioning(settings.data_dir / "wal", b"person-late-xyz") == []
    parquet_hits = [h for h in _files_mentioning(lake, b"person-late-xyz") if "_delta_log" not in h]
    assert parquet_hits == []
    # The project's keys are gone with it: management calls fail at once; an ingest key may
    # be trusted for up to key_cache_ttl_s more, but what it sends never lands.
    gone = client.get(f"/v1/projects/{doomed}", headers=auth(keys["secret_key"]))
    assert gone.status_code == 401
    after = {"event_type": "after", "user_id": "person-after-xyz"}
    assert client.post("/v1/track", json=after, headers=auth(keys["public_key"])).status_code in (
        200,
        401,
    )
    client.app.state.ingestor.flush_now()  # type: ignore[attr-defined]
    assert read_events(settings, doomed).height == 0
    assert _files_mentioning(lake, b"person-after-xyz") == []
