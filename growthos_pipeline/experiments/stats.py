"""The statistics of an experiment's results: pure functions over counts, no I/O.

===========================  =====================================================================
quantity                     method
===========================  =====================================================================
conversion rate              ``conversions / users``
absolute uplift              ``rate_v - rate_0``; interval: Newcombe's hybrid score interval
                             (method 10 of Newcombe 1998, built from two Wilson intervals)
relative uplift              ``rate_v / rate_0 - 1``; interval: the delta method on the ratio of
                             the two proportions, as GrowthBook's frequentist engine does (normal
                             quantile; GrowthBook's Student t with Welch's degrees of freedom is
                             the same at experiment sizes)
p-value                      two-sided two-proportion z-test with the pooled standard error
                             (equal to Pearson's chi-square on the 2x2 table, without Yates)
chance to beat control       ``P(p_v > p_0)`` under Beta(1, 1) priors: Evan Miller's closed form
                             while the smallest Beta parameter is at most ``EXACT_LIMIT``, above
                             that the normal approximation of the difference of the two Betas
sample ratio mismatch        chi-square goodness of fit of users per variation against the
                             expected split (the weights within the coverage); mismatch when
                             ``p < 0.001`` (GrowthBook's threshold) unless told otherwise
replay                       recompute each exposure's variation from the hash and count the
                             exposures that disagree, per variation and per source
===========================  =====================================================================

Variation 0 is the control. Degenerate inputs never divide by zero: a variation without users
has no rate (None) and no comparison (None everywhere); a control rate of 0 leaves the relative
uplift and its interval None; when both groups convert at 0% or both at 100% the pooled
standard error is 0, and the test reports ``z = 0.0`` and ``p_value = 1.0`` (no difference
was observed, so none is evidenced).

Examples
--------
>>> control, variant = compare([1000, 1000], [100, 130])
>>> variant.rate, round(variant.relative_uplift, 3), round(variant.p_value, 4)
(0.13, 0.3, 0.0355)
>>> [round(x, 4) for x in variant.absolute_ci], round(variant.chance_to_win, 3)
([0.002, 0.0581], 0.982)
>>> check = sample_ratio_mismatch([5000, 4700], expected_split(2))
>>> round(check.p_value, 5), check.mismatch
(0.00232, False)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal

from growthos_pipeline.experiments.assign import Namespace, assign, bucket_ranges

#: GrowthBook's default: a sample ratio mismatch is flagged below this p-value.
SRM_THRESHOLD = 0.001
#: Above this smallest Beta parameter, the chance to win uses the normal approximation
#: (the exact sum costs one term per unit of that parameter).
EXACT_LIMIT = 100_000

_NORMAL = NormalDist()

Interval = tuple[float, float]


# ---- one variation against the control ----------------------------------------------------


@dataclass(frozen=True)
class VariationResult:
    """One variation's figures; the comparisons are against the control (variation 0), and
    are None for the control itself and whenever a group has no users (see the module doc).
    ``absolute_ci`` and ``relative_ci`` are the two-sided intervals at the confidence asked."""

    variation: int
    users: int
    conversions: int
    rate: float | None
    absolute_uplift: float | None = None
    absolute_ci: Interval | None = None
    relative_uplift: float | None = None
    relative_ci: Interval | None = None
    z: float | None = None
    p_value: float | None = None
    chance_to_win: float | None = None


def _check_counts(users: int, conversions: int) -> None:
    if users < 0 or conversions < 0 or conversions > users:
        raise ValueError(
            f"expected 0 <= conversions <= users; found {conversions} conversions for {users} users"
        )


def _quantile(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence is a number between 0 and 1; found {confidence}")
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


def wilson_interval(users: int, conversions: int, *, confidence: float = 0.95) -> Interval:
    """Wilson's score interval for a proportion (no continuity correction).

    >>> [round(x, 4) for x in wilson_interval(70, 56)]
    [0.6918, 0.877]
    >>> wilson_interval(10, 0)[0]
    0.0
    """
    _check_counts(users, conversions)
    if users == 0:
        raise ValueError("a proportion of 0 users has no interval")
    z = _quantile(confidence)
    p = conversions / users
    denominator = 1 + z * z / users
    centre = (p + z * z / (2 * users)) / denominator
    half = z * math.sqrt(p * (1 - p) / users + z * z / (4 * users * users)) / denominator
    low = 0.0 if conversions == 0 else max(0.0, centre - half)
    high = 1.0 if conversions == users else min(1.0, centre + half)
    return (low, high)


def newcombe_interval(
    control: tuple[int, int], variant: tuple[int, int], *, confidence: float = 0.95
) -> Interval:
    """Newcombe's hybrid score interval (method 10 of Newcombe 1998) for ``rate_variant -
    rate_control``; each group is ``(users, conversions)`` with at least one user.

    >>> [round(x, 4) for x in newcombe_interval((80, 48), (70, 56))]
    [0.0524, 0.3339]
    """
    (n0, x0), (n1, x1) = control, variant
    l0, u0 = wilson_interval(n0, x0, confidence=confidence)
    l1, u1 = wilson_interval(n1, x1, confidence=confidence)
    p0, p1 = x0 / n0, x1 / n1
    d = p1 - p0
    return (d - math.hypot(p1 - l1, u0 - p0), d + math.hypot(u1 - p1, p0 - l0))


def two_proportion_z_test(
    control: tuple[int, int], variant: tuple[int, int]
) -> tuple[float, float]:
    """``(z, p_value)`` of the two-sided two-proportion z-test with the pooled standard
    error; each group is ``(users, conversions)`` with at least one user. When the pooled rate
    is 0 or 1 (nothing to tell the groups apart) the answer is ``(0.0, 1.0)``.

    >>> z, p = two_proportion_z_test((11034, 189), (11037, 104))
    >>> round(z, 2), f"{p:.2e}"
    (-5.0, '5.69e-07')
    >>> two_proportion_z_test((10, 0), (20, 0))
    (0.0, 1.0)
    """
    (n0, x0), (n1, x1) = control, variant
    _check_counts(n0, x0)
    _check_counts(n1, x1)
    if n0 == 0 or n1 == 0:
        raise ValueError("the z-test needs users in both groups")
    pooled = (x0 + x1) / (n0 + n1)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    if se == 0:
        return (0.0, 1.0)
    z = (x1 / n1 - x0 / n0) / se
    return (z, math.erfc(abs(z) / math.sqrt(2)))


def relative_interval(
    control: tuple[int, int], variant: tuple[int, int], *, confidence: float = 0.95
) -> Interval | None:
    """The interval of ``rate_variant / rate_control - 1`` by the delta method on the ratio
    (GrowthBook's frequentist engine): variance ``v1 / (n1 m0^2) + v0 m1^2 / (n0 m0^4)`` with
    ``m`` the rates and ``v = m (1 - m)``. None when the control rate is 0.

    >>> [round(x, 4) for x in relative_interval((1000, 100), (1000, 130))]
    [-0.0192, 0.6192]
    """
    (n0, x0), (n1, x1) = control, variant
    if n0 == 0 or n1 == 0 or x0 == 0:
        return None
    m0, m1 = x0 / n0, x1 / n1
    variance = m1 * (1 - m1) / (n1 * m0**2) + m0 * (1 - m0) * m1**2 / (n0 * m0**4)
    half = _quantile(confidence) * math.sqrt(variance)
    centre = m1 / m0 - 1
    return (centre - half, centre + half)


# ---- Bayesian chance to win ---------------------------------------------------------------


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beats(a: tuple[int, int], b: tuple[int, int]) -> float:
    """``P(X_b > X_a)`` for ``X ~ Beta(alpha, beta)``, summing ``alpha_b`` terms (Evan Miller,
    "Formulas for Bayesian A/B Testing")."""
    (alpha_a, beta_a), (alpha_b, beta_b) = a, b
    base = _log_beta(alpha_a, beta_a)
    terms = (
        math.exp(
            _log_beta(alpha_a + i, beta_a + beta_b)
            - math.log(beta_b + i)
            - _log_beta(1 + i, beta_b)
            - base
        )
        for i in range(alpha_b)
    )
    return math.fsum(terms)


def chance_to_beat(
    control: tuple[int, int],
    variant: tuple[int, int],
    *,
    method: Literal["auto", "exact", "normal"] = "auto",
) -> float | None:
    """``P(p_variant > p_control)`` with Beta(1, 1) priors, each group ``(users,
    conversions)``; None when a group has no users. ``exact`` is Evan Miller's closed form,
    summed over the smallest of the four Beta parameters (by the symmetries ``P(B > A) = 1 -
    P(A > B)`` and ``p > q <=> 1 - p < 1 - q``); ``normal`` approximates each posterior by a
    normal of its mean and variance; ``auto`` is exact up to ``EXACT_LIMIT``.

    >>> round(chance_to_beat((100, 10), (100, 15)), 4)
    0.8533
    >>> chance_to_beat((0, 0), (10, 5)) is None
    True
    """
    (n0, x0), (n1, x1) = control, variant
    _check_counts(n0, x0)
    _check_counts(n1, x1)
    if n0 == 0 or n1 == 0:
        return None
    a = (1 + x0, 1 + n0 - x0)
    b = (1 + x1, 1 + n1 - x1)
    smallest = min(*a, *b)
    if method == "normal" or (method == "auto" and smallest > EXACT_LIMIT):
        mean_a, mean_b = a[0] / sum(a), b[0] / sum(b)
        var_a = a[0] * a[1] / (sum(a) ** 2 * (sum(a) + 1))
        var_b = b[0] * b[1] / (sum(b) ** 2 * (sum(b) + 1))
        return _NORMAL.cdf((mean_b - mean_a) / math.sqrt(var_a + var_b))
    flip_a, flip_b = (a[1], a[0]), (b[1], b[0])
    if smallest == b[0]:
        chance = _beats(a, b)
    elif smallest == a[0]:
        chance = 1 - _beats(b, a)
    elif smallest == a[1]:
        chance = _beats(flip_b, flip_a)  # p_b > p_a  <=>  1 - p_a > 1 - p_b
    else:
        chance = 1 - _beats(flip_a, flip_b)
    return min(1.0, max(0.0, chance))


# ---- all variations -----------------------------------------------------------------------


def compare(
    users: Sequence[int],
    conversions: Sequence[int],
    *,
    confidence: float = 0.95,
) -> list[VariationResult]:
    """Each variation's rate and, against variation 0, its uplifts, intervals, z-test and
    chance to win (see the module doc for the methods and the degenerate cases).

    >>> [r.rate for r in compare([0, 10], [0, 0])]
    [None, 0.0]
    >>> compare([10, 10], [0, 3])[1].relative_uplift is None
    True
    """
    if len(users) != len(conversions) or len(users) < 2:
        raise ValueError(
            "one count of users and one of conversions per variation, at least two; found "
            f"{len(users)} and {len(conversions)}"
        )
    for n, x in zip(users, conversions, strict=True):
        _check_counts(n, x)
    _quantile(confidence)
    n0, x0 = users[0], conversions[0]
    results = [VariationResult(0, n0, x0, x0 / n0 if n0 else None)]
    for i in range(1, len(users)):
        n1, x1 = users[i], conversions[i]
        if n0 == 0 or n1 == 0:
            results.append(VariationResult(i, n1, x1, x1 / n1 if n1 else None))
            continue
        p0, p1 = x0 / n0, x1 / n1
        z, p_value = two_proportion_z_test((n0, x0), (n1, x1))
        results.append(
            VariationResult(
                variation=i,
                users=n1,
                conversions=x1,
                rate=p1,
                absolute_uplift=p1 - p0,
                absolute_ci=newcombe_interval((n0, x0), (n1, x1), confidence=confidence),
                relative_uplift=p1 / p0 - 1 if x0 else None,
                relative_ci=relative_interval((n0, x0), (n1, x1), confidence=confidence),
                z=z,
                p_value=p_value,
                chance_to_win=chance_to_beat((n0, x0), (n1, x1)),
            )
        )
    return results


# ---- sample ratio mismatch ----------------------------------------------------------------


def expected_split(
    variations: int, *, weights: Sequence[float] | None = None, coverage: float = 1.0
) -> list[float]:
    """The share of the exposed users each variation should get: the widths of its bucket
    range (its weight times the coverage, with GrowthBook's fallback to equal weights for
    unusable ones), normalised. Coverage cancels out, unless it is 0 (then all are 0).

    >>> [round(s, 9) for s in expected_split(3, weights=[0.2, 0.3, 0.5], coverage=0.5)]
    [0.2, 0.3, 0.5]
    """
    widths = [
        end - start for start, end in bucket_ranges(variations, coverage=coverage, weights=weights)
    ]
    total = math.fsum(widths)
    return [w / total if total > 0 else 0.0 for w in widths]


def chi2_sf(statistic: float, df: int) -> float:
    """The chi-square survival function ``P(X >= statistic)`` for ``df >= 1`` degrees of
    freedom, in closed form (the regularized upper incomplete gamma function at half-integer
    or integer order).

    >>> round(chi2_sf(3.841458820694124, 1), 6), round(chi2_sf(5.991464547107979, 2), 6)
    (0.05, 0.05)
    """
    if df < 1:
        raise ValueError(f"the degrees of freedom are at least 1; found {df}")
    y = statistic / 2
    if y <= 0:
        return 1.0
    if math.isinf(y):
        return 0.0
    log_y = math.log(y)
    if df % 2 == 0:
        terms = [math.exp(-y + j * log_y - math.lgamma(j + 1)) for j in range(df // 2)]
        return min(1.0, math.fsum(terms))
    terms = [math.erfc(math.sqrt(y))]
    terms += [
        math.exp(-y + (j - 0.5) * log_y - math.lgamma(j + 0.5)) for j in range(1, (df + 1) // 2)
    ]
    return min(1.0, math.fsum(terms))


@dataclass(frozen=True)
class SampleRatioCheck:
    """The goodness-of-fit test of users per variation against the expected split:
    ``statistic``, degrees of freedom ``df`` (the variations expected to get users, minus
    one), ``p_value`` (None, and no mismatch, when there is no user or fewer than two
    variations expected to get users), ``expected`` users and the verdict ``mismatch``."""

    statistic: float | None
    df: int
    p_value: float | None
    expected: list[float]
    mismatch: bool
    threshold: float


def sample_ratio_mismatch(
    users: Sequence[int], split: Sequence[float], *, threshold: float = SRM_THRESHOLD
) -> SampleRatioCheck:
    """Pearson's chi-square goodness of fit of ``users`` per variation against ``split``
    (shares, normalised here); a mismatch when the p-value is below ``threshold``. A
    variation expected to get no user but that got some is a certain mismatch (statistic
    infinite, p-value 0).

    >>> sample_ratio_mismatch([5000, 5000], [0.5, 0.5]).p_value
    1.0
    >>> sample_ratio_mismatch([5000, 4500], [0.5, 0.5]).mismatch
    True
    """
    if len(users) != len(split):
        raise ValueError(
            f"one expected share per variation: {len(users)} variations, {len(split)} shares"
        )
    if any(n < 0 for n in users) or any(not s >= 0 or math.isinf(s) for s in split):
        raise ValueError("users and shares are numbers of at least 0")
    total = sum(users)
    share_total = math.fsum(split)
    expected = [total * s / share_total if share_total > 0 else 0.0 for s in split]
    live = [(n, e) for n, e in zip(users, expected, strict=True) if e > 0]
    stray = any(n > 0 and e <= 0 for n, e in zip(users, expected, strict=True))
    df = max(len(live) - 1, 0)
    if total == 0 or (df == 0 and not stray):
        return SampleRatioCheck(None, df, None, expected, False, threshold)
    if stray:
        return SampleRatioCheck(math.inf, df, 0.0, expected, True, threshold)
    statistic = math.fsum((n - e) ** 2 / e for n, e in live)
    p_value = chi2_sf(statistic, df)
    return SampleRatioCheck(statistic, df, p_value, expected, p_value < threshold, threshold)


# ---- the replay: why the ratio is off -----------------------------------------------------


@dataclass(frozen=True)
class Exposure:
    """One recorded exposure: the user's hash attribute, the variation the user was recorded
    in, and the source that recorded it (an SDK, a server, an import)."""

    user: str
    variation: int
    source: str


@dataclass(frozen=True)
class Replay:
    """What recomputing the assignment says about the recorded exposures.

    ``exposures`` and ``disagreeing`` count exposures in total, by recorded variation and by
    source; an exposure disagrees when the recomputed variation differs from the recorded one,
    or when the hash puts the user outside the experiment (also counted in ``outside``).
    ``users`` counts each user once, in the variation of their first exposure (the counts for
    the sample ratio check), and ``conflicting_users`` those recorded in more than one
    variation."""

    exposures: int
    disagreeing: int
    outside: int
    exposures_by_variation: dict[int, int] = field(default_factory=dict)
    disagreeing_by_variation: dict[int, int] = field(default_factory=dict)
    exposures_by_source: dict[str, int] = field(default_factory=dict)
    disagreeing_by_source: dict[str, int] = field(default_factory=dict)
    users_by_variation: dict[int, int] = field(default_factory=dict)
    users: int = 0
    conflicting_users: int = 0


def replay(exposures: Iterable[Exposure], recompute: Callable[[str], int | None]) -> Replay:
    """Replay ``exposures`` (in time order) against ``recompute``, which gives a user's
    variation or None when the hash puts the user outside the experiment (see
    :func:`assigner`).

    >>> recompute = {"u1": 0, "u2": 1, "u3": None}.get
    >>> r = replay([Exposure("u1", 0, "js"), Exposure("u2", 0, "ios"),
    ...             Exposure("u2", 1, "js"), Exposure("u3", 1, "js")], recompute)
    >>> r.disagreeing, r.disagreeing_by_source, r.users_by_variation, r.conflicting_users
    (2, {'ios': 1, 'js': 1}, {0: 2, 1: 1}, 1)
    """
    count = outside = bad = 0
    by_variation: dict[int, int] = {}
    bad_by_variation: dict[int, int] = {}
    by_source: dict[str, int] = {}
    bad_by_source: dict[str, int] = {}
    first: dict[str, int] = {}
    conflicting: set[str] = set()
    memo: dict[str, int | None] = {}
    for exposure in exposures:
        user, variation, source = exposure.user, exposure.variation, exposure.source
        count += 1
        by_variation[variation] = by_variation.get(variation, 0) + 1
        by_source[source] = by_source.get(source, 0) + 1
        if user not in memo:
            memo[user] = recompute(user)
        expected = memo[user]
        if expected is None:
            outside += 1
        if expected != variation:
            bad += 1
            bad_by_variation[variation] = bad_by_variation.get(variation, 0) + 1
            bad_by_source[source] = bad_by_source.get(source, 0) + 1
        seen = first.setdefault(user, variation)
        if seen != variation:
            conflicting.add(user)
    users_by_variation: dict[int, int] = {}
    for variation in first.values():
        users_by_variation[variation] = users_by_variation.get(variation, 0) + 1
    return Replay(
        exposures=count,
        disagreeing=bad,
        outside=outside,
        exposures_by_variation=dict(sorted(by_variation.items())),
        disagreeing_by_variation=dict(sorted(bad_by_variation.items())),
        exposures_by_source=dict(sorted(by_source.items())),
        disagreeing_by_source=dict(sorted(bad_by_source.items())),
        users_by_variation=dict(sorted(users_by_variation.items())),
        users=len(first),
        conflicting_users=len(conflicting),
    )


def assigner(
    *,
    key: str,
    variations: int,
    weights: Sequence[float] | None = None,
    coverage: float = 1.0,
    seed: str | None = None,
    hash_version: int = 2,
    namespace: Namespace | None = None,
    force: int | None = None,
) -> Callable[[str], int | None]:
    """The ``recompute`` of :func:`replay` for an experiment as it ran: the variation
    :func:`growthos_pipeline.experiments.assign.assign` gives a user, None outside the
    experiment. The experiment counts as active (a stopped experiment's exposures were
    recorded while it ran).

    >>> assigner(key="feature", variations=3, hash_version=1)("123")
    2
    """

    def recompute(user: str) -> int | None:
        result = assign(
            user,
            key=key,
            variations=variations,
            weights=weights,
            coverage=coverage,
            seed=seed,
            hash_version=hash_version,
            namespace=namespace,
            force=force,
        )
        return result.variation if result.in_experiment else None

    return recompute
