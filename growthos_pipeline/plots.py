"""Figures of query answers, drawn with Plotly (the ``notebook`` extra: ``pip install
growthos-pipeline[notebook]``). Plotly is imported when a figure is drawn, so the core runs
without it.

Each helper takes the DataFrame a query answers and knows the shape the query language gives:

============  ======================================================  =========================
helper        answer it draws                                          figure
============  ======================================================  =========================
``trend``     ``... | count, uniq(user_id) by day[, group]``: a time  one line per measure (and
              bucket column (minute..month) and numbers                group value)
``funnel``    ``... | funnel a -> b -> c [by g]``: ``step``,           a funnel, one per group
              ``step_name``, ``users``, ``conversion``
``retention`` ``... | retention a -> b``: ``cohort``, ``period``,      a cohort x period heatmap
              ``cohort_users``, ``users``, ``pct``                     of ``pct``
``bar``       ``... | count by _browser``: groups and numbers          bars, one per measure
``auto``      any of the above                                         the fitting one
``experiment`` an experiment's results (``ws.experiment_results(key)``  each variation's rate
              or its ``frame``)                                        and, against the control,
                                                                       its relative uplift, with
                                                                       their intervals
============  ======================================================  =========================

Examples
--------
>>> import polars as pl
>>> from datetime import datetime
>>> answer = pl.DataFrame({"day": [datetime(2026, 1, 1), datetime(2026, 1, 2)],
...                        "count": [120, 140]})
>>> fig = auto(answer)
>>> [trace.type for trace in fig.data], list(fig.data[0].y)
(['scatter'], [120, 140])
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl

from growthos_pipeline.errors import BadRequest

FUNNEL_COLUMNS = ("step", "step_name", "users", "conversion")
RETENTION_COLUMNS = ("cohort", "period", "cohort_users", "users", "pct")
EXPERIMENT_COLUMNS = (
    "variation",
    "key",
    "users",
    "rate",
    "rate_low",
    "rate_high",
    "relative_uplift",
    "relative_low",
    "relative_high",
    "chance_to_win",
    "p_value",
)
#: The most lines :func:`auto` draws in one trend.
MAX_LINES = 30


def _go() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:  # pragma: no cover - the notebook extra installs it
        raise ImportError(
            "plots need plotly: pip install 'growthos-pipeline[notebook]' (or plotly)"
        ) from None
    return go


def _temporal(frame: pl.DataFrame) -> list[str]:
    return [name for name, dtype in frame.schema.items() if dtype.is_temporal()]


def _numeric(frame: pl.DataFrame, skip: set[str]) -> list[str]:
    return [name for name, dtype in frame.schema.items() if dtype.is_numeric() and name not in skip]


def _label(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _missing(frame: pl.DataFrame, needed: tuple[str, ...], what: str) -> None:
    absent = [name for name in needed if name not in frame.columns]
    if absent:
        raise BadRequest(
            "plot_shape_mismatch",
            f"a {what} plot needs the columns {', '.join(needed)} (what `| {what} ...` "
            f"answers); missing: {', '.join(absent)}, found: {', '.join(frame.columns)}",
        )


def _groups(frame: pl.DataFrame, by: list[str]) -> list[tuple[str, pl.DataFrame]]:
    if not by:
        return [("", frame)]
    parts = frame.partition_by(by, maintain_order=True, as_dict=True)
    return [(" · ".join(_label(v) for v in key), part) for key, part in parts.items()]


def _finish(fig: Any, title: str | None, **layout: Any) -> Any:
    fig.update_layout(title=title, template="plotly_white", legend_title_text="", **layout)
    return fig


def trend(
    frame: pl.DataFrame,
    *,
    x: str | None = None,
    y: str | list[str] | None = None,
    by: str | list[str] | None = None,
    title: str | None = None,
) -> Any:
    """Lines over time: one per measure ``y`` and value of ``by``.

    ``x`` defaults to the answer's first time column (the bucket of ``by day``/``by week``...),
    ``y`` to its numeric columns and ``by`` to its other columns.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> answer = pl.DataFrame({
    ...     "day": [datetime(2026, 1, 1)] * 2 + [datetime(2026, 1, 2)] * 2,
    ...     "_device_type": ["desktop", "mobile"] * 2,
    ...     "count": [10, 4, 12, 6]})
    >>> fig = trend(answer)
    >>> [(t.name, list(t.y)) for t in fig.data]
    [('desktop', [10, 12]), ('mobile', [4, 6])]
    """
    go = _go()
    times = _temporal(frame)
    x = x or (times[0] if times else None)
    if x is None or x not in frame.columns:
        raise BadRequest(
            "plot_shape_mismatch",
            "a trend needs a time column: group by minute, hour, day, week or month "
            f"(e.g. `| count by day`); found: {', '.join(frame.columns)}",
        )
    measures = [y] if isinstance(y, str) else list(y or _numeric(frame, {x}))
    if by is None:
        groups = [c for c in frame.columns if c != x and c not in measures]
    else:
        groups = [by] if isinstance(by, str) else list(by)
    fig = go.Figure()
    for name, part in _groups(frame.sort(x), groups):
        for measure in measures:
            label = " · ".join(p for p in (name, measure if len(measures) > 1 else "") if p)
            fig.add_trace(
                go.Scatter(
                    x=part[x].to_list(),
                    y=part[measure].to_list(),
                    mode="lines+markers",
                    name=label or measure,
                )
            )
    ytitle = measures[0] if len(measures) == 1 else None
    return _finish(fig, title, xaxis_title=x, yaxis_title=ytitle, hovermode="x unified")


def funnel(frame: pl.DataFrame, *, title: str | None = None) -> Any:
    """A funnel of ``users`` per step, with the conversion from step 1; with ``by``, one funnel
    per group side by side.

    Examples
    --------
    >>> import polars as pl
    >>> answer = pl.DataFrame({"step": [1, 2, 3], "step_name": ["visit", "signup", "buy"],
    ...                        "users": [100, 30, 6], "conversion": [1.0, 0.3, 0.06]})
    >>> fig = funnel(answer)
    >>> fig.data[0].type, list(fig.data[0].y), list(fig.data[0].x)
    ('funnel', ['1. visit', '2. signup', '3. buy'], [100, 30, 6])
    """
    go = _go()
    _missing(frame, FUNNEL_COLUMNS, "funnel")
    groups = [c for c in frame.columns if c not in FUNNEL_COLUMNS]
    fig = go.Figure()
    for name, part in _groups(frame, groups):
        part = part.sort("step")
        fig.add_trace(
            go.Funnel(
                y=[f"{s}. {n}" for s, n in zip(part["step"], part["step_name"], strict=True)],
                x=part["users"].to_list(),
                customdata=part["conversion"].to_list(),
                texttemplate="%{value:,} (%{customdata:.1%})",
                hovertemplate="%{y}: %{x:,} users, %{customdata:.1%} of step 1<extra></extra>",
                name=name or "users",
            )
        )
    return _finish(fig, title, showlegend=bool(groups))


def retention(frame: pl.DataFrame, *, value: str = "pct", title: str | None = None) -> Any:
    """A cohort x period heatmap of ``value`` (``pct`` of the cohort by default, or ``users``);
    each row is labelled with its cohort and size.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> answer = pl.DataFrame({
    ...     "cohort": [datetime(2026, 1, 5)] * 2 + [datetime(2026, 1, 12)] * 2,
    ...     "period": [0, 1, 0, 1], "cohort_users": [10, 10, 8, 8],
    ...     "users": [10, 4, 8, 0], "pct": [100.0, 40.0, 100.0, 0.0]})
    >>> fig = retention(answer)
    >>> fig.data[0].type, list(fig.data[0].y), [list(row) for row in fig.data[0].z]
    ('heatmap', ['2026-01-05 (10)', '2026-01-12 (8)'], [[100.0, 40.0], [100.0, 0.0]])
    """
    go = _go()
    _missing(frame, RETENTION_COLUMNS, "retention")
    periods = sorted(frame["period"].unique().to_list())
    cohorts = frame.select("cohort", "cohort_users").unique().sort("cohort")
    grid = {(row["cohort"], row["period"]): row[value] for row in frame.iter_rows(named=True)}
    z = [[grid.get((c, p)) for p in periods] for c in cohorts["cohort"].to_list()]
    labels = [
        f"{_label(c)} ({n:,})"
        for c, n in zip(cohorts["cohort"], cohorts["cohort_users"], strict=True)
    ]
    fmt = "%{z:.1f}%" if value == "pct" else "%{z:,}"
    fig = go.Figure(
        go.Heatmap(
            x=[str(p) for p in periods],
            y=labels,
            z=z,
            colorscale="Blues",
            texttemplate=fmt,
            hovertemplate=f"cohort %{{y}}, period %{{x}}: {fmt}<extra></extra>",
            colorbar={"title": value},
        )
    )
    return _finish(
        fig, title, xaxis_title="period", yaxis_title="cohort (users)", yaxis_autorange="reversed"
    )


def bar(
    frame: pl.DataFrame,
    *,
    x: str | None = None,
    y: str | list[str] | None = None,
    title: str | None = None,
) -> Any:
    """Bars of each measure ``y`` per value of ``x`` (default: the first non-numeric column;
    further group columns are joined into the label).

    Examples
    --------
    >>> import polars as pl
    >>> answer = pl.DataFrame({"_browser": ["Chrome", "Safari"], "count": [120, 45]})
    >>> fig = bar(answer)
    >>> fig.data[0].type, list(fig.data[0].x), list(fig.data[0].y)
    ('bar', ['Chrome', 'Safari'], [120, 45])
    """
    go = _go()
    measures = [y] if isinstance(y, str) else list(y or _numeric(frame, {x} if x else set()))
    keys = [x] if x else [c for c in frame.columns if c not in measures]
    if keys:
        labels = [" · ".join(_label(v) for v in row) for row in frame.select(keys).iter_rows()]
    else:
        labels = [str(i + 1) for i in range(frame.height)]
    fig = go.Figure([go.Bar(x=labels, y=frame[m].to_list(), name=m) for m in measures])
    return _finish(
        fig,
        title,
        xaxis_title=" · ".join(keys) or None,
        barmode="group",
        showlegend=len(measures) > 1,
    )


def auto(frame: pl.DataFrame, *, title: str | None = None) -> Any:
    """The fitting figure for an answer: a funnel, a retention grid, a trend when a column is a
    time, else bars.

    Examples
    --------
    >>> import polars as pl
    >>> auto(pl.DataFrame({"_os": ["iOS"], "count": [3]})).data[0].type
    'bar'
    """
    if all(c in frame.columns for c in FUNNEL_COLUMNS):
        return funnel(frame, title=title)
    if all(c in frame.columns for c in RETENTION_COLUMNS):
        return retention(frame, title=title)
    if "session_id" in frame.columns:
        raise BadRequest(
            "plot_shape_mismatch",
            "one row per session has no single figure: aggregate the sessions first, e.g. "
            "`| sessions | count, avg(duration_s) by day`",
        )
    times = _temporal(frame)
    if times and _numeric(frame, set()):
        keys = [c for c in frame.columns if c not in times and not frame[c].dtype.is_numeric()]
        lines = frame.select(keys).n_unique() if keys else 1
        if lines > MAX_LINES:
            raise BadRequest(
                "plot_too_many_lines",
                f"the answer has {lines} groups over time (at most {MAX_LINES} lines are "
                f"readable): keep the top groups, e.g. with `where` or `top`",
            )
        return trend(frame, title=title)
    return bar(frame, title=title)


def experiment(results: Any, *, title: str | None = None) -> Any:
    """An experiment's results side by side: each variation's conversion rate with its
    interval, and each variation's relative uplift over the control with its interval (a line
    at 0: an interval that crosses it shows no evidence of a difference). Takes what
    ``ws.experiment_results(key)`` answers, or its ``frame``.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"variation": [0, 1], "key": ["control", "one-page"],
    ...     "users": [1000, 1000], "rate": [0.10, 0.13], "rate_low": [0.083, 0.11],
    ...     "rate_high": [0.12, 0.15], "relative_uplift": [None, 0.3],
    ...     "relative_low": [None, -0.02], "relative_high": [None, 0.62],
    ...     "chance_to_win": [None, 0.98], "p_value": [None, 0.035]})
    >>> fig = experiment(frame)
    >>> [(t.type, list(t.x), list(t.y)) for t in fig.data]
    [('bar', ['0. control', '1. one-page'], [0.1, 0.13]), ('scatter', [0.3], ['1. one-page'])]
    """
    go = _go()
    from plotly.subplots import make_subplots

    frame = results.frame if hasattr(results, "frame") else results
    if not isinstance(frame, pl.DataFrame):
        raise BadRequest(
            "plot_shape_mismatch",
            f"an experiment plot takes experiment results or their frame; found "
            f"{type(results).__name__}",
        )
    _missing(frame, EXPERIMENT_COLUMNS, "experiment")
    if title is None and hasattr(results, "experiment"):
        title = f"{results.experiment}: {results.goal}"
    frame = frame.sort("variation")
    labels = [f"{v}. {k}" for v, k in zip(frame["variation"], frame["key"], strict=True)]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("conversion rate", "relative uplift over the control"),
        horizontal_spacing=0.12,
    )

    def spread(column: str, low: str, high: str) -> tuple[list[Any], list[Any]]:
        value = frame[column]
        plus = (frame[high] - value).to_list()
        minus = (value - frame[low]).to_list()
        return plus, minus

    plus, minus = spread("rate", "rate_low", "rate_high")
    fig.add_trace(
        go.Bar(
            x=labels,
            y=frame["rate"].to_list(),
            error_y={"type": "data", "array": plus, "arrayminus": minus},
            customdata=frame["users"].to_list(),
            hovertemplate="%{x}: %{y:.2%} of %{customdata:,} users<extra></extra>",
            name="rate",
        ),
        row=1,
        col=1,
    )
    treated = frame.filter(pl.col("variation") > 0)
    plus, minus = (
        (treated["relative_high"] - treated["relative_uplift"]).to_list(),
        (treated["relative_uplift"] - treated["relative_low"]).to_list(),
    )
    fig.add_trace(
        go.Scatter(
            x=treated["relative_uplift"].to_list(),
            y=[f"{v}. {k}" for v, k in zip(treated["variation"], treated["key"], strict=True)],
            mode="markers",
            marker={"size": 11},
            error_x={"type": "data", "array": plus, "arrayminus": minus},
            customdata=list(
                zip(treated["chance_to_win"].to_list(), treated["p_value"].to_list(), strict=True)
            ),
            hovertemplate="%{y}: %{x:+.1%}, chance to win %{customdata[0]:.1%}, "
            "p = %{customdata[1]:.3g}<extra></extra>",
            name="relative uplift",
        ),
        row=1,
        col=2,
    )
    fig.add_vline(x=0, line_dash="dash", line_color="grey", row=1, col=2)
    fig.update_yaxes(tickformat=".1%", row=1, col=1)
    fig.update_xaxes(tickformat="+.0%", row=1, col=2)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    return _finish(fig, title, showlegend=False)
