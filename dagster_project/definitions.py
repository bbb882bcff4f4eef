"""One ``defs``: every module of :mod:`dagster_project.defs` merged, with the resources."""

from __future__ import annotations

import importlib
import pkgutil

import dagster as dg

from dagster_project import defs as defs_package
from dagster_project.resources import CatalogResource, LakeResource


def _domain_definitions() -> list[dg.Definitions]:
    found = []
    for module_info in sorted(pkgutil.iter_modules(defs_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{defs_package.__name__}.{module_info.name}")
        domain = getattr(module, "defs", None)
        if isinstance(domain, dg.Definitions):
            found.append(domain)
    return found


defs = dg.Definitions.merge(
    *_domain_definitions(),
    dg.Definitions(resources={"lake": LakeResource(), "catalog": CatalogResource()}),
)
