"""The analyst's handle on one project: pipe queries to Polars, their SQL, the lake version read.

A :class:`Workspace` is opened on a data folder (:func:`open`, reading the Delta lake in this
process) or on a running server (:func:`connect`, over ``POST /v1/query``). Both answer the
same calls:

==========================  =================================================================
call                        answer
==========================  =================================================================
``query(text)``             a Polars DataFrame (eager)
``scan(text)``              the same query as a Polars LazyFrame, not yet collected (local)
``sql(text, dialect=...)``  the compiled query as SQL for duckdb, spark, clickhouse or trino
``events()``                the project's raw events as a LazyFrame (local)
``plot(text)``              the answer drawn by :func:`growthos_pipeline.plots.auto`
``experiment_results(key)`` an experiment's results: ``.frame`` (a DataFrame, one row per
                            variation), ``.srm``, ``.replay``, ``.sources``, ``.plot()``
``last``                    what the last answer read: its lake version, shape and time buckets
==========================  =================================================================

Every answer names the Delta table version it read (``last.lake_version``); passing it back as
``as_of`` reproduces the number later, whatever arrived since.

Examples
--------
>>> import tempfile
>>> import growthos_pipeline as gos
>>> ws = gos.open_demo(tempfile.mkdtemp(), users=40, days=3)
>>> ws.query('event_type = "page_view" | last 7d | count').item() > 0
True
>>> version = ws.last_version
>>> ws.query("last 7d | count", as_of=version).item() == ws.query("last 7d | count").item()
True
>>> ws.last.shape, ws.last.buckets
('aggregate', ())
"""

from __future__ import annotations

import re
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from growthos_pipeline.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Timeout,
    Unauthorized,
    UserError,
)
from growthos_pipeline.query.compile import Compiled, compile_query
from growthos_pipeline.settings import Settings

if TYPE_CHECKING:
    from growthos_pipeline.catalog.database import Catalog
    from growthos_pipeline.experiments.analysis import ExperimentResults

Engine = Literal["polars", "duckdb", "spark"]
#: The most rows one answer holds (the server's cap too); ``has_more`` says when rows follow.
MAX_ROWS = 10_000
#: What :meth:`RemoteWorkspace.sql` puts in the project filter when the project id is unknown.
UNKNOWN_PROJECT = "<project_id>"


class TruncatedResultWarning(UserWarning):
    """A query answered more rows than ``limit``: the DataFrame holds the first ``limit``."""


@dataclass(frozen=True)
class Answer:
    """What an answer read and what it holds.

    ``lake_version`` is the Delta table version read (None before the first event): pass it as
    ``as_of`` to reproduce the answer. ``shape`` is ``rows``, ``aggregate``, ``funnel``,
    ``retention`` or ``sessions``; ``buckets`` names the time-bucket columns; ``start`` and
    ``end`` are the query's time range, resolved to UTC.
    """

    text: str
    lake_version: int | None
    engine: str
    rows: int
    has_more: bool
    shape: str
    buckets: tuple[str, ...]
    start: datetime | None
    end: datetime | None


class Workspace(ABC):
    """One project, queried from Python. Open one with :func:`open` or :func:`connect`."""

    project_id: str | None

    def __init__(self) -> None:
        self.last: Answer | None = None

    @property
    def last_version(self) -> int | None:
        """The lake version the last answer read (None before the first answer or event)."""
        return self.last.lake_version if self.last is not None else None

    @abstractmethod
    def query(
        self,
        text: str,
        *,
        as_of: int | None = None,
        engine: Engine = "polars",
        limit: int = MAX_ROWS,
    ) -> pl.DataFrame:
        """Run the pipe query ``text`` and answer a DataFrame (at most ``limit`` rows).

        Parameters
        ----------
        text
            The query, e.g. ``event_type = "page_view" | last 7d | count by _browser``.
        as_of
            A lake version (from :attr:`last_version`) to read instead of the newest.
        engine
            ``polars`` (the reference), ``duckdb`` or (local, with pyspark) ``spark``.
        limit
            The most rows to fetch (up to 10,000); more warn with
            :class:`TruncatedResultWarning`.

        Examples
        --------
        >>> import tempfile
        >>> ws = open_demo(tempfile.mkdtemp(), users=30, days=2)
        >>> ws.query("last 7d | count by _device_type").columns
        ['_device_type', 'count']
        """

    @abstractmethod
    def scan(self, text: str, *, as_of: int | None = None) -> pl.LazyFrame:
        """The query as a Polars LazyFrame, not yet collected (the lazy twin of :meth:`query`).

        Examples
        --------
        >>> import tempfile
        >>> ws = open_demo(tempfile.mkdtemp(), users=30, days=2)
        >>> lazy = ws.scan("last 7d | count by event_type")
        >>> lazy.collect_schema().names()
        ['event_type', 'count']
        """

    @abstractmethod
    def events(self, *, as_of: int | None = None) -> pl.LazyFrame:
        """The project's raw events (one row per insert_id) as a LazyFrame.

        Examples
        --------
        >>> import tempfile
        >>> ws = open_demo(tempfile.mkdtemp(), users=30, days=2)
        >>> ws.events().select("event_type", "time").collect().height > 0
        True
        """

    @abstractmethod
    def experiment_results(
        self,
        experiment: str,
        *,
        fresh: bool = False,
        goal: str | None = None,
        as_of: int | None = None,
    ) -> ExperimentResults:
        """An experiment's results (see :mod:`growthos_pipeline.experiments.analysis`): those
        the ``experiment_results`` asset stored, else computed now.

        Parameters
        ----------
        experiment
            The experiment's key or id.
        fresh
            Compute from the lake now rather than read the last build.
        goal
            A goal for this computation (one condition, like ``event_type = "purchase"``)
            instead of the experiment's own; implies ``fresh``.
        as_of
            A lake version to read; implies ``fresh``.

        The answer's ``frame`` is a DataFrame with one row per variation (users,
        conversions, rate, uplifts and their intervals, p-value, chance to win, exposures
        and those the replay disagrees with); ``srm`` the sample-ratio check, ``replay`` and
        ``sources`` the replay per source; ``plot()`` draws
        :func:`growthos_pipeline.plots.experiment`.

        Examples
        --------
        >>> import tempfile
        >>> ws = open_demo(tempfile.mkdtemp(), users=20, days=2)
        >>> ws.experiment_results("nope")
        Traceback (most recent call last):
        ...
        growthos_pipeline.errors.NotFound: experiment_not_found: no experiment 'nope' in this \
project
        """

    def sql(self, text: str, *, dialect: str = "duckdb", pretty: bool = True) -> str:
        """The compiled query as SQL text for ``dialect`` (duckdb, spark, clickhouse, trino).

        The SQL carries the project filter the compiler injects; it is for reading, or for
        running on a warehouse that holds a copy of the lake.

        Examples
        --------
        >>> ws = connect("http://127.0.0.1:9", key="sk_x", project="proj_1")
        >>> text = ws.sql('event_type = "page_view" | last 7d | count by _browser')
        >>> "'proj_1'" in text and "GROUP BY" in text
        True
        >>> "TRY_CAST" in ws.sql("last 7d | sum(prop.amount)", dialect="spark")
        True
        """
        from growthos_pipeline.query.dialects import render

        return render(self.compile(text), dialect, pretty=pretty)

    def compile(self, text: str) -> Compiled:
        """The compiled query (its sqlglot tree, output columns, shape and time range)."""
        return compile_query(text, self.project_id or UNKNOWN_PROJECT)

    def plot(self, text: str, *, as_of: int | None = None, title: str | None = None) -> Any:
        """Run ``text`` and draw the answer with :func:`growthos_pipeline.plots.auto`
        (a trend over time buckets, a funnel, a retention grid or bars); needs plotly."""
        from growthos_pipeline import plots

        frame = self.query(text, as_of=as_of)
        return plots.auto(frame, title=title if title is not None else text)

    def _remember(
        self,
        text: str,
        compiled: Compiled | None,
        *,
        lake_version: int | None,
        engine: str,
        rows: int,
        has_more: bool,
        limit: int,
    ) -> None:
        self.last = Answer(
            text=text,
            lake_version=lake_version,
            engine=engine,
            rows=rows,
            has_more=has_more,
            shape=compiled.shape if compiled is not None else "rows",
            buckets=tuple(compiled.buckets) if compiled is not None else (),
            start=compiled.start if compiled is not None else None,
            end=compiled.end if compiled is not None else None,
        )
        if has_more:
            warnings.warn(
                TruncatedResultWarning(
                    f"the query answered more than {limit:,} rows; the DataFrame holds the "
                    "first ones: aggregate, filter or add `| limit N`"
                ),
                stacklevel=3,
            )


class LocalWorkspace(Workspace):
    """A project in a data folder, read in this process (see :func:`open`)."""

    def __init__(self, settings: Settings, project_id: str, *, name: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.project_id: str = project_id
        self.name = name

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"<LocalWorkspace{label} {self.project_id} in {self.settings.data_dir}>"

    def query(
        self,
        text: str,
        *,
        as_of: int | None = None,
        engine: Engine = "polars",
        limit: int = MAX_ROWS,
    ) -> pl.DataFrame:
        from growthos_pipeline.query.run import run

        result = run(self.settings, self.project_id, text, engine=engine, as_of=as_of, limit=limit)
        self._remember(
            text,
            result.compiled,
            lake_version=result.lake_version,
            engine=result.engine,
            rows=result.frame.height,
            has_more=result.has_more,
            limit=limit,
        )
        return result.frame

    def scan(self, text: str, *, as_of: int | None = None) -> pl.LazyFrame:
        from growthos_pipeline.query import guard
        from growthos_pipeline.query.run import open_snapshot
        from growthos_pipeline.query.to_polars import to_polars

        compiled = compile_query(text, self.project_id)
        guard.check(compiled.tree, self.project_id)
        snap = open_snapshot(self.settings, self.project_id, as_of)
        self._remember(
            text,
            compiled,
            lake_version=snap.version,
            engine="polars",
            rows=0,
            has_more=False,
            limit=MAX_ROWS,
        )
        return to_polars(compiled.tree, snap.frames, dedup_dates=snap.dedup_dates)

    def events(self, *, as_of: int | None = None) -> pl.LazyFrame:
        from growthos_pipeline.lake.read import scan_events

        return scan_events(self.settings, self.project_id, as_of=as_of)

    def experiment_results(
        self,
        experiment: str,
        *,
        fresh: bool = False,
        goal: str | None = None,
        as_of: int | None = None,
    ) -> ExperimentResults:
        from growthos_pipeline.catalog.database import Catalog
        from growthos_pipeline.experiments.results import results_for

        if not self.settings.database_url and not (self.settings.data_dir / "catalog.db").exists():
            raise NotFound(
                "catalog_not_found",
                f"experiments live in the catalog, and {self.settings.data_dir} has none",
            )
        catalog = Catalog.open(self.settings, migrate=False)
        try:
            return results_for(
                catalog,
                self.settings,
                self.project_id,
                experiment,
                fresh=fresh,
                goal=goal,
                as_of=as_of,
            )
        finally:
            catalog.dispose()


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_ERRORS: dict[int, type[UserError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    429: RateLimited,
    503: ServiceUnavailable,
    504: Timeout,
}


class RemoteWorkspace(Workspace):
    """A project on a GrowthOS server, queried over HTTP (see :func:`connect`)."""

    def __init__(
        self, url: str, *, key: str, project: str | None = None, timeout: float = 120.0
    ) -> None:
        import httpx2

        super().__init__()
        self.url = url.rstrip("/")
        self.project_id = project
        self._client = httpx2.Client(
            base_url=self.url,
            timeout=timeout,
            headers={"X-API-Key": key, "User-Agent": "growthos-notebook"},
        )

    def __repr__(self) -> str:
        project = self.project_id or "(the key's project)"
        return f"<RemoteWorkspace {project} at {self.url}>"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> RemoteWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(
        self,
        text: str,
        *,
        as_of: int | None = None,
        engine: Engine = "polars",
        limit: int = MAX_ROWS,
    ) -> pl.DataFrame:
        body: dict[str, Any] = {"q": text, "format": "json", "limit": limit, "engine": engine}
        if as_of is not None:
            body["as_of"] = as_of
        if self.project_id is not None:
            body["project_id"] = self.project_id
        response = self._client.post("/v1/query", json=body)
        if response.status_code >= 400:
            raise _remote_error(response, text)
        answer = response.json()
        try:
            compiled: Compiled | None = self.compile(text)
        except UserError:  # a server newer than this client: keep the answer, lose the shape
            compiled = None
        frame = _frame(answer["columns"], answer["rows"], compiled)
        self._remember(
            text,
            compiled,
            lake_version=answer.get("lake_version"),
            engine=answer.get("engine", engine),
            rows=frame.height,
            has_more=bool(answer.get("has_more")),
            limit=limit,
        )
        return frame

    def scan(self, text: str, *, as_of: int | None = None) -> pl.LazyFrame:
        raise BadRequest(
            "remote_lazy_unavailable",
            "a LazyFrame needs the lake in this process; on a server use query() (eager), or "
            "open the data folder with gos.open(data_dir=...)",
        )

    def experiment_results(
        self,
        experiment: str,
        *,
        fresh: bool = False,
        goal: str | None = None,
        as_of: int | None = None,
    ) -> ExperimentResults:
        from urllib.parse import quote

        from growthos_pipeline.experiments.analysis import ExperimentResults

        if self.project_id is None:
            raise BadRequest(
                "project_required",
                "experiment results are read per project: connect with project='proj_...'",
            )
        params: dict[str, Any] = {"fresh": "true"} if fresh else {}
        if goal is not None:
            params["goal"] = goal
        if as_of is not None:
            params["as_of"] = as_of
        path = f"/v1/projects/{quote(self.project_id, safe='')}/experiments/"
        response = self._client.get(f"{path}{quote(experiment, safe='')}/results", params=params)
        if response.status_code >= 400:
            raise _remote_error(response, goal or "")
        return ExperimentResults.model_validate(response.json())

    def events(self, *, as_of: int | None = None) -> pl.LazyFrame:
        raise BadRequest(
            "remote_lake_unavailable",
            "raw events need the lake in this process; on a server use query(), e.g. "
            "'last 1d | select time, event_type, user_id | limit 100'",
        )


def _output_schema(compiled: Compiled) -> pl.Schema:
    """The exact output schema of ``compiled``, from running it over an empty events table."""
    from growthos_pipeline.events.model import LAKE_SCHEMA
    from growthos_pipeline.query.to_polars import to_polars

    empty = pl.DataFrame(LAKE_SCHEMA.empty_table()).lazy()
    return to_polars(compiled.tree, {"events": empty}).collect_schema()


def _frame(
    columns: list[str], rows: list[dict[str, Any]], compiled: Compiled | None
) -> pl.DataFrame:
    """JSON rows back into the DataFrame the local engine gives (times as UTC datetimes)."""
    frame = pl.from_dicts(rows, schema=columns, infer_schema_length=None) if rows else None
    schema: pl.Schema | None = None
    if compiled is not None:
        try:
            schema = _output_schema(compiled)
        except Exception:  # the schema only restores dtypes; the rows stand
            schema = None
    if frame is None:
        if schema is not None and list(schema) == columns:
            return pl.DataFrame(schema=schema)
        return pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    casts = []
    for name in columns:
        want = schema.get(name) if schema is not None else None
        column = frame[name]
        if isinstance(want, pl.Datetime) or (
            want is None
            and column.dtype == pl.String
            and column.drop_nulls().len() > 0
            and column.drop_nulls().str.contains(_ISO_TIME.pattern).all()
        ):
            casts.append(
                pl.col(name)
                .cast(pl.String)
                .str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC", time_unit="us")
            )
        elif want is not None and want != column.dtype:
            casts.append(pl.col(name).cast(want, strict=False))
    return frame.with_columns(casts) if casts else frame


def _remote_error(response: Any, text: str) -> UserError:
    """The server's error envelope as the matching :class:`UserError` (query errors with
    their position, as the local engine raises them)."""
    try:
        error = response.json()["error"]
        code, message, details = error["code"], error["message"], error.get("details") or []
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", f"HTTP {response.status_code}", []
    if code.startswith("query_") and details and "offset" in details[0]:
        from growthos_pipeline.query.ast import Span
        from growthos_pipeline.query.errors import QueryError

        first = details[0]
        return QueryError(
            code,
            message,
            Span(int(first["offset"]), int(first.get("length", 1))),
            text=text,
            expected=first.get("expected") or (),
            hint=first.get("hint"),
        )
    cls = _ERRORS.get(response.status_code, UserError)
    err = cls(code, message, details=details)
    err.status = response.status_code
    return err


def _projects(catalog: Catalog) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from growthos_pipeline.catalog.tables import projects

    with catalog.connect() as conn:
        rows = conn.execute(select(projects.c.id, projects.c.name).order_by(projects.c.name))
        return [(row.id, row.name) for row in rows]


def _lake_projects(settings: Settings) -> list[str]:
    from growthos_pipeline.lake.tables import events_uri

    uri = events_uri(settings)
    if not Path(uri, "_delta_log").is_dir():
        return []
    ids = pl.scan_delta(uri).select("project_id").unique().collect()["project_id"]
    return sorted(ids.to_list())


def open(data_dir: str | Path | None = None, *, project: str | None = None) -> LocalWorkspace:
    """Open a project in a data folder (default ``$GROWTHOS_DATA_DIR`` or ``./growthos-data``).

    ``project`` is a project id or name from the folder's catalog; without it the folder's only
    project is taken. A folder without a catalog (a copied lake) is opened by project id.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open_demo(folder, users=20, days=2)
    >>> open(folder)
    <LocalWorkspace 'demo' proj_... in ...>
    >>> open(folder, project="demo").query("last 7d | count").columns
    ['count']
    >>> open(folder, project="nope")
    Traceback (most recent call last):
    ...
    growthos_pipeline.errors.NotFound: project_not_found: no project 'nope' in ...
    """
    settings = Settings(data_dir=Path(data_dir)) if data_dir is not None else Settings()
    where = settings.data_dir.resolve()
    catalog_file = where / "catalog.db"
    found: list[tuple[str, str | None]]
    if settings.database_url or catalog_file.exists():
        from growthos_pipeline.catalog.database import Catalog

        catalog = Catalog.open(settings, migrate=False)
        try:
            found = list(_projects(catalog))
        finally:
            catalog.dispose()
    elif where.is_dir():
        found = [(pid, None) for pid in _lake_projects(settings)]
    else:
        raise NotFound(
            "data_dir_not_found",
            f"no GrowthOS data folder at {where}; create one with `growthos demo` "
            "or gos.open_demo(...)",
        )
    if project is not None:
        match = [(pid, name) for pid, name in found if project in (pid, name)]
        if not match and project.startswith("proj_") and not catalog_file.exists():
            match = [(project, None)]
        if not match:
            names = ", ".join(f"{name} ({pid})" if name else pid for pid, name in found)
            raise NotFound(
                "project_not_found", f"no project {project!r} in {where}; found: {names or 'none'}"
            )
        pid, name = match[0]
        return LocalWorkspace(settings, pid, name=name)
    if len(found) != 1:
        names = ", ".join(f"{name} ({pid})" if name else pid for pid, name in found)
        raise BadRequest(
            "project_required",
            f"{where} holds {len(found)} projects; name one with project=...: {names or 'none'}",
        )
    pid, name = found[0]
    return LocalWorkspace(settings, pid, name=name)


def connect(
    url: str, *, key: str, project: str | None = None, timeout: float = 120.0
) -> RemoteWorkspace:
    """Query a project on a GrowthOS server at ``url`` with a key (``sk_``, or an ``aat_``
    token with the ``query`` scope). Give ``project`` (its id) with an org admin key, or to
    see the project filter in :meth:`Workspace.sql`.

    Examples
    --------
    >>> ws = connect("http://127.0.0.1:8000", key="sk_...", project="proj_1")
    >>> ws
    <RemoteWorkspace proj_1 at http://127.0.0.1:8000>
    >>> ws.scan("last 7d | count")
    Traceback (most recent call last):
    ...
    growthos_pipeline.errors.BadRequest: remote_lazy_unavailable: a LazyFrame needs the lake ...
    >>> ws.close()
    """
    return RemoteWorkspace(url, key=key, project=project, timeout=timeout)


def open_demo(
    data_dir: str | Path, *, users: int = 300, days: int = 14, seed: int = 42
) -> LocalWorkspace:
    """Open the demo project in ``data_dir``, creating it with a sample of realistic events the
    first time (as ``growthos demo --no-serve`` does): notebooks run anywhere with it.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> ws = open_demo(folder, users=20, days=2)
    >>> ws.query("last 7d | uniq(device_id) as visitors").item() > 10
    True
    >>> open_demo(folder).project_id == ws.project_id  # the second call loads nothing
    True
    """
    from growthos_pipeline import demo
    from growthos_pipeline.catalog.database import Catalog
    from growthos_pipeline.catalog.orgs import bootstrap
    from growthos_pipeline.ingest.accept import Ingestor

    settings = Settings(data_dir=Path(data_dir))
    catalog = Catalog.open(settings)
    try:
        existing = [pid for pid, name in _projects(catalog) if name == "demo"]
        project_id = (
            existing[0]
            if existing
            else bootstrap(catalog, settings, org_name="Demo", project_name="demo")["project_id"]
        )
    finally:
        catalog.dispose()
    workspace = LocalWorkspace(settings, project_id, name="demo")
    if workspace.events().head(1).collect().height:
        return workspace
    ingestor = Ingestor(settings)
    ingestor.start()
    try:
        demo.load(ingestor, project_id, demo.generate(users=users, days=days, seed=seed))
        ingestor.flush_now()
    finally:
        ingestor.stop()
    return workspace
