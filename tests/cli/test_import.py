"""``growthos import``: backfill files through the ingest path, as an operator runs it."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.errors import BadRequest
from growthos_pipeline.ingest.backfill import Meter, import_file, read_parquet
from growthos_pipeline.lake.read import events_version, read_events
from growthos_pipeline.settings import Settings
from tests.cli.test_cli import free_port, wait_ready

GROWTHOS = str(Path(sys.executable).with_name("growthos"))
SECRET = "import-test-secret-" + "x" * 30
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def growthos(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GROWTHOS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "GROWTHOS_SECRET_KEY": SECRET, "COLUMNS": "200"},
    )


@pytest.fixture
def project(settings: Settings) -> str:
    catalog = Catalog.open(settings)
    try:
        return bootstrap(catalog, settings, org_name="Acme", project_name="Web")["project_id"]
    finally:
        catalog.dispose()


def run_import(settings: Settings, path: Path, project_id: str, *extra: str) -> dict[str, Any]:
    result = growthos(
        "import", str(path), "--project", project_id, "--data-dir", str(settings.data_dir), *extra
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1  # one JSON object; the table goes to stderr
    assert "accepted" in result.stderr
    return dict(json.loads(result.stdout))


def test_ndjson_lands_historic_rows_and_skips_bad_lines_by_reason(
    settings: Settings, project: str, tmp_path: Path
) -> None:
    good = [
        {
            "event_type": "signup",
            "user_id": "u1",
            "time": "2021-03-04T05:06:07Z",
            "insert_id": "a1",
            "event_properties": {"plan": "pro"},
            "user_agent": CHROME,
            "url": "https://shop.example.com/pricing?x=1",
            "session_id": 17,
        },
        {
            "event_type": "page_view",
            "device_id": "d1",
            "time": 1_614_834_000_000,
            "insert_id": "a2",
        },
        {
            "event_type": "purchase",
            "user_id": "u1",
            "time": "2021-03-05 10:00:00",
            "insert_id": "a3",
            "event_properties": {"amount": 12.5, "coupon": "LAUNCH20"},
        },
    ]
    lines = [
        json.dumps(good[0]),
        "",
        json.dumps(good[1]),
        "{not json",
        json.dumps({"user_id": "u2", "time": "2021-01-01T00:00:00Z"}),
        json.dumps({"event_type": "x", "time": "2021-01-01T00:00:00Z"}),
        json.dumps({"event_type": "x", "user_id": "u3", "colour": "red"}),
        json.dumps({"event_type": "x", "user_id": "u3", "time": "1999-12-31T00:00:00Z"}),
        json.dumps(good[2]),
        "[1, 2]",
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")

    summary = run_import(settings, path, project)

    assert (summary["read"], summary["accepted"], summary["skipped"]) == (9, 3, 6)
    assert summary["skipped_by_reason"] == {
        "invalid_json": 1,
        "missing_event_type": 1,
        "missing_identity": 1,
        "unknown_field": 1,
        "time_out_of_range": 1,
        "invalid_event": 1,
    }
    assert [(e["where"], e["code"]) for e in summary["examples"]] == [
        (4, "invalid_json"),
        (5, "missing_event_type"),
        (6, "missing_identity"),
        (7, "unknown_field"),
        (8, "time_out_of_range"),
    ]
    assert summary["lake_version"] == events_version(settings)
    rows = read_events(settings, project).sort("time")
    assert rows["insert_id"].to_list() == ["a2", "a1", "a3"]
    first = rows.filter(pl.col("insert_id") == "a1").row(0, named=True)
    assert first["time"] == datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert str(first["event_date"]) == "2021-03-04"
    assert (first["_browser"], first["_os"], first["_device_type"]) == (
        "Chrome",
        "Windows",
        "desktop",
    )
    assert (first["_path"], first["session_id"], first["source"]) == ("/pricing", "17", "import")
    assert json.loads(first["event_properties"]) == {"plan": "pro"}
    assert rows["event_date"].cast(pl.String).to_list() == ["2021-03-04"] * 2 + ["2021-03-05"]

    again = run_import(settings, path, project, "--source", "backfill")  # idempotent by insert_id
    assert again["accepted"] == 3
    assert read_events(settings, project).height == 3
    assert read_events(settings, project, dedup=False).height == 6


def test_csv_columns_json_text_and_extra_columns_with_format_option(
    settings: Settings, project: str, tmp_path: Path
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "event_type",
            "user_id",
            "device_id",
            "time",
            "event_properties",
            "amount",
            "coupon",
            "user_properties",
            "zip",
        ]
    )
    writer.writerow(
        [
            "purchase",
            "u1",
            "",
            "2022-06-01T12:00:00Z",
            '{"plan": "team"}',
            "49.0",
            "FRIENDS10",
            '{"tier": "gold"}',
            "01234",
        ]
    )
    writer.writerow(
        ["page_view", "", "d9", "2022-06-01T11:59:00Z", "", "", "", "", "line one\nline two"]
    )
    writer.writerow(["purchase", "u2", "", "2022-06-02T00:00:00Z", "{broken", "5", "", "", ""])
    writer.writerow(["", "u3", "", "2022-06-02T00:00:00Z", "", "", "", "", ""])
    path = tmp_path / "events.txt"  # not a .csv name: --format decides
    path.write_text(buffer.getvalue())

    summary = run_import(settings, path, project, "--format", "csv")

    assert (summary["read"], summary["accepted"]) == (4, 2)
    assert summary["skipped_by_reason"] == {"invalid_properties": 1, "missing_event_type": 1}
    # the page_view row spans two physical lines (a quoted newline): line numbers follow
    assert [(e["where"], e["code"]) for e in summary["examples"]] == [
        (5, "invalid_properties"),
        (6, "missing_event_type"),
    ]
    rows = {r["event_type"]: r for r in read_events(settings, project).iter_rows(named=True)}
    assert json.loads(rows["purchase"]["event_properties"]) == {
        "plan": "team",
        "amount": 49.0,
        "coupon": "FRIENDS10",
        "zip": "01234",
    }
    assert json.loads(rows["purchase"]["user_properties"]) == {"tier": "gold"}
    assert rows["page_view"]["device_id"] == "d9"
    assert json.loads(rows["page_view"]["event_properties"]) == {"zip": "line one\nline two"}


def test_parquet_is_read_in_batches_with_typed_columns(
    settings: Settings, project: str, tmp_path: Path
) -> None:
    start = datetime(2020, 5, 1, tzinfo=UTC)
    n = 25_000
    table = pa.table(
        {
            "event_type": ["view"] * (n - 1) + [None],
            "user_id": [f"u{i % 300}" for i in range(n)],
            "time": pa.array(
                [start + timedelta(minutes=i) for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
            "insert_id": [f"p{i}" for i in range(n)],
            "event_properties": [{"step": i % 5} for i in range(n)],
            "price": pa.array([i / 4 for i in range(n)], pa.float64()),
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(table, path, row_group_size=4000)

    meter = Meter()
    progress = [meter.done for _ in read_parquet(path, meter, batch_rows=5000)]
    assert progress == sorted(progress) and len(set(progress)) == 5  # advances per batch
    assert meter.done == meter.total == path.stat().st_size

    summary = import_file(settings, path, project_id=project)
    assert (summary.read, summary.accepted, dict(summary.skipped)) == (
        n,
        n - 1,
        {"missing_event_type": 1},
    )
    assert summary.examples[0]["where"] == n
    rows = read_events(settings, project)
    assert rows.height == n - 1
    last = rows.filter(pl.col("insert_id") == "p24998").row(0, named=True)
    assert last["time"] == start + timedelta(minutes=24998)
    assert json.loads(last["event_properties"]) == {"step": 24998 % 5, "price": 24998 / 4}
    assert rows["event_date"].n_unique() == 18  # 25,000 minutes


def amplitude_rows(day: str, count: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "event_type": "Song Played" if i % 3 else "$identify",
            "user_id": f"amp-u{i % 7}" if i % 4 else None,
            "device_id": f"amp-d{i % 9}",
            "event_time": f"{day} 03:04:05.{i:06d}",
            "client_event_time": f"{day} 03:04:04.000000",
            "$insert_id": f"ins-{day}-{offset + i}",
            "uuid": f"uuid-{day}-{offset + i}",
            "session_id": 1_704_164_645_000 if i % 2 else -1,
            "event_properties": {"genre": "jazz"} if i % 3 else {},
            "user_properties": {"plan": "free"},
            "groups": {"company": ["acme"]} if i == 1 else {},
            "country": "Germany" if i % 2 else "United States",
            "city": "Berlin",
            "platform": "Web",
            "os_name": "Chrome",
            "library": "amplitude-js/8",
            "amplitude_id": 1000 + i,
            "ip_address": "203.0.113.9",
        }
        for i in range(count)
    ]


def gz_lines(rows: list[Any]) -> bytes:
    return gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows))


def test_amplitude_export_zip(settings: Settings, project: str, tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    first = amplitude_rows("2024-01-02", 30)
    second = amplitude_rows("2024-01-03", 20)
    second.append(second[0])  # the same $insert_id twice: the lake counts it once
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("187520/", b"")
        archive.writestr("187520/187520_2024-01-02_3#0.json.gz", gz_lines(first))
        archive.writestr(
            "187520/187520_2024-01-03_3#0.json.gz", gz_lines(second) + gzip.compress(b"{oops\n")
        )
        archive.writestr("187520/README.txt", b"not an export file")

    summary = run_import(settings, path, project)

    assert (summary["read"], summary["accepted"]) == (52, 51)
    assert summary["skipped_by_reason"] == {"invalid_json": 1}
    assert summary["examples"][0]["where"] == "187520_2024-01-03_3#0.json.gz:22"
    rows = read_events(settings, project)
    assert rows.height == 50
    one = rows.filter(pl.col("insert_id") == "ins-2024-01-02-1").row(0, named=True)
    assert one["time"] == datetime(2024, 1, 2, 3, 4, 5, 1, tzinfo=UTC)
    assert (one["event_type"], one["user_id"], one["device_id"]) == (
        "Song Played",
        "amp-u1",
        "amp-d1",
    )
    assert (one["session_id"], one["_country"], one["library"]) == (
        "1704164645000",
        "DE",
        "amplitude-js/8",
    )
    assert json.loads(one["groups"]) == {"company": "acme"}
    props = json.loads(one["event_properties"])
    assert props["genre"] == "jazz" and props["$city"] == "Berlin"
    assert "ip_address" not in one["event_properties"]
    zero = rows.filter(pl.col("insert_id") == "ins-2024-01-02-0").row(0, named=True)
    assert (zero["event_type"], zero["user_id"], zero["session_id"], zero["_country"]) == (
        "$identify",
        None,
        None,
        "US",
    )
    assert json.loads(zero["user_properties"]) == {"plan": "free"}


def test_amplitude_folder_of_gz_files(settings: Settings, project: str, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "1_2024-01-02_0#0.json.gz").write_bytes(gz_lines(amplitude_rows("2024-01-02", 5)))
    (folder / "1_2024-01-02_1#0.json.gz").write_bytes(
        gz_lines(amplitude_rows("2024-01-02", 4, offset=5))
    )
    single = import_file(settings, folder / "1_2024-01-02_0#0.json.gz", project_id=project)
    assert (single.format, single.accepted) == ("amplitude", 5)
    whole = import_file(settings, folder, project_id=project)
    assert (whole.read, whole.accepted) == (9, 9)
    assert read_events(settings, project).height == 9


def test_missing_project_and_unreadable_files_exit_non_zero(
    settings: Settings, project: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.ndjson"
    path.write_text(json.dumps({"event_type": "x", "user_id": "u"}) + "\n")
    missing = growthos(
        "import", str(path), "--project", "proj_nope", "--data-dir", str(settings.data_dir)
    )
    assert missing.returncode == 1
    assert "project_not_found" in missing.stderr and "proj_nope" in missing.stderr
    assert missing.stdout == ""
    assert events_version(settings) is None  # nothing was written

    absent = growthos(
        "import",
        str(tmp_path / "nope.csv"),
        "--project",
        project,
        "--data-dir",
        str(settings.data_dir),
    )
    assert absent.returncode == 1 and "file_unreadable" in absent.stderr

    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 this is not a zip")
    bad = growthos(
        "import", str(broken), "--project", project, "--data-dir", str(settings.data_dir)
    )
    assert bad.returncode == 1 and "file_unreadable" in bad.stderr

    with pytest.raises(BadRequest) as truncated:  # a gzip cut short: what came before stays
        good = gzip.compress(
            b"".join(
                json.dumps({"event_type": "x", "user_id": f"u{i}", "insert_id": f"t{i}"}).encode()
                + b"\n"
                for i in range(2000)
            )
        )
        cut = tmp_path / "cut.ndjson.gz"
        cut.write_bytes(good[: len(good) - 40])
        import_file(settings, cut, project_id=project, batch_events=100)
    assert truncated.value.code == "file_unreadable"
    landed = truncated.value.details[0]["accepted"]
    assert landed > 0 and read_events(settings, project).height == landed


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            GROWTHOS,
            "serve",
            "--data-dir",
            str(settings.data_dir),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GROWTHOS_SECRET_KEY": SECRET},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_import_next_to_a_running_server(settings: Settings, served: str, tmp_path: Path) -> None:
    keys = json.loads(
        growthos(
            "bootstrap", "--data-dir", str(settings.data_dir), "--org", "Acme", "--project", "Web"
        ).stdout
    )
    project = keys["project_id"]
    path = tmp_path / "events.ndjson"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "event_type": "old",
                    "user_id": f"u{i}",
                    "insert_id": f"imp-{i}",
                    "time": f"2023-01-01T00:{i % 60:02d}:00Z",
                }
            )
            + "\n"
            for i in range(3000)
        )
    )
    importer = subprocess.Popen(
        [
            GROWTHOS,
            "import",
            str(path),
            "--project",
            project,
            "--data-dir",
            str(settings.data_dir),
            "--batch",
            "200",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GROWTHOS_SECRET_KEY": SECRET},
    )
    live = 0
    with httpx2.Client(base_url=served, headers={"X-API-Key": keys["public_key"]}) as client:
        while importer.poll() is None or live < 20:  # live traffic while the import runs
            response = client.post(
                "/v1/track",
                json={"event_type": "live", "user_id": f"l{live}", "insert_id": f"live-{live}"},
            )
            assert response.status_code == 200, response.text
            live += 1
            time.sleep(0.02)  # stay under the free plan's 100 ingest requests per second
    out, errors = importer.communicate(timeout=120)
    assert importer.returncode == 0, errors
    summary = json.loads(out)
    assert (summary["accepted"], summary["skipped"]) == (3000, 0)
    assert len(list((settings.data_dir / "wal").glob("slot-*"))) >= 2  # a slot of its own

    deadline = time.monotonic() + 30  # the server's flusher commits the live events
    while time.monotonic() < deadline:
        counts = dict(read_events(settings, project).group_by("event_type").len().iter_rows())
        if counts.get("live") == live:
            break
        time.sleep(0.2)
    assert counts == {"old": 3000, "live": live}
