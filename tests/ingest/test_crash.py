"""kill -9 under load: no acknowledged event is lost or doubled.

A real ``growthos serve --workers 2`` takes sustained batched /v1/track traffic from several
client threads; at a random moment the whole process group gets SIGKILL (supervisor and
workers at once, mid-request, mid-fsync, mid-flush). It is restarted and killed again, round
after round. At the end the lake must hold every acknowledged insert_id exactly once in the
raw table (no dedup on read), and nothing that was never sent.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from growthos_pipeline.ingest.wal import read_records, slot_dirs
from growthos_pipeline.lake.read import read_events
from tests.ingest.server import Sender, Server, bootstrap_keys, settings_for, wait_for_ids

pytestmark = pytest.mark.slow

ROUNDS = 5


def test_kill_9_loses_and_doubles_no_acknowledged_event(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keys = bootstrap_keys(data_dir)
    settings = settings_for(data_dir)
    project = keys["project_id"]
    rng = random.Random()
    sent: set[str] = set()
    acked: set[str] = set()
    report: list[str] = []

    for round_ in range(ROUNDS):
        server = Server(data_dir, tmp_path, workers=2).start()
        sender = Sender(server.url, keys["public_key"], prefix=f"r{round_}", threads=4).start()
        load_s = rng.uniform(1.0, 3.0)
        time.sleep(load_s)
        server.kill()  # while the senders are still sending
        sender.stop()
        assert sender.acked, f"round {round_}: nothing acknowledged: {sender.failures}\n" + (
            server.log()
        )
        assert "panicked" not in server.log(), server.log()
        sent |= sender.sent
        acked |= sender.acked
        report.append(
            f"round {round_}: killed after {load_s:.2f} s, "
            f"{len(sender.acked)} acked of {len(sender.sent)} sent"
        )

    # A last start recovers the WALs of the killed workers and drains them into the lake.
    server = Server(data_dir, tmp_path, workers=2).start()
    try:
        caught_up = wait_for_ids(settings, project, acked, timeout=60)
        server.stop()
        assert "panicked" not in server.log(), server.log()
        assert "Traceback" not in server.log(), server.log()
    finally:
        server.kill() if server.process and server.process.poll() is None else None

    frame = read_events(settings, project, dedup=False)
    counts = Counter(frame["insert_id"].to_list())
    doubled = {i: n for i, n in counts.items() if n > 1}
    assert not doubled, f"{len(doubled)} insert_ids written more than once: " + str(
        sorted(doubled.items())[:5]
    )
    lost = acked - counts.keys()
    assert not lost, f"{len(lost)} acknowledged events lost, e.g. {sorted(lost)[:5]}"
    never_sent = counts.keys() - sent
    assert not never_sent, f"events in the lake that were never sent: {sorted(never_sent)[:5]}"
    # a graceful stop leaves nothing behind in any WAL slot
    leftovers = [
        p for d in slot_dirs(data_dir / "wal") for p in d.glob("*.wal") if read_records(p).records
    ]
    assert not leftovers, leftovers
    print("\n".join(report))
    print(
        f"kill -9 x {ROUNDS}: {len(acked)} acknowledged, {len(sent)} sent, "
        f"{len(counts)} in the lake, {len(counts) - len(acked)} unacknowledged ones landed; "
        f"caught up {caught_up:.2f} s after the last start"
    )
