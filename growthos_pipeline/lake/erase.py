"""Erasing a whole project from the lake (when the project is deleted).

A tombstone (``<lake>/_erased_projects/<project_id>``) is written first, so that events of the
project still waiting in any process's write-ahead log are dropped when they are flushed;
then the project's rows are deleted from every table (a partition delete: whole files go),
the removed files are vacuumed at once, and the log is checkpointed.

Examples
--------
>>> import tempfile
>>> from growthos_pipeline.settings import Settings
>>> settings = Settings(data_dir=tempfile.mkdtemp())
>>> erase_project(settings, "proj_1")
{}
>>> "proj_1" in erased_projects(lake_root(settings))
True
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from growthos_pipeline.lake.tables import lake_root

_TOMBSTONES = "_erased_projects"
_PROJECT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def erased_projects(root: Path) -> frozenset[str]:
    """Projects (under the lake ``root``) whose events must never (again) reach the lake."""
    folder = root / _TOMBSTONES
    try:
        return frozenset(os.listdir(folder))
    except FileNotFoundError:
        return frozenset()


def erase_project(settings: Any, project_id: str) -> dict[str, Any]:
    """Remove every row of ``project_id`` from every lake table; a summary per table."""
    if not _PROJECT_ID.match(project_id):
        raise ValueError(f"not a project id: {project_id!r}")
    folder = lake_root(settings) / _TOMBSTONES
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / project_id
    with open(marker, "w") as fh:
        fh.flush()
        os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    summary: dict[str, Any] = {}
    root = lake_root(settings)
    for table_dir in sorted(p for p in root.iterdir() if not p.name.startswith("_")):
        uri = str(table_dir)
        if not DeltaTable.is_deltatable(uri):
            continue
        table = DeltaTable(uri)
        if "project_id" not in table.schema().to_arrow().names:
            continue
        metrics = table.delete(f"project_id = '{project_id}'")
        removed = table.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
        table.create_checkpoint()
        table.cleanup_metadata()
        summary[table_dir.name] = {
            "rows_deleted": int(metrics.get("num_deleted_rows", 0) or 0),
            "files_removed": len(removed),
        }
    return summary
