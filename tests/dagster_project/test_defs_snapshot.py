"""The one ``defs`` of ``dagster_project``: what ``dagster dev -m dagster_project`` shows.

The literals below pin every asset key, asset check, job, schedule and sensor. When a change
adds or renames one on purpose, update them (print the actual values with
``python -m tests.dagster_project.test_defs_snapshot``) in the same change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

ASSET_KEYS = [
    "events_compacted",
    "experiment_results",
    "identities",
    "profiles",
    "segment_members",
    "sessions",
    "usage_daily",
]
ASSET_CHECK_KEYS = [
    "events_compacted:no_duplicate_insert_ids",
    "experiment_results:no_sample_ratio_mismatch",
    "experiment_results:one_row_per_variation",
    "identities:one_row_per_device",
    "profiles:one_row_per_user",
    "profiles:properties_are_json_objects",
    "segment_members:members_belong_to_project",
    "sessions:ends_after_start",
    "usage_daily:counts_valid",
]
JOBS = [
    "compaction_job",
    "experiments_job",
    "identities_job",
    "lake_maintenance_job",
    "profiles_job",
    "segments_job",
    "sessions_job",
    "usage_job",
]
SCHEDULES = [
    "daily_lake_maintenance",
    "experiment_results_hourly",
    "hourly_compaction",
    "identities_every_15_minutes",
    "profiles_every_15_minutes",
    "segments_every_15_minutes",
    "sessions_hourly",
    "usage_daily_schedule",
]
SENSORS = [
    "project_partitions_sensor",
]

ROOT = Path(__file__).resolve().parents[2]


def actual() -> dict[str, list[str]]:
    from dagster_project import defs

    repo = defs.get_repository_def()
    return {
        "ASSET_KEYS": sorted(k.to_user_string() for k in defs.resolve_all_asset_keys()),
        "ASSET_CHECK_KEYS": sorted(k.to_user_string() for k in repo.asset_graph.asset_check_keys),
        "JOBS": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "SCHEDULES": sorted(s.name for s in repo.schedule_defs),
        "SENSORS": sorted(s.name for s in repo.sensor_defs),
    }


def test_definitions_snapshot() -> None:
    assert actual() == {
        "ASSET_KEYS": ASSET_KEYS,
        "ASSET_CHECK_KEYS": ASSET_CHECK_KEYS,
        "JOBS": JOBS,
        "SCHEDULES": SCHEDULES,
        "SENSORS": SENSORS,
    }


def test_definitions_load_and_resolve() -> None:
    from dagster_project import defs

    dg.Definitions.validate_loadable(defs)
    for name in JOBS:
        assert defs.resolve_job_def(name).name == name
    for name in SCHEDULES:
        assert defs.resolve_schedule_def(name).job_name in JOBS
    for name in SENSORS:
        assert defs.resolve_sensor_def(name).name == name
    assert set(defs.resources or {}) >= {"lake", "catalog"}


_PROBE = r"""
import json, sys
data_dir = sys.argv[1]
seen = []

def hook(event, args):
    if event.startswith("socket.") and event not in ("socket.__new__", "socket.gethostname"):
        seen.append([event, repr(args)[:200]])
    elif event == "open" and args and isinstance(args[0], (str, bytes)):
        path = args[0].decode() if isinstance(args[0], bytes) else args[0]
        if path.startswith(data_dir) or path.endswith(("server.secret", ".env")):
            seen.append([event, path])

sys.addaudithook(hook)
import growthos_pipeline.settings as settings_module

built = []
original = settings_module.Settings.__init__

def counting_init(self, *args, **kwargs):
    built.append(1)
    original(self, *args, **kwargs)

settings_module.Settings.__init__ = counting_init
import dagster as dg
from dagster_project import defs

dg.Definitions.validate_loadable(defs)
defs.resolve_all_job_defs()
print(json.dumps({"seen": seen, "settings_built": len(built)}))
"""


def test_loading_opens_no_network_and_reads_no_secret(tmp_path: Path) -> None:
    """Loading the definitions builds no Settings, opens no socket, creates no data folder
    and reads no secret file (``dagster dev`` can load them anywhere)."""
    absent = tmp_path / "absent-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROWTHOS_")}
    env.update(GROWTHOS_DATA_DIR=str(absent), DAGSTER_HOME=str(tmp_path / "dagster-home"))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(absent)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"seen": [], "settings_built": 0}
    assert not absent.exists()
    assert not (tmp_path / "dagster-home").exists()


if __name__ == "__main__":  # print the literals to paste above
    for name, values in actual().items():
        print(f"{name} = {json.dumps(values, indent=4)}".replace('"\n]', '",\n]'))
