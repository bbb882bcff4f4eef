"""Running a query on the lake: one call from text to a result that names its lake version.

Examples
--------
>>> import tempfile
>>> from growthos_pipeline.settings import Settings
>>> result = run(Settings(data_dir=tempfile.mkdtemp()), "proj_1", "last 7d | count")
>>> result.frame.to_dicts(), result.lake_version
([{'count': 0}], None)
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from growthos_pipeline.catalog.access import Principal, require_project
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.query_usage import record_query
from growthos_pipeline.errors import BadRequest, Timeout
from growthos_pipeline.events.model import LAKE_SCHEMA
from growthos_pipeline.lake.partitions import multi_file_dates
from growthos_pipeline.lake.snapshots import TABLES
from growthos_pipeline.lake.tables import events_uri, table_uri
from growthos_pipeline.query import guard
from growthos_pipeline.query.compile import Compiled, compile_query
from growthos_pipeline.query.to_polars import PROFILES_SCHEMA, to_polars
from growthos_pipeline.settings import Settings

Engine = Literal["polars", "duckdb", "spark"]
ENGINES = ("polars", "duckdb", "spark")
MAX_ROWS = 10_000


@dataclass
class QueryResult:
    """A query's answer: rows, the lake version it read, and how it was computed."""

    frame: pl.DataFrame
    lake_version: int | None
    compiled: Compiled
    engine: str
    elapsed_ms: float
    has_more: bool = False
    offset: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def sql(self, dialect: str = "duckdb") -> str:
        """The compiled query as SQL for ``dialect`` (duckdb, spark, clickhouse, trino)."""
        from growthos_pipeline.query.dialects import render

        return render(self.compiled, dialect)


def _empty_events() -> pl.LazyFrame:
    return pl.DataFrame(LAKE_SCHEMA.empty_table()).lazy()


def _no_table(as_of: int | None) -> tuple[None, None]:
    if as_of is not None:
        raise BadRequest("invalid_as_of", f"the lake has no version {as_of} yet")
    return None, None


def _load(table: DeltaTable, as_of: int | None) -> int:
    """Load ``as_of`` into ``table`` (latest when None), checked; the version loaded."""
    latest = int(table.version())
    version = latest if as_of is None else as_of
    if not 0 <= version <= latest:
        raise BadRequest(
            "invalid_as_of", f"as_of must be a lake version between 0 and {latest}, found {as_of}"
        )
    if version != latest:
        try:
            table.load_as_version(version)
        except DeltaError as exc:  # the version was cleaned up by log retention
            raise BadRequest(
                "invalid_as_of", f"lake version {version} is no longer available: {exc}"
            ) from None
    return version


def _table(settings: Settings, as_of: int | None) -> tuple[DeltaTable | None, int | None]:
    """The events table opened at ``as_of`` (or the latest version), and that version."""
    uri = events_uri(settings)
    if not DeltaTable.is_deltatable(uri):
        return _no_table(as_of)
    table = DeltaTable(uri)
    return table, _load(table, as_of)


def snapshot(settings: Settings, as_of: int | None) -> tuple[pl.LazyFrame, int | None]:
    """The events table as of ``as_of`` (or the latest version), and that version."""
    table, version = _table(settings, as_of)
    return (_empty_events() if table is None else pl.scan_delta(table)), version


#: The derived ``profiles`` table, read by ``profile.<name>`` paths.
PROFILES_TABLE = "profiles"


def profiles_frame(settings: Settings) -> pl.LazyFrame:
    """The ``profiles`` table (latest version; empty before its first build, so every
    ``profile.<name>`` reads null)."""
    uri = table_uri(settings, PROFILES_TABLE)
    if not DeltaTable.is_deltatable(uri):
        return pl.LazyFrame(schema=PROFILES_SCHEMA)
    return pl.scan_delta(uri)


def sources(settings: Settings, as_of: int | None) -> tuple[dict[str, pl.LazyFrame], int | None]:
    """The lake tables a compiled query reads (``events`` as of ``as_of``; ``profiles``
    latest), and the events version."""
    events, version = snapshot(settings, as_of)
    return {"events": events, PROFILES_TABLE: profiles_frame(settings)}, version


@dataclass(frozen=True)
class Snapshot:
    """What a query reads: the lake tables, the events version, and the event_dates of the
    project whose rows can share an insert_id (the partitions of several files in that same
    version; see :mod:`growthos_pipeline.lake.partitions`)."""

    frames: dict[str, pl.LazyFrame]
    version: int | None
    dedup_dates: list[date]


def _snapshot_of(
    settings: Settings, project_id: str, table: DeltaTable | None, version: int | None
) -> Snapshot:
    if table is None:
        events, dates = _empty_events(), []
    else:
        events, dates = pl.scan_delta(table), multi_file_dates(table, project_id)
    return Snapshot({"events": events, PROFILES_TABLE: profiles_frame(settings)}, version, dates)


def open_snapshot(settings: Settings, project_id: str, as_of: int | None) -> Snapshot:
    """The events table as of ``as_of`` (or the latest) for ``project_id``, with the
    ``profiles`` table (latest) and the dates to deduplicate, all from one loaded version.
    The table is the caller's own: its scan can be kept and collected at any time."""
    table, version = _table(settings, as_of)
    return _snapshot_of(settings, project_id, table, version)


@contextmanager
def borrowed_snapshot(settings: Settings, project_id: str, as_of: int | None) -> Iterator[Snapshot]:
    """:func:`open_snapshot` on a table borrowed from the process's pool (no log replay
    beyond the new commits), for a query collected before the block ends."""
    uri = events_uri(settings)
    if not DeltaTable.is_deltatable(uri):
        yield _snapshot_of(settings, project_id, *_no_table(as_of))
        return
    with TABLES.borrow(uri) as table:
        yield _snapshot_of(settings, project_id, table, _load(table, as_of))


def run(
    settings: Settings,
    project_id: str,
    text: str,
    *,
    engine: Engine = "polars",
    as_of: int | None = None,
    now: datetime | None = None,
    limit: int = MAX_ROWS,
    offset: int = 0,
    timeout_s: float | None = None,
) -> QueryResult:
    """Compile ``text`` for ``project_id`` and run it on ``engine`` over the lake.

    ``limit`` and ``offset`` page through the result (in its deterministic order);
    ``has_more`` tells whether rows follow. ``timeout_s`` bounds the run (504 ``timeout``).
    """
    if engine not in ENGINES:
        raise BadRequest("invalid_engine", f"engine must be one of {', '.join(ENGINES)}")
    if not 0 <= limit <= MAX_ROWS or offset < 0:
        raise BadRequest("invalid_limit", f"limit must be 0..{MAX_ROWS} and offset >= 0")
    started = time.perf_counter()
    compiled = compile_query(text, project_id, now=now)
    guard.check(compiled.tree, project_id)

    def work() -> tuple[pl.DataFrame, int | None]:
        if engine == "polars":
            with borrowed_snapshot(settings, project_id, as_of) as snap:
                lazy = to_polars(compiled.tree, snap.frames, dedup_dates=snap.dedup_dates)
                return lazy.slice(offset, limit + 1).collect(), snap.version
        from growthos_pipeline.query.engines import execute

        _, version = snapshot(settings, as_of)  # validates as_of, names the version read
        frame = execute(compiled, engine=engine, settings=settings, as_of=version)
        return frame.slice(offset, limit + 1), version

    if timeout_s is None:
        frame, version = work()
    else:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(work)
        try:
            frame, version = future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            raise Timeout(
                "query_timeout",
                f"the query took longer than its {timeout_s:g} s budget; narrow the "
                "time range or add filters",
            ) from None
        finally:
            pool.shutdown(wait=False)
    has_more = frame.height > limit
    return QueryResult(
        frame=frame.head(limit),
        lake_version=version,
        compiled=compiled,
        engine=engine,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        has_more=has_more,
        offset=offset,
    )


def run_for(
    catalog: Catalog,
    settings: Settings,
    principal: Principal,
    text: str,
    *,
    project_id: str | None = None,
    engine: Engine = "polars",
    as_of: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> QueryResult:
    """Run a query for a caller: its own project (or, for an org admin, the one named), with
    the ``query`` scope, within the deployment's time budget."""
    target = project_id or principal.project_id
    if target is None:
        raise BadRequest(
            "project_required", "an org admin key must name the project: send project_id"
        )
    with catalog.connect() as conn:
        require_project(conn, principal, target, "query")
    result = run(
        settings,
        target,
        text,
        engine=engine,
        as_of=as_of,
        limit=limit,
        offset=offset,
        timeout_s=settings.query_timeout_s,
    )
    with catalog.begin() as conn:  # the usage_daily asset counts queries run per day
        record_query(conn, target)
    return result
