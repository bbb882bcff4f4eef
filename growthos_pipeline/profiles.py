"""Profiles: each user's properties, with every user-property operation applied in order.

Events carry ``user_properties`` as stored by
:func:`growthos_pipeline.events.validate.user_property_ops`: plain keys (meaning ``$set``)
next to the operations ``$set``, ``$set_once``, ``$add``, ``$append``, ``$prepend``,
``$remove``, ``$unset`` and ``$clearAll``. A profile folds them in event-time order (ties by
``event_id``), over the user's own events and those its devices sent before login (through
:mod:`growthos_pipeline.identity`). Inside one event the operations apply in the order of
:data:`OPERATION_ORDER`:

============  ==================================================================================
``$clearAll`` every property removed (then the event's other operations apply)
``$set``      the value replaces the property (plain keys are ``$set``)
``$set_once`` the value is set only when the property has no value yet
``$add``      the number is added (a missing property counts as 0; a non-number is left alone)
``$append``   the value (or each item of a list) goes at the end of the property's list
``$prepend``  the value (or the items of a list, in order) goes at the front
``$remove``   every occurrence of the value (or of each item of a list) leaves the list
``$unset``    the named properties are removed
============  ==================================================================================

The ``profiles`` table has one row per user: ``user_id``, ``properties`` (JSON text),
``first_seen`` / ``last_seen`` over the user's events and ``updated_at`` (the last event that
carried user properties).

Examples
--------
>>> props = {}
>>> props = apply_operations(props, {"plan": "free", "$set_once": {"source": "ad"}})
>>> props = apply_operations(props, {"$set": {"plan": "pro"}, "$add": {"logins": 1}})
>>> props = apply_operations(props, {"$set_once": {"source": "seo"}, "$append": {"tags": "a"}})
>>> props
{'plan': 'pro', 'source': 'ad', 'logins': 1, 'tags': ['a']}
"""

from __future__ import annotations

import copy
import json
from typing import Any

import polars as pl
import pyarrow as pa

from growthos_pipeline.catalog.access import Principal, require_project_read
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.errors import NotFound
from growthos_pipeline.identity import compute_identities, devices_of, resolve_users
from growthos_pipeline.lake.derived import (
    TS,
    DerivedTable,
    exists,
    project_events,
    replace_project,
    scan_table,
    uri,
)
from growthos_pipeline.settings import Settings

#: How the operations of one event apply, first to last.
OPERATION_ORDER = (
    "$clearAll",
    "$set",
    "$set_once",
    "$add",
    "$append",
    "$prepend",
    "$remove",
    "$unset",
)

PROFILES = DerivedTable(
    "profiles",
    pa.schema(
        [
            pa.field("project_id", pa.string(), nullable=False),
            pa.field("user_id", pa.string(), nullable=False),
            pa.field("properties", pa.string(), nullable=False),
            pa.field("first_seen", TS),
            pa.field("last_seen", TS),
            pa.field("updated_at", TS),
        ]
    ),
    personal=frozenset({"user_id", "properties"}),
    description="GrowthOS profiles: user properties with every operation applied",
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def apply_operations(properties: dict[str, Any], user_properties: Any) -> dict[str, Any]:
    """``properties`` after one event's ``user_properties`` (a new dict; input untouched).

    >>> apply_operations({"n": 1, "tags": ["a", "b", "a"]},
    ...                  {"$add": {"n": 2}, "$remove": {"tags": "a"}, "$unset": ["x"]})
    {'n': 3, 'tags': ['b']}
    >>> apply_operations({"n": 1}, {"$clearAll": True, "$set": {"m": 2}})
    {'m': 2}
    """
    if not isinstance(user_properties, dict):
        return dict(properties)
    ops: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for key, value in user_properties.items():
        if isinstance(key, str) and key.startswith("$"):
            ops[key] = value
        else:
            plain[key] = value
    out = dict(properties)
    if ops.get("$clearAll"):
        out = {}
    explicit = ops.get("$set")
    sets = {**plain, **(explicit if isinstance(explicit, dict) else {})}
    for key, value in sets.items():
        out[key] = copy.deepcopy(value)
    for op in OPERATION_ORDER[2:]:
        value = ops.get(op)
        if value is None:
            continue
        if op == "$unset":
            for key in _items(value if not isinstance(value, dict) else list(value)):
                out.pop(key, None)
            continue
        if not isinstance(value, dict):
            continue
        for key, operand in value.items():
            current = out.get(key)
            if op == "$set_once":
                if key not in out or current is None:
                    out[key] = copy.deepcopy(operand)
            elif op == "$add":
                if not _is_number(operand):
                    continue
                if current is None:
                    out[key] = operand
                elif _is_number(current):
                    out[key] = current + operand
            elif op == "$append":
                out[key] = _as_list(current) + copy.deepcopy(_items(operand))
            elif op == "$prepend":
                out[key] = copy.deepcopy(_items(operand)) + _as_list(current)
            elif op == "$remove" and isinstance(current, list):
                gone = _items(operand)
                out[key] = [item for item in current if item not in gone]
    return out


def fold(user_properties: list[str | None]) -> dict[str, Any]:
    """The properties after a sequence of ``user_properties`` JSON texts, in order.

    >>> fold(['{"plan": "free"}', None, '{"$unset": ["plan"], "$set": {"seats": 3}}'])
    {'seats': 3}
    """
    properties: dict[str, Any] = {}
    for text in user_properties:
        if not text:
            continue
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        properties = apply_operations(properties, parsed)
    return properties


def compute_profiles(events: pl.LazyFrame) -> pl.DataFrame:
    """One row per (resolved) user of ``events``: properties, first/last seen, updated_at."""
    resolved = resolve_users(events, compute_identities(events)).filter(
        pl.col("user_id").is_not_null()
    )
    users = resolved.group_by("user_id").agg(
        pl.col("time").min().alias("first_seen"), pl.col("time").max().alias("last_seen")
    )
    changes = (
        resolved.filter(pl.col("user_properties").is_not_null())
        .sort(["time", "event_id"])
        .group_by("user_id", maintain_order=True)
        .agg(pl.col("user_properties"), pl.col("time").max().alias("updated_at"))
        .collect()
    )
    folded = pl.DataFrame(
        {
            "user_id": changes["user_id"],
            "properties": [
                json.dumps(fold(list(texts)), separators=(",", ":"), ensure_ascii=False)
                for texts in changes["user_properties"].to_list()
            ],
            "updated_at": changes["updated_at"],
        },
        schema={
            "user_id": pl.String,
            "properties": pl.String,
            "updated_at": pl.Datetime("us", "UTC"),
        },
    )
    return (
        users.collect()
        .join(folded, on="user_id", how="left")
        .with_columns(pl.col("properties").fill_null("{}"))
        .select("user_id", "properties", "first_seen", "last_seen", "updated_at")
        .sort("user_id")
    )


def build_profiles(settings: Settings, project_id: str) -> int:
    """Rebuild ``project_id``'s profiles from its events; the number of users."""
    frame = compute_profiles(project_events(settings, project_id))
    return replace_project(settings, PROFILES, project_id, frame)


def scan_profiles(settings: Settings, project_id: str) -> pl.LazyFrame:
    return scan_table(settings, PROFILES, project_id)


def profiles_source(settings: Settings) -> pl.LazyFrame | None:
    """The whole profiles table for the query engine (None before the first build)."""
    if not exists(settings, PROFILES):
        return None
    return pl.scan_delta(uri(settings, PROFILES))


def get_profile(settings: Settings, project_id: str, user_id: str) -> dict[str, Any] | None:
    """One user's profile row (properties parsed), or None."""
    rows = scan_profiles(settings, project_id).filter(pl.col("user_id") == user_id).collect()
    if rows.is_empty():
        return None
    row = rows.row(0, named=True)
    row["properties"] = json.loads(row["properties"])
    return row


def user_profile(
    catalog: Catalog, settings: Settings, principal: Principal, project_id: str, user_id: str
) -> dict[str, Any]:
    """One user's profile with its devices (from identities); 404 ``user_not_found``."""
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
    profile = get_profile(settings, project_id, user_id)
    if profile is None:
        raise NotFound(
            "user_not_found",
            f"no profile for user '{user_id[:100]}' in this "
            "project (profiles are rebuilt every 15 minutes)",
        )
    profile["devices"] = devices_of(settings, project_id, user_id)
    return profile
