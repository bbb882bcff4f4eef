"""Fixtures of the notebook tests: a demo data folder (made once) and the API serving it on
uvicorn on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

import growthos_pipeline as gos
from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.settings import Settings


def folder_settings(data_dir: Path) -> Settings:
    """Settings on ``data_dir`` as a notebook would have them (the folder's own secret)."""
    return Settings(_env_file=None, env="test", data_dir=data_dir, rate_limits_enabled=False)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the demo project and 150 visitors over 7 days (made once)."""
    folder = tmp_path_factory.mktemp("demo") / "data"
    gos.open_demo(folder, users=150, days=7, seed=3)
    return folder


@pytest.fixture
def demo_dir(demo_source: Path, tmp_path: Path) -> Path:
    """A private copy of the demo folder, free to change."""
    return Path(shutil.copytree(demo_source, tmp_path / "data"))


@dataclass
class Served:
    url: str
    data_dir: Path
    project_id: str
    secret_key: str
    admin_key: str


@pytest.fixture(scope="session")
def served(demo_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The API on uvicorn over a copy of the demo folder, with fresh keys for its project."""
    data_dir = Path(shutil.copytree(demo_source, tmp_path_factory.mktemp("served") / "data"))
    settings = folder_settings(data_dir)
    catalog = Catalog.open(settings)
    keys = bootstrap(catalog, settings, org_name="Demo", project_name="demo")
    app = create_app(settings, catalog=catalog)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_config=None, log_level="warning", lifespan="on", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.005)
    try:
        yield Served(
            f"http://127.0.0.1:{sock.getsockname()[1]}",
            data_dir,
            keys["project_id"],
            keys["secret_key"],
            keys["admin_key"],
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        catalog.dispose()
        assert not thread.is_alive(), "uvicorn did not stop"
