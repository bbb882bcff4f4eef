"""A real ``growthos serve`` in its own process group, for the crash and concurrency tests.

The server runs on a free loopback port with rate limits off; :meth:`Server.kill` sends
SIGKILL to the whole group (the uvicorn supervisor and every worker), as a power cut or the
OOM killer would, and waits until none of them is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import httpx2 as httpx
from pydantic import SecretStr

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.ingest.wal import slot_dirs, try_claim
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.settings import Settings

GROWTHOS = str(Path(sys.executable).with_name("growthos"))
SECRET = "ingest-crash-test-" + "s" * 40
READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def settings_for(data_dir: Path) -> Settings:
    """The settings the server sees (for reading the lake and bootstrapping in the test)."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        env="test",
        data_dir=data_dir,
        secret_key=SecretStr(SECRET),
        rate_limits_enabled=False,
    )


def bootstrap_keys(data_dir: Path) -> dict[str, str]:
    settings = settings_for(data_dir)
    catalog = Catalog.open(settings)
    try:
        return bootstrap(catalog, settings, org_name="Acme", project_name="Web")
    finally:
        catalog.dispose()


class Server:
    """``growthos serve --workers N`` on ``data_dir``; one instance per start."""

    def __init__(self, data_dir: Path, log_dir: Path, *, workers: int = 2) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / f"serve-{self.port}.log"

    def start(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROWTHOS_")}
        env.update(
            {
                "GROWTHOS_ENV": "test",
                "GROWTHOS_SECRET_KEY": SECRET,
                "GROWTHOS_RATE_LIMITS_ENABLED": "false",
            }
        )
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                [
                    GROWTHOS,
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=self.log_dir,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kill() reaches every worker
            )
        self._wait_ready()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        ready = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200:
                    ready += 1
                    # Several answers, and every worker has claimed its WAL slot: all are up
                    # (one that is still starting would leave the load to the others).
                    if ready >= self.workers * 2 and self._claimed_slots() >= self.workers:
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready after {READY_TIMEOUT_S} s: {self.log()}")

    def _claimed_slots(self) -> int:
        """WAL slots a live process holds (a free one is taken and let go at once)."""
        held = 0
        for directory in slot_dirs(self.data_dir / "wal"):
            slot = try_claim(directory)
            if slot is None:
                held += 1
            else:
                slot.release()
        return held

    def kill(self) -> None:
        """SIGKILL the whole process group, then wait until every member is gone."""
        assert self.process is not None
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        raise AssertionError("processes of the killed server are still running")

    def stop(self) -> None:
        """A graceful stop (SIGTERM to the group), killed if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


class Sender:
    """Client threads posting batches of events with unique insert_ids to /v1/track.

    Every insert_id is recorded as *sent* before its request goes out and as *acknowledged*
    only when the server answered 200 with every event accepted.
    """

    def __init__(
        self, url: str, key: str, *, prefix: str, threads: int = 4, batch: int = 50
    ) -> None:
        self.url = url
        self.key = key
        self.prefix = prefix
        self.threads = threads
        self.batch = batch
        self.sent: set[str] = set()
        self.acked: set[str] = set()
        self.failures: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> Sender:
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(30)
            assert not thread.is_alive()

    def _run(self, n: int) -> None:
        seq = 0
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            while not self._stop.is_set():
                ids = [f"{self.prefix}-t{n}-{seq}-{i}" for i in range(self.batch)]
                seq += 1
                with self._lock:
                    self.sent.update(ids)
                body = {
                    "events": [
                        {"event_type": "tick", "user_id": f"u{n}", "insert_id": i} for i in ids
                    ]
                }
                try:
                    response = client.post("/v1/track", json=body, headers={"X-API-Key": self.key})
                except httpx.HTTPError as exc:
                    self._failed(type(exc).__name__)
                    time.sleep(0.05)  # the server is down: back off a little
                    continue
                if response.status_code == 200 and response.json()["accepted"] == len(ids):
                    with self._lock:
                        self.acked.update(ids)
                else:
                    self._failed(str(response.status_code))

    def _failed(self, reason: str) -> None:
        with self._lock:
            self.failures[reason] = self.failures.get(reason, 0) + 1


def wait_for_ids(
    settings: Settings, project_id: str, ids: Iterable[str], timeout: float = 60.0
) -> float:
    """Wait until every id is in the lake; the seconds it took."""
    wanted = set(ids)
    start = time.monotonic()
    missing = wanted
    while time.monotonic() - start < timeout:
        present = set(read_events(settings, project_id, dedup=False)["insert_id"].to_list())
        missing = wanted - present
        if not missing:
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(
        f"{len(missing)} acknowledged events never reached the lake, e.g. {sorted(missing)[:5]}"
    )
