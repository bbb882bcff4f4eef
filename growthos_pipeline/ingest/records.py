"""The payload of a WAL record: one request's accepted events as one Arrow record batch.

The request handler already holds the events; the flusher needs them as Arrow columns to
write Parquet. Handing them over as an Arrow IPC message means the flusher does no parsing at
all: a record is mapped straight into memory (measured: parsing the same events back from
NDJSON lines cost the flusher 2.7 us per event, more than writing the Parquet).

A payload is ``TAG`` followed by one IPC record-batch message in :data:`SCHEMA` (no schema
message: the tag fixes it), or NDJSON lines (a JSON object per event), which is what the
general ingest path writes for a few events at a time (an Arrow column costs a few
microseconds whatever its length) and what earlier versions wrote. Both are read, in any mix.

Examples
--------
>>> from growthos_pipeline.events.model import Event
>>> event = Event(project_id="proj_1", event_id="evt_1", insert_id="i1", event_type="signup",
...               time=1_700_000_000_000_000, received_at=1_700_000_000_500_000,
...               source="growthos", user_id="u1")
>>> lines = encode_lines([event])
>>> arrow = encode_batch(decode([lines]).to_batches()[0])
>>> arrow[:4] == TAG
True
>>> table = decode([arrow, b'{"project_id":"proj_1","event_id":"evt_2","insert_id":"i2",'
...                        b'"event_type":"x","time":1,"received_at":2,"source":"growthos"}\\n'])
>>> table.column("event_id").to_pylist(), table.column("user_id").to_pylist()
(['evt_1', 'evt_2'], ['u1', None])
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import msgspec
import polars as pl
import pyarrow as pa

from growthos_pipeline.events.model import WAL_ARROW_SCHEMA, WAL_SCHEMA, Event

#: Marks an Arrow payload (an NDJSON payload starts with ``{``).
TAG = b"GAR1"

#: The columns of a record, every one nullable.
SCHEMA = WAL_ARROW_SCHEMA

_POLARS_SCHEMA = {
    name: (pl.Int64 if dtype == pa.int64() else pl.String) for name, dtype in WAL_SCHEMA.items()
}


def encode_batch(batch: pa.RecordBatch) -> bytes:
    """A record batch in :data:`SCHEMA` as a payload."""
    return b"".join((TAG, batch.serialize()))  # one copy of the message, not two


_lines = msgspec.json.Encoder()


def encode_lines(events: Sequence[Event]) -> bytes:
    """Canonical events as an NDJSON payload: a line per event (for a few events, cheaper
    than Arrow columns, whose cost hardly depends on their length)."""
    return _lines.encode_lines(events)


def decode(records: Sequence[bytes | memoryview]) -> pa.Table:
    """Payloads (Arrow or NDJSON, in any mix) as one table in :data:`SCHEMA`, in order."""
    batches: list[pa.RecordBatch] = []
    lines: list[bytes] = []

    def take_lines() -> None:
        if lines:
            frame = pl.read_ndjson(io.BytesIO(b"".join(lines)), schema=_POLARS_SCHEMA)
            batches.extend(frame.to_arrow().cast(SCHEMA).to_batches())
            lines.clear()

    for record in records:
        view = memoryview(record)
        if view[:4] == TAG:
            take_lines()
            batches.append(pa.ipc.read_record_batch(pa.py_buffer(view[4:]), SCHEMA))
        else:
            lines.append(bytes(view))
    take_lines()
    return pa.Table.from_batches(batches, schema=SCHEMA)
