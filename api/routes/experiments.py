"""Experiments and feature flags of a project: CRUD (writes need the ``admin`` scope, reads
``query`` or ``admin``), and an experiment's results. Paths name an experiment or a feature by
its id or its key.

Semantic errors answer 400 with a stable code (``invalid_weights``, ``invalid_url_regex``,
``invalid_force``, ``invalid_feature_value``, ...) and the field in ``details``; a body of the
wrong shape answers 422 ``validation_error``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import DEFAULT_PAGE_SIZE, CatalogDep, Cursor, Limit, ManagementPrincipal, SettingsDep
from api.deps import require_feature as require_deployment_feature
from api.schemas import Page, error_responses
from growthos_pipeline.experiments import results, store
from growthos_pipeline.experiments.analysis import ExperimentResults
from growthos_pipeline.experiments.config import (
    ExperimentCreate,
    ExperimentFields,
    ExperimentUpdate,
    FeatureCreate,
    FeatureFields,
    FeatureUpdate,
)
from growthos_pipeline.experiments.goal import MAX_GOAL

experiments_router = APIRouter(
    prefix="/projects/{project_id}/experiments",
    tags=["experiments"],
    dependencies=[require_deployment_feature("experiments")],
    responses=error_responses(401, 403, 404, 422, 429, 503),
)
features_router = APIRouter(
    prefix="/projects/{project_id}/features",
    tags=["features"],
    dependencies=[require_deployment_feature("experiments")],
    responses=error_responses(401, 403, 404, 422, 429, 503),
)
router = APIRouter()


class Experiment(ExperimentFields):
    id: str
    project_id: str
    key: str
    created_at: datetime
    updated_at: datetime


class ExperimentDeleted(Experiment):
    deleted: bool


class Feature(FeatureFields):
    id: str
    project_id: str
    key: str
    created_at: datetime
    updated_at: datetime


class FeatureDeleted(Feature):
    deleted: bool


def _page(model: type[BaseModel], page: Any) -> Any:
    return Page[model].model_validate(page, from_attributes=True)  # type: ignore[valid-type]


# ---- experiments --------------------------------------------------------------------------


@experiments_router.post(
    "", name="create_experiment", status_code=201, responses=error_responses(400, 409)
)
def create_experiment(
    principal: ManagementPrincipal, project_id: str, body: ExperimentCreate, catalog: CatalogDep
) -> Experiment:
    """An experiment: variations, weights summing to 1, coverage, targeting, status."""
    return Experiment.model_validate(store.create_experiment(catalog, principal, project_id, body))


@experiments_router.get("", name="list_experiments")
def list_experiments(
    principal: ManagementPrincipal,
    project_id: str,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[Experiment]:
    page = store.list_experiments(catalog, principal, project_id, cursor=cursor, limit=limit)
    return _page(Experiment, page)  # type: ignore[no-any-return]


@experiments_router.get("/{experiment_id}", name="get_experiment")
def get_experiment(
    principal: ManagementPrincipal, project_id: str, experiment_id: str, catalog: CatalogDep
) -> Experiment:
    return Experiment.model_validate(
        store.get_experiment(catalog, principal, project_id, experiment_id)
    )


@experiments_router.patch(
    "/{experiment_id}", name="update_experiment", responses=error_responses(400)
)
def update_experiment(
    principal: ManagementPrincipal,
    project_id: str,
    experiment_id: str,
    body: ExperimentUpdate,
    catalog: CatalogDep,
) -> Experiment:
    """Change the fields the body sets; the whole experiment is validated again."""
    return Experiment.model_validate(
        store.update_experiment(catalog, principal, project_id, experiment_id, body)
    )


@experiments_router.delete(
    "/{experiment_id}", name="delete_experiment", responses=error_responses(409)
)
def delete_experiment(
    principal: ManagementPrincipal, project_id: str, experiment_id: str, catalog: CatalogDep
) -> ExperimentDeleted:
    """Delete an experiment that no feature's rule serves (else 409 ``experiment_in_use``)."""
    return ExperimentDeleted.model_validate(
        store.delete_experiment(catalog, principal, project_id, experiment_id)
    )


@experiments_router.get(
    "/{experiment_id}/results", name="get_experiment_results", responses=error_responses(400)
)
def get_experiment_results(
    principal: ManagementPrincipal,
    project_id: str,
    experiment_id: str,
    catalog: CatalogDep,
    settings: SettingsDep,
    fresh: Annotated[
        bool, Query(description="compute from the lake now instead of serving the last build")
    ] = False,
    goal: Annotated[
        str | None,
        Query(max_length=MAX_GOAL, description="a goal for this computation (implies fresh)"),
    ] = None,
    as_of: Annotated[
        int | None, Query(ge=0, description="the lake version to read (implies fresh)")
    ] = None,
) -> ExperimentResults:
    """Per variation: users, conversions, rate, uplifts with intervals, p-value and chance
    to win; the sample-ratio check and the assignment replay per source. The results the
    ``experiment_results`` asset stored (``stored: true``), else computed now; 400
    ``goal_required`` when the experiment has no goal and none is given."""
    return results.experiment_results(
        catalog, settings, principal, project_id, experiment_id, fresh=fresh, goal=goal, as_of=as_of
    )


# ---- features -----------------------------------------------------------------------------


@features_router.post(
    "", name="create_feature", status_code=201, responses=error_responses(400, 409)
)
def create_feature(
    principal: ManagementPrincipal, project_id: str, body: FeatureCreate, catalog: CatalogDep
) -> Feature:
    """A feature flag: a typed default value and ordered force and experiment rules."""
    return Feature.model_validate(store.create_feature(catalog, principal, project_id, body))


@features_router.get("", name="list_features")
def list_features(
    principal: ManagementPrincipal,
    project_id: str,
    catalog: CatalogDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> Page[Feature]:
    page = store.list_features(catalog, principal, project_id, cursor=cursor, limit=limit)
    return _page(Feature, page)  # type: ignore[no-any-return]


@features_router.get("/{feature_id}", name="get_feature")
def get_feature(
    principal: ManagementPrincipal, project_id: str, feature_id: str, catalog: CatalogDep
) -> Feature:
    return Feature.model_validate(store.get_feature(catalog, principal, project_id, feature_id))


@features_router.patch("/{feature_id}", name="update_feature", responses=error_responses(400))
def update_feature(
    principal: ManagementPrincipal,
    project_id: str,
    feature_id: str,
    body: FeatureUpdate,
    catalog: CatalogDep,
) -> Feature:
    return Feature.model_validate(
        store.update_feature(catalog, principal, project_id, feature_id, body)
    )


@features_router.delete("/{feature_id}", name="delete_feature")
def delete_feature(
    principal: ManagementPrincipal, project_id: str, feature_id: str, catalog: CatalogDep
) -> FeatureDeleted:
    return FeatureDeleted.model_validate(
        store.delete_feature(catalog, principal, project_id, feature_id)
    )


router.include_router(experiments_router)
router.include_router(features_router)
