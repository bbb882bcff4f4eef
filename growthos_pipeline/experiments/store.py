"""Experiments and features in the catalog: create, list, get, update, delete, and the
payloads a project's clients read.

Writes need the ``admin`` scope (or an org admin), reads ``query`` or ``admin``. An experiment
or a feature is named in paths by its id or by its key. Keys are unique in a project
(``409 experiment_key_taken``, ``409 feature_key_taken``); an experiment that a feature's rule
names cannot be deleted (``409 experiment_in_use``), and an update of its variations must keep
the values those features serve of their type (``400 invalid_feature_value``).

Examples
--------
>>> import tempfile
>>> from growthos_pipeline.catalog import keys, orgs
>>> from growthos_pipeline.experiments.config import ExperimentCreate, FeatureCreate
>>> from growthos_pipeline.settings import Settings
>>> settings = Settings(data_dir=tempfile.mkdtemp())
>>> catalog = Catalog.open(settings)
>>> boot = orgs.bootstrap(catalog, settings, org_name="Acme", project_name="Web")
>>> admin = keys.authenticate(catalog, settings, boot["secret_key"])
>>> project = boot["project_id"]
>>> exp = ExperimentCreate(key="cta", status="running", variations=[{"value": "Buy"},
...                        {"value": "Get it"}])
>>> create_experiment(catalog, admin, project, exp)["id"].startswith("exp_")
True
>>> feature = FeatureCreate(key="cta-text", value_type="string", default_value="Buy",
...                         rules=[{"type": "experiment", "experiment": "cta"}])
>>> _ = create_feature(catalog, admin, project, feature)
>>> client_features(catalog, project)["features"]["cta-text"]["rules"][0]["variations"]
['Buy', 'Get it']
>>> client_overrides(catalog, project)["overrides"]
{'cta': {'status': 'running', 'weights': [0.5, 0.5], 'coverage': 1.0}}
>>> catalog.dispose()
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from growthos_pipeline.catalog import audit
from growthos_pipeline.catalog.access import Principal, require_project, require_project_read
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.pagination import Page, paginate
from growthos_pipeline.catalog.tables import experiments, features, utcnow
from growthos_pipeline.errors import BadRequest, Conflict, Forbidden, NotFound
from growthos_pipeline.experiments import webhooks
from growthos_pipeline.experiments.config import (
    ExperimentCreate,
    ExperimentRule,
    ExperimentUpdate,
    FeatureCreate,
    FeatureUpdate,
    check_experiment,
    check_feature,
    features_payload,
    overrides_payload,
)
from growthos_pipeline.ids import new_id

_KIND = {"experiments": "experiment", "features": "feature"}
_MODEL: dict[str, type[ExperimentCreate] | type[FeatureCreate]] = {
    "experiments": ExperimentCreate,
    "features": FeatureCreate,
}
#: Fields an update may not set to null (the others fall back to their defaults).
_REQUIRED = {
    "experiments": (
        "variations",
        "coverage",
        "targeting",
        "status",
        "hash_attribute",
        "hash_version",
        "phases",
    ),
    "features": ("value_type", "enabled", "rules"),
}


def _view(row: Any) -> dict[str, Any]:
    out = {"id": row["id"], "project_id": row["project_id"], "key": row["key"]}
    return (
        out
        | dict(row["config"])
        | {
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
    )


def _model(table: Table, row: Any) -> Any:
    return _MODEL[table.name].model_validate({"key": row["key"], **row["config"]})


def _row(conn: Connection, table: Table, project_id: str, ref: str) -> dict[str, Any]:
    """The row named by id, else by key; ``404 <kind>_not_found``."""
    for column in (table.c.id, table.c.key):
        row = (
            conn.execute(select(table).where(table.c.project_id == project_id, column == ref))
            .mappings()
            .first()
        )
        if row is not None:
            return dict(row)
    kind = _KIND[table.name]
    raise NotFound(f"{kind}_not_found", f"no {kind} '{ref[:100]}' in this project")


def _experiment_models(conn: Connection, project_id: str) -> dict[str, ExperimentCreate]:
    rows = conn.execute(select(experiments).where(experiments.c.project_id == project_id))
    return {r["key"]: _model(experiments, r) for r in rows.mappings()}


def _feature_models(conn: Connection, project_id: str) -> list[FeatureCreate]:
    rows = conn.execute(
        select(features).where(features.c.project_id == project_id).order_by(features.c.key)
    )
    return [_model(features, r) for r in rows.mappings()]


def _notify(
    conn: Connection, project_id: str, table: Table, action: str, view: dict[str, Any]
) -> None:
    """Enqueue the change for the project's webhooks, with the features payload it yields."""
    kind = _KIND[table.name]
    webhooks.enqueue(
        conn,
        project_id,
        f"{kind}.{action}",
        lambda: {kind: view, "features": _features_payload(conn, project_id)},
    )


def _check(conn: Connection, table: Table, project_id: str, model: Any) -> None:
    models = _experiment_models(conn, project_id)
    if table is experiments:
        check_experiment(model)
        models[model.key] = model
        for feature in _feature_models(conn, project_id):
            if any(
                isinstance(r, ExperimentRule) and r.experiment == model.key for r in feature.rules
            ):
                check_feature(feature, models)
    else:
        check_feature(model, models)


def _create(
    catalog: Catalog, principal: Principal, project_id: str, table: Table, body: BaseModel
) -> dict[str, Any]:
    kind = _KIND[table.name]
    model: Any = body
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        taken = conn.execute(
            select(table.c.id).where(table.c.project_id == project_id, table.c.key == model.key)
        ).first()
        if taken is not None:
            raise Conflict(f"{kind}_key_taken", f"this project already has a {kind} '{model.key}'")
        _check(conn, table, project_id, model)
        now = utcnow()
        row: dict[str, Any] = {
            "id": new_id("exp" if table is experiments else "feat"),
            "project_id": project_id,
            "key": model.key,
            "config": model.model_dump(mode="json", exclude={"key"}),
            "created_at": now,
            "updated_at": now,
        }
        if table is experiments:
            row["status"] = model.status
        try:
            conn.execute(insert(table).values(**row))
        except IntegrityError:
            raise Conflict(
                f"{kind}_key_taken", f"this project already has a {kind} '{model.key}'"
            ) from None
        audit.record(
            conn,
            principal,
            f"{kind}.create",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=str(row["id"]),
            details={"key": model.key},
        )
        _notify(conn, project_id, table, "created", _view(row))
    return _view(row)


def _list(
    catalog: Catalog,
    principal: Principal,
    project_id: str,
    table: Table,
    *,
    cursor: str | None,
    limit: int,
) -> Page[dict[str, Any]]:
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
        return paginate(
            conn,
            select(table).where(table.c.project_id == project_id),
            table.c.id,
            cursor=cursor,
            limit=limit,
            convert=_view,
        )


def _get(
    catalog: Catalog, principal: Principal, project_id: str, table: Table, ref: str
) -> dict[str, Any]:
    with catalog.connect() as conn:
        require_project_read(conn, principal, project_id)
        return _view(_row(conn, table, project_id, ref))


def _update(
    catalog: Catalog,
    principal: Principal,
    project_id: str,
    table: Table,
    ref: str,
    body: BaseModel,
) -> dict[str, Any]:
    kind = _KIND[table.name]
    changes = body.model_dump(mode="json", exclude_unset=True)
    for name in _REQUIRED[table.name]:
        if name in changes and changes[name] is None:
            raise BadRequest(
                f"invalid_{kind}", f"'{name}' cannot be null", details=[{"field": name}]
            )
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        row = _row(conn, table, project_id, ref)
        merged = {**row["config"], **changes}
        try:
            model: Any = _MODEL[table.name].model_validate({"key": row["key"], **merged})
        except ValidationError as err:
            first = err.errors()[0]
            raise BadRequest(
                f"invalid_{kind}",
                f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
                details=[
                    {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                    for e in err.errors()[:20]
                ],
            ) from None
        _check(conn, table, project_id, model)
        values: dict[str, Any] = {
            "config": model.model_dump(mode="json", exclude={"key"}),
            "updated_at": utcnow(),
        }
        if table is experiments:
            values["status"] = model.status
        conn.execute(update(table).where(table.c.id == row["id"]).values(**values))
        audit.record(
            conn,
            principal,
            f"{kind}.update",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=str(row["id"]),
            details={"fields": sorted(changes)},
        )
        _notify(conn, project_id, table, "updated", _view(row | values))
    return _view(row | values)


def _delete(
    catalog: Catalog, principal: Principal, project_id: str, table: Table, ref: str
) -> dict[str, Any]:
    kind = _KIND[table.name]
    with catalog.begin() as conn:
        project = require_project(conn, principal, project_id, "admin")
        row = _row(conn, table, project_id, ref)
        if table is experiments:
            users = [
                f.key
                for f in _feature_models(conn, project_id)
                if any(
                    isinstance(r, ExperimentRule) and r.experiment == row["key"] for r in f.rules
                )
            ]
            if users:
                raise Conflict(
                    "experiment_in_use",
                    f"the features {users[:10]} serve the experiment '{row['key']}'; "
                    "remove their rules first",
                    details=[{"features": users[:50]}],
                )
        conn.execute(delete(table).where(table.c.id == row["id"]))
        audit.record(
            conn,
            principal,
            f"{kind}.delete",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=str(row["id"]),
        )
        _notify(conn, project_id, table, "deleted", {**_view(row), "deleted": True})
    return {**_view(row), "deleted": True}


# ---- experiments --------------------------------------------------------------------------


def create_experiment(
    catalog: Catalog, principal: Principal, project_id: str, body: ExperimentCreate
) -> dict[str, Any]:
    """A new experiment (admin scope), validated by :func:`config.check_experiment`."""
    return _create(catalog, principal, project_id, experiments, body)


def list_experiments(
    catalog: Catalog, principal: Principal, project_id: str, *, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    return _list(catalog, principal, project_id, experiments, cursor=cursor, limit=limit)


def get_experiment(
    catalog: Catalog, principal: Principal, project_id: str, ref: str
) -> dict[str, Any]:
    return _get(catalog, principal, project_id, experiments, ref)


def update_experiment(
    catalog: Catalog, principal: Principal, project_id: str, ref: str, body: ExperimentUpdate
) -> dict[str, Any]:
    """Change the fields ``body`` sets; the merged experiment is validated again."""
    return _update(catalog, principal, project_id, experiments, ref, body)


def delete_experiment(
    catalog: Catalog, principal: Principal, project_id: str, ref: str
) -> dict[str, Any]:
    return _delete(catalog, principal, project_id, experiments, ref)


def find_experiment(
    catalog: Catalog, project_id: str, ref: str
) -> tuple[ExperimentCreate, datetime, datetime]:
    """The experiment named ``ref`` (id or key), its creation time and the time of its last
    change, for a caller whose access was checked (``404 experiment_not_found``)."""
    with catalog.connect() as conn:
        row = _row(conn, experiments, project_id, ref)
    return _model(experiments, row), row["created_at"], row["updated_at"]


def project_experiments(
    catalog: Catalog, project_id: str
) -> list[tuple[ExperimentCreate, datetime]]:
    """Every experiment of ``project_id`` and its creation time, in key order (for the
    results build; no principal)."""
    with catalog.connect() as conn:
        rows = conn.execute(
            select(experiments)
            .where(experiments.c.project_id == project_id)
            .order_by(experiments.c.key)
        ).mappings()
        return [(_model(experiments, r), r["created_at"]) for r in rows]


# ---- features -----------------------------------------------------------------------------


def create_feature(
    catalog: Catalog, principal: Principal, project_id: str, body: FeatureCreate
) -> dict[str, Any]:
    """A new feature flag (admin scope), validated by :func:`config.check_feature`."""
    return _create(catalog, principal, project_id, features, body)


def list_features(
    catalog: Catalog, principal: Principal, project_id: str, *, cursor: str | None, limit: int
) -> Page[dict[str, Any]]:
    return _list(catalog, principal, project_id, features, cursor=cursor, limit=limit)


def get_feature(
    catalog: Catalog, principal: Principal, project_id: str, ref: str
) -> dict[str, Any]:
    return _get(catalog, principal, project_id, features, ref)


def update_feature(
    catalog: Catalog, principal: Principal, project_id: str, ref: str, body: FeatureUpdate
) -> dict[str, Any]:
    return _update(catalog, principal, project_id, features, ref, body)


def delete_feature(
    catalog: Catalog, principal: Principal, project_id: str, ref: str
) -> dict[str, Any]:
    return _delete(catalog, principal, project_id, features, ref)


# ---- what clients read --------------------------------------------------------------------


def client_project(principal: Principal) -> str:
    """The project whose configuration a client key reads: any project key (``pk_`` is
    enough, the configuration being public by design) or a project token."""
    if principal.project_id is None:
        raise Forbidden(
            "project_key_required",
            f"reading a project's configuration needs a project key (pk_, sk_); found a "
            f"{principal.kind} credential",
        )
    return principal.project_id


def client_overrides(catalog: Catalog, project_id: str) -> dict[str, Any]:
    """The legacy ``/config/{key}`` answer for ``project_id`` (experiments in key order)."""
    with catalog.connect() as conn:
        models = _experiment_models(conn, project_id)
    return overrides_payload(models[k] for k in sorted(models))


def client_features(catalog: Catalog, project_id: str) -> dict[str, Any]:
    """The SDK features payload for ``project_id``, dated by its latest change."""
    with catalog.connect() as conn:
        return _features_payload(conn, project_id)


def _features_payload(conn: Connection, project_id: str) -> dict[str, Any]:
    models = _experiment_models(conn, project_id)
    feature_models = _feature_models(conn, project_id)
    latest = [
        conn.execute(
            select(table.c.updated_at)
            .where(table.c.project_id == project_id)
            .order_by(table.c.updated_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        for table in (experiments, features)
    ]
    dates = [d for d in latest if d is not None]
    return features_payload(feature_models, models, updated_at=max(dates) if dates else None)
