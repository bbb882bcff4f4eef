"""Three uvicorn workers ingesting into one lake at once: every event lands exactly once, and
each worker writes through a WAL slot of its own."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from growthos_pipeline.ingest.wal import slot_dirs, try_claim
from growthos_pipeline.lake.read import read_events
from tests.ingest.events import txn_version
from tests.ingest.server import Sender, Server, bootstrap_keys, settings_for, wait_for_ids

pytestmark = pytest.mark.slow


def test_three_workers_one_lake_every_event_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keys = bootstrap_keys(data_dir)
    settings = settings_for(data_dir)
    server = Server(data_dir, tmp_path, workers=3).start()
    try:
        sender = Sender(server.url, keys["public_key"], prefix="c", threads=6, batch=20).start()
        time.sleep(3.0)
        sender.stop()
        assert not sender.failures, sender.failures
        assert sender.acked == sender.sent
        wait_for_ids(settings, keys["project_id"], sender.acked, timeout=30)

        slots = slot_dirs(data_dir / "wal")
        assert len(slots) == 3, slots  # one per worker
        for directory in slots:  # each is held by its live worker
            assert try_claim(directory) is None, f"{directory} is not locked by a worker"
        app_ids = {(d / "ID").read_text().strip() for d in slots}
        assert len(app_ids) == 3
        writers = [a for a in app_ids if txn_version(settings, a) is not None]
        assert len(writers) >= 2, "the load should have reached several workers"
    finally:
        server.stop()
    assert "panicked" not in server.log() and "Traceback" not in server.log(), server.log()

    counts = Counter(read_events(settings, keys["project_id"], dedup=False)["insert_id"])
    assert counts.keys() == sender.acked
    assert set(counts.values()) == {1}
    print(f"\n3 workers: {len(sender.acked)} events, {len(writers)} workers committed")
