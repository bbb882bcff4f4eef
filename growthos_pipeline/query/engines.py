"""Run a compiled query on Polars, DuckDB or Spark over one Delta snapshot of the events table.

* ``polars`` (the default and the reference): :func:`~growthos_pipeline.query.to_polars.to_polars`
  over ``pl.scan_delta``. Generated SQL text never reaches Polars.
* ``duckdb``: the snapshot's pyarrow dataset (which applies the Delta log: only the snapshot's
  files, partition columns restored) is registered as the view ``events`` in a fresh in-memory
  database; the time zone is set to UTC, then external access is disabled and the configuration
  locked before the rendered SQL runs, so the query can reach no file, URL or extension.
* ``spark``: a local SparkSession (the optional ``spark`` extra) reads the snapshot's Parquet
  file list with the Hive partition columns restored as strings (``event_date`` cast to a date),
  session time zone UTC, ANSI mode as configured.

Every result comes back as a Polars DataFrame with the compiled column names, integers as
Int64, floats as Float64 and timestamps as UTC microseconds, so engines compare row by row.

Examples
--------
>>> import tempfile
>>> from datetime import datetime, UTC
>>> from growthos_pipeline.settings import Settings
>>> from growthos_pipeline.query.compile import compile_query
>>> settings = Settings(data_dir=tempfile.mkdtemp())
>>> c = compile_query("last 7d | count", "p1", now=datetime(2026, 1, 8, tzinfo=UTC))
>>> execute(c, engine="duckdb", settings=settings).to_dicts()
[{'count': 0}]
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Literal

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from growthos_pipeline.events.model import LAKE_SCHEMA
from growthos_pipeline.lake.partitions import multi_file_dates
from growthos_pipeline.lake.tables import events_uri, table_uri
from growthos_pipeline.query.compile import Compiled
from growthos_pipeline.query.dialects import prepare, render
from growthos_pipeline.query.to_polars import to_polars
from growthos_pipeline.settings import Settings

Engine = Literal["polars", "duckdb", "spark"]
ENGINES: tuple[str, ...] = ("polars", "duckdb", "spark")


class EngineUnavailable(RuntimeError):
    """The chosen engine is not installed (for Spark: ``pip install growthos-pipeline[spark]``)."""


def _snapshot(settings: Settings, as_of: int | None) -> DeltaTable | None:
    uri = events_uri(settings)
    if not DeltaTable.is_deltatable(uri):
        return None
    return DeltaTable(uri, version=as_of) if as_of is not None else DeltaTable(uri)


def normalize(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Integers as Int64, floats and decimals as Float64, timestamps as UTC microseconds."""
    casts = []
    for name in columns:
        dtype = frame.schema[name]
        column = pl.col(name)
        if dtype.is_integer() or (isinstance(dtype, pl.Decimal) and dtype.scale == 0):
            column = column.cast(pl.Int64)  # DuckDB sums BIGINTs into HUGEINT
        elif dtype.is_float() or dtype.is_decimal():
            column = column.cast(pl.Float64)
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                column = column.dt.replace_time_zone("UTC")
            column = column.dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC"))
        casts.append(column.alias(name))
    return frame.select(casts)


def _empty_events() -> pa.Table:
    return LAKE_SCHEMA.empty_table()


PROFILE_COLUMNS = ("project_id", "user_id", "properties")


def _empty_profiles() -> pa.Table:
    return pa.schema([(name, pa.string()) for name in PROFILE_COLUMNS]).empty_table()


def _profiles(settings: Settings, compiled: Compiled) -> pa.Table | None:
    """The derived ``profiles`` table (latest) when the query reads ``profile.<name>``."""
    from sqlglot import exp

    if not any(t.name == "profiles" for t in compiled.tree.find_all(exp.Table)):
        return None
    uri = table_uri(settings, "profiles")
    if not DeltaTable.is_deltatable(uri):
        return _empty_profiles()
    return DeltaTable(uri).to_pyarrow_table(columns=list(PROFILE_COLUMNS))


# ---- Polars -------------------------------------------------------------------------------------


def _polars(
    compiled: Compiled, table: DeltaTable | None, profiles: pa.Table | None = None
) -> pl.DataFrame:
    events = pl.scan_delta(table) if table is not None else pl.LazyFrame(_empty_events())
    sources = {"events": events}
    if profiles is not None:
        sources["profiles"] = pl.LazyFrame(pl.from_arrow(profiles))
    dates = multi_file_dates(table, compiled.project_id) if table is not None else []
    return to_polars(compiled.tree, sources, dedup_dates=dates).collect()


# ---- DuckDB -------------------------------------------------------------------------------------


def duckdb_connection(table: DeltaTable | None, profiles: pa.Table | None = None) -> Any:
    """A locked-down in-memory DuckDB with the snapshot as the view ``events`` (and the
    derived ``profiles`` table as the view ``profiles``)."""
    import duckdb

    con = duckdb.connect(":memory:")
    source = table.to_pyarrow_dataset() if table is not None else _empty_events()
    con.register("events", source)
    con.register("profiles", profiles if profiles is not None else _empty_profiles())
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def _duckdb(
    compiled: Compiled, table: DeltaTable | None, profiles: pa.Table | None = None
) -> pl.DataFrame:
    con = duckdb_connection(table, profiles)
    try:
        relation = con.sql(render(compiled, "duckdb"))
        # to_arrow_table is DuckDB 1.4+; fetch_arrow_table is deprecated from 2.0 on.
        to_arrow = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
        result = to_arrow()
    finally:
        con.close()
    frame = pl.from_arrow(result)
    assert isinstance(frame, pl.DataFrame)
    return frame


# ---- Spark --------------------------------------------------------------------------------------

_spark_lock = threading.Lock()


def spark_session() -> Any:
    """The process's local SparkSession (UTC, no UI), created on first use."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:  # pragma: no cover - depends on the extra
        raise EngineUnavailable(
            "the spark engine needs pyspark: install the 'spark' extra"
        ) from error
    with _spark_lock:
        return (
            SparkSession.builder.master("local[2]")
            .appName("growthos-query")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
            .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
            .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
            .getOrCreate()
        )


def _spark_events(spark: Any, table: DeltaTable | None) -> Any:
    from pyspark.sql import functions as F

    if table is None or not table.file_uris():
        empty = _empty_events()
        return spark.createDataFrame([], schema=_spark_schema(empty.schema))
    frame = spark.read.option("basePath", table.table_uri.removeprefix("file://")).parquet(
        *(uri.removeprefix("file://") for uri in table.file_uris())
    )
    return frame.withColumn("event_date", F.col("event_date").cast("date"))


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql import types as T

    kinds = {pa.string(): T.StringType(), pa.date32(): T.DateType()}
    return T.StructType(
        [T.StructField(f.name, kinds.get(f.type, T.TimestampType())) for f in schema]
    )


def _spark(
    compiled: Compiled, table: DeltaTable | None, profiles: pa.Table | None = None
) -> pl.DataFrame:
    from sqlglot import exp

    spark = spark_session()
    view = f"events_{uuid.uuid4().hex}"
    _spark_events(spark, table).createOrReplaceTempView(view)
    profiles_view = f"profiles_{uuid.uuid4().hex}"
    profiles = profiles if profiles is not None else _empty_profiles()
    spark.createDataFrame(
        profiles.to_pylist(), schema=_spark_schema(profiles.schema)
    ).createOrReplaceTempView(profiles_view)
    tree = prepare(compiled, "spark")
    for node in tree.find_all(exp.Table):
        if node.name == "events":
            node.set("this", exp.to_identifier(view, quoted=True))
        elif node.name == "profiles":
            node.set("this", exp.to_identifier(profiles_view, quoted=True))
    try:
        from growthos_pipeline.query.dialects import SparkSQL

        result = spark.sql(tree.sql(dialect=SparkSQL)).toArrow()
    finally:
        spark.catalog.dropTempView(view)
        spark.catalog.dropTempView(profiles_view)
    frame = pl.from_arrow(result)
    assert isinstance(frame, pl.DataFrame)
    return frame


# ---- the entry point ----------------------------------------------------------------------------


def execute(
    compiled: Compiled, *, engine: str = "polars", settings: Settings, as_of: int | None = None
) -> pl.DataFrame:
    """Run ``compiled`` on ``engine`` over the events table (at version ``as_of``)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
    table = _snapshot(settings, as_of)
    runners = {"polars": _polars, "duckdb": _duckdb, "spark": _spark}
    frame = runners[engine](compiled, table, _profiles(settings, compiled))
    return normalize(frame, compiled.columns)


__all__ = ["ENGINES", "EngineUnavailable", "execute", "normalize"]
