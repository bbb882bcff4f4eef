"""GDPR export and erasure, end to end: through the API, against a real lake, real WALs and
the SQLite catalog; after a deletion, no file under the data folder holds the person's ids."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from fastapi.testclient import TestClient

from api.app import create_app
from growthos_pipeline import gdpr
from growthos_pipeline.catalog import keys as catalog_keys
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.events.model import Event
from growthos_pipeline.ingest.accept import encode
from growthos_pipeline.ingest.wal import WriteAheadLog, try_claim
from growthos_pipeline.lake.erase_user import Subject, subject_predicate
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.lake.tables import lake_root
from growthos_pipeline.settings import Settings
from tests.conftest import MakeSettings, auth

SUBJECT = "gdpr-subject-7f3a@example.com"
DEVICE = "gdpr-device-5e9b1c0d"
PREVIOUS = "gdpr-anon-previous-2d4f"  # merged into SUBJECT by an alias
ORPHAN_DEVICE = "gdpr-orphan-device-81ac"  # only in a dead process's WAL
PHONE = "+49-1555-0173-311"
NEEDLES = [SUBJECT, DEVICE, PREVIOUS, ORPHAN_DEVICE, PHONE]
BYSTANDER = "bystander-user-3141"


@pytest.fixture
def gdpr_settings(make_settings: MakeSettings) -> Settings:
    # No background flusher: events stay in the WAL until something flushes them.
    return make_settings(flusher_enabled=False, wal_seal_interval_s=3600)


@pytest.fixture
def world(gdpr_settings: Settings) -> Iterator[dict[str, Any]]:
    catalog = Catalog.open(gdpr_settings)
    app = create_app(gdpr_settings, catalog=catalog)
    boot = bootstrap(catalog, gdpr_settings, org_name="Acme", project_name="Web")
    with TestClient(app) as client:
        yield {"client": client, "catalog": catalog, "settings": gdpr_settings, **boot}
    catalog.dispose()


def _post(client: TestClient, key: str, path: str, body: dict[str, Any]) -> None:
    response = client.post(path, json=body, headers=auth(key))
    assert response.status_code == 200, response.text


def _flush(client: TestClient) -> None:
    client.app.state.ingestor.flush_now()  # type: ignore[attr-defined]


def _ingest_subject(client: TestClient, key: str, tag: str) -> set[str]:
    """Events of the subject (with distinctive ids everywhere a person can appear) and of a
    bystander; the insert_ids of the subject's."""
    ours = {f"s-{tag}-{n}" for n in range(6)}
    _post(
        client,
        key,
        "/v1/page",
        {
            "device_id": DEVICE,
            "insert_id": f"s-{tag}-0",
            "url": f"https://shop.example/account?email={SUBJECT}",
            "referrer": f"https://mail.example/?to={SUBJECT}",
        },
    )
    _post(
        client,
        key,
        "/v1/identify",
        {
            "user_id": SUBJECT,
            "device_id": DEVICE,
            "insert_id": f"s-{tag}-1",
            "user_properties": {"email": SUBJECT, "phone": PHONE},
        },
    )
    _post(
        client,
        key,
        "/v1/alias",
        {
            "user_id": SUBJECT,
            "previous_id": PREVIOUS,
            "insert_id": f"s-{tag}-2",
        },
    )
    _post(
        client,
        key,
        "/v1/track",
        {
            "events": [
                {
                    "event_type": "purchase",
                    "user_id": SUBJECT,
                    "device_id": DEVICE,
                    "insert_id": f"s-{tag}-3",
                    "session_id": f"sess-{DEVICE}",
                    "event_properties": {"contact": SUBJECT, "sms": PHONE},
                    "user_properties": {"$set": {"phone": PHONE}},
                },
                {"event_type": "signup", "device_id": PREVIOUS, "insert_id": f"s-{tag}-4"},
                {
                    "event_type": "page_view",
                    "user_id": SUBJECT,
                    "insert_id": f"s-{tag}-5",
                    "groups": {"company": f"co-{SUBJECT}"},
                },
                {
                    "event_type": "purchase",
                    "user_id": BYSTANDER,
                    "device_id": "bystander-device",
                    "insert_id": f"b-{tag}-0",
                    "event_properties": {"amount": 12},
                },
            ]
        },
    )
    return ours


def _orphan_slot(settings: Settings, project_id: str) -> str:
    """A WAL slot left behind by a process that is gone, holding one event of the subject."""
    directory = settings.data_dir.resolve() / "wal" / "slot-42"
    slot = try_claim(directory)
    assert slot is not None
    wal = WriteAheadLog(directory, seal_interval_s=3600)
    wal.open()
    now = time.time_ns() // 1000
    event = Event(
        project_id=project_id,
        event_id="evt-orphan",
        insert_id="s-orphan-0",
        event_type="page_view",
        time=now,
        received_at=now,
        source="growthos",
        device_id=ORPHAN_DEVICE,
        user_id=SUBJECT,
    )
    wal.append_sync(encode([event]))
    wal.close()
    slot.release()
    return "s-orphan-0"


def _build_derived(
    settings: Settings, catalog: Catalog, project_id: str, admin_key: str
) -> list[str]:
    """Every derived table the other lanes provide, plus a table with default statistics
    (user_id in the log's min/max stats); the names of the tables built."""
    built = []
    for module, function in (
        ("growthos_pipeline.identity", "build_identities"),
        ("growthos_pipeline.profiles", "build_profiles"),
        ("growthos_pipeline.sessions", "build_sessions"),
    ):
        try:
            build = getattr(__import__(module, fromlist=[function]), function)
        except (ImportError, AttributeError):
            continue
        build(settings, project_id)
        built.append(function)
    try:
        from growthos_pipeline import segments
        from growthos_pipeline.catalog.keys import authenticate
    except ImportError:
        pass
    else:
        principal = authenticate(catalog, settings, admin_key)
        segments.create_segment(
            catalog,
            principal,
            project_id,
            segments.SegmentCreate(name="buyers", filter='event_type = "purchase"'),
        )
        segments.build_segment_members(settings, catalog, project_id)
        built.append("build_segment_members")
    # A table written with Delta's default statistics: user_id's min/max land in the log.
    uri = str(lake_root(settings) / "crm_contacts")
    rows = pa.table(
        {
            "project_id": [project_id] * 2,
            "user_id": [SUBJECT, BYSTANDER],
            "note": [f"call {PHONE}", "vip"],
        }
    )
    write_deltalake(uri, rows, partition_by=["project_id"])
    assert SUBJECT.encode() in b"".join(p.read_bytes() for p in Path(uri, "_delta_log").iterdir())
    return built


def files_mentioning(root: Path, needles: list[str]) -> list[str]:
    """Every file under ``root`` whose bytes or name hold one of ``needles`` (raw UTF-8 or
    JSON-escaped)."""
    forms = {form for n in needles for form in (n.encode(), json.dumps(n)[1:-1].encode())}
    hits = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            data = path.read_bytes()
            if any(form in data or form.decode() in str(path) for form in forms):
                hits.append(str(path.relative_to(root)))
    return sorted(hits)


def _export(
    client: TestClient, key: str, user_id: str = SUBJECT, **params: str
) -> list[dict[str, Any]]:
    response = client.get(f"/v1/gdpr/users/{user_id}/export", headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert user_id not in response.headers["content-disposition"]
    return [json.loads(line) for line in response.text.splitlines()]


def test_delete_leaves_no_identifier_in_any_file(world: dict[str, Any]) -> None:
    client, settings, catalog = world["client"], world["settings"], world["catalog"]
    project_id, public, secret = world["project_id"], world["public_key"], world["secret_key"]

    # In the lake, with every derived table built from it.
    in_lake = _ingest_subject(client, public, "lake")
    _flush(client)
    built = _build_derived(settings, catalog, project_id, world["admin_key"])
    assert {"build_identities", "build_profiles", "build_sessions"} <= set(built)
    # Still in this process's WAL, and in a dead process's WAL, at deletion time.
    in_wal = _ingest_subject(client, public, "wal")
    orphan = _orphan_slot(settings, project_id)
    # A record of the subject that WAL recovery set aside as corrupt.
    quarantine = settings.data_dir / "wal" / "slot-00" / "quarantine"
    quarantine.mkdir(parents=True, exist_ok=True)
    (quarantine / "0000000000000001.wal.16-90.bad").write_bytes(
        b'\x00garbage{"user_id":"' + SUBJECT.encode() + b'","event_type":"x'
    )
    assert files_mentioning(settings.data_dir, NEEDLES)  # the test can fail

    # The export holds exactly the subject's events: lake, WAL (flushed first), orphan slot
    # (not yet: a dead process's WAL reaches the lake at the next adoption or deletion).
    exported = _export(client, secret)
    assert {e["insert_id"] for e in exported} == in_lake | in_wal
    assert all(e["user_id"] in (SUBJECT, None) for e in exported)
    assert {e["device_id"] for e in exported if e["user_id"] is None} == {DEVICE, PREVIOUS}
    purchase = next(e for e in exported if e["insert_id"] == "s-lake-3")
    assert purchase["event_properties"] == {"contact": SUBJECT, "sms": PHONE}
    assert purchase["time"].endswith("Z")

    response = client.delete(f"/v1/gdpr/users/{SUBJECT}", headers=auth(secret))
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and SUBJECT not in response.text
    assert job["subject_hash"] == gdpr.subject_hash(settings, project_id, SUBJECT)

    status = client.get(f"/v1/gdpr/jobs/{job['id']}", headers=auth(secret)).json()
    assert status["status"] == "completed", status
    assert status["counts"]["events_deleted"] == len(in_lake | in_wal) + 1  # + the orphan's
    assert status["counts"]["lake"]["events"]["rows_deleted"] == len(in_lake | in_wal) + 1
    assert status["counts"]["lake"]["crm_contacts"]["rows_deleted"] == 1
    assert status["counts"]["quarantine_files_removed"] == 1
    assert status["counts"]["devices"] >= 3  # DEVICE, PREVIOUS, ORPHAN_DEVICE
    assert status["started_at"] and status["finished_at"] and status["error"] is None

    # Nothing under the data folder names the subject: lake data, _delta_log JSON and
    # checkpoints, WAL segments, quarantine, the SQLite catalog and its -wal file.
    assert files_mentioning(settings.data_dir, NEEDLES) == []
    assert (settings.data_dir / "catalog.db").exists()
    # The bystander is untouched, in events and in the other tables.
    kept = read_events(settings, project_id)
    assert set(kept["insert_id"].to_list()) == {"b-lake-0", "b-wal-0"}
    crm = DeltaTable(str(lake_root(settings) / "crm_contacts")).to_pyarrow_table()
    assert crm.column("user_id").to_pylist() == [BYSTANDER]
    assert _export(client, secret) == []
    assert orphan not in set(kept["insert_id"].to_list())

    # New events of the same person after the deletion are accepted and visible.
    _post(
        client,
        public,
        "/v1/track",
        {"event_type": "came_back", "user_id": SUBJECT, "insert_id": "s-after-0"},
    )
    _flush(client)
    assert [e["insert_id"] for e in _export(client, secret)] == ["s-after-0"]
    assert "s-after-0" in read_events(settings, project_id)["insert_id"].to_list()


def test_audit_trail_names_no_one(world: dict[str, Any]) -> None:
    client, settings = world["client"], world["settings"]
    project_id, secret = world["project_id"], world["secret_key"]
    _ingest_subject(client, world["public_key"], "a")
    assert client.get(f"/v1/gdpr/users/{SUBJECT}/export", headers=auth(secret)).status_code == 200
    job = client.delete(f"/v1/gdpr/users/{SUBJECT}", headers=auth(secret)).json()

    entries = client.get(
        f"/v1/projects/{project_id}/audit", params={"limit": 100}, headers=auth(secret)
    ).json()["data"]
    gdpr_entries = [e for e in entries if e["action"].startswith("gdpr.")]
    assert [e["action"] for e in gdpr_entries] == [
        "gdpr.export",
        "gdpr.delete_requested",
        "gdpr.delete_completed",
    ]
    digest = gdpr.subject_hash(settings, project_id, SUBJECT)
    assert all(e["details"]["subject_hash"] == digest for e in gdpr_entries)
    assert gdpr_entries[1]["target"] == gdpr_entries[2]["target"] == job["id"]
    assert gdpr_entries[2]["details"]["counts"]["events_deleted"] == 6
    assert all(e["actor"].startswith("key:") for e in gdpr_entries)
    assert SUBJECT not in json.dumps(entries)
    # Auditors list the deletion jobs, and find one person's by its id (matched by hash).
    listed = client.get("/v1/gdpr/jobs", headers=auth(secret), params={"user_id": SUBJECT}).json()
    assert [j["id"] for j in listed["data"]] == [job["id"]]
    others = client.get("/v1/gdpr/jobs", headers=auth(secret), params={"user_id": "nobody"})
    assert others.json()["data"] == []


def test_feature_switches(make_settings: MakeSettings) -> None:
    settings = make_settings(disabled_features="gdpr_export,gdpr_delete")
    catalog = Catalog.open(settings)
    boot = bootstrap(catalog, settings, org_name="Acme", project_name="Web")
    with TestClient(create_app(settings, catalog=catalog)) as client:
        for method, path in (
            ("DELETE", f"/v1/gdpr/users/{SUBJECT}"),
            ("GET", f"/v1/gdpr/users/{SUBJECT}/export"),
        ):
            response = client.request(method, path, headers=auth(boot["secret_key"]))
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "feature_disabled"
        with catalog.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM gdpr_jobs").scalar() == 0
    catalog.dispose()


def test_scopes_and_tenants(world: dict[str, Any]) -> None:
    client, catalog, settings = world["client"], world["catalog"], world["settings"]
    project_id = world["project_id"]
    with catalog.begin() as conn:
        tokens = {
            scope: catalog_keys.issue(
                conn,
                settings,
                "token",
                org_id=world["org_id"],
                project_id=project_id,
                name=scope,
                scopes=[scope],
            )[0]
            for scope in ("track", "query", "admin")
        }
    other = bootstrap(catalog, settings, org_name="Globex", project_name="Shop")
    url = f"/v1/gdpr/users/{SUBJECT}"

    def code(method: str, key: str, path: str = url, **params: str) -> tuple[int, str | None]:
        response = client.request(method, path, headers=auth(key), params=params)
        body = response.json() if response.status_code >= 300 else {}
        return response.status_code, body.get("error", {}).get("code")

    for key in (world["public_key"], tokens["track"], tokens["query"]):
        assert code("DELETE", key) == (403, "insufficient_scope")
        assert code("GET", key, url + "/export") == (403, "insufficient_scope")
    assert code("DELETE", world["admin_key"]) == (400, "project_required")
    assert code("DELETE", other["admin_key"], project_id=project_id) == (404, "project_not_found")
    assert code("DELETE", other["secret_key"], project_id=project_id) == (404, "project_not_found")
    response = client.delete(url, headers=auth(tokens["admin"]))
    assert response.status_code == 202 and response.json()["project_id"] == project_id
    job_id = response.json()["id"]
    by_admin = client.delete(
        url, headers=auth(world["admin_key"]), params={"project_id": project_id}
    )
    assert by_admin.status_code == 202 and by_admin.json()["requested_by"].startswith("key:")
    assert code("GET", world["admin_key"], url + "/export", project_id=project_id)[0] == 200
    # Jobs: the project's admins read them; another tenant cannot tell they exist.
    assert code("GET", world["admin_key"], f"/v1/gdpr/jobs/{job_id}") == (200, None)
    assert code("GET", world["secret_key"], f"/v1/gdpr/jobs/{job_id}") == (200, None)
    assert code("GET", tokens["query"], f"/v1/gdpr/jobs/{job_id}") == (403, "insufficient_scope")
    for key in (other["secret_key"], other["admin_key"]):
        assert code("GET", key, f"/v1/gdpr/jobs/{job_id}") == (404, "gdpr_job_not_found")
    assert code("GET", world["secret_key"], "/v1/gdpr/jobs/gdpr_nope") == (
        404,
        "gdpr_job_not_found",
    )
    assert [
        j["id"]
        for j in client.get("/v1/gdpr/jobs", headers=auth(other["secret_key"])).json()["data"]
    ] == []


def test_shared_device_keeps_the_other_users_events() -> None:
    subject = Subject(users=frozenset({"u1"}), devices=frozenset({"shared"}))
    predicate = subject_predicate(["project_id", "user_id", "device_id"], subject)
    assert predicate == "(user_id IN ('u1') OR (user_id IS NULL AND device_id IN ('shared')))"
    # Derived tables are erased broadly: any person column, any identifier.
    broad = subject_predicate(["user_id", "device_id"], subject, broad=True)
    assert broad == ("(user_id IN ('shared', 'u1') OR device_id IN ('shared', 'u1'))")
    odd = Subject(users=frozenset({"o'brien"}), devices=frozenset())
    assert subject_predicate(["user_id"], odd) == "user_id IN ('o''brien')"


def test_core_delete_user_with_shared_device(gdpr_settings: Settings) -> None:
    """Without the API: the core job erases the subject and keeps another user's events from
    the same device; a failed drain marks the job failed without naming the subject."""
    catalog = Catalog.open(gdpr_settings)
    now = time.time_ns() // 1000

    def event(insert_id: str, user: str | None, device: str | None) -> Event:
        return Event(
            project_id="proj_x",
            event_id=f"e-{insert_id}",
            insert_id=insert_id,
            event_type="view",
            time=now,
            received_at=now,
            source="import",
            user_id=user,
            device_id=device,
        )

    directory = gdpr_settings.data_dir.resolve() / "wal" / "slot-00"
    slot = try_claim(directory)
    assert slot is not None
    wal = WriteAheadLog(directory, seal_interval_s=3600)
    wal.open()
    wal.append_sync(
        encode(
            [
                event("1", SUBJECT, "shared-dev"),
                event("2", None, "shared-dev"),
                event("3", "someone-else", "shared-dev"),
            ]
        )
    )
    wal.close()
    slot.release()  # a dead process's slot: the job flushes it itself
    job = gdpr.delete_user(gdpr_settings, catalog, "proj_x", SUBJECT)
    assert job["status"] == "completed" and job["counts"]["wal_rows_flushed"] == 3
    assert job["counts"]["events_deleted"] == 2
    assert read_events(gdpr_settings, "proj_x")["insert_id"].to_list() == ["3"]

    # A live process that never flushes: the job fails after its drain timeout.
    held = try_claim(directory)
    assert held is not None
    wal = WriteAheadLog(directory, seal_interval_s=3600)
    wal.open()
    wal.append_sync(encode([event("4", SUBJECT, None)]))
    try:
        failed = gdpr.delete_user(
            gdpr_settings, catalog, "proj_x", SUBJECT, grace_s=0, drain_timeout_s=0.3
        )
    finally:
        wal.close()
        held.release()
    assert failed["status"] == "failed" and "wal_not_drained" in failed["error"]
    assert SUBJECT not in json.dumps(failed, default=str)
    catalog.dispose()
