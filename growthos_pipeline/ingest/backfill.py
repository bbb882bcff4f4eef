"""Backfill: historic events from a file into the lake, through the ingest path.

A file is read record by record (never whole into memory), each record is validated and
enriched by the same protocol mapper as the HTTP API (:func:`growthos.track`, hence
:func:`~growthos_pipeline.events.validate.build_event`), the valid ones are appended to the
write-ahead log of this process's own slot by an :class:`Ingestor`, and the flusher moves them
into the Delta table. Invalid records are skipped and counted by reason.

========== =====================================================================================
format     what a record is
========== =====================================================================================
ndjson     one GrowthOS track event per line (``.ndjson``, ``.jsonl``, ``.json``; ``.gz`` too)
csv        one event per row; columns named like the track fields; ``event_properties``,
           ``user_properties`` and ``groups`` may hold JSON text; ``event_properties.<key>``
           and every other column become event properties
parquet    the same columns as csv, read in batches of rows
amplitude  Amplitude's export: a ``.zip`` of gzipped NDJSON files, one ``.json.gz``, or a
           folder of either; each row goes through Amplitude's protocol mapper
========== =====================================================================================

Readers yield ``(where, record)``: ``where`` is the line number (the row number for Parquet,
``file:line`` for an Amplitude export) and ``record`` is a dict, or an :class:`InvalidEvent`
for a line that is not JSON.

Examples
--------
>>> import io, tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "events.csv").write_text(
...     "event_type,user_id,time,plan\\nsignup,u1,2021-03-04T05:06:07Z,pro\\n")
>>> guess_format(folder / "events.csv"), guess_format(folder / "export.zip")
('csv', 'amplitude')
>>> [record for _, record in read_csv(folder / "events.csv", Meter())]
[{'event_type': 'signup', 'user_id': 'u1', 'time': '2021-03-04T05:06:07Z', \
'event_properties': {'plan': 'pro'}}]
>>> amplitude_record({"event_type": "Play", "user_id": "u1", "session_id": -1,
...                   "event_time": "2024-01-02 03:04:05.678000", "$insert_id": "i-1",
...                   "country": "Germany", "ip_address": "203.0.113.9"})
({'event_type': 'Play', 'user_id': 'u1', 'session_id': -1, \
'time': '2024-01-02 03:04:05.678000', 'insert_id': 'i-1', \
'event_properties': {'$country': 'Germany'}}, 'DE')
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import itertools
import re
import time as clock
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, cast

import orjson
from sqlalchemy import select

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import projects
from growthos_pipeline.errors import BadRequest, NotFound, ServiceUnavailable
from growthos_pipeline.events.enrich import country as country_code
from growthos_pipeline.events.protocols import amplitude, growthos
from growthos_pipeline.events.protocols.growthos import TRACK_FIELDS, Result
from growthos_pipeline.events.validate import IngestContext, InvalidEvent
from growthos_pipeline.ingest.accept import Ingestor, Mapper
from growthos_pipeline.ingest.receive import now_us
from growthos_pipeline.lake.read import events_version
from growthos_pipeline.settings import Settings

FORMATS = ("ndjson", "csv", "parquet", "amplitude")

#: Where a record came from: a line (or row) number, or ``file:line`` in an export.
Where = int | str

#: What a reader yields: a record (dict), or the reason a line could not be decoded.
Item = tuple[Where, Any]

_JSON_COLUMNS = ("event_properties", "user_properties", "groups")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,15})?")
_MAX_EXAMPLES = 5


class Meter:
    """Bytes of the input consumed so far (for a progress bar), and the total."""

    def __init__(self, total: int = 0) -> None:
        self.total = total
        self.done = 0


def guess_format(path: Path) -> str:
    """The format of ``path`` from its name: a folder, ``.zip`` or ``.json.gz`` is an
    Amplitude export; ``.csv``; ``.parquet``; anything else NDJSON.

    >>> guess_format(Path("x.parquet")), guess_format(Path("x.jsonl.gz"))
    ('parquet', 'ndjson')
    """
    name = path.name.lower()
    if path.is_dir() or name.endswith((".zip", ".json.gz")):
        return "amplitude"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "ndjson"


def _open_binary(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """``(stream to read, file whose position is the progress)``: gunzipped if ``.gz``."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    if path.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    return raw, raw


def _json_lines(stream: IO[bytes], where: Callable[[int], Where]) -> Iterator[Item]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield where(number), orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield where(number), InvalidEvent("invalid_json", f"the line is not JSON: {exc}"[:200])


def read_ndjson(path: Path, meter: Meter) -> Iterator[Item]:
    """One JSON object per line; blank lines are ignored."""
    stream, raw = _open_binary(path)
    meter.total = path.stat().st_size
    with raw, stream:
        for item in _json_lines(stream, lambda n: n):
            meter.done = raw.tell()
            yield item
    meter.done = meter.total


def _cell(text: str) -> Any:
    """A CSV cell as a JSON value: numbers and true/false as such, the rest as text."""
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def csv_record(row: dict[str, str]) -> dict[str, Any]:
    """A track event from one CSV row (or Parquet row as text-like values).

    >>> csv_record({"event_type": "buy", "user_id": "7", "amount": "9.5", "coupon": "",
    ...             "event_properties": '{"plan": "pro"}'})
    {'event_type': 'buy', 'user_id': '7', 'event_properties': {'plan': 'pro', 'amount': 9.5}}
    """
    record: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue  # empty cells (and cells past the header, which csv files under None)
        name = key.strip()
        if name in _JSON_COLUMNS and isinstance(value, str):
            try:
                record[name] = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise InvalidEvent(
                    "invalid_properties", f"{name} must hold a JSON object", name
                ) from None
        elif name in TRACK_FIELDS:
            record[name] = value
        elif name.startswith(("event_properties.", "user_properties.")):
            column, _, prop = name.partition(".")
            target = record.setdefault(column, {})
            if isinstance(target, dict):
                target[prop] = _cell(value) if isinstance(value, str) else value
        else:
            extra[name] = _cell(value) if isinstance(value, str) else value
    if extra:
        props = record.setdefault("event_properties", {})
        if isinstance(props, dict):
            record["event_properties"] = {**props, **extra}
    return record


def read_csv(path: Path, meter: Meter) -> Iterator[Item]:
    """One event per row, with a header row naming the columns."""
    stream, raw = _open_binary(path)
    meter.total = path.stat().st_size
    with raw, stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        start = 2
        try:
            for row in reader:
                where, start = start, reader.line_num + 1
                meter.done = raw.tell()
                try:
                    yield where, csv_record(row)
                except InvalidEvent as exc:
                    yield where, exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise BadRequest(
                "file_unreadable", f"{path.name}: not valid CSV near line {start}: {exc}"
            ) from None
    meter.done = meter.total


def _plain(value: Any) -> Any:
    """A Parquet value as JSON-able Python: times as ISO-8601 (UTC if naive)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): _plain(v) for k, v in value}  # an Arrow map
        return [_plain(v) for v in value]
    return value


def read_parquet(path: Path, meter: Meter, *, batch_rows: int = 10_000) -> Iterator[Item]:
    """The rows of a Parquet file, a batch of rows at a time."""
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except Exception as exc:
        raise BadRequest(
            "file_unreadable", f"{path.name} is not a Parquet file: {exc}"[:300]
        ) from None
    meter.total = path.stat().st_size
    rows = max(1, source.metadata.num_rows)
    number = 0
    with source:
        for batch in source.iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                number += 1
                try:
                    yield number, csv_record({k: _plain(v) for k, v in row.items()})
                except InvalidEvent as exc:
                    yield number, exc
            meter.done = meter.total * number // rows


# ---- Amplitude export ------------------------------------------------------------------------

#: Amplitude's export names countries in English; these become ``_country`` codes.
_COUNTRIES = {
    "United States": "US",
    "United Kingdom": "GB",
    "Germany": "DE",
    "France": "FR",
    "India": "IN",
    "Brazil": "BR",
    "Canada": "CA",
    "Netherlands": "NL",
    "Spain": "ES",
    "Italy": "IT",
    "Australia": "AU",
    "Japan": "JP",
    "Sweden": "SE",
    "Poland": "PL",
    "Mexico": "MX",
    "Switzerland": "CH",
    "Austria": "AT",
    "Belgium": "BE",
    "Denmark": "DK",
    "Norway": "NO",
    "Finland": "FI",
    "Ireland": "IE",
    "Portugal": "PT",
    "Czechia": "CZ",
    "Czech Republic": "CZ",
    "Romania": "RO",
    "Ukraine": "UA",
    "Turkey": "TR",
    "Israel": "IL",
    "South Africa": "ZA",
    "Nigeria": "NG",
    "Egypt": "EG",
    "Kenya": "KE",
    "China": "CN",
    "Hong Kong": "HK",
    "Taiwan": "TW",
    "South Korea": "KR",
    "Republic of Korea": "KR",
    "Singapore": "SG",
    "Indonesia": "ID",
    "Philippines": "PH",
    "Vietnam": "VN",
    "Thailand": "TH",
    "Malaysia": "MY",
    "Pakistan": "PK",
    "Bangladesh": "BD",
    "New Zealand": "NZ",
    "Argentina": "AR",
    "Chile": "CL",
    "Colombia": "CO",
    "Peru": "PE",
    "Russia": "RU",
    "Russian Federation": "RU",
    "Greece": "GR",
    "Hungary": "HU",
    "United Arab Emirates": "AE",
    "Saudi Arabia": "SA",
}

#: Context fields of an Amplitude row kept as ``$``-prefixed event properties (as Amplitude's
#: HTTP API adapter keeps them); ``ip_address`` and the export's own bookkeeping are dropped.
AMPLITUDE_CONTEXT = (
    "platform",
    "os_name",
    "os_version",
    "device_family",
    "device_type",
    "device_brand",
    "device_manufacturer",
    "device_model",
    "carrier",
    "country",
    "region",
    "city",
    "dma",
    "language",
    "version_name",
    "start_version",
    "user_agent",
)


def amplitude_record(row: Any) -> tuple[Any, str | None]:
    """One row of an Amplitude export as an event of Amplitude's HTTP API (the fields its
    protocol mapper reads), and the row's country code."""
    if not isinstance(row, dict):
        return row, None  # the mapper refuses it with invalid_event
    record: dict[str, Any] = {"event_type": row.get("event_type")}
    for name in (
        "user_id",
        "device_id",
        "session_id",
        "user_properties",
        "group_properties",
        "library",
    ):
        if row.get(name) not in (None, "", {}):
            record[name] = row[name]
    moment = row.get("event_time") or row.get("client_event_time") or row.get("server_upload_time")
    if moment in (None, ""):
        raise InvalidEvent("missing_time", "an Amplitude row needs event_time", "event_time")
    record["time"] = moment
    insert_id = row.get("$insert_id") or row.get("insert_id") or row.get("uuid")
    if insert_id:
        record["insert_id"] = insert_id
    props = row.get("event_properties")
    props = dict(props) if isinstance(props, dict) else ({} if props is None else props)
    if isinstance(props, dict):
        for name in AMPLITUDE_CONTEXT:
            value = row.get(name)
            if value not in (None, ""):
                props.setdefault(f"${name}", value)
    if props:
        record["event_properties"] = props
    groups = row.get("groups")
    if isinstance(groups, dict) and groups:
        record["groups"] = {
            k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in groups.items()
        }
    where = row.get("country")
    code = _COUNTRIES.get(where) if isinstance(where, str) else None
    if code is None and isinstance(where, str) and len(where) == 2:
        code = country_code(where)
    return record, code


def amplitude_export(ctx: IngestContext, body: Any, *, max_events: int = 2000) -> Result:
    """A list of export rows (from :func:`amplitude_record`) through Amplitude's protocol
    mapper; unlike its HTTP batch, an invalid row is skipped, not the whole batch."""
    result = Result(batch=True)
    for index, item in enumerate(body[:max_events]):
        try:
            if not isinstance(item, dict):
                raise InvalidEvent("invalid_event", "an event must be a JSON object")
            result.events.append(amplitude.event_to_canonical(ctx, item))
        except InvalidEvent as err:
            result.rejected.append(err.as_detail(index))
    return result


#: Opens one file of an export, as a context manager.
_Opener = Callable[[], contextlib.AbstractContextManager[IO[bytes]]]


def _amplitude_members(
    path: Path,
) -> list[tuple[str, _Opener, int]]:
    """The NDJSON files of an export: (name, opener, compressed size), in name order."""
    found: list[tuple[str, _Opener, int]] = []
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file():
                found.extend(_amplitude_members(child))
        return found
    lowered = path.name.lower()
    if lowered.endswith(".zip"):
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise BadRequest("file_unreadable", f"{path.name} is not a zip file: {exc}") from None
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            name = info.filename.lower()
            if info.is_dir() or not name.endswith((".json.gz", ".json", ".gz")):
                continue

            @contextlib.contextmanager
            def member(info: zipfile.ZipInfo = info) -> Iterator[IO[bytes]]:
                with archive.open(info) as raw:
                    if info.filename.lower().endswith(".gz"):
                        with gzip.GzipFile(fileobj=raw, mode="rb") as inflated:
                            yield cast(IO[bytes], inflated)
                    else:
                        yield raw

            found.append((f"{path.name}/{info.filename}", member, info.compress_size))
    elif lowered.endswith((".json.gz", ".json", ".gz", ".ndjson", ".jsonl")):

        @contextlib.contextmanager
        def single() -> Iterator[IO[bytes]]:
            stream, raw = _open_binary(path)
            with raw, stream:
                yield stream

        found.append((path.name, single, path.stat().st_size))
    return found


def _at(label: str, number: int) -> str:
    return f"{label}:{number}"


def read_amplitude(path: Path, meter: Meter) -> Iterator[Item]:
    """The rows of an Amplitude export, each as ``(record, country code)``."""
    members = _amplitude_members(path)
    if not members:
        raise BadRequest(
            "file_unreadable", f"{path.name} holds no Amplitude export files (.json.gz)"
        )
    meter.total = sum(size for _, _, size in members)
    done = 0
    for name, opener, size in members:
        label = name.rsplit("/", 1)[-1]
        try:
            with opener() as stream:
                for where, row in _json_lines(stream, functools.partial(_at, label)):
                    if isinstance(row, InvalidEvent):
                        yield where, row
                        continue
                    try:
                        yield where, amplitude_record(row)
                    except InvalidEvent as exc:
                        yield where, exc
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise BadRequest("file_unreadable", f"{name} cannot be read: {exc}"[:300]) from None
        done += size
        meter.done = done


#: The protocol mapper of each format's records.
MAPPERS: dict[str, Mapper] = {
    "ndjson": growthos.track,
    "csv": growthos.track,
    "parquet": growthos.track,
    "amplitude": amplitude_export,
}

READERS: dict[str, Callable[[Path, Meter], Iterator[Item]]] = {
    "ndjson": read_ndjson,
    "csv": read_csv,
    "parquet": read_parquet,
    "amplitude": read_amplitude,
}


# ---- ingest ------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import did: records read, accepted, skipped by reason, with examples."""

    path: str
    format: str
    project_id: str
    read: int = 0
    accepted: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    lake_version: int | None = None
    seconds: float = 0.0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "project_id": self.project_id,
            "read": self.read,
            "accepted": self.accepted,
            "skipped": self.skipped_total,
            "skipped_by_reason": dict(self.skipped.most_common()),
            "examples": self.examples,
            "lake_version": self.lake_version,
            "seconds": round(self.seconds, 3),
        }

    def skip(self, where: Where, code: str, message: str) -> None:
        self.skipped[code] += 1
        if len(self.examples) < _MAX_EXAMPLES:
            self.examples.append({"where": where, "code": code, "message": message})


def require_project(catalog: Catalog, project_id: str) -> None:
    """:class:`NotFound` ``project_not_found`` unless the catalog holds ``project_id``."""
    with catalog.connect() as conn:
        found = conn.execute(select(projects.c.id).where(projects.c.id == project_id)).first()
    if found is None:
        raise NotFound(
            "project_not_found",
            f"no project '{project_id[:64]}' in the catalog "
            "of this data folder; `growthos bootstrap` prints the project ids",
        )


def accept_with_backoff(ingestor: Ingestor, events: list[Any], *, patience_s: float = 300) -> int:
    """:meth:`Ingestor.accept_sync`, waiting while the WAL backlog drains into the lake."""
    deadline = clock.monotonic() + patience_s
    delay = 0.2
    while True:
        try:
            return ingestor.accept_sync(events)
        except ServiceUnavailable as exc:
            if exc.code != "ingest_backlog" or clock.monotonic() > deadline:
                raise
            if ingestor.flusher is not None and not ingestor.settings.flusher_enabled:
                ingestor.flush_now()
            clock.sleep(delay)
            delay = min(delay * 2, 5.0)


def ingest_batch(
    ingestor: Ingestor,
    mapper: Mapper,
    context: Callable[[str | None], IngestContext],
    batch: list[tuple[Where, Any, str | None]],
    summary: ImportSummary,
) -> int:
    """Map ``(where, record, country)`` triples with ``mapper`` (one context per country, as
    one request would carry), append the valid events to the WAL, count the refused ones."""
    groups: dict[str | None, list[tuple[Where, Any]]] = {}
    for where, record, code in batch:
        groups.setdefault(code, []).append((where, record))
    events = []
    for code, items in groups.items():
        result = mapper(context(code), [record for _, record in items], max_events=len(items))
        for rejected in result.rejected:
            summary.skip(items[rejected["index"]][0], rejected["code"], rejected["message"])
        events.extend(result.events)
    accepted = accept_with_backoff(ingestor, events)
    summary.accepted += accepted
    return accepted


def import_records(
    ingestor: Ingestor,
    items: Iterable[Item],
    *,
    project_id: str,
    summary: ImportSummary,
    mapper: Mapper = growthos.track,
    source: str = "import",
    batch_events: int = 1000,
    on_batch: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Validate and persist records through ``ingestor``; ``summary`` counts as it goes."""
    context_limits = ingestor.limits

    def context(code: str | None) -> IngestContext:
        return IngestContext(
            project_id=project_id,
            received_at=now_us(),
            limits=context_limits,
            source=source,
            country=code,
        )

    items = iter(items)
    while True:
        chunk = list(itertools.islice(items, batch_events))
        if not chunk:
            break
        batch: list[tuple[Where, Any, str | None]] = []
        for where, record in chunk:
            summary.read += 1
            if isinstance(record, InvalidEvent):
                summary.skip(where, record.code, record.message)
            elif isinstance(record, tuple):  # (record, country) from an Amplitude export
                batch.append((where, record[0], record[1]))
            else:
                batch.append((where, record, None))
        if batch:
            ingest_batch(ingestor, mapper, context, batch, summary)
        if on_batch is not None:
            on_batch(summary)
    return summary


def import_file(
    settings: Settings,
    path: Path,
    *,
    project_id: str,
    fmt: str | None = None,
    source: str = "import",
    batch_events: int = 1000,
    on_progress: Callable[[ImportSummary, Meter], None] | None = None,
) -> ImportSummary:
    """Import one file (or Amplitude export folder) into ``project_id``'s events.

    Runs its own :class:`Ingestor` (its own WAL slot, so a server may run on the same data
    folder), flushes into the lake at the end and returns the summary. Raises
    ``BadRequest("file_unreadable")`` if the file cannot be read; records that cannot be
    ingested are skipped and counted, never fatal. The caller checks the project exists
    (:func:`require_project`).
    """
    fmt = fmt or guess_format(path)
    if fmt not in READERS:
        raise BadRequest(
            "unknown_format", f"unknown format '{fmt}'; expected one of {', '.join(FORMATS)}"
        )
    if not path.exists():
        raise BadRequest("file_unreadable", f"{path} does not exist")
    if not path.is_dir() and not path.is_file():
        raise BadRequest("file_unreadable", f"{path} is not a file")
    meter = Meter()
    summary = ImportSummary(path=str(path), format=fmt, project_id=project_id)
    started = clock.monotonic()
    # A longer seal interval than the API's: fewer, larger commits for a bulk load.
    ingestor = Ingestor(
        settings.model_copy(update={"wal_seal_interval_s": max(settings.wal_seal_interval_s, 2.0)})
    )
    ingestor.start()
    try:
        items = READERS[fmt](path, meter)
        try:
            import_records(
                ingestor,
                items,
                mapper=MAPPERS[fmt],
                project_id=project_id,
                summary=summary,
                source=source,
                batch_events=batch_events,
                on_batch=(lambda s: on_progress(s, meter)) if on_progress else None,
            )
        except (OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            ingestor.flush_now()  # what was accepted before the failure stays accepted
            summary.lake_version = events_version(settings)
            raise BadRequest(
                "file_unreadable",
                f"{path.name} cannot be read after {summary.read} records: {exc}"[:300],
                details=[summary.as_dict()],
            ) from None
        except BadRequest as exc:
            ingestor.flush_now()
            summary.lake_version = events_version(settings)
            exc.details = exc.details or [summary.as_dict()]
            raise
        ingestor.flush_now()
    finally:
        ingestor.stop()  # flushes what is sealed; the WAL keeps anything that failed
    summary.lake_version = events_version(settings)
    summary.seconds = clock.monotonic() - started
    if on_progress is not None:
        meter.done = meter.total
        on_progress(summary, meter)
    return summary
