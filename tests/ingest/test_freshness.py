"""Freshness: an acknowledged event is visible to read_events within 2 seconds, with the
default settings (WAL sealed every second, the flusher in a child process), on a real server."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from growthos_pipeline.lake.read import read_events
from tests.ingest.server import Server, bootstrap_keys, settings_for

pytestmark = pytest.mark.slow

LIMIT_S = 2.0


def test_an_acknowledged_event_is_readable_within_two_seconds(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keys = bootstrap_keys(data_dir)
    settings = settings_for(data_dir)
    server = Server(data_dir, tmp_path, workers=1).start()
    delays = []
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            for n in range(8):
                insert_id = f"fresh-{n}"
                response = client.post(
                    "/v1/track",
                    json={"event_type": "ping", "user_id": "u", "insert_id": insert_id},
                    headers={"X-API-Key": keys["public_key"]},
                )
                assert response.status_code == 200
                acked = time.monotonic()
                while True:
                    frame = read_events(settings, keys["project_id"])
                    if insert_id in frame["insert_id"].to_list():
                        break
                    assert time.monotonic() - acked < 10, "never became visible"
                    time.sleep(0.01)
                delays.append(time.monotonic() - acked)
                time.sleep(0.3 * (n % 3))  # vary the phase against the seal timer
    finally:
        server.stop()
    print(f"\nfreshness: median {statistics.median(delays):.3f} s, max {max(delays):.3f} s")
    assert max(delays) < LIMIT_S, delays
