"""Partitions: UTC days, and projects (dynamic, kept in step with the catalog by a sensor)."""

from __future__ import annotations

import dagster as dg

#: Every UTC day since the first supported day, today included.
daily = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC", end_offset=1)

#: One partition per project id; ``defs/projects.py`` keeps them in step with the catalog.
projects = dg.DynamicPartitionsDefinition(name="projects")

#: Per project and day (compaction works on one such cell at a time).
project_daily = dg.MultiPartitionsDefinition({"project": projects, "date": daily})
