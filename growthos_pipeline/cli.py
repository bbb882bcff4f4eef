"""``growthos``: the one command line of GrowthOS Pipeline.

The API is started by import path (``api.app:create_app``) so that the core library never
imports the HTTP layer.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel

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


@app.command()
def demo(
    data_dir: DataDir = None,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind", min=1, max=65535)] = 8000,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Set up and print, but do not start the server")
    ] = False,
) -> None:
    """Bootstrap a demo project, print its keys and the URLs to open, and serve it."""
    settings = _settings(data_dir)
    catalog = _open_catalog(settings)
    keys = bootstrap_org(catalog, settings, org_name="Demo", project_name="demo")
    catalog.dispose()
    base = f"http://{host}:{port}"
    info: dict[str, Any] = {**keys, "data_dir": str(settings.data_dir.resolve()), "url": base}
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
                    f"health       {base}/readyz",
                    f"your project curl -H 'X-API-Key: {keys['secret_key']}' "
                    f"{base}/v1/projects/{keys['project_id']}",
                ]
            ),
            title="GrowthOS demo",
        )
    )
    if no_serve:
        sys.stdout.write(json.dumps(info) + "\n")
        return
    _serve(settings, host, port, 1, "info")


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
