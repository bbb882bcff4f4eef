"""GDPR: export everything the lake holds about one person, or erase it.

The data subject is a user id of one project, together with the ids merged into it by
``$alias`` and every device seen with them (see
:func:`growthos_pipeline.lake.erase_user.resolve_subject`): its events are the events whose
``user_id`` is one of those user ids, and the anonymous events (no ``user_id``) of its devices.
Events of another user sent from a shared device are that user's and are left alone.

**Export** (:func:`export_user`) streams those events as NDJSON, oldest first, one event per
line (times in ISO 8601 UTC, property maps as JSON objects). It reads the lake: events still
in a write-ahead log reach it within about a second (pass ``flush`` to move this process's
log first, as the API does).

**Deletion** is a job with a status (``queued`` -> ``running`` -> ``completed`` or ``failed``)
recorded in the catalog's ``gdpr_jobs`` table, which names the subject by a keyed hash only
(:func:`subject_hash`), never by the raw id; the audit trail does the same. Running a job:

1. drain the write-ahead logs: this process's through ``flush``; slots of processes that are
   gone are flushed here; live ones flush themselves within a second, and the job waits until
   every segment that held data at the deletion time is in the lake (failing with
   ``wal_not_drained`` after ``drain_timeout_s``, for example when no flusher runs);
2. resolve the subject's ids, and delete its rows from every lake table that names people
   (``events``, ``identities``, ``profiles``, ``sessions``, ``segment_members``, any other
   table with a ``user_id`` or ``device_id`` column); in ``events`` only the rows received
   before the deletion was requested go, so that what the person sends afterwards is kept;
3. vacuum, checkpoint and clean up the Delta log of every table that changed, so that neither
   the removed files nor the delete predicate (which holds the ids) survive;
4. delete WAL records set aside in quarantine that mention the subject;
5. delete the subject's campaign rows in the catalog (referral codes, attributions, survey
   respondents, and the waitlist signups of its user ids that are email addresses:
   :mod:`growthos_pipeline.campaigns.erasure`).

Once a job has completed, no file under the data folder holds the subject's identifiers
(tests/gdpr greps every file for them). The flusher needs no tombstone for this: the job
deletes only after the logs drained. A request already received when the deletion was asked
for but not yet in a WAL at that moment (a sub-second window, covered by ``grace_s``) is the
one case a later request can fix.

Examples
--------
>>> import tempfile
>>> from growthos_pipeline.catalog.database import Catalog
>>> settings = Settings(data_dir=tempfile.mkdtemp(), secret_key="s" * 40)
>>> catalog = Catalog.open(settings)
>>> b"".join(export_user(settings, "proj_1", "someone@example.com"))
b''
>>> job = delete_user(settings, catalog, "proj_1", "someone@example.com")
>>> job["status"], job["counts"]["events_deleted"]
('completed', 0)
>>> "someone" in str(job)
False
>>> catalog.dispose()
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
from deltalake import DeltaTable
from sqlalchemy import Connection, insert, select, update

from growthos_pipeline.campaigns.erasure import erase_person
from growthos_pipeline.catalog import audit
from growthos_pipeline.catalog.access import Principal, require_project
from growthos_pipeline.catalog.credentials import hash_secret
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.pagination import Page, paginate
from growthos_pipeline.catalog.tables import gdpr_jobs, projects, utcnow
from growthos_pipeline.errors import BadRequest, NotFound, UserError
from growthos_pipeline.events.model import LAKE_SCHEMA
from growthos_pipeline.ids import new_id
from growthos_pipeline.ingest.flush import flush_segment
from growthos_pipeline.ingest.wal import _segments, slot_dirs, try_claim
from growthos_pipeline.lake.erase_user import (
    Subject,
    erase_subject,
    resolve_subject,
    scrub_files,
)
from growthos_pipeline.lake.tables import ensure_events_table, events_uri, lake_root
from growthos_pipeline.settings import Settings

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "completed", "failed")
MAX_USER_ID_CHARS = 1024
#: Rows per chunk of an export stream.
EXPORT_CHUNK_ROWS = 1000

Flush = Callable[[], object]

_local_lock = threading.Lock()  # one erasure at a time in this process (with a file lock)


class JobError(UserError):
    """A deletion job could not finish (its message never names the subject)."""

    status = 503
    default_code = "gdpr_job_failed"


def subject_hash(settings: Settings, project_id: str, user_id: str) -> str:
    """The keyed hash (HMAC-SHA256 under the server secret) that names a data subject in the
    catalog and the audit trail; whoever holds the server secret can recompute it."""
    return hash_secret(settings.server_secret(), f"gdpr-subject:{project_id}:{user_id}")


def _check_user_id(user_id: str) -> str:
    if not user_id or len(user_id) > MAX_USER_ID_CHARS:
        raise BadRequest(
            "invalid_user_id", f"the user id must have 1 to {MAX_USER_ID_CHARS} characters"
        )
    return user_id


def _project(conn: Connection, principal: Principal, project_id: str | None) -> dict[str, Any]:
    """The project a GDPR call acts on: the credential's own (sk_, aat_ with the admin
    scope), or for an org admin the one named with ``project_id``."""
    target = project_id or principal.project_id
    if target is None:
        raise BadRequest(
            "project_required", "an org admin key must name the project: send ?project_id="
        )
    return require_project(conn, principal, target, "admin")


# ---- export --------------------------------------------------------------------------------


def _subject_filter(subject: Subject) -> pl.Expr:
    by_user = pl.col("user_id").is_in(sorted(subject.users))
    if not subject.devices:
        return by_user
    return by_user | (
        pl.col("user_id").is_null() & pl.col("device_id").is_in(sorted(subject.devices))
    )


_JSON_COLUMNS = ("event_properties", "user_properties", "groups")
_TIME_COLUMNS = ("time", "received_at")


def _export_line(row: dict[str, Any]) -> dict[str, Any]:
    for name in _JSON_COLUMNS:
        text = row.get(name)
        if text is not None:
            with contextlib.suppress(msgspec.DecodeError):
                row[name] = msgspec.json.decode(text)
    for name in _TIME_COLUMNS:
        value = row.get(name)
        if isinstance(value, datetime):
            row[name] = value.isoformat().replace("+00:00", "Z")
    return row


def scan_subject_events(settings: Settings, project_id: str, subject: Subject) -> pl.LazyFrame:
    """The subject's events in the lake, oldest first, one row per (event_date, insert_id):
    the events the queries count (docs/query.md)."""
    uri = events_uri(settings)
    if not DeltaTable.is_deltatable(uri):
        return pl.LazyFrame(schema=pl.DataFrame(LAKE_SCHEMA.empty_table()).schema)
    return (
        pl.scan_delta(uri)
        .filter((pl.col("project_id") == project_id) & _subject_filter(subject))
        .sort(["time", "event_id"])
        .unique(subset=["event_date", "insert_id"], keep="first", maintain_order=True)
    )


def export_user(
    settings: Settings, project_id: str, user_id: str, *, flush: Flush | None = None
) -> Iterator[bytes]:
    """Every event of the user (and of its aliases and devices, see the module docs) as NDJSON
    chunks, oldest first. ``flush`` moves this process's WAL into the lake first. The lake is
    read before this returns, so errors surface before a response starts streaming."""
    _check_user_id(user_id)
    if flush is not None:
        flush()
    subject = resolve_subject(settings, project_id, user_id)
    frame = scan_subject_events(settings, project_id, subject).drop("event_date").collect()
    return _ndjson(frame)


def _ndjson(frame: pl.DataFrame) -> Iterator[bytes]:
    encoder = msgspec.json.Encoder()
    for chunk in frame.iter_slices(EXPORT_CHUNK_ROWS):
        lines = [encoder.encode(_export_line(row)) for row in chunk.iter_rows(named=True)]
        yield b"\n".join(lines) + b"\n"


def start_export(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    user_id: str,
    *,
    project_id: str | None = None,
    flush: Flush | None = None,
) -> tuple[str, Iterator[bytes]]:
    """Check the caller (admin scope), write the export to the audit trail, and return the
    subject hash (a file name that names no one) and the NDJSON stream."""
    _check_user_id(user_id)
    with catalog.begin() as conn:
        project = _project(conn, principal, project_id)
        digest = subject_hash(settings, str(project["id"]), user_id)
        audit.record(
            conn,
            principal,
            "gdpr.export",
            org_id=str(project["org_id"]),
            project_id=str(project["id"]),
            target=f"subject:{digest[:32]}",
            details={"subject_hash": digest},
        )
    stream = export_user(settings, str(project["id"]), user_id, flush=flush)
    return digest, stream


# ---- deletion jobs -------------------------------------------------------------------------


def _job(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "project_id": row["project_id"],
        "subject_hash": row["subject_hash"],
        "status": row["status"],
        "requested_by": row["requested_by"],
        "counts": row["counts"],
        "error": row["error"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


def _read_job(conn: Connection, job_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(gdpr_jobs).where(gdpr_jobs.c.id == job_id)).mappings().first()
    return dict(row) if row is not None else None


def create_job(
    conn: Connection,
    settings: Settings,
    project: dict[str, Any],
    user_id: str,
    *,
    requested_by: str = "system",
) -> dict[str, Any]:
    """A queued deletion job for ``user_id`` of ``project`` (a projects row)."""
    values = {
        "id": new_id("gdpr"),
        "org_id": project.get("org_id"),
        "project_id": project["id"],
        "subject_hash": subject_hash(settings, str(project["id"]), user_id),
        "status": "queued",
        "requested_by": requested_by,
        "counts": {},
        "error": None,
        "created_at": utcnow(),
        "started_at": None,
        "finished_at": None,
    }
    conn.execute(insert(gdpr_jobs).values(**values))
    return _job(values)


def request_deletion(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    user_id: str,
    *,
    project_id: str | None = None,
    flush: Flush | None = None,
) -> tuple[dict[str, Any], Callable[[], dict[str, Any]]]:
    """Check the caller (admin scope), record a queued job and the request in the audit trail;
    the job and the function that runs it (the API runs it after answering)."""
    _check_user_id(user_id)
    with catalog.begin() as conn:
        project = _project(conn, principal, project_id)
        job = create_job(conn, settings, project, user_id, requested_by=principal.actor)
        audit.record(
            conn,
            principal,
            "gdpr.delete_requested",
            org_id=str(project["org_id"]),
            project_id=job["project_id"],
            target=job["id"],
            details={"job_id": job["id"], "subject_hash": job["subject_hash"]},
        )

    def run() -> dict[str, Any]:
        return run_deletion(settings, catalog, job["id"], user_id, flush=flush, principal=principal)

    return job, run


def delete_user(
    settings: Settings,
    catalog: Catalog,
    project_id: str,
    user_id: str,
    *,
    flush: Flush | None = None,
    grace_s: float = 1.0,
    drain_timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Erase ``user_id`` from ``project_id`` now (for the CLI, notebooks and Dagster): create
    the job and run it; the finished job (``failed`` jobs carry an ``error``)."""
    _check_user_id(user_id)
    with catalog.begin() as conn:
        org_id = conn.execute(
            select(projects.c.org_id).where(projects.c.id == project_id)
        ).scalar_one_or_none()
        job = create_job(conn, settings, {"id": project_id, "org_id": org_id}, user_id)
        audit.record(
            conn,
            None,
            "gdpr.delete_requested",
            org_id=org_id,
            project_id=project_id,
            target=job["id"],
            details={"job_id": job["id"], "subject_hash": job["subject_hash"]},
        )
    return run_deletion(
        settings,
        catalog,
        job["id"],
        user_id,
        flush=flush,
        grace_s=grace_s,
        drain_timeout_s=drain_timeout_s,
    )


@contextlib.contextmanager
def _erasure_lock(settings: Settings) -> Iterator[None]:
    """One erasure at a time across processes: they vacuum and clean the same logs."""
    root = lake_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    with _local_lock, open(root / "_gdpr.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _set_status(catalog: Catalog, job_id: str, **values: Any) -> None:
    with catalog.begin() as conn:
        conn.execute(update(gdpr_jobs).where(gdpr_jobs.c.id == job_id).values(**values))


def run_deletion(
    settings: Settings,
    catalog: Catalog,
    job_id: str,
    user_id: str,
    *,
    flush: Flush | None = None,
    grace_s: float = 1.0,
    drain_timeout_s: float = 60.0,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """Run a queued job (see the module docs); the finished job. Never raises for a failure
    of the erasure itself: the job records it as ``failed`` with a message that does not
    name the subject, and the deletion can be requested again (it is idempotent)."""
    with catalog.connect() as conn:
        row = _read_job(conn, job_id)
    if row is None:
        raise NotFound("gdpr_job_not_found", f"no GDPR job '{job_id}'")
    project_id = str(row["project_id"])
    subject = Subject(users=frozenset({user_id}), devices=frozenset())
    _set_status(catalog, job_id, status="running", started_at=utcnow())
    try:
        with _erasure_lock(settings):
            wal = drain_wal(
                settings, row["created_at"], flush=flush, grace_s=grace_s, timeout_s=drain_timeout_s
            )
            subject = resolve_subject(settings, project_id, user_id)
            lake = erase_subject(settings, project_id, subject, received_before=row["created_at"])
            quarantined = scrub_files(_quarantine_files(settings), subject)
            campaign_rows = erase_person(
                catalog,
                settings,
                project_id,
                user_ids=subject.users,
                device_ids=subject.devices,
            )
        counts = {
            "events_deleted": lake.get("events", {}).get("rows_deleted", 0),
            "user_ids": len(subject.users),
            "devices": len(subject.devices),
            "wal_rows_flushed": wal,
            "quarantine_files_removed": quarantined,
            "campaign_rows_deleted": campaign_rows,
            "lake": lake,
        }
        values: dict[str, Any] = {"status": "completed", "counts": counts}
    except Exception as exc:  # recorded on the job; never with the subject's ids
        message = subject.redact(f"{type(exc).__name__}: {exc}")[:500]
        log.error("GDPR job %s failed: %s", job_id, message)
        values = {"status": "failed", "error": message}
    values["finished_at"] = utcnow()
    _set_status(catalog, job_id, **values)
    with catalog.begin() as conn:
        audit.record(
            conn,
            principal,
            f"gdpr.delete_{values['status']}",
            org_id=row["org_id"],
            project_id=project_id,
            target=job_id,
            details={
                "job_id": job_id,
                "subject_hash": row["subject_hash"],
                **(
                    {"counts": _audit_counts(values["counts"])}
                    if "counts" in values
                    else {"error": values["error"]}
                ),
            },
        )
        finished = _read_job(conn, job_id)
    assert finished is not None
    return _job(finished)


def _audit_counts(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in counts.items() if k != "lake"} | {
        "rows_deleted": {name: entry["rows_deleted"] for name, entry in counts["lake"].items()}
    }


def get_job(catalog: Catalog, principal: Principal, job_id: str) -> dict[str, Any]:
    """One deletion job, for a caller with the admin scope on its project."""
    with catalog.connect() as conn:
        row = _read_job(conn, job_id)
        if row is None:
            raise NotFound("gdpr_job_not_found", f"no GDPR job '{job_id[:64]}'")
        try:
            require_project(conn, principal, str(row["project_id"]), "admin")
        except NotFound:
            raise NotFound("gdpr_job_not_found", f"no GDPR job '{job_id[:64]}'") from None
    return _job(row)


def list_jobs(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    *,
    project_id: str | None = None,
    user_id: str | None = None,
    cursor: str | None = None,
    limit: int = 25,
) -> Page[dict[str, Any]]:
    """The project's deletion jobs, oldest first; ``user_id`` keeps that subject's (matched
    by its keyed hash: the catalog holds no raw id)."""
    with catalog.connect() as conn:
        project = _project(conn, principal, project_id)
        query = select(gdpr_jobs).where(gdpr_jobs.c.project_id == project["id"])
        if user_id is not None:
            digest = subject_hash(settings, str(project["id"]), _check_user_id(user_id))
            query = query.where(gdpr_jobs.c.subject_hash == digest)
        return paginate(conn, query, gdpr_jobs.c.id, cursor=cursor, limit=limit, convert=_job)


# ---- the write-ahead logs ------------------------------------------------------------------


def _wal_root(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "wal"


def _quarantine_files(settings: Settings) -> list[Path]:
    return sorted(p for p in _wal_root(settings).glob("slot-*/quarantine/*") if p.is_file())


def _drain_orphan(settings: Settings, directory: Path) -> int | None:
    """Flush the segments of a slot no live process holds; None if one holds it."""
    slot = try_claim(directory)
    if slot is None:
        return None
    written = 0
    try:
        segments = _segments(directory)
        if segments:
            table = ensure_events_table(events_uri(settings))
            for seq, path in segments:
                written += flush_segment(table, slot.app_id, seq, path)
                path.unlink()
    finally:
        slot.release()
    return written


def drain_wal(
    settings: Settings,
    requested_at: datetime,
    *,
    flush: Flush | None = None,
    grace_s: float = 1.0,
    timeout_s: float = 60.0,
) -> int:
    """Wait until every event received before ``requested_at`` is in the lake; the rows this
    call flushed itself (from slots of processes that are gone). ``flush`` moves this
    process's own WAL; ``grace_s`` covers requests of other processes that were received
    before ``requested_at`` but not yet written to their log."""
    root = _wal_root(settings)
    if not root.is_dir():
        return 0
    if flush is not None:
        flush()
    held = 0
    written = 0
    for directory in slot_dirs(root):
        drained = _drain_orphan(settings, directory)
        if drained is None:
            held += 1
        else:
            written += drained
    if held > (1 if flush is not None else 0):
        elapsed = time.time() - requested_at.timestamp()
        if grace_s > elapsed:
            time.sleep(grace_s - elapsed)
    pending = {
        path for directory in slot_dirs(root) for _, path in _segments(directory) if _size(path) > 0
    }
    deadline = time.monotonic() + timeout_s
    while True:
        if flush is not None:
            flush()
        pending = {path for path in pending if path.exists()}
        if not pending:
            return written
        for directory in {path.parent for path in pending}:
            written += _drain_orphan(settings, directory) or 0
        if time.monotonic() >= deadline:
            raise JobError(
                "wal_not_drained",
                f"{len(pending)} write-ahead log segment(s) did not reach the lake "
                f"within {timeout_s:g} s: is a flusher running?",
            )
        time.sleep(0.1)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
