from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import auth


def test_secret_key_reads_its_project(client: TestClient, keys: dict[str, str]) -> None:
    response = client.get(f"/v1/projects/{keys['project_id']}", headers=auth(keys["secret_key"]))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Web"
    assert response.headers["x-request-id"].startswith("req_")
