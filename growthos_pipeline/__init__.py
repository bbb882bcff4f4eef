"""GrowthOS Pipeline: self-hostable growth analytics.

Events arrive over HTTP, land in a Delta Lake table, and are queried with a pipe language from
the HTTP API and from notebooks. This package is the core; ``api`` (FastAPI) and
``dagster_project`` (Dagster) are thin doors onto it.

The notebook surface, loaded on first use (so ``import growthos_pipeline`` stays light):

* :func:`open` a data folder or :func:`connect` to a server: a :class:`Workspace` with
  ``query`` (DataFrame), ``scan`` (LazyFrame), ``sql`` (any dialect), ``events``, ``plot``
  and ``experiment_results`` (an experiment's results: a frame per variation, checks, a plot);
  :func:`open_demo` creates a demo project with sample events;
* :func:`scan_events` / :func:`read_events`: one project's raw events from the lake;
* :mod:`plots`: ``trend``, ``funnel``, ``retention``, ``bar``, ``experiment`` and ``auto``
  figures (Plotly).

Examples
--------
>>> import tempfile
>>> import growthos_pipeline as gos
>>> ws = gos.open_demo(tempfile.mkdtemp(), users=30, days=2)
>>> ws.query('last 7d | funnel "page_view" -> "signup"')["step_name"].to_list()
['page_view', 'signup']
>>> gos.plots.auto(ws.query("last 7d | count by day")).data[0].type
'scatter'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from growthos_pipeline.errors import GrowthOSError, UserError
from growthos_pipeline.settings import Settings, get_settings

if TYPE_CHECKING:
    from growthos_pipeline import plots
    from growthos_pipeline.lake.read import read_events, scan_events
    from growthos_pipeline.query.errors import QueryError
    from growthos_pipeline.workspace import (
        Answer,
        LocalWorkspace,
        RemoteWorkspace,
        TruncatedResultWarning,
        Workspace,
        connect,
        open,
        open_demo,
    )

__all__ = [
    "Answer",
    "GrowthOSError",
    "LocalWorkspace",
    "QueryError",
    "RemoteWorkspace",
    "Settings",
    "TruncatedResultWarning",
    "UserError",
    "Workspace",
    "__version__",
    "connect",
    "get_settings",
    "open",
    "open_demo",
    "plots",
    "read_events",
    "scan_events",
]

__version__ = "0.1.0"

#: name -> the module that holds it, imported on first access (PEP 562).
_LAZY = {
    "Answer": "growthos_pipeline.workspace",
    "LocalWorkspace": "growthos_pipeline.workspace",
    "RemoteWorkspace": "growthos_pipeline.workspace",
    "TruncatedResultWarning": "growthos_pipeline.workspace",
    "Workspace": "growthos_pipeline.workspace",
    "connect": "growthos_pipeline.workspace",
    "open": "growthos_pipeline.workspace",
    "open_demo": "growthos_pipeline.workspace",
    "QueryError": "growthos_pipeline.query.errors",
    "read_events": "growthos_pipeline.lake.read",
    "scan_events": "growthos_pipeline.lake.read",
}


def __getattr__(name: str) -> Any:
    if name == "plots":
        return importlib.import_module("growthos_pipeline.plots")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'growthos_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
