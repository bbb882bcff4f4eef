"""``growthos``: the one command line of GrowthOS Pipeline.

The API is started by import path (``api.app:create_app``) so that the core library never
imports the HTTP layer.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap as bootstrap_org
from growthos_pipeline.errors import ConfigurationError, UserError
from growthos_pipeline.settings import Settings

app = typer.Typer(
    name="growthos",
    help="GrowthOS Pipeline: self-hostable growth analytics.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="The data folder (catalog, lake, WAL). Default: $GROWTHOS_DATA_DIR or ./growthos-data",
        show_default=False,
    ),
]


def _settings(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["GROWTHOS_DATA_DIR"] = str(data_dir.resolve())
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the bad variable
        err.print(f"[red]error:[/red] the settings are not valid:\n{exc}")
        raise typer.Exit(2) from None


def _open_catalog(settings: Settings) -> Catalog:
    try:
        return Catalog.open(settings)
    except Exception as exc:
        err.print(f"[red]error:[/red] cannot open the catalog at {settings.catalog_url!r}: {exc}")
        raise typer.Exit(1) from None


def _serve(settings: Settings, host: str, port: int, workers: int, log_level: str) -> None:
    import uvicorn

    os.environ["GROWTHOS_DATA_DIR"] = str(settings.data_dir.resolve())
    if workers > 1:
        metrics_dir = settings.data_dir.resolve() / "run" / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        if not settings.redis_url:
            err.print(
                f"[yellow]note:[/yellow] {workers} workers without GROWTHOS_REDIS_URL: each "
                "worker counts rate limits on its own"
            )
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers if workers > 1 else None,
        log_level=log_level,
        proxy_headers=True,
    )


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes", min=1, max=64)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the HTTP API on uvicorn (SQLite catalog, local lake, in-process limits by
    default)."""
    settings = _settings(data_dir)
    _open_catalog(settings).dispose()  # migrate once, before any worker starts
    _serve(settings, host, port, workers, log_level)


@app.command()
def bootstrap(
    org: Annotated[str, typer.Option("--org", help="Organisation name")],
    project: Annotated[str, typer.Option("--project", help="Project name")],
    data_dir: DataDir = None,
) -> None:
    """Create the org and project (idempotent by name) and print their keys as one JSON
    object: org_id, project_id, admin_key, public_key, secret_key."""
    settings = _settings(data_dir)
    catalog = _open_catalog(settings)
    try:
        keys = bootstrap_org(catalog, settings, org_name=org, project_name=project)
    except (UserError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        catalog.dispose()
    sys.stdout.write(json.dumps(keys) + "\n")


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Upgrade the catalog schema to the newest migration."""
    settings = _settings(data_dir)
    catalog = _open_catalog(settings)
    err.print(f"catalog at revision {catalog.current_revision()}")
    catalog.dispose()


class ImportFormat(StrEnum):
    ndjson = "ndjson"
    csv = "csv"
    parquet = "parquet"
    amplitude = "amplitude"


def _progress(*, by_bytes: bool = True) -> Progress:
    sizes = [DownloadColumn(), TransferSpeedColumn()] if by_bytes else []
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[records]:>9,} records"),
        *sizes,
        TimeRemainingColumn(),
        console=err,
    )


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"import of {Path(summary['path']).name}", show_header=False)
    table.add_row("format", summary["format"])
    table.add_row("project", summary["project_id"])
    table.add_row("read", f"{summary['read']:,}")
    table.add_row("accepted", f"[green]{summary['accepted']:,}[/green]")
    table.add_row(
        "skipped", f"[yellow]{summary['skipped']:,}[/yellow]" if summary["skipped"] else "0"
    )
    for code, count in summary["skipped_by_reason"].items():
        table.add_row(f"  {code}", f"{count:,}")
    table.add_row("lake version", str(summary["lake_version"]))
    table.add_row("seconds", f"{summary['seconds']:.2f}")
    err.print(table)
    for example in summary["examples"]:
        err.print(f"  skipped at {example['where']}: {example['code']}: {example['message']}")


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="NDJSON, CSV or Parquet file, or an Amplitude "
            "export (.zip, .json.gz or a folder of them)"
        ),
    ],
    project: Annotated[str, typer.Option("--project", help="The project id (proj_...)")],
    data_dir: DataDir = None,
    fmt: Annotated[
        ImportFormat | None,
        typer.Option(
            "--format", help="The file's format. Default: from the file name", show_default=False
        ),
    ] = None,
    source: Annotated[str, typer.Option(help="The events' source column")] = "import",
    batch: Annotated[int, typer.Option(help="Events per WAL record", min=1, max=100_000)] = 1000,
) -> None:
    """Backfill historic events from a file through the ingest path (validation,
    enrichment, WAL, flusher), next to a running server if there is one. Prints a summary,
    and one JSON object on stdout."""
    from growthos_pipeline.ingest.backfill import import_file, require_project

    settings = _settings(data_dir)
    catalog = _open_catalog(settings)
    try:
        require_project(catalog, project)
    except UserError as exc:
        err.print(f"[red]error:[/red] {exc.code}: {exc.message}")
        raise typer.Exit(1) from None
    finally:
        catalog.dispose()
    with _progress() as progress:
        task = progress.add_task("importing", total=None, records=0)

        def report(summary: Any, meter: Any) -> None:
            progress.update(
                task, total=meter.total or None, completed=meter.done, records=summary.read
            )

        try:
            summary = import_file(
                settings,
                file,
                project_id=project,
                fmt=fmt.value if fmt else None,
                source=source,
                batch_events=batch,
                on_progress=report,
            )
        except UserError as exc:
            progress.stop()
            for detail in exc.details[:1]:
                if "accepted" in detail:
                    _print_summary(detail)
            err.print(f"[red]error:[/red] {exc.code}: {exc.message}")
            raise typer.Exit(1) from None
    result = summary.as_dict()
    _print_summary(result)
    sys.stdout.write(json.dumps(result) + "\n")


def _load_demo_sample(
    settings: Settings, project_id: str, users: int, days: int, seed: int
) -> int | None:
    """Load the demo sample unless the project has events already; the events loaded."""
    from growthos_pipeline import demo as demo_data
    from growthos_pipeline.ingest.accept import Ingestor
    from growthos_pipeline.lake.read import scan_events

    if scan_events(settings, project_id, dedup=False).head(1).collect().height:
        err.print("the demo project has events already: no sample loaded")
        return None
    calls = demo_data.generate(users=users, days=days, seed=seed)
    ingestor = Ingestor(settings)
    ingestor.start()
    try:
        with _progress(by_bytes=False) as progress:
            task = progress.add_task("demo events", total=len(calls), records=0)
            done = [0]

            def advance(n: int) -> None:
                done[0] += n
                progress.update(task, completed=done[0], records=done[0])

            summary = demo_data.load(ingestor, project_id, calls, on_batch=advance)
            ingestor.flush_now()
    finally:
        ingestor.stop()
    err.print(
        f"loaded {summary.accepted:,} demo events ({users} visitors over {days} days) into the lake"
    )
    return summary.accepted


@app.command()
def demo(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind", min=1, max=65535)] = 8000,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Set up and print, but do not start the server")
    ] = False,
    users: Annotated[
        int,
        typer.Option(
            "--users", help="Visitors in the sample data (0: no sample)", min=0, max=100_000
        ),
    ] = 500,
    days: Annotated[int, typer.Option("--days", help="Days the sample spans", min=1, max=365)] = 7,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample data")] = 42,
) -> None:
    """Bootstrap a demo project, load a sample of realistic events into it (once), print its
    keys and the URLs to open, and serve it."""
    settings = _settings(data_dir)
    catalog = _open_catalog(settings)
    keys = bootstrap_org(catalog, settings, org_name="Demo", project_name="demo")
    catalog.dispose()
    loaded = _load_demo_sample(settings, keys["project_id"], users, days, seed) if users else None
    base = f"http://{host}:{port}"
    info: dict[str, Any] = {
        **keys,
        "data_dir": str(settings.data_dir.resolve()),
        "url": base,
        "sample_events": loaded or 0,
    }
    err.print(
        Panel.fit(
            "\n".join(
                [
                    f"data folder  {info['data_dir']}",
                    f"project      {keys['project_id']}",
                    f"admin key    {keys['admin_key']}",
                    f"secret key   {keys['secret_key']}",
                    f"public key   {keys['public_key']}",
                    "",
                    f"API docs     {base}/docs",
                    f"console      {base}/console/key (paste the secret key)",
                    f"health       {base}/readyz",
                    f"your project curl -H 'X-API-Key: {keys['secret_key']}' "
                    f"{base}/v1/projects/{keys['project_id']}",
                ]
            ),
            title="GrowthOS demo",
        )
    )
    if loaded is not None or users:
        _print_demo_queries(settings, keys["project_id"])
    if no_serve:
        sys.stdout.write(json.dumps(info) + "\n")
        return
    _serve(settings, host, port, 1, "info")


DEMO_QUERIES = [
    'event_type = "page_view" | last 7d | count by _browser',
    "last 7d | count, uniq(user_id) as users by day",
    'last 7d | funnel "page_view" -> "signup" -> "purchase_completed" within 7d',
]


def _print_demo_queries(settings: Settings, project_id: str) -> None:
    """A few queries on the demo data, with their answers (the llm format)."""
    from growthos_pipeline.query import format as formats
    from growthos_pipeline.query.run import run

    for text in DEMO_QUERIES:
        result = run(settings, project_id, text, limit=10)
        err.print(f"\n[bold]growthos query[/bold] '{text}'", soft_wrap=True)
        err.print(
            formats.markdown(
                result.frame, lake_version=result.lake_version, has_more=result.has_more
            ),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def query(
    text: Annotated[str, typer.Argument(help="The pipe query, e.g. 'last 7d | count by day'")],
    project: Annotated[
        str | None,
        typer.Option("--project", help="Project id (default: the only project in the catalog)"),
    ] = None,
    data_dir: DataDir = None,
    output: Annotated[str, typer.Option("--format", help="llm (Markdown), json or csv")] = "llm",
    as_of: Annotated[
        int | None, typer.Option("--as-of", help="Re-run as of this lake version", min=0)
    ] = None,
    engine: Annotated[str, typer.Option(help="polars, duckdb or spark")] = "polars",
    limit: Annotated[int, typer.Option(help="Rows to show", min=1, max=10_000)] = 100,
    sql: Annotated[
        str | None,
        typer.Option("--sql", help="Print the compiled SQL for a dialect instead of running"),
    ] = None,
) -> None:
    """Run a pipe query on the local lake and print the answer."""
    from growthos_pipeline.query import format as formats
    from growthos_pipeline.query.compile import compile_query
    from growthos_pipeline.query.errors import QueryError
    from growthos_pipeline.query.run import run

    if output not in formats.FORMATS:
        err.print(f"[red]error:[/red] --format must be one of {', '.join(formats.FORMATS)}")
        raise typer.Exit(2)
    settings = _settings(data_dir)
    catalog = _open_catalog(settings)
    try:
        project_id = project or _only_project(catalog)
    finally:
        catalog.dispose()
    try:
        if sql is not None:
            from growthos_pipeline.query.dialects import render

            sys.stdout.write(render(compile_query(text, project_id), sql) + "\n")
            return
        result = run(
            settings,
            project_id,
            text,
            engine=engine,  # type: ignore[arg-type]  # run() refuses an unknown engine
            as_of=as_of,
            limit=limit,
        )
    except QueryError as exc:
        err.print(exc.render(), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except UserError as exc:
        err.print(f"[red]error:[/red] {exc.code}: {exc.message}")
        raise typer.Exit(2) from None
    if output == "llm":
        text_out = formats.markdown(
            result.frame, lake_version=result.lake_version, has_more=result.has_more
        )
    elif output == "csv":
        text_out = formats.csv_text(result.frame)
    else:
        text_out = formats.json_bytes(
            {
                "columns": result.columns,
                "rows": formats.records(result.frame),
                "has_more": result.has_more,
                "lake_version": result.lake_version,
            }
        ).decode()
    sys.stdout.write(text_out.rstrip("\n") + "\n")


def _only_project(catalog: Catalog) -> str:
    from sqlalchemy import select

    from growthos_pipeline.catalog.tables import projects

    with catalog.connect() as conn:
        ids = conn.execute(select(projects.c.id).limit(2)).scalars().all()
    if len(ids) != 1:
        err.print(
            "[red]error:[/red] name the project with --project "
            f"({'no project exists' if not ids else 'there are several'})"
        )
        raise typer.Exit(2)
    return str(ids[0])


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
