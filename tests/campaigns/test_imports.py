"""The campaigns core loads without the API or Dagster (the CLI, notebooks and jobs import
it)."""

from __future__ import annotations

import subprocess
import sys


def test_campaigns_import_neither_the_api_nor_dagster() -> None:
    modules = ("store", "waitlist", "referrals", "surveys", "social_proof", "summary", "erasure")
    code = (
        "import sys, importlib;"
        + "".join(f"importlib.import_module('growthos_pipeline.campaigns.{m}');" for m in modules)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'dagster', 'api', 'dagster_project', 'starlette'));"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
