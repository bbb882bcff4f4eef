"""Experiment results computed from a real lake (events through the Ingestor into Delta): the
textbook example end to end, variations whose true rates differ, the rules for repeated and
conflicting exposures, and a sample-ratio mismatch that the replay explains per variation and
per source."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from growthos_pipeline.errors import BadRequest
from growthos_pipeline.experiments.analysis import analyze
from growthos_pipeline.experiments.config import ExperimentCreate, assignment
from growthos_pipeline.experiments.stats import compare, expected_split
from growthos_pipeline.settings import Settings
from tests.experiments.lake_world import DAY, HOUR, Sender, at, now_us, users_by_variation

PROJECT = "proj_results"


def _experiment(key: str, **fields: Any) -> ExperimentCreate:
    values: dict[str, Any] = {
        "key": key,
        "status": "running",
        "goal": 'event_type = "purchase"',
        "variations": [{"value": False, "key": "control"}, {"value": True, "key": "treatment"}],
    }
    return ExperimentCreate.model_validate(values | fields)


def test_the_textbook_example_end_to_end(settings: Settings) -> None:
    """The Physicians' Health Study (NEJM 321:129, 1989; Agresti's table 2.3) as an
    experiment: 11 034 users in the control with 189 conversions, 11 037 in the treatment with
    104, exposed through GrowthBook's tracking plugin. From the lake: z = -5.00, p = 5.7e-7,
    the same p-value as scipy's chi-square on the 2x2 table, and scipy's goodness of fit for
    the sample-ratio check."""
    exp = _experiment("aspirin", goal='event_type = "infarction"')
    start = now_us() - 20 * DAY
    users = users_by_variation(exp, {0: 11034, 1: 11037}, prefix="physician")
    sender = Sender(settings, PROJECT)
    for variation, ids in users.items():
        assert variation is not None
        converted = (189, 104)[variation]
        for i, user in enumerate(ids):
            t = start + HOUR + i * 1000
            sender.plugin(user, "aspirin", variation, t)
            if i < converted:
                sender.event("infarction", t + DAY, user=user)
    sender.send()

    results = analyze(settings, PROJECT, exp, start=at(start), end=at(now_us()))

    placebo, aspirin = results.variations
    assert (placebo.users, placebo.conversions) == (11034, 189)
    assert (aspirin.users, aspirin.conversions) == (11037, 104)
    assert aspirin.z is not None and round(aspirin.z, 2) == -5.00
    assert aspirin.p_value is not None and 5.6e-7 < aspirin.p_value < 5.8e-7
    table = [[189, 11034 - 189], [104, 11037 - 104]]
    assert aspirin.p_value == pytest.approx(
        float(sps.chi2_contingency(table, correction=False).pvalue), rel=1e-9
    )
    assert aspirin.chance_to_win is not None and aspirin.chance_to_win < 1e-5
    assert results.srm.p_value == pytest.approx(
        float(sps.chisquare([11034, 11037]).pvalue), rel=1e-9
    )
    assert not results.srm.mismatch
    assert results.exposures.events == 22071 and results.exposures.users == 22071
    assert results.replay.disagreeing_exposures == 0
    assert [(s.source, s.exposures) for s in results.replay.sources] == [
        ("growthbook-javascript/1.6.0", 22071)
    ]
    assert results.lake_version is not None


RATES = (0.10, 0.14, 0.10)


def test_results_find_the_variation_that_converts_better(settings: Settings) -> None:
    """Three variations whose true rates are 10%, 14% and 10%, exposures in the three
    accepted shapes, a goal with a property condition, purchases before the exposure, of
    amount 0 and after the window: the counts are exactly the generator's, the better
    variation wins and the equal one does not."""
    begin, finish = now_us() - 10 * DAY, now_us() - DAY
    exp = _experiment(
        "checkout",
        goal='event_type = "purchase" and prop.amount > 0',
        variations=[
            {"value": "classic", "key": "control"},
            {"value": "one-page", "key": "one-page"},
            {"value": "wizard", "key": "wizard"},
        ],
        weights=[0.5, 0.25, 0.25],
        coverage=0.8,
        seed="checkout-2026",
        phases=[
            {"started_at": at(begin - 30 * DAY), "ended_at": at(begin - 20 * DAY)},
            {"started_at": at(begin), "ended_at": at(finish)},
        ],
    )
    rng = np.random.default_rng(6)
    users, conversions, repeated = [0, 0, 0], [0, 0, 0], 0
    sender = Sender(settings, PROJECT)
    for i in range(6000):
        user = f"visitor-{i}"
        a = assignment(exp, user)
        if not a.in_experiment:  # the SDK runs no experiment for them: no exposure
            continue
        v = a.variation
        t = begin + int(rng.integers(HOUR, 7 * DAY))
        if i % 3 == 0:
            sender.plugin(user, "checkout", v, t)
        elif i % 3 == 1:
            key = exp.variations[v].key
            assert key is not None
            sender.event(
                "Experiment Viewed",
                t,
                user=user,
                source="segment",
                experimentId="checkout",
                variationId=key,
            )
        else:
            sender.event("$exposure", t, user=user, experiment="checkout", variation=v)
        if rng.random() < 0.1:
            sender.plugin(user, "checkout", v, t + 2 * HOUR)  # seen again, same variation
            repeated += 1
        users[v] += 1
        if rng.random() < RATES[v]:
            sender.event("purchase", t + HOUR, user=user, amount=int(rng.integers(5, 200)))
            conversions[v] += 1
        else:
            r = rng.random()
            if r < 0.2:
                sender.event("purchase", t - 30 * 60_000_000, user=user, amount=30)  # before
            elif r < 0.4:
                sender.event("purchase", t + HOUR, user=user, amount=0)  # not the goal
            elif r < 0.5:
                sender.event("purchase", finish + HOUR, user=user, amount=30)  # after the end
    # Not exposures of this experiment: another experiment's, an exposure before the phase,
    # a feature evaluation naming it.
    sender.plugin("visitor-0", "pricing", 1, begin + DAY)
    sender.plugin("late-comer", "checkout", 0, begin - HOUR)
    sender.event("feature_evaluated", begin + DAY, user="visitor-1", experiment_id="checkout")
    sender.send()

    results = analyze(settings, PROJECT, exp)

    assert (results.start, results.end) == (at(begin), at(finish))
    assert [v.users for v in results.variations] == users
    assert [v.conversions for v in results.variations] == conversions
    for got, want in zip(results.variations, compare(users, conversions), strict=True):
        assert (got.rate, got.absolute_uplift, got.absolute_ci) == (
            want.rate,
            want.absolute_uplift,
            want.absolute_ci,
        )
        assert (got.relative_ci, got.p_value, got.chance_to_win) == (
            want.relative_ci,
            want.p_value,
            want.chance_to_win,
        )
    control, one_page, wizard = results.variations
    assert [v.key for v in results.variations] == ["control", "one-page", "wizard"]
    assert one_page.p_value is not None and one_page.p_value < 0.01
    assert one_page.chance_to_win is not None and one_page.chance_to_win > 0.99
    assert one_page.absolute_ci is not None and one_page.absolute_ci[0] > 0
    assert wizard.absolute_ci is not None and wizard.absolute_ci[0] < 0 < wizard.absolute_ci[1]
    assert control.rate_ci is not None and control.rate_ci[0] < 0.10 < control.rate_ci[1]
    assert [v.expected_share for v in results.variations] == pytest.approx([0.5, 0.25, 0.25])
    assert results.exposures.events == sum(users) + repeated
    assert results.exposures.repeated_users == repeated
    assert (results.exposures.conflicting_users, results.exposures.unknown_variation) == (0, 0)
    assert not results.srm.mismatch
    assert results.replay.disagreeing_exposures == 0 and results.replay.outside == 0
    assert {s.source for s in results.replay.sources} == {
        "growthbook-javascript/1.6.0",
        "segment",
        "growthos",
    }
    # A goal given for this computation replaces the experiment's.
    everyone = analyze(settings, PROJECT, exp, goal='event_type = "purchase"')
    assert [v.conversions for v in everyone.variations] > conversions
    assert everyone.goal == 'event_type = "purchase"'


def test_repeated_conflicting_and_anonymous_exposures(settings: Settings) -> None:
    """First exposure counts; a user in two variations is left out; a conversion counts only
    at or after the first exposure; an anonymous exposure counts for the user the device
    later identifies as; an unknown variation is counted apart."""
    exp = _experiment("hero")
    picked = users_by_variation(exp, {0: 3, 1: 3}, prefix="hero")
    (before, control_buyer, conflicted), (repeat, anon, treated) = picked[0], picked[1]
    t0 = now_us() - 5 * DAY
    s = Sender(settings, PROJECT)
    # Exposed twice to the treatment, buys between the two exposures: converts once.
    s.plugin(repeat, "hero", 1, t0)
    s.event("purchase", t0 + HOUR, user=repeat)
    s.plugin(repeat, "hero", 1, t0 + 2 * HOUR)
    s.event("purchase", t0 + 3 * HOUR, user=repeat)
    # Bought before the exposure only: does not convert.
    s.event("purchase", t0, user=before)
    s.event("$exposure", t0 + HOUR, user=before, experiment="hero", variation=0)
    # Bought at the very moment of the exposure: converts.
    s.event("$exposure", t0, user=control_buyer, experiment="hero", variation="control")
    s.event("purchase", t0, user=control_buyer)
    # In the control, then the treatment: left out of the comparison.
    s.plugin(conflicted, "hero", 0, t0)
    s.event("$experiment_viewed", t0 + HOUR, user=conflicted, experiment_id="hero", variation_id=1)
    s.event("purchase", t0 + 2 * HOUR, user=conflicted)
    # Exposed on a device before signing in; the purchase carries the user id.
    s.event("$exposure", t0, device="phone-1", experiment="hero", variation=1, hash_value=anon)
    s.event("$identify", t0 + HOUR, device="phone-1", user=anon)
    s.event("purchase", t0 + 2 * HOUR, user=anon)
    # Exposed, no purchase.
    s.event("$exposure", t0, user=treated, experiment="hero", variation="treatment")
    # A variation the experiment does not have.
    s.event("$exposure", t0, user="stranger", experiment="hero", variation="nope")
    s.send()

    results = analyze(settings, PROJECT, exp, start=at(t0 - DAY), end=at(now_us()))

    control, treatment = results.variations
    assert (control.users, control.conversions) == (2, 1)
    assert (treatment.users, treatment.conversions) == (3, 2)
    assert results.exposures.model_dump() == {
        "events": 9,
        "users": 7,
        "repeated_users": 2,
        "conflicting_users": 1,
        "unknown_variation": 1,
    }
    # The replay hashes every exposure with a known variation: the conflicted user's second
    # exposure disagrees with the hash, and is the only one.
    assert results.replay.exposures == 8
    assert results.replay.disagreeing_exposures == 1
    assert (control.disagreeing_exposures, treatment.disagreeing_exposures) == (0, 1)
    assert {s.source: s.disagreeing_exposures for s in results.replay.sources} == {
        "growthbook-javascript/1.6.0": 0,
        "growthos": 1,
    }


def test_a_sample_ratio_mismatch_explained_by_the_replay(settings: Settings) -> None:
    """The web SDK logs every user right; then an Android release logs 300 users of the
    treatment in the control (their only exposure) and 30 more who the web also saw in the
    treatment, and a server integration logs 40 users the coverage leaves out. The ratio
    breaks, and the replay names each source and variation with the exact counts; the lake
    version before the bad deliveries shows no mismatch."""
    exp = _experiment("signup-flow", coverage=0.5, hash_version=1)
    picked = users_by_variation(exp, {0: 520, 1: 850, None: 40}, prefix="srm")
    t0 = now_us() - 3 * DAY
    web = Sender(settings, PROJECT)
    for v in (0, 1):
        for i, user in enumerate(picked[v][:520]):
            web.plugin(user, "signup-flow", v, t0 + i * 1000)
    for i, user in enumerate(picked[1][520:550]):  # the 30 the Android app will also log
        web.plugin(user, "signup-flow", 1, t0 + i * 1000)
    before = web.send()

    bad = Sender(settings, PROJECT)
    android = "growthos-android/2.1.0"
    for i, user in enumerate(picked[1][550:850] + picked[1][520:550]):
        bad.event(
            "$exposure",
            t0 + HOUR + i * 1000,
            user=user,
            library=android,
            experiment="signup-flow",
            variation=0,
        )
    for i, user in enumerate(picked[None]):
        bad.event(
            "$experiment_viewed",
            t0 + HOUR + i * 1000,
            user=user,
            source="segment",
            experiment_id="signup-flow",
            variation_id=1,
        )
    bad.send()
    window: dict[str, Any] = {"start": at(t0 - DAY), "end": at(now_us())}

    fine = analyze(settings, PROJECT, exp, as_of=before, **window)
    assert [v.users for v in fine.variations] == [520, 550]
    assert not fine.srm.mismatch and fine.replay.disagreeing_exposures == 0
    assert fine.lake_version == before

    broken = analyze(settings, PROJECT, exp, **window)
    control, treatment = broken.variations
    assert (control.users, treatment.users) == (520 + 300, 550 - 30 + 40)
    assert broken.exposures.conflicting_users == 30
    assert broken.srm.mismatch and broken.srm.p_value is not None and broken.srm.p_value < 1e-6
    assert broken.srm.expected_users == pytest.approx(
        [(820 + 560) * s for s in expected_split(2, coverage=0.5)]
    )
    assert (control.exposures, control.disagreeing_exposures) == (520 + 330, 330)
    assert (treatment.exposures, treatment.disagreeing_exposures) == (550 + 40, 40)
    assert broken.replay.outside == 40
    assert {s.source: (s.exposures, s.disagreeing_exposures) for s in broken.replay.sources} == {
        "growthbook-javascript/1.6.0": (1070, 0),
        android: (330, 330),
        "segment": (40, 40),
    }


def test_goal_and_window_errors(settings: Settings) -> None:
    no_goal = _experiment("bare", goal=None)
    with pytest.raises(BadRequest) as missing:
        analyze(settings, PROJECT, no_goal, start=at(now_us() - DAY))
    assert missing.value.code == "goal_required"
    with pytest.raises(BadRequest) as bad:
        analyze(settings, PROJECT, no_goal, goal='event_type = "a" and prop.x >', start=at(0))
    assert bad.value.code == "invalid_goal"
    assert bad.value.details[0]["field"] == "goal"
    assert (bad.value.details[0]["line"], bad.value.details[0]["column"]) == (1, 30)
    with pytest.raises(BadRequest) as empty:
        analyze(settings, PROJECT, _experiment("late"), start=at(now_us() + DAY))
    assert empty.value.code == "invalid_results_window"
    with pytest.raises(BadRequest) as phaseless:
        analyze(settings, PROJECT, _experiment("phaseless"))
    assert phaseless.value.code == "invalid_results_window"
