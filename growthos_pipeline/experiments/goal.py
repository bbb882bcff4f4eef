"""An experiment's goal metric: one condition of the query language, such as
``event_type = "purchase"`` or ``event_type = "purchase" and prop.amount > 50``.

A user converts when at least one event matching the goal happens at or after the user's first
exposure (see :mod:`growthos_pipeline.experiments.analysis`). The condition is checked by
compiling the query the analysis runs, ``<goal> | from <start> to <end> | select time,
user_id, device_id``; one that is not a single condition, or does not compile, answers
``400 invalid_goal`` with the compiler's line and column in ``details``.

Examples
--------
>>> check_goal('event_type = "purchase" and prop.amount > 50')
>>> check_goal('event_type = "purchase" | count')
Traceback (most recent call last):
...
growthos_pipeline.errors.BadRequest: invalid_goal: a goal is one condition, like \
event_type = "purchase"; found the stage 'aggregate'
>>> check_goal('event_typ = "purchase"')
Traceback (most recent call last):
...
growthos_pipeline.errors.BadRequest: invalid_goal: unknown column 'event_typ', did you mean \
'event_type'?
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from growthos_pipeline.errors import BadRequest
from growthos_pipeline.query import ast
from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.errors import QueryError
from growthos_pipeline.query.parser import parse

MAX_GOAL = 2000
#: Where :func:`check_goal` compiles a goal (any valid project id does).
_CHECK_PROJECT = "proj_goal_check"


def stamp(moment: datetime) -> str:
    """``moment`` as a query-language datetime literal, in UTC to the microsecond.

    >>> stamp(datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    '2026-03-01T09:30:00.000000Z'
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def goal_query(goal: str, start: datetime, end: datetime) -> str:
    """The query that lists the goal's events in ``[start, end)``: their time and user.

    >>> print(goal_query('event_type = "purchase"', datetime(2026, 3, 1, tzinfo=UTC),
    ...                  datetime(2026, 3, 8, tzinfo=UTC)))  # doctest: +NORMALIZE_WHITESPACE
    event_type = "purchase"
    | from 2026-03-01T00:00:00.000000Z to 2026-03-08T00:00:00.000000Z
    | select time, user_id, device_id
    """
    return f"{goal}\n| from {stamp(start)} to {stamp(end)}\n| select time, user_id, device_id"


def _invalid(message: str, details: list[dict[str, Any]] | None = None) -> BadRequest:
    return BadRequest("invalid_goal", message, details=details)


def check_goal(goal: str, *, field: str = "goal") -> None:
    """Raise ``400 invalid_goal`` unless ``goal`` is one condition that compiles; ``details``
    name ``field`` and, for an error in the text, its line and column."""
    if not goal.strip():
        raise _invalid('a goal is one condition, like event_type = "purchase"', [{"field": field}])
    if len(goal) > MAX_GOAL:
        raise _invalid(f"a goal is at most {MAX_GOAL} characters", [{"field": field}])
    try:
        stages = list(parse(goal).stages)
        others = [s for s in stages if not isinstance(s, ast.Where)]
        if others:
            kind = type(others[0]).__name__.lower()
            raise QueryError(
                "query_invalid",
                f'a goal is one condition, like event_type = "purchase"; found the stage '
                f"'{kind}'",
                others[0].span,
                text=goal,
            )
        if len(stages) != 1:
            raise _invalid(
                "a goal is one condition; join conditions with 'and'", [{"field": field}]
            )
        start = datetime(2026, 1, 1, tzinfo=UTC)
        compile_query(goal_query(goal, start, start + timedelta(days=1)), _CHECK_PROJECT)
    except QueryError as err:
        raise _invalid(err.message, [{"field": field, **d} for d in err.details]) from None
