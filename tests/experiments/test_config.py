"""Validation errors, the legacy overrides, and the features payload read by the real
``growthbook`` SDK, which must assign every user as :func:`config.assignment` does."""

from __future__ import annotations

from typing import Any

import pytest
from growthbook import GrowthBook

from growthos_pipeline.errors import BadRequest
from growthos_pipeline.experiments.config import (
    ExperimentCreate,
    FeatureCreate,
    assignment,
    check_experiment,
    check_feature,
    features_payload,
    overrides_payload,
)


def _exp(**fields: Any) -> ExperimentCreate:
    base: dict[str, Any] = {
        "key": "checkout",
        "variations": [{"value": "blue"}, {"value": "green"}, {"value": "red"}],
    }
    return ExperimentCreate.model_validate(base | fields)


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"weights": [0.5, 0.3, 0.1]}, "invalid_weights", "weights"),
        ({"weights": [0.5, 0.5]}, "invalid_weights", "weights"),
        ({"weights": [1.2, -0.1, -0.1]}, "invalid_weights", "weights"),
        ({"force": 3}, "invalid_force", "force"),
        ({"winner": -1}, "invalid_winner", "winner"),
        ({"targeting": {"url": "^/checkout/(a|b"}}, "invalid_url_regex", "targeting.url"),
        (
            {"targeting": {"condition": {"email": {"$regex": "[a-"}}}},
            "invalid_condition",
            "targeting.condition.email.$regex",
        ),
        ({"namespace": {"id": "ns", "start": 0.6, "end": 0.2}}, "invalid_namespace", "namespace"),
        (
            {
                "phases": [
                    {"started_at": "2026-12-02T00:00:00Z", "ended_at": "2026-12-01T00:00:00Z"}
                ]
            },
            "invalid_phases",
            "phases.0.ended_at",
        ),
    ],
)
def test_invalid_experiments_name_the_problem(
    fields: dict[str, Any], code: str, field: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        check_experiment(_exp(**fields))
    assert caught.value.code == code
    assert caught.value.details[0]["field"] == field


def test_weights_that_sum_to_one_in_floating_point_pass() -> None:
    check_experiment(_exp(weights=[0.1, 0.2, 0.7], force=2, targeting={"url": r"^/checkout\b"}))
    check_experiment(_exp(weights=[1 / 3, 1 / 3, 1 / 3]))


def test_feature_values_must_have_the_feature_type() -> None:
    experiments = {"checkout": _exp()}
    feature = FeatureCreate(key="button", value_type="string", default_value="blue")
    check_feature(feature, experiments)
    with pytest.raises(BadRequest) as caught:
        check_feature(FeatureCreate(key="on", value_type="boolean", default_value=1), {})
    assert caught.value.code == "invalid_feature_value"
    regex_rule = FeatureCreate.model_validate(
        {
            "key": "flag",
            "rules": [
                {"type": "force", "value": True, "condition": {"$or": [{"u": {"$regex": "("}}]}}
            ],
        }
    )
    with pytest.raises(BadRequest) as caught:
        check_feature(regex_rule, {})
    assert caught.value.details[0]["field"] == "rules.0.condition.$or.0.u.$regex"
    bad_rule = FeatureCreate.model_validate(
        {"key": "flag", "rules": [{"type": "experiment", "experiment": "checkout"}]}
    )
    with pytest.raises(BadRequest) as caught:
        check_feature(bad_rule, experiments)  # string variations for a boolean flag
    assert caught.value.code == "invalid_feature_value"
    missing = FeatureCreate.model_validate(
        {"key": "flag", "rules": [{"type": "experiment", "experiment": "nope"}]}
    )
    with pytest.raises(BadRequest) as caught:
        check_feature(missing, experiments)
    assert caught.value.code == "unknown_experiment"


def test_overrides_list_running_and_decided_experiments() -> None:
    payload = overrides_payload(
        [
            _exp(
                key="running",
                status="running",
                weights=[0.2, 0.3, 0.5],
                coverage=0.5,
                targeting={"groups": ["beta"], "url": "^/cart"},
                force=1,
            ),
            _exp(key="draft"),
            _exp(key="stopped-control", status="stopped", winner=0),
            _exp(key="stopped-undecided", status="stopped"),
            _exp(key="stopped-won", status="stopped", winner=2),
        ]
    )
    assert payload == {
        "status": 200,
        "overrides": {
            "running": {
                "status": "running",
                "weights": [0.2, 0.3, 0.5],
                "coverage": 0.5,
                "groups": ["beta"],
                "url": "^/cart",
                "force": 1,
            },
            "stopped-won": {
                "status": "stopped",
                "weights": [1 / 3, 1 / 3, 1 / 3],
                "coverage": 1.0,
                "force": 2,
            },
        },
    }


EXPERIMENTS = [
    {"status": "running", "hash_version": 1},
    {"status": "running", "weights": [0.2, 0.3, 0.5], "coverage": 0.7, "seed": "s1"},
    {"status": "running", "namespace": {"id": "pricing", "start": 0.2, "end": 0.9}},
    {"status": "running", "force": 2, "coverage": 0.6, "weights": [0.6, 0.2, 0.2]},
    {"status": "running", "force": 1, "namespace": {"id": "ns", "start": 0.0, "end": 0.5}},
    {
        "status": "running",
        "hash_attribute": "company",
        "phases": [
            {"started_at": "2026-11-01T00:00:00Z", "ended_at": "2026-11-15T00:00:00Z"},
            {"started_at": "2026-11-15T00:00:00Z"},
        ],
    },
    {"status": "stopped", "winner": 1},
    {"status": "draft"},
]


@pytest.mark.parametrize("fields", EXPERIMENTS)
def test_the_sdk_reads_the_payload_and_assigns_like_the_toolkit(fields: dict[str, Any]) -> None:
    exp = _exp(**fields)
    check_experiment(exp)
    feature = FeatureCreate.model_validate(
        {
            "key": "button-color",
            "value_type": "string",
            "default_value": "grey",
            "rules": [{"type": "experiment", "experiment": "checkout"}],
        }
    )
    payload = features_payload([feature], {"checkout": exp})
    values = [v.value for v in exp.variations]
    seen = set()
    for i in range(400):
        user = f"u{i}"
        gb = GrowthBook(attributes={exp.hash_attribute: user}, features=payload["features"])
        result = gb.eval_feature("button-color")
        ours = assignment(exp, user)
        if exp.status == "stopped":
            expected = values[exp.winner or 0]
        elif ours.in_experiment:
            expected = values[ours.variation]
        else:
            expected = "grey"
        assert result.value == expected, (user, fields)
        if result.experimentResult is not None:
            assert result.experimentResult.variationId == ours.variation
        seen.add(result.value)
    # The test separates variations: several values were served unless one is forced.
    assert len(seen) >= (1 if exp.status != "running" or exp.force is not None else 3)


def test_conditions_and_url_reach_the_sdk() -> None:
    exp = _exp(status="running", targeting={"condition": {"country": "FR"}, "url": "/checkout"})
    feature = FeatureCreate.model_validate(
        {
            "key": "button-color",
            "value_type": "string",
            "default_value": "grey",
            "rules": [
                {"type": "force", "value": "black", "condition": {"plan": "vip"}},
                {"type": "experiment", "experiment": "checkout"},
            ],
        }
    )
    features = features_payload([feature], {"checkout": exp})["features"]

    def value(**attributes: Any) -> Any:
        return GrowthBook(
            attributes={"id": "u1", **attributes}, features=features
        ).get_feature_value("button-color", None)

    assert value(plan="vip") == "black"
    assert value(country="DE", url="https://shop.example/checkout") == "grey"
    assert value(country="FR", url="https://shop.example/home") == "grey"
    assert value(country="FR", url="https://shop.example/checkout") in {"blue", "green", "red"}


def test_disabled_features_are_left_out() -> None:
    feature = FeatureCreate(key="old", enabled=False)
    assert features_payload([feature], {})["features"] == {}
