"""Derived tables in the lake: built from ``events``, one project replaced at a time.

Every derived table (``identities``, ``profiles``, ``sessions``, ``usage_daily``,
``segment_members``) lives next to ``events`` under ``<data_dir>/lake/<name>``, partitioned by
``project_id``. A build replaces one project's rows in one Delta commit (an overwrite with the
predicate ``project_id = '<id>'``): readers see the old rows or the new ones, never a mix, and
other projects' rows are untouched. Personal-data columns are kept out of Delta's
data-skipping statistics, as for ``events``, so a GDPR erase leaves no identifier in the log.

Examples
--------
>>> import tempfile
>>> import polars as pl
>>> import pyarrow as pa
>>> from growthos_pipeline.settings import Settings
>>> settings = Settings(data_dir=tempfile.mkdtemp())
>>> spec = DerivedTable("demo", pa.schema([pa.field("project_id", pa.string(), False),
...                                        pa.field("user_id", pa.string())]),
...                     personal=frozenset({"user_id"}))
>>> replace_project(settings, spec, "p1", pl.DataFrame({"user_id": ["u1", "u2"]}))
2
>>> replace_project(settings, spec, "p2", pl.DataFrame({"user_id": ["u3"]}))
1
>>> replace_project(settings, spec, "p1", pl.DataFrame({"user_id": ["u9"]}))
1
>>> read_table(settings, spec, "p1")["user_id"].to_list()
['u9']
>>> read_table(settings, spec, "p2")["user_id"].to_list()
['u3']
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError

from growthos_pipeline.lake.read import scan_events
from growthos_pipeline.lake.tables import table_uri
from growthos_pipeline.settings import Settings

_PROJECT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class DerivedTable:
    """A derived table: its name in the lake, its Arrow schema and its personal columns."""

    name: str
    schema: pa.Schema
    personal: frozenset[str] = field(default_factory=frozenset)
    description: str = ""

    @property
    def stats_columns(self) -> list[str]:
        """Columns Delta keeps min/max statistics for (never a personal one)."""
        return [
            f.name for f in self.schema if f.name not in self.personal and f.name != "project_id"
        ]


def uri(settings: Settings, spec: DerivedTable) -> str:
    return table_uri(settings, spec.name)


def exists(settings: Settings, spec: DerivedTable) -> bool:
    return DeltaTable.is_deltatable(uri(settings, spec))


def ensure_table(settings: Settings, spec: DerivedTable) -> DeltaTable:
    """Open ``spec``'s table, creating it on first use (safe when processes race)."""
    location = uri(settings, spec)
    for attempt in range(5):
        if DeltaTable.is_deltatable(location):
            return DeltaTable(location)
        Path(location).mkdir(parents=True, exist_ok=True)
        try:
            stats = spec.stats_columns
            configuration: dict[str, str | None] = {
                # An empty list would mean "every column": keep at least the partition key.
                "delta.dataSkippingStatsColumns": ",".join(stats) if stats else "project_id",
            }
            return DeltaTable.create(
                location,
                schema=spec.schema,
                partition_by=["project_id"],
                mode="ignore",
                name=spec.name,
                description=spec.description or None,
                configuration=configuration,
            )
        except DeltaError:  # another process created it first
            time.sleep(0.05 * (attempt + 1))
    return DeltaTable(location)


def project_predicate(project_id: str) -> str:
    """``project_id = '<id>'``, refusing ids that are not plain identifiers."""
    if not _PROJECT_ID.match(project_id):
        raise ValueError(f"not a project id: {project_id[:80]!r}")
    return f"project_id = '{project_id}'"


def to_arrow(spec: DerivedTable, project_id: str, frame: pl.DataFrame) -> pa.Table:
    """``frame`` (without ``project_id``) as an Arrow table of ``spec``'s schema."""
    frame = frame.with_columns(pl.lit(project_id, dtype=pl.String).alias("project_id"))
    columns = []
    for f in spec.schema:
        if f.name in frame.columns:
            columns.append(frame.get_column(f.name).to_arrow())
        else:
            columns.append(pa.nulls(frame.height, type=f.type))
    arrays = [col.cast(f.type) for col, f in zip(columns, spec.schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=spec.schema)


def replace_project(
    settings: Settings, spec: DerivedTable, project_id: str, frame: pl.DataFrame
) -> int:
    """Replace ``project_id``'s rows of ``spec`` by ``frame`` in one commit; the row count."""
    table = ensure_table(settings, spec)
    data = to_arrow(spec, project_id, frame)
    write_deltalake(
        table,
        data,
        mode="overwrite",
        predicate=project_predicate(project_id),
        partition_by=["project_id"],
        commit_properties=CommitProperties(max_commit_retries=50),
    )
    return int(data.num_rows)


def empty_frame(spec: DerivedTable) -> pl.DataFrame:
    frame = pl.from_arrow(spec.schema.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def scan_table(settings: Settings, spec: DerivedTable, project_id: str) -> pl.LazyFrame:
    """One project's rows of ``spec`` (empty when the table was never built)."""
    if not exists(settings, spec):
        return empty_frame(spec).lazy()
    return pl.scan_delta(uri(settings, spec)).filter(pl.col("project_id") == project_id)


def read_table(settings: Settings, spec: DerivedTable, project_id: str) -> pl.DataFrame:
    """The eager twin of :func:`scan_table`."""
    return scan_table(settings, spec, project_id).collect()


def project_events(settings: Settings, project_id: str) -> pl.LazyFrame:
    """The project's events, one row per (event_date, insert_id): the copy with the smallest
    event_id, as the query compiler keeps it."""
    return (
        scan_events(settings, project_id, dedup=False)
        .sort("event_id")
        .unique(subset=["event_date", "insert_id"], keep="first", maintain_order=True)
    )
