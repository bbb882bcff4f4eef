"""The assignment agrees with GrowthBook's published SDK test vectors (see the fixture's
``source``) and with the ``growthbook`` Python SDK on many users."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from growthbook import GrowthBook
from growthbook.common_types import Experiment

from growthos_pipeline.experiments.assign import (
    assign,
    bucket_ranges,
    choose_variation,
    equal_weights,
    fnv1a32,
    gb_hash,
    in_namespace,
)

CASES: dict[str, Any] = json.loads((Path(__file__).parent / "growthbook_cases.json").read_text())


@pytest.mark.parametrize(("seed", "value", "version", "expected"), CASES["hash"])
def test_hash(seed: str, value: str, version: int, expected: float | None) -> None:
    assert gb_hash(seed, value, version) == expected


@pytest.mark.parametrize(("name", "args", "expected"), CASES["getBucketRange"])
def test_bucket_ranges(name: str, args: list[Any], expected: list[list[float]]) -> None:
    count, coverage, weights = args
    got = bucket_ranges(count, coverage=coverage, weights=weights)
    assert [list(r) for r in got] == [pytest.approx(r, abs=1e-9) for r in expected], name


@pytest.mark.parametrize(("name", "n", "ranges", "expected"), CASES["chooseVariation"])
def test_choose_variation(name: str, n: float, ranges: list[Any], expected: int) -> None:
    assert choose_variation(n, [tuple(r) for r in ranges]) == expected, name


@pytest.mark.parametrize(("name", "user", "namespace", "expected"), CASES["inNamespace"])
def test_in_namespace(name: str, user: str, namespace: list[Any], expected: bool) -> None:
    assert in_namespace(user, (namespace[0], namespace[1], namespace[2])) is expected, name


@pytest.mark.parametrize(("count", "expected"), CASES["getEqualWeights"])
def test_equal_weights(count: int, expected: list[float]) -> None:
    assert equal_weights(count) == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize(
    ("name", "attributes", "exp", "variation", "inside", "hashed"), CASES["run"]
)
def test_run_cases(
    name: str,
    attributes: dict[str, str],
    exp: dict[str, Any],
    variation: int,
    inside: bool,
    hashed: bool,
) -> None:
    namespace = exp.get("namespace")
    got = assign(
        attributes["id"],
        key=exp["key"],
        variations=len(exp["variations"]),
        weights=exp.get("weights"),
        coverage=exp.get("coverage", 1.0),
        seed=exp.get("seed"),
        hash_version=exp.get("hashVersion", 1),
        namespace=tuple(namespace) if namespace else None,
        force=exp.get("force"),
        active=exp.get("active", True),
    )
    assert (got.variation, got.in_experiment, got.hash_used) == (variation, inside, hashed), name


def test_fnv1a32_counts_utf16_code_units() -> None:
    # The JavaScript SDK hashes charCodeAt values: one unit for "é", two for an emoji.
    assert fnv1a32("\u00e9") == ((0x811C9DC5 ^ 0xE9) * 0x01000193) & 0xFFFFFFFF
    assert fnv1a32("\U0001f600") != fnv1a32("\U0001f600".encode().decode("latin-1"))


@pytest.mark.parametrize(
    "spec",
    [
        {"key": "pricing", "variations": 2, "hash_version": 1},
        {
            "key": "checkout",
            "variations": 3,
            "weights": [0.2, 0.3, 0.5],
            "coverage": 0.8,
            "hash_version": 2,
            "seed": "s-1",
        },
        {"key": "ns", "variations": 2, "namespace": ("growth", 0.25, 0.75), "hash_version": 2},
    ],
)
def test_same_variation_as_the_growthbook_sdk(spec: dict[str, Any]) -> None:
    count = spec["variations"]
    experiment = Experiment(
        key=spec["key"],
        variations=list(range(count)),
        weights=spec.get("weights"),
        coverage=spec.get("coverage"),
        seed=spec.get("seed"),
        hashVersion=spec["hash_version"],
        namespace=spec.get("namespace"),
    )
    seen = set()
    for i in range(600):
        user = f"user-{i}-\u00e9"
        result = GrowthBook(attributes={"id": user}).run(experiment)
        ours = assign(user, **spec)
        assert (ours.variation, ours.in_experiment) == (result.variationId, result.inExperiment)
        seen.add((ours.variation, ours.in_experiment))
    assert len(seen) >= count  # every variation (and, with coverage, the outside) was hit
