"""The experiments core loads without the API or Dagster (notebooks and jobs import it)."""

from __future__ import annotations

import subprocess
import sys


def test_experiments_import_neither_the_api_nor_dagster() -> None:
    code = (
        "import sys, growthos_pipeline.experiments.assign, growthos_pipeline.experiments.config;"
        "import growthos_pipeline.experiments.store, growthos_pipeline.experiments.analysis;"
        "import growthos_pipeline.experiments.results;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'dagster', 'api', 'dagster_project', 'starlette', 'growthbook'));"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
