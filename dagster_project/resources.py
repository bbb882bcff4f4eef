"""Resources: the lake and the catalog, configured from the same settings as the API.

Both read ``GROWTHOS_*`` settings only when a run uses them (never at definition load), and
both take an explicit ``data_dir`` / ``database_url`` so tests can point them at a temporary
data folder.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.settings import Settings


def _settings(data_dir: str | None, database_url: str | None) -> Settings:
    overrides: dict[str, object] = {}
    if data_dir:
        overrides["data_dir"] = Path(data_dir)
    if database_url:
        overrides["database_url"] = database_url
    return Settings(**overrides)  # type: ignore[arg-type]


class LakeResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The data folder's lake (``<data_dir>/lake``)."""

    data_dir: str | None = None

    @cached_property
    def settings(self) -> Settings:
        return _settings(self.data_dir, None)


class CatalogResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The control-plane catalog (SQLite in the data folder, or GROWTHOS_DATABASE_URL)."""

    data_dir: str | None = None
    database_url: str | None = None
    _catalog: Catalog | None = PrivateAttr(default=None)

    @cached_property
    def settings(self) -> Settings:
        return _settings(self.data_dir, self.database_url)

    def open(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog.open(self.settings)
        return self._catalog
