"""The one canonical event, and the schema of the lake's ``events`` table.

Whatever protocol an event arrives in (GrowthOS, Segment, Amplitude, PostHog, GrowthBook), it
is mapped into :class:`Event` before anything else sees it; nothing downstream knows where it
came from except through the ``source`` column.

In the write-ahead log an event is one JSON line (times as integer microseconds since the
epoch, property maps as JSON text); the flusher reads those lines straight into Arrow with the
:data:`WAL_SCHEMA` and writes them to Delta with the :data:`LAKE_SCHEMA`.

Examples
--------
>>> event = Event(project_id="proj_1", event_id="evt_1", insert_id="evt_1",
...               event_type="page_view", time=1_700_000_000_000_000,
...               received_at=1_700_000_000_500_000, device_id="d1", source="growthos")
>>> sorted(k for k, v in msgspec.structs.asdict(event).items() if v is not None)[:4]
['device_id', 'event_id', 'event_type', 'insert_id']
>>> [f.name for f in LAKE_SCHEMA][:4]
['project_id', 'event_date', 'event_id', 'insert_id']
"""

from __future__ import annotations

import msgspec
import pyarrow as pa

#: The lake's partition columns: one folder per project and UTC day.
PARTITION_BY = ["project_id", "event_date"]


class Event(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One event, in the form every protocol maps into."""

    project_id: str
    event_id: str  #: server-made, time-ordered (ULID)
    insert_id: str  #: the client's dedup id (insert_id / messageId / uuid), else event_id
    event_type: str
    time: int  #: event time, microseconds since the epoch, UTC, skew-corrected
    received_at: int  #: when the server received it, microseconds since the epoch
    source: str  #: protocol: growthos, segment, amplitude, posthog, growthbook, import
    user_id: str | None = None
    device_id: str | None = None
    session_id: str | None = None
    event_properties: str | None = None  #: JSON object text
    user_properties: str | None = None  #: JSON object text; may hold $set, $add, ... operations
    groups: str | None = None  #: JSON object text: group type -> group id
    library: str | None = None  #: the sending library, "name/version"
    _browser: str | None = None
    _os: str | None = None
    _device_type: str | None = None
    _path: str | None = None
    _url: str | None = None
    _referrer: str | None = None
    _country: str | None = None


_STRING = [
    "event_id",
    "insert_id",
    "event_type",
    "user_id",
    "device_id",
    "session_id",
    "event_properties",
    "user_properties",
    "groups",
    "source",
    "library",
    "_browser",
    "_os",
    "_device_type",
    "_path",
    "_url",
    "_referrer",
    "_country",
]

#: The shape of a WAL line, as read by the flusher.
WAL_SCHEMA = {
    "project_id": pa.string(),
    "time": pa.int64(),
    "received_at": pa.int64(),
    **{name: pa.string() for name in _STRING},
}

#: The same, as the Arrow schema of a WAL record (:mod:`growthos_pipeline.ingest.records`).
WAL_ARROW_SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype in WAL_SCHEMA.items()])

_TS = pa.timestamp("us", tz="UTC")

#: The Delta ``events`` table.
LAKE_SCHEMA = pa.schema(
    [
        pa.field("project_id", pa.string(), nullable=False),
        pa.field("event_date", pa.date32(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("insert_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("time", _TS, nullable=False),
        pa.field("received_at", _TS, nullable=False),
        pa.field("user_id", pa.string()),
        pa.field("device_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("event_properties", pa.string()),
        pa.field("user_properties", pa.string()),
        pa.field("groups", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("library", pa.string()),
        pa.field("_browser", pa.string()),
        pa.field("_os", pa.string()),
        pa.field("_device_type", pa.string()),
        pa.field("_path", pa.string()),
        pa.field("_url", pa.string()),
        pa.field("_referrer", pa.string()),
        pa.field("_country", pa.string()),
    ]
)

#: Columns that carry personal data: kept out of Delta's data-skipping statistics, so that a
#: GDPR deletion leaves no identifier behind in the transaction log.
PERSONAL_COLUMNS = frozenset(
    {
        "user_id",
        "device_id",
        "session_id",
        "insert_id",
        "event_properties",
        "user_properties",
        "groups",
        "_url",
        "_referrer",
        "_path",
    }
)

#: Columns Delta keeps min/max statistics for (for data skipping).
STATS_COLUMNS = [
    f.name for f in LAKE_SCHEMA if f.name not in PERSONAL_COLUMNS and f.name not in PARTITION_BY
]
