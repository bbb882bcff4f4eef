"""An experiment's results from the lake: its exposures joined to its goal metric, compared
with :mod:`growthos_pipeline.experiments.stats`, with a sample-ratio check that explains itself
by replaying the assignment.

Exposures
---------
An exposure is an event of one of the types :data:`EXPOSURE_EVENTS` whose properties name the
experiment's key (under one of :data:`EXPERIMENT_PROPERTIES`) and a variation (under one of
:data:`VARIATION_PROPERTIES`, the first one present). The shapes this accepts:

========================================  ===================================================
sent as                                   stored as
========================================  ===================================================
GrowthBook's tracking plugin              ``experiment_viewed`` with ``experiment_id``,
(``/growthbook/track``)                   ``variation_id`` (the index), ``hash_attribute``,
                                          ``hash_value``
a ``trackingCallback`` sending            ``$experiment_viewed``, ``experiment_viewed`` or
``$experiment_viewed``-style events       ``Experiment Viewed`` with ``experiment_id`` or
(any protocol: GrowthOS, Segment,         ``experimentId``, and ``variation_id`` or
Amplitude, PostHog)                       ``variationId`` (an index, or a variation's key)
GrowthOS's own                            ``$exposure`` with ``experiment`` (the key) and
                                          ``variation`` (an index or a key)
========================================  ===================================================

A variation given as a number (or digits) is the variation of that index; other text is a
variation's ``key`` (GrowthBook's ``result.key``, which is the index as text when the variation
has no key). An exposure naming no variation of the experiment is counted in
``unknown_variation`` and left out.

Rules
-----
* The window is ``[start, end)``: given, else the latest phase's ``started_at`` to its
  ``ended_at`` (or now), else the experiment's creation to now. Exposures and goal events are
  read from one snapshot of the lake (its version is ``lake_version``), deduplicated and with
  users resolved as queries resolve them: the user id, else the device's identified user, else
  the device id.
* A user counts once, in the variation of their first exposure. A user exposed to more than
  one variation is counted in ``conflicting_users`` and left out of the comparison (their
  outcome cannot be attributed to one variation); ``repeated_users`` counts users exposed
  more than once.
* A user converts when an event matching the goal happens at or after their first exposure,
  before the window ends.
* Per variation: users, conversions, the rate with its Wilson interval, and against the
  control (variation 0) the uplifts with their intervals, the z-test p-value and the chance to
  beat the control (:func:`growthos_pipeline.experiments.stats.compare`).
* The sample-ratio check compares the users compared per variation with the split the
  experiment's weights and coverage give (all to the forced variation when ``force`` is set).
* The replay recomputes every exposure's variation from the hash of its ``hash_value``
  (else the event's ``attributes[<hash_attribute>]``, else the user) with the experiment's
  seed, hash version, weights, coverage and namespace, and counts the exposures that disagree
  with the recorded variation, per variation and per source (the sending library, else the
  protocol).

Examples
--------
>>> import tempfile
>>> from datetime import UTC, datetime
>>> from growthos_pipeline.experiments.config import ExperimentCreate
>>> from growthos_pipeline.settings import Settings
>>> exp = ExperimentCreate(key="checkout", status="running", goal='event_type = "purchase"',
...                        variations=[{"value": "a"}, {"value": "b"}])
>>> results = analyze(Settings(data_dir=tempfile.mkdtemp()), "proj_1", exp,
...                   start=datetime(2026, 3, 1, tzinfo=UTC), end=datetime(2026, 3, 8, tzinfo=UTC))
>>> [(v.variation, v.users, v.rate) for v in results.variations]
[(0, 0, None), (1, 0, None)]
>>> results.srm.p_value, results.lake_version
(None, None)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict

from growthos_pipeline.errors import BadRequest
from growthos_pipeline.experiments.config import ExperimentCreate
from growthos_pipeline.experiments.goal import check_goal, goal_query, stamp
from growthos_pipeline.experiments.stats import (
    SRM_THRESHOLD,
    Exposure,
    Replay,
    SampleRatioCheck,
    assigner,
    compare,
    expected_split,
    replay,
    sample_ratio_mismatch,
    wilson_interval,
)
from growthos_pipeline.query import guard
from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.run import borrowed_snapshot
from growthos_pipeline.query.to_polars import to_polars
from growthos_pipeline.settings import Settings

#: Event types read as exposures.
EXPOSURE_EVENTS = ("experiment_viewed", "$experiment_viewed", "Experiment Viewed", "$exposure")
#: Properties naming the experiment's key (any of them).
EXPERIMENT_PROPERTIES = ("experiment_id", "experimentId", "experiment")
#: Properties naming the variation (the first one present).
VARIATION_PROPERTIES = ("variation_id", "variationId", "variation")

Interval = tuple[float, float]


# ---- the results --------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VariationResults(_Model):
    """One variation's figures (the comparisons are against the control, None for the
    control itself and whenever a group has no users), and its exposures in the replay."""

    variation: int
    key: str
    name: str | None = None
    users: int
    conversions: int
    rate: float | None
    rate_ci: Interval | None = None
    absolute_uplift: float | None = None
    absolute_ci: Interval | None = None
    relative_uplift: float | None = None
    relative_ci: Interval | None = None
    z: float | None = None
    p_value: float | None = None
    chance_to_win: float | None = None
    expected_share: float
    exposures: int = 0
    disagreeing_exposures: int = 0


class SampleRatio(_Model):
    """The goodness-of-fit test of users per variation against the expected split;
    ``statistic`` is None when there is nothing to test, or when a variation expected to get
    nobody got users (then ``p_value`` is 0 and ``mismatch`` true)."""

    statistic: float | None
    df: int
    p_value: float | None
    expected_users: list[float]
    mismatch: bool
    threshold: float


class ExposureCounts(_Model):
    """The exposures read: ``events`` (deduplicated), distinct ``users``, ``repeated_users``
    (exposed more than once), ``conflicting_users`` (exposed to more than one variation: left
    out), ``unknown_variation`` (events naming no variation of the experiment: left out)."""

    events: int
    users: int
    repeated_users: int
    conflicting_users: int
    unknown_variation: int


class SourceReplay(_Model):
    source: str
    exposures: int
    disagreeing_exposures: int


class ReplaySummary(_Model):
    """The replay of every exposure against the hash: how many disagree with the recorded
    variation (``outside``: the hash puts the user outside the experiment), per source."""

    exposures: int
    disagreeing_exposures: int
    outside: int
    hashed_users: int
    sources: list[SourceReplay]


class ExperimentResults(_Model):
    """An experiment's results as the ``experiment_results`` asset stores them and
    ``GET /v1/projects/{project_id}/experiments/{experiment_id}/results`` serves them."""

    experiment: str
    goal: str
    start: datetime
    end: datetime
    computed_at: datetime
    lake_version: int | None
    confidence: float
    variations: list[VariationResults]
    srm: SampleRatio
    exposures: ExposureCounts
    replay: ReplaySummary
    #: True when read from the ``experiment_results`` table, False when computed on demand.
    stored: bool = False

    @property
    def frame(self) -> pl.DataFrame:
        """One row per variation: the figures, intervals as ``*_low`` / ``*_high``.

        >>> from datetime import UTC, datetime
        >>> results = analyze_frames(
        ...     ExperimentCreate(key="k", variations=[{"value": 0}, {"value": 1}]),
        ...     "event_type = 'buy'", empty_exposures(), empty_goals(),
        ...     start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 2, tzinfo=UTC))
        >>> results.frame.columns[:6]
        ['variation', 'key', 'name', 'users', 'conversions', 'rate']
        """
        rows = []
        for v in self.variations:
            row = v.model_dump(exclude={"rate_ci", "absolute_ci", "relative_ci"})
            for name in ("rate_ci", "absolute_ci", "relative_ci"):
                interval = getattr(v, name)
                stem = name.removesuffix("_ci")
                row[f"{stem}_low"], row[f"{stem}_high"] = interval or (None, None)
            rows.append(row)
        order = [
            "variation",
            "key",
            "name",
            "users",
            "conversions",
            "rate",
            "rate_low",
            "rate_high",
            "absolute_uplift",
            "absolute_low",
            "absolute_high",
            "relative_uplift",
            "relative_low",
            "relative_high",
            "z",
            "p_value",
            "chance_to_win",
            "expected_share",
            "exposures",
            "disagreeing_exposures",
        ]
        schema = {
            name: (
                pl.Int64
                if name
                in ("variation", "users", "conversions", "exposures", "disagreeing_exposures")
                else pl.String
                if name in ("key", "name")
                else pl.Float64
            )
            for name in order
        }
        return pl.DataFrame(rows, schema=schema).select(order)

    @property
    def sources(self) -> pl.DataFrame:
        """The replay per source: ``source``, ``exposures``, ``disagreeing_exposures``."""
        return pl.DataFrame(
            [s.model_dump() for s in self.replay.sources],
            schema={"source": pl.String, "exposures": pl.Int64, "disagreeing_exposures": pl.Int64},
        )

    def plot(self, *, title: str | None = None) -> Any:
        """:func:`growthos_pipeline.plots.experiment` of these results (needs plotly)."""
        from growthos_pipeline import plots

        return plots.experiment(self, title=title)


# ---- the window ---------------------------------------------------------------------------


def results_window(
    exp: ExperimentCreate,
    *,
    created_at: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """``[start, end)`` of the analysis (see the module doc); ``400 invalid_results_window``
    when it is empty.

    >>> from datetime import timedelta
    >>> exp = ExperimentCreate(key="k", variations=[{"value": 0}, {"value": 1}],
    ...     phases=[{"started_at": "2026-02-01T00:00:00Z", "ended_at": "2026-02-15T00:00:00Z"}])
    >>> [d.date().isoformat() for d in results_window(exp)]
    ['2026-02-01', '2026-02-15']
    """
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    phase = exp.phases[-1] if exp.phases else None
    begin = start or (phase.started_at if phase else created_at)
    if begin is None:
        raise BadRequest(
            "invalid_results_window",
            f"the experiment '{exp.key}' has no phase: give the start of its results",
        )
    finish = end or (phase.ended_at if phase and phase.ended_at else moment)
    begin, finish = begin.astimezone(UTC), finish.astimezone(UTC)
    if finish <= begin:
        raise BadRequest(
            "invalid_results_window",
            f"the results window is empty: from {begin.isoformat()} to {finish.isoformat()}",
            details=[{"start": begin.isoformat(), "end": finish.isoformat()}],
        )
    return begin, finish


# ---- reading the lake ---------------------------------------------------------------------


def _string(text: str) -> str:
    """``text`` as a query-language string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exposure_query(key: str, start: datetime, end: datetime, *, hash_attribute: str = "id") -> str:
    """The query that lists the experiment's exposures in ``[start, end)``.

    >>> print(exposure_query("checkout", datetime(2026, 3, 1, tzinfo=UTC),
    ...                      datetime(2026, 3, 8, tzinfo=UTC)))  # doctest: +NORMALIZE_WHITESPACE
    event_type in ("experiment_viewed", "$experiment_viewed", "Experiment Viewed", "$exposure")
      and (prop.experiment_id = "checkout" or prop.experimentId = "checkout"
           or prop.experiment = "checkout")
    | from 2026-03-01T00:00:00.000000Z to 2026-03-08T00:00:00.000000Z
    | select time, event_id, user_id, device_id, source, library,
        prop.variation_id as v0, prop.variationId as v1, prop.variation as v2,
        prop.hash_value as hash_value, prop.attributes["id"] as attribute
    """
    events = ", ".join(_string(e) for e in EXPOSURE_EVENTS)
    named = "\n       or ".join(f"prop.{p} = {_string(key)}" for p in EXPERIMENT_PROPERTIES)
    variations = ", ".join(f"prop.{p} as v{i}" for i, p in enumerate(VARIATION_PROPERTIES))
    return (
        f"event_type in ({events})\n  and ({named})\n"
        f"| from {stamp(start)} to {stamp(end)}\n"
        f"| select time, event_id, user_id, device_id, source, library,\n"
        f"    {variations},\n"
        f"    prop.hash_value as hash_value, "
        f"prop.attributes[{_string(hash_attribute)}] as attribute"
    )


def empty_exposures() -> pl.DataFrame:
    """The columns :func:`exposure_query` answers, without rows."""
    text = pl.String
    schema: dict[str, Any] = {
        "time": pl.Datetime("us", "UTC"),
        "event_id": text,
        "user_id": text,
        "device_id": text,
        "source": text,
        "library": text,
        **{f"v{i}": text for i in range(len(VARIATION_PROPERTIES))},
        "hash_value": text,
        "attribute": text,
    }
    return pl.DataFrame(schema=schema)


def empty_goals() -> pl.DataFrame:
    """The columns :func:`growthos_pipeline.experiments.goal.goal_query` answers."""
    return pl.DataFrame(
        schema={"time": pl.Datetime("us", "UTC"), "user_id": pl.String, "device_id": pl.String}
    )


def read_lake(
    settings: Settings, project_id: str, texts: Sequence[str], *, as_of: int | None = None
) -> tuple[list[pl.DataFrame], int | None]:
    """Run the queries ``texts`` for ``project_id`` on one snapshot of the lake (``as_of``,
    else the latest); their frames and the version read."""
    compiled = [compile_query(text, project_id) for text in texts]
    for c in compiled:
        guard.check(c.tree, project_id)
    with borrowed_snapshot(settings, project_id, as_of) as snap:
        lazy = [to_polars(c.tree, snap.frames, dedup_dates=snap.dedup_dates) for c in compiled]
        return pl.collect_all(lazy), snap.version


# ---- the analysis -------------------------------------------------------------------------


def variation_names(exp: ExperimentCreate) -> dict[str, int]:
    """Each text that names a variation: its key, and its index as digits (which wins).

    >>> variation_names(ExperimentCreate(key="k", variations=[
    ...     {"value": 0, "key": "control"}, {"value": 1, "key": "one-page"}]))
    {'control': 0, 'one-page': 1, '0': 0, '1': 1}
    """
    names = {v.key: i for i, v in enumerate(exp.variations) if v.key is not None}
    names.update({str(i): i for i in range(len(exp.variations))})
    return names


def _variation(raw: str | None, names: dict[str, int], count: int) -> int | None:
    if raw is None:
        return None
    text = raw.strip()
    try:
        number = float(text)
    except ValueError:
        return names.get(text)
    if math.isfinite(number) and number.is_integer() and 0 <= number < count:
        return int(number)
    return names.get(text)


def _split(exp: ExperimentCreate) -> list[float]:
    count = len(exp.variations)
    if exp.force is not None:
        return [1.0 if i == exp.force else 0.0 for i in range(count)]
    return expected_split(count, weights=exp.weights, coverage=exp.coverage)


def _srm(check: SampleRatioCheck) -> SampleRatio:
    statistic = check.statistic
    if statistic is not None and math.isinf(statistic):  # JSON has no infinity
        statistic = None
    return SampleRatio(
        statistic=statistic,
        df=check.df,
        p_value=check.p_value,
        expected_users=list(check.expected),
        mismatch=check.mismatch,
        threshold=check.threshold,
    )


def _replay(exp: ExperimentCreate, exposures: pl.DataFrame) -> Replay:
    ns = exp.namespace
    recompute = assigner(
        key=exp.key,
        variations=len(exp.variations),
        weights=exp.weights,
        coverage=exp.coverage,
        seed=exp.seed,
        hash_version=exp.hash_version,
        namespace=(ns.id, ns.start, ns.end) if ns else None,
        force=exp.force,
    )
    rows = exposures.select("hash_input", "variation", "source_label").iter_rows()
    return replay((Exposure(str(h), int(v), str(s)) for h, v, s in rows), recompute)


def analyze_frames(
    exp: ExperimentCreate,
    goal: str,
    exposures: pl.DataFrame,
    goals: pl.DataFrame,
    *,
    start: datetime,
    end: datetime,
    lake_version: int | None = None,
    confidence: float = 0.95,
    threshold: float = SRM_THRESHOLD,
    now: datetime | None = None,
) -> ExperimentResults:
    """The results from the frames :func:`exposure_query` and ``goal_query`` answer (see the
    module doc for the rules)."""
    count = len(exp.variations)
    names = variation_names(exp)
    raw = pl.coalesce(*(pl.col(f"v{i}") for i in range(len(VARIATION_PROPERTIES))))
    read = exposures.with_columns(
        actor=pl.coalesce("user_id", "device_id"),
        raw_variation=raw,
        source_label=pl.coalesce("library", "source", pl.lit("unknown")),
    ).filter(pl.col("actor").is_not_null())
    mapping = {
        value: _variation(value, names, count)
        for value in read["raw_variation"].unique().to_list()
        if value is not None
    }
    read = read.with_columns(
        variation=pl.col("raw_variation").replace_strict(
            mapping, default=None, return_dtype=pl.Int64
        )
    )
    known = read.filter(pl.col("variation").is_not_null()).sort("time", "event_id")
    known = known.with_columns(hash_input=pl.coalesce("hash_value", "attribute", "actor"))
    per_user = known.group_by("actor").agg(
        first_time=pl.col("time").min(),
        variation=pl.col("variation").sort_by("time", "event_id").first(),
        variations=pl.col("variation").n_unique(),
        exposures=pl.len(),
    )
    compared = per_user.filter(pl.col("variations") == 1)
    goal_events = goals.select(actor=pl.coalesce("user_id", "device_id"), time="time").drop_nulls()
    converted = (
        goal_events.join(compared.select("actor", "first_time"), on="actor")
        .filter(pl.col("time") >= pl.col("first_time"))
        .select("actor")
        .unique()
    )
    counts = (
        compared.with_columns(converted=pl.col("actor").is_in(converted["actor"].implode()))
        .group_by("variation")
        .agg(users=pl.len(), conversions=pl.col("converted").sum())
    )
    by_variation = {int(v): (int(n), int(x)) for v, n, x in counts.iter_rows()}
    users = [by_variation.get(i, (0, 0))[0] for i in range(count)]
    conversions = [by_variation.get(i, (0, 0))[1] for i in range(count)]
    figures = compare(users, conversions, confidence=confidence)
    split = _split(exp)
    check = sample_ratio_mismatch(users, split, threshold=threshold)
    why = _replay(exp, known)
    variations = [
        VariationResults(
            variation=i,
            key=variation.key or str(i),
            name=variation.name,
            users=f.users,
            conversions=f.conversions,
            rate=f.rate,
            rate_ci=wilson_interval(f.users, f.conversions, confidence=confidence)
            if f.users
            else None,
            absolute_uplift=f.absolute_uplift,
            absolute_ci=f.absolute_ci,
            relative_uplift=f.relative_uplift,
            relative_ci=f.relative_ci,
            z=f.z,
            p_value=f.p_value,
            chance_to_win=f.chance_to_win,
            expected_share=split[i] / math.fsum(split) if math.fsum(split) > 0 else 0.0,
            exposures=why.exposures_by_variation.get(i, 0),
            disagreeing_exposures=why.disagreeing_by_variation.get(i, 0),
        )
        for i, (variation, f) in enumerate(zip(exp.variations, figures, strict=True))
    ]
    return ExperimentResults(
        experiment=exp.key,
        goal=goal,
        start=start,
        end=end,
        computed_at=(now or datetime.now(UTC)).astimezone(UTC),
        lake_version=lake_version,
        confidence=confidence,
        variations=variations,
        srm=_srm(check),
        exposures=ExposureCounts(
            events=read.height,
            users=read["actor"].n_unique(),
            repeated_users=per_user.filter(pl.col("exposures") > 1).height,
            conflicting_users=per_user.height - compared.height,
            unknown_variation=read.height - known.height,
        ),
        replay=ReplaySummary(
            exposures=why.exposures,
            disagreeing_exposures=why.disagreeing,
            outside=why.outside,
            hashed_users=why.users,
            sources=[
                SourceReplay(
                    source=source,
                    exposures=n,
                    disagreeing_exposures=why.disagreeing_by_source.get(source, 0),
                )
                for source, n in why.exposures_by_source.items()
            ],
        ),
    )


def analyze(
    settings: Settings,
    project_id: str,
    exp: ExperimentCreate,
    *,
    goal: str | None = None,
    created_at: datetime | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    as_of: int | None = None,
    confidence: float = 0.95,
    threshold: float = SRM_THRESHOLD,
    now: datetime | None = None,
) -> ExperimentResults:
    """The results of ``exp`` in ``project_id`` from the lake (``as_of`` a version, else the
    latest), for ``goal`` (else the experiment's own): ``400 goal_required`` without one,
    ``400 invalid_goal`` for one that does not compile."""
    metric = goal if goal is not None else exp.goal
    if metric is None:
        raise BadRequest(
            "goal_required",
            f"the experiment '{exp.key}' has no goal: set its goal (one condition, like "
            'event_type = "purchase") or give one',
            details=[{"field": "goal"}],
        )
    check_goal(metric)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    begin, finish = results_window(exp, created_at=created_at, start=start, end=end, now=moment)
    texts = [
        exposure_query(exp.key, begin, finish, hash_attribute=exp.hash_attribute),
        goal_query(metric, begin, finish),
    ]
    (exposures, goals), version = read_lake(settings, project_id, texts, as_of=as_of)
    return analyze_frames(
        exp,
        metric,
        exposures,
        goals,
        start=begin,
        end=finish,
        lake_version=version,
        confidence=confidence,
        threshold=threshold,
        now=moment,
    )


def to_json(results: ExperimentResults) -> str:
    """``results`` as JSON text (how the ``experiment_results`` table keeps them)."""
    return json.dumps(results.model_dump(mode="json", exclude={"stored"}), separators=(",", ":"))


def from_json(text: str, *, stored: bool = True) -> ExperimentResults:
    """The inverse of :func:`to_json`."""
    return ExperimentResults.model_validate({**json.loads(text), "stored": stored})
