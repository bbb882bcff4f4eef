"""The compiler's own sqlglot nodes, for the stages SQL has no single word for.

``FunnelOp``, ``RetentionOp`` and ``SessionsOp`` each stand for a whole relation computed from
the relation named in ``this``. The Polars engine implements them directly
(:mod:`growthos_pipeline.query.to_polars`); for SQL engines
:mod:`growthos_pipeline.query.dialects` expands them into standard SQL (CTEs, joins, window
functions) before rendering.

Examples
--------
>>> from sqlglot import exp
>>> node = SessionsOp(this=exp.to_identifier("_s1"), gap=exp.Literal.number(1800))
>>> node.args["gap"].to_py()
1800
"""

from __future__ import annotations

from sqlglot import exp


class FunnelOp(exp.Expression, exp.Func):
    """Per user: anchored at the first step-1 event; each next step is the earliest matching
    event after the previous one and within ``within`` seconds of the anchor."""

    arg_types = {
        "this": True,
        "steps": True,
        "names": True,
        "within": True,
        "by": False,
        "by_name": False,
    }


class RetentionOp(exp.Expression, exp.Func):
    """Cohorts by the period of the user's first ``start`` event; per period 0..N, the users
    with a ``returning`` event in it."""

    arg_types = {"this": True, "start": True, "returning": True, "every": True, "periods": True}


class SessionsOp(exp.Expression, exp.Func):
    """One row per session: the event's session id, else 30 minutes of inactivity per user or
    device."""

    arg_types = {"this": True, "gap": True}


CUSTOM_NODES = (FunnelOp, RetentionOp, SessionsOp)
