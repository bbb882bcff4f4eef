"""The ``growthos`` command line, run as a user runs it (a real process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

GROWTHOS = str(Path(sys.executable).with_name("growthos"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GROWTHOS, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"server exited early: {proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            if httpx2.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become ready")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [
            GROWTHOS,
            "serve",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GROWTHOS_SECRET_KEY": "s" * 40},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url, data
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_bootstrap_prints_one_json_object_and_is_idempotent(tmp_path: Path) -> None:
    first = run("bootstrap", "--data-dir", str(tmp_path), "--org", "Acme", "--project", "Web")
    assert first.returncode == 0, first.stderr
    keys = json.loads(first.stdout)
    assert set(keys) == {"org_id", "project_id", "admin_key", "public_key", "secret_key"}
    assert keys["admin_key"].startswith("ak_") and keys["secret_key"].startswith("sk_")
    assert keys["public_key"].startswith("pk_") and keys["project_id"].startswith("proj_")
    assert first.stdout.count("\n") == 1
    second = json.loads(
        run("bootstrap", "--data-dir", str(tmp_path), "--org", "Acme", "--project", "Web").stdout
    )
    assert (second["org_id"], second["project_id"]) == (keys["org_id"], keys["project_id"])
    assert (tmp_path / "catalog.db").exists()


def test_bootstrap_refuses_bad_input_clearly(tmp_path: Path) -> None:
    bad = run("bootstrap", "--data-dir", str(tmp_path), "--org", " ", "--project", "Web")
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert "name" in bad.stderr


def test_production_without_a_secret_is_refused(tmp_path: Path) -> None:
    result = run(
        "bootstrap",
        "--data-dir",
        str(tmp_path),
        "--org",
        "A",
        "--project",
        "B",
        env={"GROWTHOS_ENV": "production", "GROWTHOS_SECRET_KEY": ""},
    )
    assert result.returncode == 2
    assert "GROWTHOS_SECRET_KEY" in result.stderr


def test_serve_with_two_workers_answers_on_the_data_folder(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    url, data = server
    keys = json.loads(
        run(
            "bootstrap",
            "--data-dir",
            str(data),
            "--org",
            "Acme",
            "--project",
            "Web",
            env={"GROWTHOS_SECRET_KEY": "s" * 40},
        ).stdout
    )
    with httpx2.Client(base_url=url, headers={"X-API-Key": keys["secret_key"]}) as client:
        for _ in range(6):  # spread over both workers
            response = client.get(f"/v1/projects/{keys['project_id']}")
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "10"
        metrics = httpx2.get(f"{url}/metrics").text
    assert "growthos_http_requests_total" in metrics


def test_demo_sets_up_a_project(tmp_path: Path) -> None:
    result = run("demo", "--data-dir", str(tmp_path), "--no-serve")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["secret_key"].startswith("sk_")
    assert "/docs" in result.stderr and info["project_id"] in result.stderr


def test_the_core_imports_neither_the_api_nor_dagster() -> None:
    code = (
        "import sys, growthos_pipeline, growthos_pipeline.cli, growthos_pipeline.catalog.orgs;"
        "import growthos_pipeline.ratelimit, growthos_pipeline.github_login;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'dagster', 'api', 'dagster_project', 'starlette'));"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
