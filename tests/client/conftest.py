from __future__ import annotations

from collections.abc import Iterator

import pytest

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.settings import Settings
from tests.client.server import Live, live_server


@pytest.fixture
def live(settings: Settings, catalog: Catalog) -> Iterator[Live]:
    with live_server(settings, catalog) as server:
        yield server
