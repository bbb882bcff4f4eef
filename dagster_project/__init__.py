"""The Dagster definitions of GrowthOS Pipeline: ``dagster dev -m dagster_project``.

Thin wrappers over the core library (``growthos_pipeline``), one small module per domain under
``dagster_project/defs/``; each module exposes its own ``defs`` and they are merged here with
the shared resources. Loading the definitions reads no network and no secret.
"""

from dagster_project.definitions import defs

__all__ = ["defs"]
