"""The write-ahead log on a real disk: group commit, segments, recovery from damaged files,
a full disk (injected and on a real tiny tmpfs), and the backlog limit.

Each recovery test writes records through the WAL, closes it, damages the segment file the way
a crash, a bad sector or a stray writer would, opens a new WAL on the folder and checks what
it kept, what it set aside in ``quarantine/`` and that it goes on appending.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from growthos_pipeline.errors import ServiceUnavailable
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.ingest.wal import (
    HEADER,
    WALError,
    WriteAheadLog,
    claim_slot,
    frame,
    read_records,
    try_claim,
)
from tests.conftest import MakeSettings


def payload(n: int, size: int = 0) -> bytes:
    body = f'{{"n":{n},"pad":"{"x" * size}"}}\n'
    return body.encode()


def open_wal(directory: Path, **kwargs: object) -> WriteAheadLog:
    options: dict[str, object] = {"seal_interval_s": 3600}
    options.update(kwargs)
    wal = WriteAheadLog(directory, **options)  # type: ignore[arg-type]
    wal.open()
    return wal


def all_records(wal: WriteAheadLog) -> list[bytes]:
    return [bytes(r) for _, path in wal.sealed() for r in read_records(path).records]


def written(count: int, directory: Path, **kwargs: object) -> Path:
    """``count`` records in one sealed segment; returns the segment's path."""
    wal = open_wal(directory, **kwargs)
    for n in range(count):
        wal.append_sync(payload(n, 40))
    wal.close()
    (_seq, path), *rest = wal.sealed()
    assert not rest
    return path


def quarantined(directory: Path) -> list[Path]:
    folder = directory / "quarantine"
    return sorted(folder.iterdir()) if folder.exists() else []


# ---- group commit ----------------------------------------------------------------------------


@pytest.fixture
def sync_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every fdatasync/fsync of a ``.wal`` file, and every write that syncs by itself
    (``pwritev`` with ``RWF_DSYNC``, the log's usual way), counted through the real calls."""
    calls: list[str] = []
    lock = threading.Lock()

    def counting(real: Callable[[int], None]) -> Callable[[int], None]:
        def sync(fd: int) -> None:
            with lock:
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.endswith(".wal"):
                    calls.append(target)
            real(fd)

        return sync

    real_pwritev = os.pwritev

    def pwritev(fd: int, buffers: Sequence[bytes], offset: int, flags: int = 0) -> int:
        written = real_pwritev(fd, buffers, offset, flags)
        if flags & os.RWF_DSYNC:
            with lock:
                if os.readlink(f"/proc/self/fd/{fd}").endswith(".wal"):
                    calls.append("pwritev")
        return written

    monkeypatch.setattr(os, "fdatasync", counting(os.fdatasync))
    monkeypatch.setattr(os, "fsync", counting(os.fsync))
    monkeypatch.setattr(os, "pwritev", pwritev)
    return calls


def test_concurrent_appends_share_fsyncs(tmp_path: Path, sync_calls: list[str]) -> None:
    # A slow disk: each write takes 5 ms, so requests queue up behind it.
    def slow_write(fd: int, data: memoryview) -> int:
        time.sleep(0.005)
        return os.write(fd, data)

    wal = open_wal(tmp_path / "wal", write=slow_write)
    appenders = 200
    start = threading.Barrier(appenders)
    errors: list[BaseException] = []

    def append(n: int) -> None:
        start.wait()
        try:
            wal.append_sync(payload(n))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(appenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    syncs = len(sync_calls)
    wal.close()
    # every append returned after an fsync that covered it, and they shared few of them
    assert 1 <= syncs <= appenders // 5, syncs
    records = all_records(wal)
    assert sorted(records) == sorted(payload(n) for n in range(appenders))


def test_an_append_returns_only_after_its_fsync(tmp_path: Path, sync_calls: list[str]) -> None:
    wal = open_wal(tmp_path / "wal")
    wal.append_sync(payload(1))
    assert len(sync_calls) == 1  # the acknowledgement waited for the disk

    async def on_the_loop() -> None:
        await wal.append(payload(2))
        assert len(sync_calls) == 2

    asyncio.run(on_the_loop())
    wal.close()


def test_appends_on_the_event_loop_share_one_commit_per_turn(
    tmp_path: Path, sync_calls: list[str]
) -> None:
    wal = open_wal(tmp_path / "wal")

    async def requests() -> None:
        # 50 handlers append in the same turn of the loop: one write and one sync for all
        await asyncio.gather(*(wal.append(payload(n)) for n in range(50)))
        assert len(sync_calls) == 1
        await wal.append(payload(50))  # a later turn, a commit of its own
        assert len(sync_calls) == 2
        # a request that gives up (its time budget) leaves the others' commit intact
        given_up = asyncio.ensure_future(wal.append(payload(51)))
        kept = asyncio.ensure_future(wal.append(payload(52)))
        await asyncio.sleep(0)
        given_up.cancel()
        await kept

    asyncio.run(requests())
    wal.seal()
    records = all_records(wal)
    # the cancelled request's record may be on disk (then never acknowledged): the client
    # retries it and dedup counts it once
    assert set(records) - {payload(51)} == {payload(n) for n in [*range(51), 52]}
    wal.close()


def test_a_commit_delay_gathers_appends_from_several_turns(
    tmp_path: Path, sync_calls: list[str]
) -> None:
    """With ``commit_delay_s``, the first record waits that long for others: appends made in
    later turns of the loop join its write and its sync."""
    wal = open_wal(tmp_path / "wal", commit_delay_s=0.2)

    async def requests() -> None:
        started = time.monotonic()
        first = asyncio.ensure_future(wal.append(payload(1)))
        await asyncio.sleep(0.01)  # other turns of the loop
        second = asyncio.ensure_future(wal.append(payload(2)))
        await asyncio.gather(first, second)
        assert time.monotonic() - started >= 0.2
        assert len(sync_calls) == 1

    asyncio.run(requests())
    wal.seal()
    assert all_records(wal) == [payload(1), payload(2)]
    wal.close()


def test_a_commit_due_after_close_acknowledges_nothing(tmp_path: Path) -> None:
    wal = open_wal(tmp_path / "wal")

    async def request() -> None:
        task = asyncio.ensure_future(wal.append(payload(1)))
        await asyncio.sleep(0)  # appended; its commit waits for the end of the turn
        wal.close()
        with pytest.raises(WALError) as caught:
            await task
        assert caught.value.code == "wal_closed"

    asyncio.run(request())
    assert all_records(wal) == []


# ---- segments ----------------------------------------------------------------------------------


def test_segments_rotate_seal_and_retire(tmp_path: Path) -> None:
    sealed_events: list[float] = []
    wal = open_wal(tmp_path / "wal", segment_bytes=4096, on_seal=lambda: sealed_events.append(1))
    for n in range(12):
        wal.append_sync(payload(n, 1000))  # ~1 KB each: 4 per segment
    segments = wal.sealed()
    assert len(segments) >= 2
    assert [seq for seq, _ in segments] == sorted(seq for seq, _ in segments)
    for _, path in segments:
        assert path.stat().st_size <= 4096 + len(frame(payload(0, 1000)))
    backlog = wal.backlog_bytes()
    wal.seal()
    everything = wal.sealed()
    assert len(everything) == len(segments) + 1
    assert len(sealed_events) == len(everything)
    assert wal.backlog_bytes() == backlog == sum(p.stat().st_size for _, p in everything)
    assert all_records(wal) == [payload(n, 1000) for n in range(12)]

    first_seq, first_path = everything[0]
    first_size = first_path.stat().st_size
    wal.retire(first_seq)
    assert not first_path.exists()
    assert first_seq not in [seq for seq, _ in wal.sealed()]
    assert wal.backlog_bytes() == backlog - first_size
    wal.seal()  # nothing open: no empty segment is sealed
    assert len(wal.sealed()) == len(everything) - 1
    wal.close()


def test_the_open_segment_is_sealed_on_its_interval(tmp_path: Path) -> None:
    sealed = threading.Event()
    wal = open_wal(tmp_path / "wal", seal_interval_s=0.1, on_seal=sealed.set)
    wal.append_sync(payload(1))
    assert sealed.wait(2.0)
    assert all_records(wal) == [payload(1)]
    wal.close()


def test_a_reopened_log_keeps_sealed_segments_and_numbers_on(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    wal = open_wal(directory)
    wal.append_sync(payload(1))
    wal.close()
    again = open_wal(directory)
    again.append_sync(payload(2))
    again.seal()
    assert [seq for seq, _ in again.sealed()] == [1, 2]
    assert all_records(again) == [payload(1), payload(2)]
    again.close()


def test_one_process_per_slot(tmp_path: Path) -> None:
    first = claim_slot(tmp_path / "wal")
    second = claim_slot(tmp_path / "wal")
    assert first.directory != second.directory
    assert first.app_id != second.app_id
    assert try_claim(first.directory) is None  # locked
    first.release()
    again = try_claim(first.directory)
    assert again is not None and again.app_id == first.app_id  # the id survives
    again.release()
    second.release()


# ---- recovery --------------------------------------------------------------------------------


def reopen(directory: Path) -> WriteAheadLog:
    wal = open_wal(directory)
    wal.append_sync(payload(999))  # still appends after recovery
    wal.seal()
    return wal


def test_a_torn_tail_is_cut_and_the_valid_records_survive(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    path = written(5, directory)
    size = path.stat().st_size
    record = len(frame(payload(0, 40)))
    with path.open("r+b") as fh:  # the crash came in the middle of the 5th record
        fh.truncate(size - record // 2)
    wal = reopen(directory)
    assert all_records(wal) == [payload(n, 40) for n in range(4)] + [payload(999)]
    assert path.stat().st_size == 4 * record  # the tail was cut on disk
    (bad,) = quarantined(directory)
    assert bad.stat().st_size == record - record // 2
    wal.close()


def test_a_torn_header_is_cut(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    path = written(3, directory)
    with path.open("ab") as fh:  # only part of the next record's header made it
        fh.write(frame(payload(3))[: HEADER.size - 3])
    wal = reopen(directory)
    assert all_records(wal) == [payload(n, 40) for n in range(3)] + [payload(999)]
    wal.close()


def test_a_flipped_bit_quarantines_one_record_and_keeps_the_rest(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    path = written(5, directory)
    record = len(frame(payload(0, 40)))
    data = bytearray(path.read_bytes())
    data[2 * record + HEADER.size + 7] ^= 0x10  # a bit of the 3rd record's payload
    path.write_bytes(bytes(data))
    wal = reopen(directory)
    assert all_records(wal) == [payload(n, 40) for n in (0, 1, 3, 4)] + [payload(999)]
    (bad,) = quarantined(directory)
    assert bad.read_bytes() == bytes(data[2 * record : 3 * record])
    # the segment was rewritten with the valid records only
    assert [bytes(r) for r in read_records(path).records] == [payload(n, 40) for n in (0, 1, 3, 4)]
    wal.close()


@pytest.mark.parametrize("where", ["magic", "length", "crc"])
def test_a_damaged_header_in_the_middle_is_skipped(tmp_path: Path, where: str) -> None:
    directory = tmp_path / "wal"
    path = written(4, directory)
    record = len(frame(payload(0, 40)))
    offset = record + {"magic": 1, "length": 6, "crc": 10}[where]
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    wal = reopen(directory)
    assert all_records(wal) == [payload(n, 40) for n in (0, 2, 3)] + [payload(999)]
    wal.close()


@pytest.mark.parametrize(
    "garbage",
    [os.urandom(1000), b"\x00" * 4096, b"GWL1" + os.urandom(300), b"GWL1\x00\x00\x00\x05"],
    ids=["random", "zeros", "fake-magic", "fake-header"],
)
def test_garbage_after_the_last_record_is_cut(tmp_path: Path, garbage: bytes) -> None:
    directory = tmp_path / "wal"
    path = written(3, directory)
    size = path.stat().st_size
    with path.open("ab") as fh:
        fh.write(garbage)
    wal = reopen(directory)
    assert all_records(wal) == [payload(n, 40) for n in range(3)] + [payload(999)]
    assert path.stat().st_size == size
    wal.close()


def test_a_record_whose_payload_contains_the_magic_survives(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    tricky = b'{"note":"GWL1GWL1 and more GWL1"}\n'
    wal = open_wal(directory)
    wal.append_sync(payload(0))
    wal.append_sync(tricky)
    wal.append_sync(payload(2))
    wal.close()
    path = wal.sealed()[0][1]
    data = bytearray(path.read_bytes())
    data[5] ^= 0x01  # damage the first record: resynchronisation meets the fake magics
    path.write_bytes(bytes(data))
    again = reopen(directory)
    assert all_records(again) == [tricky, payload(2), payload(999)]
    again.close()


def test_an_empty_segment_and_a_zero_length_file(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    written(2, directory)  # segment 1
    (directory / f"{2:016d}.wal").write_bytes(b"")  # zero-length (crash right after create)
    (directory / f"{3:016d}.wal").write_bytes(b"GWL")  # nothing but a torn header
    (directory / "notes.wal").write_bytes(b"not a segment")  # not ours: left alone
    wal = reopen(directory)
    seqs = [seq for seq, _ in wal.sealed()]
    assert seqs == [1, 4]  # the empty ones are gone, numbering goes on after them
    assert not (directory / f"{2:016d}.wal").exists()
    assert not (directory / f"{3:016d}.wal").exists()
    assert (directory / "notes.wal").exists()
    assert all_records(wal) == [payload(0, 40), payload(1, 40), payload(999)]
    wal.close()


def test_a_wholly_corrupt_segment_is_set_aside(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    path = written(2, directory)
    path.write_bytes(os.urandom(path.stat().st_size))
    wal = reopen(directory)
    assert all_records(wal) == [payload(999)]
    assert quarantined(directory)
    wal.close()


# ---- a full disk -----------------------------------------------------------------------------


class FlakyDisk:
    """A ``write`` that fills up: a short write, then ENOSPC, until space comes back."""

    def __init__(self) -> None:
        self.full = False
        self.calls = 0

    def __call__(self, fd: int, data: memoryview) -> int:
        self.calls += 1
        if not self.full:
            return os.write(fd, data)
        if len(data) > 8:
            return os.write(fd, bytes(data[: len(data) // 2]))  # what fitted
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_enospc_fails_the_append_and_leaves_no_partial_record(tmp_path: Path) -> None:
    disk = FlakyDisk()
    wal = open_wal(tmp_path / "wal", write=disk)
    wal.append_sync(payload(1, 100))
    segment = tmp_path / "wal" / f"{1:016d}.wal"
    size = segment.stat().st_size
    disk.full = True
    with pytest.raises(WALError) as caught:
        wal.append_sync(payload(2, 100))
    assert caught.value.code == "storage_full"
    assert caught.value.errno == errno.ENOSPC
    assert wal.last_error is not None
    assert segment.stat().st_size == size  # the half-written record was taken back
    scan = read_records(segment)
    assert scan.valid_end == scan.size and not scan.corrupt
    disk.full = False
    wal.append_sync(payload(3, 100))  # space is back
    assert wal.last_error is None
    wal.seal()
    assert all_records(wal) == [payload(1, 100), payload(3, 100)]
    wal.close()


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount a small tmpfs (``mount -o OPTIONS``) for the test, unmounted after it."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        mount_point = tmp_path / f"tmpfs-{len(mounted)}"
        mount_point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
        mounted.append(mount_point)
        return mount_point

    yield mount
    for mount_point in mounted:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def tiny_tmpfs(mount_tmpfs: Callable[[str], Path]) -> Path:
    """A 256 KiB tmpfs."""
    return mount_tmpfs("size=256k")


def test_a_real_full_tmpfs(tiny_tmpfs: Path) -> None:
    ballast = tiny_tmpfs / "ballast"
    ballast.write_bytes(b"\0" * 64 * 1024)
    directory = tiny_tmpfs / "wal"
    wal = open_wal(directory)
    acknowledged: list[bytes] = []
    error: WALError | None = None
    for n in range(100):  # 100 x 10 KB cannot fit in 256 KiB
        record = payload(n, 10_000)
        try:
            wal.append_sync(record)
        except WALError as exc:
            error = exc
            break
        acknowledged.append(record)
    assert error is not None, "the tmpfs never filled up"
    assert error.code == "storage_full"
    assert len(acknowledged) >= 10
    segment = directory / f"{1:016d}.wal"
    scan = read_records(segment)
    assert [bytes(r) for r in scan.records] == acknowledged
    assert scan.valid_end == scan.size  # no partial record left on the disk
    with pytest.raises(WALError):  # still full
        wal.append_sync(payload(1000, 10_000))
    ballast.unlink()  # space is back
    wal.append_sync(payload(1001, 10_000))
    acknowledged.append(payload(1001, 10_000))
    wal.close()
    again = open_wal(directory)  # and a restart finds exactly the acknowledged records
    assert all_records(again) == acknowledged
    again.close()
    shutil.rmtree(directory)


def test_no_room_for_the_next_segment_then_room_again(
    mount_tmpfs: Callable[[str], Path],
) -> None:
    # Three inodes: the root, the WAL folder and one segment. Rotating to a second segment
    # fails with ENOSPC; once the flusher retires the first, the log must work again.
    directory = mount_tmpfs("size=256k,nr_inodes=3") / "wal"
    wal = open_wal(directory, segment_bytes=4096)
    acknowledged: list[bytes] = []
    error: WALError | None = None
    for n in range(10):
        try:
            wal.append_sync(payload(n, 1000))
        except WALError as exc:
            error = exc
            break
        acknowledged.append(payload(n, 1000))
    assert error is not None and error.code == "storage_full"
    with pytest.raises(WALError) as again:  # still no room
        wal.append_sync(payload(100, 1000))
    assert again.value.code == "storage_full"
    for seq, _ in wal.sealed():  # the flusher moves the full segment to the lake
        assert all_records(wal) == acknowledged
        wal.retire(seq)
    wal.append_sync(payload(101, 1000))  # a new segment now fits
    wal.append_sync(payload(102, 1000))
    wal.seal()
    assert all_records(wal) == [payload(101, 1000), payload(102, 1000)]
    assert wal.last_error is None
    wal.close()


# ---- backlog ---------------------------------------------------------------------------------


def test_a_backlog_over_its_limit_refuses_appends(tmp_path: Path) -> None:
    wal = open_wal(tmp_path / "wal", max_backlog_bytes=4096, segment_bytes=4096)
    refused: WALError | None = None
    for n in range(20):
        try:
            wal.append_sync(payload(n, 1000))
        except WALError as exc:
            refused = exc
            break
    assert refused is not None and refused.code == "ingest_backlog"
    assert wal.backlog_bytes() > 4096
    for seq, _ in wal.sealed():  # the flusher drains: appends go through again
        wal.retire(seq)
    wal.seal()
    for seq, _ in wal.sealed():
        wal.retire(seq)
    wal.append_sync(payload(100))
    wal.close()


def test_the_ingestor_answers_a_backlog_with_503(make_settings: MakeSettings) -> None:
    from growthos_pipeline.events.model import Event

    settings = make_settings(wal_max_backlog_bytes=4096, flusher_enabled=False)
    ingestor = Ingestor(settings)
    ingestor.start()
    try:
        event = Event(
            project_id="proj_1",
            event_id="e",
            insert_id="e",
            event_type="x" * 2000,
            time=1_700_000_000_000_000,
            received_at=1_700_000_000_000_000,
            source="growthos",
        )
        with pytest.raises(ServiceUnavailable) as caught:
            for _ in range(10):
                ingestor.accept_sync([event, event])
        assert caught.value.code == "ingest_backlog"
        assert caught.value.status == 503
        assert caught.value.headers["Retry-After"] == "1"
        ingestor.flush_now()  # the lake catches up: accepted again
        ingestor.accept_sync([event])
    finally:
        ingestor.stop()


def test_a_closed_log_refuses(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / f"wal-{uuid.uuid4().hex}")
    with pytest.raises(WALError) as caught:
        wal.append_sync(payload(1))
    assert caught.value.code == "wal_closed"
