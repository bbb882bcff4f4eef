"""The statistics of experiment results against published values, scipy and Monte Carlo."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from growthos_pipeline.experiments import stats
from growthos_pipeline.experiments.assign import assign
from growthos_pipeline.experiments.config import ExperimentCreate, assignment
from growthos_pipeline.experiments.stats import (
    Exposure,
    assigner,
    chance_to_beat,
    chi2_sf,
    compare,
    expected_split,
    newcombe_interval,
    relative_interval,
    replay,
    sample_ratio_mismatch,
    two_proportion_z_test,
    wilson_interval,
)

# ---- published values -----------------------------------------------------------------------


def test_physicians_health_study_z_test() -> None:
    """The aspirin arm of the Physicians' Health Study (Steering Committee of the Physicians'
    Health Study Research Group, "Final report on the aspirin component of the ongoing
    Physicians' Health Study", NEJM 321:129-135, 1989), the textbook example of comparing
    two proportions (Agresti, An Introduction to Categorical Data Analysis, table 2.3):
    myocardial infarctions in 189 of 11 034 on placebo and 104 of 11 037 on aspirin. Pooled
    rate 293 / 22 071 = 0.01328, standard error 0.00154, z = -5.00, two-sided p = 5.7e-7."""
    z, p = two_proportion_z_test((11034, 189), (11037, 104))
    assert round(z, 2) == -5.00
    assert 5.6e-7 < p < 5.8e-7
    # The same test with the groups swapped only flips the sign.
    z_swapped, p_swapped = two_proportion_z_test((11037, 104), (11034, 189))
    assert z_swapped == pytest.approx(-z) and p_swapped == pytest.approx(p)
    placebo, aspirin = compare([11034, 11037], [189, 104])
    assert placebo.rate == pytest.approx(0.01713, abs=5e-6)
    assert aspirin.absolute_uplift == pytest.approx(-0.0077, abs=5e-5)
    assert aspirin.p_value == p


def test_newcombe_published_interval() -> None:
    """Newcombe (1998), "Interval estimation for the difference between independent
    proportions: comparison of eleven methods", Statistics in Medicine 17:873-890, example
    (a): 56/70 against 48/80, method 10 (hybrid score) gives 0.0524 to 0.3339."""
    low, high = newcombe_interval((80, 48), (70, 56))
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # The interval of the opposite difference is the mirror image.
    low_r, high_r = newcombe_interval((70, 56), (80, 48))
    assert (low_r, high_r) == pytest.approx((-high, -low))


def test_wilson_agrees_with_scipy() -> None:
    for n, x in [(70, 56), (80, 48), (10, 0), (10, 10), (1000, 3)]:
        expected = sps.binomtest(x, n).proportion_ci(0.95, method="wilson")
        assert wilson_interval(n, x) == pytest.approx((expected.low, expected.high), abs=1e-12)


# ---- scipy: the z-test and the chi-square ---------------------------------------------------


def _z_test_by_scipy(control: tuple[int, int], variant: tuple[int, int]) -> tuple[float, float]:
    (n0, x0), (n1, x1) = control, variant
    table = [[x0, n0 - x0], [x1, n1 - x1]]
    result = sps.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


@pytest.mark.parametrize(
    ("control", "variant"),
    [
        ((1000, 100), (1000, 130)),
        ((11034, 189), (11037, 104)),
        ((50, 1), (70, 69)),
        ((3, 1), (5, 4)),
    ],
)
def test_z_test_agrees_with_scipy(control: tuple[int, int], variant: tuple[int, int]) -> None:
    z, p = two_proportion_z_test(control, variant)
    chi2, p_scipy = _z_test_by_scipy(control, variant)
    assert z * z == pytest.approx(chi2, rel=1e-9)
    assert p == pytest.approx(p_scipy, rel=1e-9)
    assert p == pytest.approx(2 * sps.norm.sf(abs(z)), rel=1e-9)


@st.composite
def groups(draw: st.DrawFn) -> tuple[int, int]:
    users = draw(st.integers(min_value=1, max_value=2_000_000))
    return users, draw(st.integers(min_value=0, max_value=users))


@settings(max_examples=300, deadline=None)
@given(control=groups(), variant=groups())
def test_z_test_agrees_with_scipy_everywhere(
    control: tuple[int, int], variant: tuple[int, int]
) -> None:
    total = control[1] + variant[1]
    assume(0 < total < control[0] + variant[0])  # scipy refuses a zero expected count
    z, p = two_proportion_z_test(control, variant)
    chi2, p_scipy = _z_test_by_scipy(control, variant)
    assert z * z == pytest.approx(chi2, rel=1e-7, abs=1e-12)
    assert p == pytest.approx(p_scipy, rel=1e-6, abs=1e-300)


@pytest.mark.parametrize(
    ("users", "split"),
    [
        ([5000, 4700], [0.5, 0.5]),
        ([5000, 4500], [0.5, 0.5]),
        ([120, 330, 560], [0.1, 0.3, 0.6]),
        ([1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25]),
        ([100_000, 101_000, 99_000, 100_500, 0], [0.2] * 5),
    ],
)
def test_srm_agrees_with_scipy(users: list[int], split: list[float]) -> None:
    check = sample_ratio_mismatch(users, split)
    expected = sps.chisquare(users, f_exp=[sum(users) * s / sum(split) for s in split])
    assert check.statistic == pytest.approx(float(expected.statistic), rel=1e-12)
    assert check.p_value == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-300)
    assert check.df == len(users) - 1
    assert check.mismatch == (float(expected.pvalue) < 0.001)


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=1_000_000),
            st.floats(min_value=0.01, max_value=1.0),
        ),
        min_size=2,
        max_size=20,
    )
)
def test_srm_agrees_with_scipy_everywhere(data: list[tuple[int, float]]) -> None:
    users = [n for n, _ in data]
    split = [s for _, s in data]
    assume(sum(users) > 0)
    check = sample_ratio_mismatch(users, split)
    total = math.fsum(split)
    expected = sps.chisquare(users, f_exp=[sum(users) * s / total for s in split])
    assert check.statistic == pytest.approx(float(expected.statistic), rel=1e-9)
    assert check.p_value == pytest.approx(float(expected.pvalue), rel=1e-8, abs=1e-300)


@settings(max_examples=300, deadline=None)
@given(
    statistic=st.floats(min_value=0, max_value=5000, allow_nan=False),
    df=st.integers(min_value=1, max_value=40),
)
def test_chi2_sf_agrees_with_scipy(statistic: float, df: int) -> None:
    assert chi2_sf(statistic, df) == pytest.approx(
        float(sps.chi2.sf(statistic, df)), rel=1e-9, abs=1e-300
    )


def test_relative_interval_is_the_delta_method() -> None:
    """The variance of m1/m0 by the delta method, checked against a direct computation of
    the gradient (1/m0, -m1/m0^2) applied to the two proportions' variances."""
    (n0, x0), (n1, x1) = (2000, 240), (1900, 275)
    m0, m1 = x0 / n0, x1 / n1
    gradient = np.array([1 / m0, -m1 / m0**2])
    covariance = np.diag([m1 * (1 - m1) / n1, m0 * (1 - m0) / n0])
    half = sps.norm.ppf(0.975) * math.sqrt(gradient @ covariance @ gradient)
    low, high = relative_interval((n0, x0), (n1, x1))
    assert (low, high) == pytest.approx((m1 / m0 - 1 - half, m1 / m0 - 1 + half), rel=1e-12)
    narrower = relative_interval((n0, x0), (n1, x1), confidence=0.9)
    assert narrower is not None and low < narrower[0] < narrower[1] < high


# ---- chance to win ------------------------------------------------------------------------


def _monte_carlo(control: tuple[int, int], variant: tuple[int, int], draws: int = 400_000) -> float:
    rng = np.random.default_rng(20261202)
    (n0, x0), (n1, x1) = control, variant
    a = rng.beta(1 + x0, 1 + n0 - x0, draws)
    b = rng.beta(1 + x1, 1 + n1 - x1, draws)
    return float(np.mean(b > a))


CHANCE_CASES = [
    ((100, 10), (100, 15)),
    ((1000, 100), (1000, 130)),
    ((1000, 130), (1000, 100)),
    ((20, 0), (20, 2)),
    ((20, 20), (25, 24)),
    ((5, 5), (7, 0)),
    ((3000, 2950), (3100, 3070)),  # the smallest parameter is a beta (failures + 1)
    ((1, 0), (1, 1)),
]


@pytest.mark.parametrize(("control", "variant"), CHANCE_CASES)
def test_chance_to_win_agrees_with_monte_carlo(
    control: tuple[int, int], variant: tuple[int, int]
) -> None:
    # 400 000 draws: the standard error is at most 0.0008, so 0.004 is five of them.
    assert chance_to_beat(control, variant, method="exact") == pytest.approx(
        _monte_carlo(control, variant), abs=0.004
    )


@pytest.mark.parametrize(("control", "variant"), CHANCE_CASES)
def test_chance_to_win_is_complementary(control: tuple[int, int], variant: tuple[int, int]) -> None:
    forward = chance_to_beat(control, variant)
    backward = chance_to_beat(variant, control)
    assert forward is not None and backward is not None
    assert forward + backward == pytest.approx(1.0, abs=1e-9)


def test_chance_to_win_normal_approximation_on_large_samples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    control, variant = (300_000, 30_000), (300_000, 30_250)
    exact = chance_to_beat(control, variant, method="exact")
    normal = chance_to_beat(control, variant, method="normal")
    assert exact is not None and normal is not None
    assert normal == pytest.approx(exact, abs=1e-3)
    assert normal == pytest.approx(_monte_carlo(control, variant), abs=0.004)
    assert chance_to_beat(control, variant) == exact  # auto: below the limit, exact
    monkeypatch.setattr(stats, "EXACT_LIMIT", 1000)
    assert chance_to_beat(control, variant) == normal


def test_equal_groups_have_even_chances() -> None:
    assert chance_to_beat((500, 50), (500, 50)) == pytest.approx(0.5, abs=1e-12)
    assert chance_to_beat((500, 0), (500, 0)) == pytest.approx(0.5, abs=1e-12)


# ---- degenerate cases ---------------------------------------------------------------------


def test_no_users_gives_no_comparison() -> None:
    control, variant = compare([0, 0], [0, 0])
    assert control.rate is None and variant.rate is None
    assert variant.p_value is None and variant.chance_to_win is None
    assert variant.absolute_ci is None and variant.relative_ci is None
    _, variant = compare([0, 10], [0, 4])
    assert variant.rate == 0.4 and variant.absolute_uplift is None and variant.z is None
    control, variant = compare([10, 0], [4, 0])
    assert control.rate == 0.4 and variant.rate is None and variant.p_value is None


def test_control_without_conversions_has_no_relative_uplift() -> None:
    _, variant = compare([200, 200], [0, 9])
    assert variant.relative_uplift is None and variant.relative_ci is None
    assert variant.absolute_uplift == 0.045
    assert variant.absolute_ci is not None and 0 < variant.absolute_ci[0] < 0.045
    assert variant.p_value is not None and variant.p_value < 0.01
    assert variant.chance_to_win is not None and variant.chance_to_win > 0.99


@pytest.mark.parametrize("rate", [0, 1])
def test_identical_extreme_rates(rate: int) -> None:
    _, variant = compare([40, 60], [40 * rate, 60 * rate])
    assert (variant.z, variant.p_value) == (0.0, 1.0)
    assert variant.absolute_uplift == 0
    assert variant.absolute_ci is not None
    assert variant.absolute_ci[0] < 0 < variant.absolute_ci[1]
    if rate:
        assert variant.relative_uplift == 0 and variant.relative_ci == (0.0, 0.0)
    else:
        assert variant.relative_uplift is None
    assert variant.chance_to_win is not None and 0 < variant.chance_to_win < 1


def test_full_conversion_against_half() -> None:
    _, variant = compare([100, 100], [50, 100])
    assert variant.rate == 1.0 and variant.relative_uplift == 1.0
    assert variant.absolute_ci is not None and 0 < variant.absolute_ci[0] < 0.5
    assert 0.5 < variant.absolute_ci[1] < 1
    assert variant.relative_ci is not None and variant.relative_ci[0] < 1 < variant.relative_ci[1]
    assert variant.chance_to_win == pytest.approx(1.0, abs=1e-12)


def test_three_variations_each_against_the_control() -> None:
    results = compare([1000, 1000, 1000], [100, 130, 80])
    assert [r.variation for r in results] == [0, 1, 2]
    assert results[0].p_value is None and results[0].absolute_uplift is None
    assert results[1].absolute_uplift == pytest.approx(0.03)
    assert results[2].absolute_uplift == pytest.approx(-0.02)
    assert results[1].chance_to_win is not None and results[1].chance_to_win > 0.95
    assert results[2].chance_to_win is not None and results[2].chance_to_win < 0.1


@pytest.mark.parametrize(
    ("users", "conversions"),
    [([10, 10], [11, 0]), ([-1, 10], [0, 0]), ([10], [1]), ([10, 10], [1])],
)
def test_bad_counts_are_refused(users: list[int], conversions: list[int]) -> None:
    with pytest.raises(ValueError, match=r"expected|per variation"):
        compare(users, conversions)


def test_bad_confidence_is_refused() -> None:
    with pytest.raises(ValueError, match="confidence"):
        compare([10, 10], [1, 2], confidence=1.0)


# ---- sample ratio mismatch ----------------------------------------------------------------


def test_srm_threshold_is_configurable() -> None:
    default = sample_ratio_mismatch([5000, 4700], [0.5, 0.5])
    assert default.p_value is not None and 0.001 < default.p_value < 0.01
    assert not default.mismatch
    assert sample_ratio_mismatch([5000, 4700], [0.5, 0.5], threshold=0.01).mismatch


def test_srm_degenerate_inputs() -> None:
    empty = sample_ratio_mismatch([0, 0], [0.5, 0.5])
    assert empty.p_value is None and not empty.mismatch
    stray = sample_ratio_mismatch([500, 500, 3], [0.5, 0.5, 0.0])
    assert stray.mismatch and stray.p_value == 0.0 and stray.statistic == math.inf
    unused = sample_ratio_mismatch([500, 520, 0], [0.5, 0.5, 0.0])
    assert unused.df == 1 and unused.p_value == pytest.approx(
        float(sps.chisquare([500, 520]).pvalue), rel=1e-12
    )
    with pytest.raises(ValueError, match="one expected share per variation"):
        sample_ratio_mismatch([1, 2, 3], [0.5, 0.5])


def test_expected_split_follows_the_bucket_ranges() -> None:
    assert expected_split(2) == [0.5, 0.5]
    assert expected_split(3, weights=[0.2, 0.3, 0.5], coverage=0.4) == pytest.approx(
        [0.2, 0.3, 0.5]
    )
    # Weights that do not sum to 1 are replaced by equal weights, as the SDKs do.
    assert expected_split(2, weights=[0.7, 0.7]) == [0.5, 0.5]
    assert expected_split(2, coverage=0) == [0.0, 0.0]


# ---- the replay ---------------------------------------------------------------------------

#: The experiment of the replay tests: two variations, 60% of the users.
RECOMPUTE = assigner(key="checkout", variations=2, weights=[0.5, 0.5], coverage=0.6)


def _users_by_truth(count: int) -> dict[int | None, list[str]]:
    """Users sorted by the variation the hash gives them (None: outside the coverage)."""
    found: dict[int | None, list[str]] = {0: [], 1: [], None: []}
    i = 0
    while min(len(v) for v in found.values()) < count:
        user = f"user-{i}"
        a = assign(user, key="checkout", variations=2, coverage=0.6, hash_version=2)
        bucket = found[a.variation if a.in_experiment else None]
        if len(bucket) < count:
            bucket.append(user)
        i += 1
    return found


def test_replay_counts_disagreements_per_variation_and_source() -> None:
    truth = _users_by_truth(20)
    exposures: list[Exposure] = []
    # The web SDK records everyone right.
    for variation in (0, 1):
        exposures += [Exposure(u, variation, "web") for u in truth[variation]]
    # A server integration records 5 users of variation 1 in the control ...
    exposures += [Exposure(u, 0, "server") for u in truth[1][:5]]
    # ... and 3 users outside the coverage in variation 1.
    exposures += [Exposure(u, 1, "server") for u in truth[None][:3]]
    # Two control users seen again by the web SDK in the control: no conflict.
    exposures += [Exposure(u, 0, "web") for u in truth[0][:2]]
    got = replay(exposures, RECOMPUTE)
    assert got.exposures == 20 + 20 + 5 + 3 + 2
    assert got.disagreeing == 8 and got.outside == 3
    assert got.disagreeing_by_source == {"server": 8}
    assert got.exposures_by_source == {"server": 8, "web": 42}
    assert got.disagreeing_by_variation == {0: 5, 1: 3}
    assert got.exposures_by_variation == {0: 27, 1: 23}
    # Each user once, in the variation of the first exposure.
    assert got.users == 43 and got.users_by_variation == {0: 20, 1: 23}
    assert got.conflicting_users == 5


def test_replay_first_exposure_wins() -> None:
    truth = _users_by_truth(4)
    late = [Exposure(u, 0, "ios") for u in truth[1]]
    first = [Exposure(u, 1, "web") for u in truth[1]]
    got = replay(late + first, RECOMPUTE)
    assert got.users_by_variation == {0: 4} and got.conflicting_users == 4
    assert got.disagreeing_by_source == {"ios": 4}
    got = replay(first + late, RECOMPUTE)
    assert got.users_by_variation == {1: 4} and got.conflicting_users == 4


def test_replay_explains_a_sample_ratio_mismatch() -> None:
    """A source that logs the control for everyone breaks the ratio; the replay names it."""
    rng = np.random.default_rng(7)
    exposures = []
    for i in range(4000):
        user = f"u{i}"
        a = assign(user, key="checkout", variations=2, hash_version=2)
        broken = rng.random() < 0.1
        exposures.append(
            Exposure(user, 0 if broken else a.variation, "android" if broken else "web")
        )
    got = replay(exposures, assigner(key="checkout", variations=2))
    users = [got.users_by_variation.get(v, 0) for v in (0, 1)]
    check = sample_ratio_mismatch(users, expected_split(2))
    assert check.mismatch
    assert set(got.disagreeing_by_source) == {"android"}
    assert got.disagreeing_by_variation.keys() == {0}
    # About half the broken exposures belong to variation 1 by the hash.
    assert 0.35 < got.disagreeing / got.exposures_by_source["android"] < 0.65


def test_assigner_matches_the_served_assignment() -> None:
    exp = ExperimentCreate(
        key="pricing",
        status="running",
        variations=[{"value": v} for v in "abc"],
        weights=[0.2, 0.3, 0.5],
        coverage=0.7,
        seed="s-1",
        namespace={"id": "ns", "start": 0.1, "end": 0.9},
    )
    recompute = assigner(
        key="pricing",
        variations=3,
        weights=[0.2, 0.3, 0.5],
        coverage=0.7,
        seed="s-1",
        namespace=("ns", 0.1, 0.9),
    )
    seen = set()
    for i in range(500):
        served = assignment(exp, f"id-{i}")
        got = recompute(f"id-{i}")
        assert got == (served.variation if served.in_experiment else None)
        seen.add(got)
    assert seen == {0, 1, 2, None}


# ---- the documentation's example ------------------------------------------------------------


def _close(got: object, shown: object) -> bool:
    if isinstance(shown, float):
        return isinstance(got, float) and abs(got - shown) < 6e-5
    if isinstance(shown, tuple):
        return (
            isinstance(got, tuple)
            and len(got) == len(shown)
            and all(_close(g, s) for g, s in zip(got, shown, strict=True))
        )
    return got == shown


def test_docs_example_shows_what_the_code_gives() -> None:
    """Every ``expression  # value`` line of the Python example under "Results: the
    statistics" in docs/experiments.md evaluates to the value shown (to its 4 decimals)."""
    text = (Path(__file__).parents[2] / "docs" / "experiments.md").read_text()
    section = text.split("## Results: the statistics", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    lines = code.splitlines()
    checked = 0
    for node in ast.parse(code).body:
        _, _, comment = lines[(node.end_lineno or node.lineno) - 1].partition("  # ")
        if isinstance(node, ast.Expr) and comment:
            shown = ast.literal_eval(comment.split("): ", 1)[0].rstrip(")") + ")")
            got = eval(compile(ast.Expression(node.value), "docs", "eval"), namespace)
            assert _close(got, shown), f"line {node.lineno}: the docs show {shown}, got {got}"
            checked += 1
        else:
            exec(compile(ast.Module([node], []), "docs", "exec"), namespace)
    assert checked == 6
