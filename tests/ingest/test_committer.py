"""The flusher as a child process (growthos_pipeline/ingest/committer.py): real child
processes, a real WAL and a Delta table on disk."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.ingest.committer import ProcessFlusher
from growthos_pipeline.ingest.flush import flush_segment
from growthos_pipeline.ingest.wal import try_claim
from tests.conftest import MakeSettings
from tests.ingest.events import make_events, raw_counts, txn_version


@pytest.fixture
def started(make_settings: MakeSettings) -> Iterator[Callable[..., Ingestor]]:
    """Ingestors with the flusher in a child process; the test drives the flushes."""
    running: list[Ingestor] = []

    def start(**overrides: Any) -> Ingestor:
        overrides.setdefault("flusher_enabled", False)
        ingestor = Ingestor(make_settings(flusher_process=True, **overrides))
        ingestor.start()
        running.append(ingestor)
        return ingestor

    yield start
    for ingestor in running:
        if ingestor.wal is not None:
            ingestor.stop()


def flusher_of(ingestor: Ingestor) -> ProcessFlusher:
    assert isinstance(ingestor.flusher, ProcessFlusher)
    return ingestor.flusher


def child_pid(flusher: ProcessFlusher) -> int:
    assert flusher._child is not None
    return flusher._child.pid


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} is still running")


def test_the_child_commits_and_the_api_process_retires(started: Callable[..., Ingestor]) -> None:
    ingestor = started()
    assert ingestor.wal is not None and ingestor.slot is not None
    ingestor.accept_sync(make_events("a", 50))
    assert ingestor.flush_now() == 50
    assert ingestor.wal.sealed() == []  # retired once the child answered
    assert not list(ingestor.slot.directory.glob("*.wal.sealed"))
    assert ingestor.flush_now() == 0
    ingestor.accept_sync(make_events("b", 30))
    assert ingestor.flush_now() == 30
    counts = raw_counts(ingestor.settings)
    assert len(counts) == 80 and set(counts.values()) == {1}
    assert txn_version(ingestor.settings, ingestor.slot.app_id) is not None
    assert flusher_of(ingestor).rows_flushed == 80


def test_a_segment_committed_before_a_crash_is_not_written_again(
    started: Callable[..., Ingestor],
) -> None:
    """The commit went in, the API process died before retiring the segment: the child
    skips it by the slot's transaction version, and the segment is retired."""
    ingestor = started()
    assert ingestor.wal is not None and ingestor.slot is not None
    ingestor.accept_sync(make_events("once", 40))
    ingestor.wal.seal()
    ((seq, path),) = ingestor.wal.sealed()
    flusher = flusher_of(ingestor)
    assert flush_segment(flusher.table, ingestor.slot.app_id, seq, path) == 40
    assert ingestor.flush_now() == 0
    assert ingestor.wal.sealed() == [] and not path.exists()
    counts = raw_counts(ingestor.settings)
    assert len(counts) == 40 and set(counts.values()) == {1}


def test_a_child_that_died_is_replaced_and_nothing_is_lost(
    started: Callable[..., Ingestor],
) -> None:
    ingestor = started()
    flusher = flusher_of(ingestor)
    ingestor.accept_sync(make_events("x", 10))
    assert ingestor.flush_now() == 10
    first = child_pid(flusher)
    os.kill(first, signal.SIGKILL)
    assert flusher._child is not None
    assert flusher._child.wait(30) == -signal.SIGKILL
    ingestor.accept_sync(make_events("y", 10))
    # The dead child is seen either before the command (a new one answers it) or while it
    # is asked (an error: the segment stays in the WAL for the next attempt).
    try:
        flushed = ingestor.flush_now()
    except RuntimeError as error:
        assert "exited" in str(error)
        flushed = ingestor.flush_now()
    assert flushed == 10
    assert child_pid(flusher) != first
    counts = raw_counts(ingestor.settings)
    assert len(counts) == 20 and set(counts.values()) == {1}


def test_the_child_ignores_terminal_signals_and_stops_with_its_parent(
    started: Callable[..., Ingestor],
) -> None:
    """SIGINT and SIGTERM sent to the whole process group leave the child to finish; it
    exits when the API process closes its end (stop, or death of the process)."""
    ingestor = started(flusher_enabled=True)  # started with the API process
    flusher = flusher_of(ingestor)
    pid = child_pid(flusher)
    assert os.getpgid(pid) == pid  # a group of its own: Ctrl-C in a terminal misses it
    flusher.adopt_orphans()  # an answer: the child is loaded and has its handlers
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    ingestor.accept_sync(make_events("s", 5))
    ingestor.wal.seal()  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while raw_counts(ingestor.settings).total() < 5 and time.monotonic() < deadline:
        time.sleep(0.1)  # the flusher thread has the child commit the sealed segment
    assert raw_counts(ingestor.settings).total() == 5
    assert child_pid(flusher) == pid  # the same child answered
    ingestor.stop()
    wait_gone(pid)


def test_the_child_keeps_the_slot_locked_until_it_is_done(
    started: Callable[..., Ingestor],
) -> None:
    """If the API process dies, its child still holds the slot: a restarted process takes
    another one and cannot flush the same segments at the same time."""
    ingestor = started(flusher_enabled=True)
    assert ingestor.slot is not None
    flusher = flusher_of(ingestor)
    pid = child_pid(flusher)
    flusher.stop()  # no thread to respawn it
    os.close(ingestor.slot.lock_fd)  # the API process's own hold goes, as at its death
    assert try_claim(ingestor.slot.directory) is None  # the child's inherited hold remains
    flusher._close_child()  # its input closes: it exits
    wait_gone(pid)
    again = try_claim(ingestor.slot.directory)
    assert again is not None
    again.release()
    ingestor.slot.lock_fd = os.open(os.devnull, os.O_RDONLY)  # for the fixture's stop()


def test_unknown_commands_and_failures_come_back_as_errors(
    started: Callable[..., Ingestor],
) -> None:
    ingestor = started()
    flusher = flusher_of(ingestor)
    with pytest.raises(RuntimeError, match="unknown command"):
        flusher._ask("compact")
    ingestor.accept_sync(make_events("z", 3))
    assert ingestor.flush_now() == 3  # the child is still there


def test_orphan_slots_are_adopted_by_the_child(started: Callable[..., Ingestor]) -> None:
    gone, survivor = started(), started()
    assert gone.wal is not None and gone.slot is not None
    gone.accept_sync(make_events("orphan", 25))
    gone.wal.close()
    flusher_of(gone)._close_child()
    gone.slot.release()  # gone without flushing
    gone.wal = gone.flusher = gone.slot = None
    assert survivor.flusher is not None
    assert survivor.flusher.adopt_orphans() == 25
    counts = raw_counts(survivor.settings)
    assert len(counts) == 25 and set(counts.values()) == {1}
