"""The flusher on a real Delta table: exactly once across a crash between the lake commit and
the segment's retirement, a failing lake (segments kept, readiness 503, recovery), and the
adoption of a slot whose process is gone."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient

from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.ingest.flush import flush_segment, records_to_arrow
from growthos_pipeline.ingest.wal import read_records
from growthos_pipeline.lake.tables import events_uri
from growthos_pipeline.lake.write import append_once
from growthos_pipeline.settings import Settings
from tests.conftest import MakeSettings, auth
from tests.ingest.events import make_events, raw_counts, txn_version


@pytest.fixture
def started(make_settings: MakeSettings) -> Iterator[Callable[..., Ingestor]]:
    """Start Ingestors on one data folder (flusher thread off: the test drives it)."""
    running: list[Ingestor] = []

    def start(**overrides: Any) -> Ingestor:
        overrides.setdefault("flusher_enabled", False)
        ingestor = Ingestor(make_settings(**overrides))
        ingestor.start()
        running.append(ingestor)
        return ingestor

    yield start
    for ingestor in running:
        if ingestor.wal is not None:
            ingestor.stop()


def sealed_segment(ingestor: Ingestor) -> tuple[int, Path]:
    assert ingestor.wal is not None
    ingestor.wal.seal()
    (seq, path), *rest = ingestor.wal.sealed()
    assert not rest
    return seq, path


def crash(ingestor: Ingestor) -> None:
    """What kill -9 leaves: the WAL files as they are, the slot lock released, no flush."""
    assert ingestor.wal is not None and ingestor.slot is not None
    ingestor.wal.close()
    ingestor.slot.release()
    ingestor.wal = ingestor.flusher = ingestor.slot = None


# ---- exactly once ----------------------------------------------------------------------------


def test_a_segment_flushed_twice_lands_once(started: Callable[..., Ingestor]) -> None:
    ingestor = started()
    settings = ingestor.settings
    assert ingestor.slot is not None and ingestor.flusher is not None
    app_id = ingestor.slot.app_id
    ingestor.accept_sync(make_events("a", 50))
    seq, path = sealed_segment(ingestor)
    table = ingestor.flusher.table
    assert flush_segment(table, app_id, seq, path) == 50
    assert txn_version(settings, app_id) == seq
    version = DeltaTable(events_uri(settings)).version()
    # the crash came before the segment was retired: the next attempt is a no-op
    assert flush_segment(table, app_id, seq, path) == 0
    assert DeltaTable(events_uri(settings)).version() == version  # no new commit at all
    counts = raw_counts(settings)
    assert len(counts) == 50 and set(counts.values()) == {1}


def test_the_flusher_reopens_its_table_handle_and_stays_exact(
    started: Callable[..., Ingestor],
) -> None:
    """A fresh table handle every few commits (a long-lived one grows): nothing lost or
    written twice across the switches."""
    ingestor = started()
    assert ingestor.flusher is not None
    ingestor.flusher.reopen_every = 2
    handles = [ingestor.flusher.table]
    for round_ in range(5):
        ingestor.accept_sync(make_events(f"r{round_}", 20))
        assert ingestor.flush_now() == 20
        if ingestor.flusher.table is not handles[-1]:
            handles.append(ingestor.flusher.table)
    assert len(handles) == 3  # reopened after commits 2 and 4
    counts = raw_counts(ingestor.settings)
    assert len(counts) == 100 and set(counts.values()) == {1}


def test_a_restart_before_retirement_does_not_duplicate(
    started: Callable[..., Ingestor],
) -> None:
    first = started()
    settings = first.settings
    assert first.slot is not None and first.flusher is not None
    app_id, slot_dir = first.slot.app_id, first.slot.directory
    versions: list[int] = []
    for round_ in range(3):
        first.accept_sync(make_events(f"r{round_}", 20))
        seq, path = sealed_segment(first)
        kept = path.read_bytes()
        assert first.flush_now() == 20
        versions.append(txn_version(settings, app_id) or 0)
        assert not path.exists()  # retired
    # put the last segment back, as if the process died between commit and unlink
    path.write_bytes(kept)
    crash(first)

    again = started()  # the same slot, recovered
    assert again.slot is not None and again.slot.directory == slot_dir
    assert again.wal is not None
    assert [s for s, _ in again.wal.sealed()] == [seq]
    assert again.flush_now() == 0  # already in the lake
    assert not path.exists()  # and now retired
    again.accept_sync(make_events("after", 5))
    assert again.flush_now() == 5  # new segments number on past the committed one
    versions.append(txn_version(settings, app_id) or 0)
    assert (
        0 not in versions and versions == sorted(versions) and len(set(versions)) == len(versions)
    ), versions
    counts = raw_counts(settings)
    assert len(counts) == 65 and set(counts.values()) == {1}


def test_a_lower_transaction_version_is_refused(started: Callable[..., Ingestor]) -> None:
    ingestor = started()
    assert ingestor.slot is not None and ingestor.flusher is not None
    ingestor.accept_sync(make_events("a", 3))
    seq, path = sealed_segment(ingestor)
    data = records_to_arrow(read_records(path).records)
    table = ingestor.flusher.table
    assert append_once(table, data, app_id=ingestor.slot.app_id, version=seq + 5)
    # delta-rs would accept a lower version; append_once does not
    assert not append_once(table, data, app_id=ingestor.slot.app_id, version=seq)
    assert not append_once(table, data, app_id=ingestor.slot.app_id, version=seq + 5)
    assert txn_version(ingestor.settings, ingestor.slot.app_id) == seq + 5
    assert sum(raw_counts(ingestor.settings).values()) == 3


def test_duplicates_within_a_segment_are_written_once(
    started: Callable[..., Ingestor],
) -> None:
    ingestor = started()
    events = make_events("d", 4)
    ingestor.accept_sync(events + events[:2])  # one request repeating two insert_ids
    ingestor.accept_sync(events[3:])  # and a retry of another
    assert ingestor.flush_now() == 4
    assert raw_counts(ingestor.settings) == {f"d-{n}": 1 for n in range(4)}


# ---- a failing lake --------------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """Make a folder read-only with a bind mount (root ignores file modes)."""
    mounted: list[Path] = []

    def make(folder: Path) -> None:
        for args in (["--bind", str(folder), str(folder)], ["-o", "remount,bind,ro", str(folder)]):
            done = subprocess.run(["mount", *args], capture_output=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"cannot bind-mount read-only here: {done.stderr.decode().strip()}")
            if args[0] == "--bind":
                mounted.append(folder)

    def undo() -> None:
        while mounted:
            subprocess.run(["umount", str(mounted.pop())], check=False)

    make.undo = undo  # type: ignore[attr-defined]
    yield make
    undo()


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def track(client: TestClient, key: str, prefix: str, count: int) -> None:
    body = {
        "events": [
            {"event_type": "e", "user_id": "u", "insert_id": f"{prefix}-{n}"} for n in range(count)
        ]
    }
    response = client.post("/v1/track", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == count


def test_a_read_only_lake_keeps_the_segments_and_fails_readiness(
    client: TestClient,
    keys: dict[str, str],
    settings: Settings,
    read_only: Callable[[Path], None],
) -> None:
    project = keys["project_id"]
    ingestor: Ingestor = client.app.state.ingestor  # type: ignore[attr-defined]
    assert ingestor.wal is not None
    track(client, keys["public_key"], "before", 3)
    wait_for(lambda: len(raw_counts(settings, project)) == 3)
    assert client.get("/readyz").status_code == 200

    read_only(Path(events_uri(settings)))
    track(client, keys["public_key"], "during", 5)  # still acknowledged: the WAL is fine
    wait_for(lambda: client.get("/readyz").status_code == 503)
    checks = client.get("/readyz").json()["checks"]
    assert checks["wal"] == "ok" and checks["flusher"] != "ok"
    assert "Read-only" in checks["flusher"] or "read-only" in checks["flusher"].lower()
    assert ingestor.wal.sealed(), "the unflushed segment must stay in the WAL"
    assert len(raw_counts(settings, project)) == 3

    read_only.undo()  # type: ignore[attr-defined]
    wait_for(lambda: len(raw_counts(settings, project)) == 8, timeout=40)
    wait_for(lambda: client.get("/readyz").status_code == 200)
    assert not ingestor.wal.sealed()
    assert set(raw_counts(settings, project).values()) == {1}


def test_a_broken_table_keeps_the_segments_until_repaired(
    started: Callable[..., Ingestor],
) -> None:
    ingestor = started()
    settings = ingestor.settings
    ingestor.accept_sync(make_events("a", 2))
    ingestor.flush_now()
    log_dir = Path(events_uri(settings)) / "_delta_log"
    latest = max(log_dir.glob("*.json"))
    bad = log_dir / f"{int(latest.stem) + 1:020d}.json"
    bad.write_text("{not json\n")  # a half-written foreign commit
    ingestor.accept_sync(make_events("b", 3))
    with pytest.raises(Exception):  # noqa: B017 - any lake error
        ingestor.flush_now()
    assert ingestor.wal is not None and len(ingestor.wal.sealed()) == 1
    bad.unlink()
    assert ingestor.flush_now() == 3
    assert not ingestor.wal.sealed()
    assert set(raw_counts(settings)) == {"a-0", "a-1", "b-0", "b-1", "b-2"}


# ---- orphaned slots --------------------------------------------------------------------------


def test_an_orphaned_slot_is_adopted_and_drained_once(
    started: Callable[..., Ingestor],
) -> None:
    survivor = started()  # slot-00
    gone = started()  # slot-01
    settings = survivor.settings
    assert gone.slot is not None and survivor.flusher is not None
    orphan_dir, orphan_app = gone.slot.directory, gone.slot.app_id
    gone.accept_sync(make_events("o1", 10))
    gone.wal.seal()  # type: ignore[union-attr]
    gone.accept_sync(make_events("o2", 7))  # left in the open segment

    assert survivor.flusher.adopt_orphans() == 0  # a live slot is never taken
    crash(gone)
    segments = sorted(orphan_dir.glob("*.wal"))
    assert len(segments) == 2
    copies = [(p, p.read_bytes()) for p in segments]

    assert survivor.flusher.adopt_orphans() == 17
    assert not list(orphan_dir.glob("*.wal"))
    assert txn_version(settings, orphan_app) == int(segments[-1].stem)
    # the adopter died before unlinking: draining again writes nothing
    for path, data in copies:
        path.write_bytes(data)
    assert survivor.flusher.adopt_orphans() == 0
    counts = raw_counts(settings)
    assert len(counts) == 17 and set(counts.values()) == {1}

    assert not list(orphan_dir.glob("*.wal"))  # drained again

    # the slot is claimed again later: its new segments are not mistaken for old ones
    back = started()
    assert back.slot is not None and back.slot.directory == orphan_dir
    back.accept_sync(make_events("back", 4))
    assert back.flush_now() == 4
    assert len(raw_counts(settings)) == 21


def test_the_flusher_thread_adopts_orphans_by_itself(
    started: Callable[..., Ingestor],
) -> None:
    live = started(flusher_enabled=True)  # slot-00, its flusher running
    gone = started()  # slot-01
    gone.accept_sync(make_events("x", 6))
    crash(gone)
    # the live flusher looks for orphans every few seconds
    wait_for(lambda: len(raw_counts(live.settings)) == 6, timeout=20)
    assert live.flusher is not None and live.flusher.healthy
