"""Experiments and feature flags: the models, their validation, and the payloads clients read.

An experiment has a ``key``, two or more ``variations`` (each a JSON ``value`` with an optional
``key`` and ``name``), ``weights`` summing to 1 (equal by default), a ``coverage`` in ``[0, 1]``,
``targeting`` (legacy ``groups``, a GrowthBook attribute ``condition``, a ``url`` regex), a
``status`` (``draft``, ``running``, ``stopped``), an optional ``force`` (a variation index served
to everyone in coverage), a ``winner`` (the variation a stopped experiment serves), the
``hash_attribute`` (``id``), a ``seed`` (the key by default), a ``hash_version`` (1 or 2), an
optional ``namespace``, its ``phases`` and its ``goal`` (the metric its results measure: one
condition of the query language, :mod:`growthos_pipeline.experiments.goal`).

A feature has a ``key``, a ``value_type``, a ``default_value`` and ordered ``rules``: ``force``
rules (a value, optionally for a ``condition`` and a rollout ``coverage``) and ``experiment``
rules (the named experiment's variations become the feature's values).

Semantic checks answer ``400`` with a stable code and the offending field in ``details``:
``invalid_weights``, ``invalid_url_regex``, ``invalid_force``, ``invalid_winner``,
``invalid_namespace``, ``invalid_phases``, ``invalid_condition`` (a ``$regex`` that does not
compile), ``invalid_goal``, ``invalid_feature_value``.

Examples
--------
>>> exp = ExperimentCreate(key="checkout", variations=[{"value": "a"}, {"value": "b"}],
...                        weights=[0.7, 0.4])
>>> check_experiment(exp)
Traceback (most recent call last):
...
growthos_pipeline.errors.BadRequest: invalid_weights: the weights must sum to 1; found 1.1
>>> exp = ExperimentCreate(key="checkout", variations=[{"value": "a"}, {"value": "b"}],
...                        status="running", weights=[0.5, 0.5])
>>> overrides_payload([exp])
{'status': 200, 'overrides': {'checkout': {'status': 'running', 'weights': [0.5, 0.5], \
'coverage': 1.0}}}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from growthos_pipeline.catalog.models import Input
from growthos_pipeline.errors import BadRequest
from growthos_pipeline.experiments.assign import Assignment, assign, bucket_ranges, equal_weights
from growthos_pipeline.experiments.goal import MAX_GOAL, check_goal

#: Tolerance of the weights' sum around 1 (floating point: 0.1 + 0.2 != 0.3).
WEIGHT_TOLERANCE = 1e-6
MAX_VARIATIONS = 20
MAX_RULES = 50

Key = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][\w.:-]*$"
    ),
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Status = Literal["draft", "running", "stopped"]
ValueType = Literal["boolean", "string", "number", "json"]
Condition = dict[str, Any]


class Variation(Input):
    value: Any = None
    key: Label | None = None
    name: Label | None = None


class Targeting(Input):
    groups: list[Label] = Field(default_factory=list, max_length=50)
    condition: Condition | None = Field(
        default=None, description='a GrowthBook condition, e.g. {"country": {"$in": ["FR"]}}'
    )
    url: str | None = Field(default=None, max_length=1000, description="a regex on the page URL")


class NamespaceRange(Input):
    id: Key
    start: float = Field(ge=0, le=1)
    end: float = Field(ge=0, le=1)


class Phase(Input):
    name: Label | None = None
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None


class ExperimentFields(Input):
    """The fields of an experiment other than its key (all of them may change)."""

    name: Label | None = None
    variations: list[Variation] = Field(min_length=2, max_length=MAX_VARIATIONS)
    weights: list[float] | None = Field(default=None, max_length=MAX_VARIATIONS)
    coverage: float = Field(default=1.0, ge=0, le=1)
    targeting: Targeting = Field(default_factory=Targeting)
    status: Status = "draft"
    force: int | None = None
    winner: int | None = None
    hash_attribute: Key = "id"
    seed: Label | None = None
    hash_version: Literal[1, 2] = 2
    namespace: NamespaceRange | None = None
    phases: list[Phase] = Field(default_factory=list, max_length=100)
    goal: str | None = Field(
        default=None,
        max_length=MAX_GOAL,
        description="the goal metric, one condition of the query language, e.g. "
        'event_type = "purchase"',
    )


class ExperimentCreate(ExperimentFields):
    key: Key


class ExperimentUpdate(Input):
    name: Label | None = None
    variations: list[Variation] | None = Field(
        default=None, min_length=2, max_length=MAX_VARIATIONS
    )
    weights: list[float] | None = Field(default=None, max_length=MAX_VARIATIONS)
    coverage: float | None = Field(default=None, ge=0, le=1)
    targeting: Targeting | None = None
    status: Status | None = None
    force: int | None = None
    winner: int | None = None
    hash_attribute: Key | None = None
    seed: Label | None = None
    hash_version: Literal[1, 2] | None = None
    namespace: NamespaceRange | None = None
    phases: list[Phase] | None = Field(default=None, max_length=100)
    goal: str | None = Field(
        default=None,
        max_length=MAX_GOAL,
        description="the goal metric, one condition of the query language, e.g. "
        'event_type = "purchase"',
    )


class ForceRule(Input):
    """Serve ``value`` (to the share ``coverage`` of users matching ``condition``)."""

    type: Literal["force"]
    value: Any
    condition: Condition | None = None
    coverage: float | None = Field(default=None, ge=0, le=1)
    hash_attribute: Key = "id"


class ExperimentRule(Input):
    """Serve the variations of the experiment ``experiment`` (a key of this project)."""

    type: Literal["experiment"]
    experiment: Key
    condition: Condition | None = None


Rule = Annotated[ForceRule | ExperimentRule, Field(discriminator="type")]


class FeatureFields(Input):
    description: str | None = Field(default=None, max_length=500)
    value_type: ValueType = "boolean"
    default_value: Any = False
    enabled: bool = True
    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)


class FeatureCreate(FeatureFields):
    key: Key


class FeatureUpdate(Input):
    description: str | None = Field(default=None, max_length=500)
    value_type: ValueType | None = None
    default_value: Any = None
    enabled: bool | None = None
    rules: list[Rule] | None = Field(default=None, max_length=MAX_RULES)


# ---- validation ---------------------------------------------------------------------------


def _bad(code: str, message: str, field: str, **extra: Any) -> BadRequest:
    return BadRequest(code, message, details=[{"field": field, **extra}])


def check_condition(condition: Condition | None, field: str) -> None:
    """Raise ``400 invalid_condition`` if a ``$regex`` of the GrowthBook ``condition`` does
    not compile (an SDK would silently treat it as never matching).

    >>> check_condition({"email": {"$regex": "@example[.]com$"}}, "condition")
    >>> check_condition({"$or": [{"email": {"$regex": "(a"}}]}, "targeting.condition")
    Traceback (most recent call last):
    ...
    growthos_pipeline.errors.BadRequest: invalid_condition: targeting.condition.$or.0.email.$regex \
is not a valid regular expression: missing ), unterminated subpattern at position 0
    """

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}"
                if key == "$regex":
                    try:
                        re.compile(value if isinstance(value, str) else "")
                    except re.error as err:
                        raise _bad(
                            "invalid_condition",
                            f"{where} is not a valid regular expression: {err.msg} at "
                            f"position {err.pos}",
                            where,
                        ) from None
                walk(value, where)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}.{i}")

    walk(condition, field)


def check_experiment(exp: ExperimentFields) -> None:
    """Raise ``400`` with a stable code unless ``exp`` is coherent (see the module doc)."""
    check_condition(exp.targeting.condition, "targeting.condition")
    count = len(exp.variations)
    if exp.weights is not None:
        if len(exp.weights) != count:
            raise _bad(
                "invalid_weights",
                f"one weight per variation: {count} variations, found {len(exp.weights)} weights",
                "weights",
            )
        if any(not math.isfinite(w) or w < 0 for w in exp.weights):
            raise _bad("invalid_weights", "weights are numbers from 0 to 1", "weights")
        total = math.fsum(exp.weights)
        if abs(total - 1) > WEIGHT_TOLERANCE:
            raise _bad(
                "invalid_weights",
                f"the weights must sum to 1; found {round(total, 9)}",
                "weights",
                sum=total,
            )
    for name in ("force", "winner"):
        index = getattr(exp, name)
        if index is not None and not 0 <= index < count:
            raise _bad(
                f"invalid_{name}",
                f"{name} is a variation index from 0 to {count - 1}; found {index}",
                name,
            )
    if exp.targeting.url is not None:
        try:
            re.compile(exp.targeting.url)
        except re.error as err:
            raise _bad(
                "invalid_url_regex",
                f"targeting.url is not a valid regular expression: {err.msg} at position {err.pos}",
                "targeting.url",
                position=err.pos,
            ) from None
    if exp.namespace is not None and exp.namespace.start >= exp.namespace.end:
        raise _bad(
            "invalid_namespace",
            f"the namespace range must start before it ends; found {exp.namespace.start} "
            f"to {exp.namespace.end}",
            "namespace",
        )
    for i, phase in enumerate(exp.phases):
        if phase.ended_at is not None and phase.ended_at < phase.started_at:
            raise _bad("invalid_phases", f"phase {i} ends before it starts", f"phases.{i}.ended_at")
        if i and phase.started_at < exp.phases[i - 1].started_at:
            raise _bad(
                "invalid_phases",
                f"phases are listed in time order; phase {i} starts before phase {i - 1}",
                f"phases.{i}.started_at",
            )
    if exp.goal is not None:
        check_goal(exp.goal)


_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "string": (str,),
    "number": (int, float),
}


def _check_value(value: Any, value_type: str, field: str) -> None:
    expected = _TYPES.get(value_type)
    if expected is None:  # json: any JSON value
        return
    wrong = not isinstance(value, expected) or (value_type == "number" and isinstance(value, bool))
    if wrong:
        raise _bad(
            "invalid_feature_value",
            f"a {value_type} feature serves {value_type} values; {field} is "
            f"{type(value).__name__} {str(value)[:40]!r}",
            field,
        )


def check_feature(feature: FeatureFields, experiments: Mapping[str, ExperimentFields]) -> None:
    """Raise ``400`` unless every value of ``feature`` has its ``value_type`` and every
    experiment rule names one of ``experiments`` (by key) whose values have that type."""
    _check_value(feature.default_value, feature.value_type, "default_value")
    for i, rule in enumerate(feature.rules):
        check_condition(rule.condition, f"rules.{i}.condition")
        if isinstance(rule, ForceRule):
            _check_value(rule.value, feature.value_type, f"rules.{i}.value")
            continue
        exp = experiments.get(rule.experiment)
        if exp is None:
            raise _bad(
                "unknown_experiment",
                f"rules.{i} names the experiment '{rule.experiment}', which this project "
                "does not have",
                f"rules.{i}.experiment",
            )
        for j, variation in enumerate(exp.variations):
            _check_value(
                variation.value, feature.value_type, f"experiment '{rule.experiment}' variation {j}"
            )


# ---- assignment ---------------------------------------------------------------------------


def assignment(exp: ExperimentCreate, hash_value: str) -> Assignment:
    """The variation ``exp`` gives the user whose hash attribute is ``hash_value``, as a
    GrowthBook SDK reading :func:`features_payload` assigns it.

    >>> exp = ExperimentCreate(key="feature", status="running", hash_version=1,
    ...                        variations=[{"value": v} for v in "abc"])
    >>> assignment(exp, "123").variation
    2
    """
    return assign(
        hash_value,
        key=exp.key,
        variations=len(exp.variations),
        weights=exp.weights,
        coverage=exp.coverage,
        seed=exp.seed,
        hash_version=exp.hash_version,
        namespace=_namespace(exp),
        force=exp.force,
        active=exp.status == "running",
    )


def _namespace(exp: ExperimentFields) -> tuple[str, float, float] | None:
    ns = exp.namespace
    return (ns.id, ns.start, ns.end) if ns else None


# ---- payloads -----------------------------------------------------------------------------


def _weights(exp: ExperimentFields) -> list[float]:
    return list(exp.weights) if exp.weights is not None else equal_weights(len(exp.variations))


def overrides_payload(experiments: Iterable[ExperimentCreate]) -> dict[str, Any]:
    """GrowthBook's legacy ``/config/{key}`` answer: ``overrides`` by experiment key, for the
    running experiments and the stopped ones whose winner is not the control (``force``)."""
    overrides: dict[str, Any] = {}
    for exp in experiments:
        if exp.status == "draft" or (exp.status == "stopped" and not exp.winner):
            continue
        entry: dict[str, Any] = {
            "status": exp.status,
            "weights": _weights(exp),
            "coverage": exp.coverage,
        }
        if exp.targeting.groups:
            entry["groups"] = list(exp.targeting.groups)
        if exp.targeting.url:
            entry["url"] = exp.targeting.url
        force = exp.winner if exp.status == "stopped" else exp.force
        if force is not None:
            entry["force"] = force
        overrides[exp.key] = entry
    return {"status": 200, "overrides": overrides}


def _condition(*parts: Condition | None) -> Condition | None:
    present = [p for p in parts if p]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"$and": present}


def _experiment_rule(exp: ExperimentCreate, condition: Condition | None) -> dict[str, Any] | None:
    url = {"url": {"$regex": exp.targeting.url}} if exp.targeting.url else None
    when = _condition(condition, exp.targeting.condition, url)
    extra = {"condition": when} if when else {}
    if exp.status == "stopped" or exp.force is not None:
        index = exp.winner if exp.status == "stopped" else exp.force
        if index is None:
            return None
        rule: dict[str, Any] = {"force": exp.variations[index].value, **extra}
        if exp.status == "running":
            # A forced running experiment still serves only the users its namespace and
            # bucket ranges admit: hash filters say the same to the SDK.
            rule["filters"] = _filters(exp)
        return rule
    rule = {
        "key": exp.key,
        "variations": [v.value for v in exp.variations],
        "weights": _weights(exp),
        "coverage": exp.coverage,
        "hashAttribute": exp.hash_attribute,
        "seed": exp.seed or exp.key,
        "hashVersion": exp.hash_version,
        "meta": [
            {"key": v.key or str(i), **({"name": v.name} if v.name else {})}
            for i, v in enumerate(exp.variations)
        ],
        **extra,
    }
    if exp.name:
        rule["name"] = exp.name
    if exp.phases:
        rule["phase"] = str(len(exp.phases) - 1)
    ns = _namespace(exp)
    if ns:
        rule["namespace"] = list(ns)
    return rule


def _filters(exp: ExperimentCreate) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    attribute = exp.hash_attribute
    if exp.namespace is not None:
        ns = exp.namespace
        filters.append(
            {
                "attribute": attribute,
                "seed": "__" + ns.id,
                "hashVersion": 1,
                "ranges": [[ns.start, ns.end]],
            }
        )
    ranges = bucket_ranges(len(exp.variations), coverage=exp.coverage, weights=exp.weights)
    filters.append(
        {
            "attribute": attribute,
            "seed": exp.seed or exp.key,
            "hashVersion": exp.hash_version,
            "ranges": [list(r) for r in ranges],
        }
    )
    return filters


def features_payload(
    features: Iterable[FeatureCreate],
    experiments: Mapping[str, ExperimentCreate],
    *,
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    """The ``/api/features/{client_key}`` answer GrowthBook's SDKs read: every enabled
    feature with its default value and rules. An experiment rule serves its experiment while
    it runs, its winner once stopped, its forced variation when forced; a draft (or stopped
    without a winner) experiment's rule is left out, so users get the next rule or the
    default. The experiment's condition and URL regex join the rule's condition."""
    out: dict[str, Any] = {}
    for feature in features:
        if not feature.enabled:
            continue
        rules: list[dict[str, Any]] = []
        for rule in feature.rules:
            if isinstance(rule, ForceRule):
                entry: dict[str, Any] = {"force": rule.value}
                if rule.condition:
                    entry["condition"] = rule.condition
                if rule.coverage is not None:
                    entry |= {"coverage": rule.coverage, "hashAttribute": rule.hash_attribute}
                rules.append(entry)
                continue
            exp = experiments.get(rule.experiment)
            if exp is None or exp.status == "draft":
                continue
            built = _experiment_rule(exp, rule.condition)
            if built is not None:
                rules.append(built)
        out[feature.key] = {"defaultValue": feature.default_value, "rules": rules}
    payload: dict[str, Any] = {"status": 200, "features": out}
    if updated_at is not None:
        payload["dateUpdated"] = updated_at.isoformat()
    return payload
