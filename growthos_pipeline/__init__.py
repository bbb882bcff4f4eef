"""GrowthOS Pipeline: self-hostable growth analytics.

Events arrive over HTTP, land in a Delta Lake table, and are queried with a pipe language from
the HTTP API and from notebooks. This package is the core; ``api`` (FastAPI) and
``dagster_project`` (Dagster) are thin doors onto it.
"""

from growthos_pipeline.errors import GrowthOSError, UserError
from growthos_pipeline.settings import Settings, get_settings

__all__ = ["GrowthOSError", "Settings", "UserError", "__version__", "get_settings"]

__version__ = "0.1.0"
