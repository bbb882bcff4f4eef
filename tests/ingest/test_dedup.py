"""The same insert_id sent again (in one batch, in a later request after a flush, with a
different event time, across a restart) counts once in read_events."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.settings import Settings
from tests.conftest import auth


def send(client: TestClient, key: str, events: list[dict[str, Any]]) -> None:
    response = client.post("/v1/track", json={"events": events}, headers=auth(key))
    assert response.status_code == 200, response.text


def flush(client: TestClient) -> None:
    ingestor: Ingestor = client.app.state.ingestor  # type: ignore[attr-defined]
    ingestor.flush_now()


def counted(settings: Settings, project: str, insert_id: str, *, dedup: bool = True) -> int:
    frame = read_events(settings, project, dedup=dedup)
    return int((frame["insert_id"] == insert_id).sum())


def test_twice_in_one_batch(client: TestClient, keys: dict[str, str], settings: Settings) -> None:
    event = {"event_type": "signup", "user_id": "u1", "insert_id": "same-batch"}
    send(client, keys["public_key"], [event, event, {**event, "insert_id": "other"}])
    flush(client)
    assert counted(settings, keys["project_id"], "same-batch") == 1
    assert counted(settings, keys["project_id"], "same-batch", dedup=False) == 1
    assert len(read_events(settings, keys["project_id"])) == 2


def test_minutes_apart_in_two_flushes(
    client: TestClient, keys: dict[str, str], settings: Settings
) -> None:
    first = {
        "event_type": "purchase",
        "user_id": "u1",
        "insert_id": "retry-1",
        "time": "2024-05-01T23:58:30Z",
    }
    send(client, keys["public_key"], [first])
    flush(client)
    # the client's retry, minutes later: the same payload, another segment, another commit
    send(client, keys["public_key"], [first])
    flush(client)
    assert counted(settings, keys["project_id"], "retry-1", dedup=False) == 2  # both stored
    assert counted(settings, keys["project_id"], "retry-1") == 1  # counted once


def test_copies_on_different_days_count_twice(
    client: TestClient, keys: dict[str, str], settings: Settings
) -> None:
    """The documented limit of the dedup scope (project, UTC day, insert_id): two events
    with one insert_id whose times fall on different days are two events."""
    first = {"event_type": "purchase", "user_id": "u1", "insert_id": "retry-2"}
    send(client, keys["public_key"], [{**first, "time": "2024-05-01T23:58:30Z"}])
    flush(client)
    send(client, keys["public_key"], [{**first, "time": "2024-05-02T00:03:10Z"}])
    flush(client)
    assert counted(settings, keys["project_id"], "retry-2") == 2


def test_across_a_restart(
    client: TestClient, keys: dict[str, str], settings: Settings, catalog: Catalog
) -> None:
    event = {"event_type": "login", "user_id": "u2", "insert_id": "restart-1"}
    send(client, keys["public_key"], [event])
    client.__exit__(None, None, None)  # the server stops (its final flush runs)
    with TestClient(create_app(settings, catalog=catalog)) as again:
        send(again, keys["public_key"], [event])
        flush(again)
        assert counted(settings, keys["project_id"], "restart-1") == 1
        assert counted(settings, keys["project_id"], "restart-1", dedup=False) == 2


def test_projects_do_not_dedup_each_other(
    client: TestClient, keys: dict[str, str], other_keys: dict[str, str], settings: Settings
) -> None:
    event = {"event_type": "x", "user_id": "u", "insert_id": "shared-id"}
    send(client, keys["public_key"], [event])
    send(client, other_keys["public_key"], [event])
    flush(client)
    assert counted(settings, keys["project_id"], "shared-id") == 1
    assert counted(settings, other_keys["project_id"], "shared-id") == 1
