"""Rate limits shared through Redis: one limit across API processes.

Real ``growthos serve`` processes on loopback and the Redis server at 127.0.0.1:6379. The
tests use Redis database 13 only, flushed before and after each test.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from tests.conftest import MakeSettings, auth

pytestmark = pytest.mark.redis

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 13
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
GROWTHOS = str(Path(sys.executable).with_name("growthos"))
SECRET = "ratelimit-redis-test-" + "s" * 40
MANAGEMENT_LIMIT = 10
READY_TIMEOUT_S = 20.0


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    """Redis database 13, empty at the start and at the end of the test."""
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path, *, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROWTHOS_")}
    env.update(
        {
            "GROWTHOS_ENV": "test",
            "GROWTHOS_DATA_DIR": str(data_dir),
            "GROWTHOS_SECRET_KEY": SECRET,
            "GROWTHOS_RATE_LIMITS_ENABLED": "true",
            "GROWTHOS_RATE_LIMIT_WINDOW_S": "60",
            "GROWTHOS_PLAN_LIMITS": json.dumps(
                {"free": {"ingest": 100, "management": MANAGEMENT_LIMIT}}
            ),
        }
    )
    if redis_url is not None:
        env["GROWTHOS_REDIS_URL"] = redis_url
    return env


class Servers:
    """``growthos serve`` processes on one data folder; stopped by :meth:`stop`."""

    def __init__(self, workdir: Path, data_dir: Path) -> None:
        self.workdir = workdir
        self.data_dir = data_dir
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.urls: list[str] = []

    def start(self, count: int, *, redis_url: str | None) -> list[str]:
        env = server_env(self.data_dir, redis_url=redis_url)
        urls = []
        for _ in range(count):
            port = free_port()
            log_path = self.workdir / f"serve-{port}.log"
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(
                    [
                        GROWTHOS,
                        "serve",
                        "--data-dir",
                        str(self.data_dir),
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                    cwd=self.workdir,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            self.processes.append((process, log_path))
            urls.append(f"http://127.0.0.1:{port}")
        for url, (process, log_path) in zip(urls, self.processes[-count:], strict=True):
            self._wait_ready(url, process, log_path)
        self.urls = urls
        return urls

    def _wait_ready(self, url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"server {url} exited: {log_path.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"server {url} not ready after {READY_TIMEOUT_S} s: {log_path.read_text()}")

    def stop(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli_keys(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    """Org "Acme" with project "Web", bootstrapped with the CLI."""
    done = subprocess.run(
        [GROWTHOS, "bootstrap", "--data-dir", str(data_dir), "--org", "Acme", "--project", "Web"],
        env=server_env(data_dir, redis_url=None),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    keys: dict[str, str] = json.loads(done.stdout)
    return keys


@pytest.fixture
def servers(tmp_path: Path, data_dir: Path) -> Iterator[Servers]:
    running = Servers(tmp_path, data_dir)
    try:
        yield running
    finally:
        running.stop()


def alternate(urls: list[str], keys: dict[str, str], total: int) -> list[httpx.Response]:
    """``total`` GETs of the project with its secret key, taking the servers in turn."""
    clients = [httpx.Client(base_url=url, timeout=10.0) for url in urls]
    try:
        return [
            clients[i % len(clients)].get(
                f"/v1/projects/{keys['project_id']}", headers=auth(keys["secret_key"])
            )
            for i in range(total)
        ]
    finally:
        for client in clients:
            client.close()


def test_the_limit_holds_across_two_processes_with_redis_and_not_without(
    redis_db: redis.Redis, cli_keys: dict[str, str], servers: Servers
) -> None:
    # Two processes sharing Redis: one counter for the key.
    urls = servers.start(2, redis_url=REDIS_URL)
    answers = alternate(urls, cli_keys, 2 * MANAGEMENT_LIMIT)
    statuses = [r.status_code for r in answers]
    assert statuses == [200] * MANAGEMENT_LIMIT + [429] * MANAGEMENT_LIMIT, statuses
    # both servers counted down one shared Remaining: 9, 8, ... 0
    remaining = [int(r.headers["x-ratelimit-remaining"]) for r in answers[:MANAGEMENT_LIMIT]]
    assert remaining == list(range(MANAGEMENT_LIMIT - 1, -1, -1))
    assert {r.headers["x-ratelimit-limit"] for r in answers} == {str(MANAGEMENT_LIMIT)}
    # one window: both servers report the same reset
    assert len({r.headers["x-ratelimit-reset"] for r in answers}) == 1
    for response in answers[MANAGEMENT_LIMIT:]:
        assert response.json()["error"]["code"] == "rate_limited"
        assert int(response.headers["retry-after"]) >= 1
    # the counter lives in our Redis database
    assert any(b"management" in key for key in redis_db.keys("*"))
    servers.stop()

    # The same two processes without Redis: each counts on its own, so 10 each pass.
    redis_db.flushdb()
    urls = servers.start(2, redis_url=None)
    answers = alternate(urls, cli_keys, 4 * MANAGEMENT_LIMIT)
    per_server = [
        sum(r.status_code == 200 for r in answers[i :: len(urls)]) for i in range(len(urls))
    ]
    assert per_server == [MANAGEMENT_LIMIT, MANAGEMENT_LIMIT]
    assert sorted({r.status_code for r in answers}) == [200, 429]
    assert redis_db.dbsize() == 0


def test_waiting_until_the_reported_reset_lets_the_next_request_through(
    redis_db: redis.Redis, make_settings: MakeSettings
) -> None:
    """Redis' TTL is in whole seconds (rounded); a reset computed from it could come up to half
    a second before the window ends. The timing below makes that case happen: the window
    begins at .1 s past a second and the 429 is read at .7 s past, when the remaining time
    (1.4 s) rounds down."""
    settings = make_settings(
        rate_limits_enabled=True,
        rate_limit_window_s=2,
        redis_url=REDIS_URL,
        plan_limits={"free": {"ingest": 100, "management": 1}},
    )
    catalog = Catalog.open(settings)
    try:
        keys = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
        with TestClient(create_app(settings, catalog=catalog)) as client:

            def call() -> httpx.Response:
                return client.get(
                    f"/v1/projects/{keys['project_id']}", headers=auth(keys["secret_key"])
                )

            call()  # a first connection to Redis, outside the measured window
            redis_db.flushdb()
            wait_for_fraction(0.1)
            window_start = time.time()
            first = call()
            assert first.status_code == 200, first.text
            wait_for_fraction(0.7)
            limited = call()
            assert limited.status_code == 429, limited.text
            reset = int(limited.headers["x-ratelimit-reset"])
            assert reset == int(first.headers["x-ratelimit-reset"])
            assert reset >= window_start + 2, (reset, window_start)

            while time.time() < reset:
                time.sleep(min(0.05, max(0.0, reset - time.time())))
            again = call()
            assert again.status_code == 200, again.text
    finally:
        catalog.dispose()


def wait_for_fraction(fraction: float) -> None:
    """Sleep until the clock is at ``fraction`` of a second (or at most 20 ms past it)."""
    while True:
        late = (time.time() - fraction) % 1
        if late < 0.02:
            return
        time.sleep(1 - late)


def test_unreachable_redis_fails_readiness_but_keyed_requests_are_served(
    make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    nobody = free_port()  # nothing listens there
    settings = make_settings(
        rate_limits_enabled=True,
        rate_limit_window_s=60,
        redis_url=f"redis://127.0.0.1:{nobody}/{REDIS_DB}",
    )
    catalog = Catalog.open(settings)
    try:
        keys = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
        with TestClient(create_app(settings, catalog=catalog)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert ready.json()["status"] == "unavailable"
            assert ready.json()["checks"]["redis"] == "unreachable"
            assert ready.json()["checks"]["catalog"] == "ok"

            with caplog.at_level(logging.WARNING, logger="growthos_pipeline.ratelimit"):
                answers = [
                    client.get(
                        f"/v1/projects/{keys['project_id']}", headers=auth(keys["secret_key"])
                    )
                    for _ in range(MANAGEMENT_LIMIT + 2)
                ]
    finally:
        catalog.dispose()
    # fail open: more than the limit are served, none counted
    assert [r.status_code for r in answers] == [200] * (MANAGEMENT_LIMIT + 2)
    assert {r.headers["x-ratelimit-remaining"] for r in answers} == {str(MANAGEMENT_LIMIT)}
    assert {r.headers["x-ratelimit-limit"] for r in answers} == {str(MANAGEMENT_LIMIT)}
    # and said so in the log, once per request
    warnings = [
        r
        for r in caplog.records
        if r.name == "growthos_pipeline.ratelimit" and "rate-limit store unavailable" in r.message
    ]
    assert len(warnings) == len(answers)
