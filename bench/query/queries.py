"""The benchmark's queries: every DSL.md example plus full scans, each with the SQL an analyst
would write by hand for DuckDB over the same Parquet files.

The hand-written SQL has the same meaning as the DSL: the caller's project, the time range
(resolved against :data:`bench.query.generate.NOW`), one row per ``(event_date, insert_id)``,
users resolved through identify calls where ``user_id`` is used, and the DSL's result order.
``{src}`` is replaced by ``read_parquet([...files of the Delta snapshot...], hive_partitioning
= true)``; ``{dedup}`` by :data:`DEDUP` (the reference: a general query cannot know which files
are free of duplicates, so it deduplicates every row in range), or by nothing for the second,
no-dedup reference (faster, but it counts the retried copies of the lake's uncompacted tail).

Examples
--------
>>> [q.name for q in QUERIES][:2]
['seed', 'pageviews_us_de_by_day']
>>> all("{src}" in q.sql and "{dedup}" in q.sql for q in QUERIES)
True
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Query:
    name: str
    dsl: str
    sql: str


P = "project_id = 'proj_bench'"


def _range(start: str, end: str) -> str:
    """The partition and time filter of ``[start, end)`` (ISO dates, UTC)."""
    return (
        f"{P} AND event_date BETWEEN DATE '{start[:10]}' AND DATE '{end[:10]}' "
        f"AND time >= TIMESTAMPTZ '{start}+00' AND time < TIMESTAMPTZ '{end}+00'"
    )


END = "2026-01-12 00:00:00"
D1 = _range("2026-01-11 00:00:00", END)
D7 = _range("2026-01-05 00:00:00", END)
D14 = _range("2025-12-29 00:00:00", END)
D30 = _range("2025-12-13 00:00:00", END)
#: One row per (event_date, insert_id), the earliest event_id, as the DSL defines it.
DEDUP = "QUALIFY row_number() OVER (PARTITION BY event_date, insert_id ORDER BY event_id) = 1"


def _dedup(where: str) -> str:
    """The project's events in range, deduplicated (``{dedup}``) as the DSL defines them:
    before any filter of the query applies."""
    return f"(SELECT * FROM {{src}} WHERE {where} {{dedup}})"


E1, E7, E14, E30 = _dedup(D1), _dedup(D7), _dedup(D14), _dedup(D30)
IDS = (
    f"ids AS (SELECT device_id, arg_min(user_id, time) AS id_user FROM {{src}} WHERE {P} "
    "AND event_type IN ('$identify', '$alias') AND user_id IS NOT NULL "
    "AND device_id IS NOT NULL GROUP BY device_id)"
)
AMOUNT = "TRY_CAST(event_properties ->> '$.amount' AS DOUBLE)"


def _funnel(where: str, filt: str, steps: list[tuple[str, str]], within: str) -> str:
    """Per actor: first step-1 event, then each next step's earliest event after the previous
    one and within ``within`` of the anchor."""
    parts = [
        f"WITH {IDS}",
        f"e AS (SELECT time, event_type, _path, user_id, device_id FROM {_dedup(where)} "
        f"WHERE {filt})",
        "b AS (SELECT coalesce(e.user_id, ids.id_user, e.device_id) AS actor, time, "
        "event_type, _path FROM e LEFT JOIN ids USING (device_id))",
        f"t0 AS (SELECT actor, min(time) AS t0, min(time) AS t FROM b WHERE {steps[0][1]} "
        "GROUP BY actor)",
    ]
    for i, (_, cond) in enumerate(steps[1:], start=1):
        parts.append(
            f"t{i} AS (SELECT p.actor, p.t0, min(b.time) AS t FROM t{i - 1} p JOIN b "
            f"ON b.actor = p.actor AND ({cond}) AND b.time > p.t "
            f"AND b.time <= p.t0 + INTERVAL '{within}' GROUP BY p.actor, p.t0)"
        )
    counts = " UNION ALL ".join(
        f"SELECT {i + 1} AS step, '{name}' AS step_name, count(*) AS users FROM t{i}"
        for i, (name, _) in enumerate(steps)
    )
    parts.append(f"c AS ({counts})")
    return (
        ",\n".join(parts)
        + "\nSELECT step, step_name, users, users / max(CASE WHEN step = 1 THEN users END)"
        " OVER () AS conversion FROM c ORDER BY step"
    )


QUERIES = [
    Query(
        "seed",
        'event_type = "page_view" | last 7d | count by _browser',
        f"SELECT _browser, count(*) AS count FROM {E7} WHERE event_type = 'page_view' "
        "GROUP BY _browser ORDER BY count DESC, _browser NULLS LAST",
    ),
    Query(
        "pageviews_us_de_by_day",
        'event_type = "page_view" and _country in ("US", "DE") | last 30d | count, '
        "uniq(user_id) as users by day",
        f"WITH {IDS}, e AS (SELECT time, user_id, device_id FROM {E30} "
        "WHERE event_type = 'page_view' AND _country IN ('US', 'DE')) "
        "SELECT date_trunc('day', time) AS day, count(*) AS count, "
        "count(DISTINCT coalesce(e.user_id, ids.id_user)) AS users "
        "FROM e LEFT JOIN ids USING (device_id) GROUP BY day ORDER BY day, count DESC",
    ),
    Query(
        "blog_by_week_path",
        '_path startswith "/blog" and not _device_type = "tablet" | from 2025-12-01 to '
        "2026-01-01 | count by week, _path",
        "SELECT date_trunc('week', time) AS week, _path, count(*) AS count FROM "
        + _dedup(_range("2025-12-01 00:00:00", "2026-01-01 00:00:00"))
        + " WHERE starts_with(_path, '/blog') AND NOT (_device_type = 'tablet') "
        "GROUP BY week, _path ORDER BY week, count DESC, _path NULLS LAST",
    ),
    Query(
        "revenue_by_country",
        'event_type = "purchase" | last 30d | sum(prop.amount) as revenue, avg(prop.amount), '
        "p95(prop.amount) by _country | sort revenue desc",
        f"SELECT _country, sum(amount) AS revenue, avg(amount) AS avg_prop_amount, "
        "quantile_cont(amount, 0.95) AS p95_prop_amount FROM (SELECT _country, "
        f"{AMOUNT} AS amount FROM {E30} WHERE event_type = 'purchase') "
        "GROUP BY _country ORDER BY revenue DESC NULLS LAST, _country NULLS LAST",
    ),
    Query(
        "coupons_over_50",
        "prop.coupon exists and prop.amount > 50 | last 14d | count by prop.coupon",
        "SELECT coupon AS prop_coupon, count(*) AS count FROM (SELECT "
        f"event_properties ->> '$.coupon' AS coupon FROM {E14} WHERE "
        f"(event_properties ->> '$.coupon') IS NOT NULL AND {AMOUNT} > 50) "
        "GROUP BY coupon ORDER BY count DESC, coupon NULLS LAST",
    ),
    Query(
        "no_coupon_or_direct_by_os",
        'prop.coupon missing or _referrer = "" | last 7d | count by _os',
        f"SELECT _os, count(*) AS count FROM {E7} WHERE "
        "(event_properties ->> '$.coupon') IS NULL OR _referrer = '' "
        "GROUP BY _os ORDER BY count DESC, _os NULLS LAST",
    ),
    Query(
        "blog_sessions_by_hour_top5",
        '_path matches "^/blog/[a-z]+$" | last 30d | uniq(session_id) as sessions by hour '
        "| top 5 by sessions",
        "SELECT date_trunc('hour', time) AS hour, count(DISTINCT session_id) AS sessions "
        f"FROM {E30} WHERE regexp_matches(_path, '^/blog/[a-z]+$') GROUP BY hour "
        "ORDER BY sessions DESC, hour LIMIT 5",
    ),
    Query(
        "pageviews_by_country_having",
        'event_type = "page_view" | last 30d | count by _country | where count > 100',
        f"SELECT _country, count(*) AS count FROM {E30} WHERE event_type = 'page_view' "
        "GROUP BY _country HAVING count(*) > 100 ORDER BY count DESC, _country NULLS LAST",
    ),
    Query(
        "by_user_plan_device",
        "last 7d | count by user.plan, _device_type",
        "SELECT user_properties ->> '$.plan' AS user_plan, _device_type, count(*) AS count "
        f"FROM {E7} GROUP BY ALL "
        "ORDER BY count DESC, user_plan NULLS LAST, _device_type NULLS LAST",
    ),
    Query(
        "buyers_by_profile_plan",
        'event_type = "purchase" | last 30d | count, uniq(user_id) as buyers by profile.plan',
        f"WITH {IDS}, e AS (SELECT user_id, device_id FROM {E30} "
        "WHERE event_type = 'purchase') "
        "SELECT NULL AS profile_plan, count(*) AS count, "
        "count(DISTINCT coalesce(e.user_id, ids.id_user)) AS buyers "
        "FROM e LEFT JOIN ids USING (device_id)",
    ),
    Query(
        "checkout_rows",
        'event_type = "checkout" | last 1d | select time, user_id, _path, prop.item.sku as sku '
        "| limit 20",
        f"WITH {IDS}, e AS (SELECT time, event_id, user_id, device_id, _path, "
        f"event_properties FROM {E1} WHERE event_type = 'checkout') "
        "SELECT time, coalesce(e.user_id, ids.id_user) AS user_id, _path, "
        "event_properties ->> '$.item.sku' AS sku FROM e LEFT JOIN ids USING (device_id) "
        "ORDER BY time, event_id LIMIT 20",
    ),
    Query(
        "top_users",
        "last 30d | min(time) as first_seen, max(time) as last_seen, count by user_id "
        "| top 10 by count",
        f"WITH {IDS} SELECT coalesce(e.user_id, ids.id_user) AS user_id, min(time) AS "
        f"first_seen, max(time) AS last_seen, count(*) AS count FROM {E30} e "
        "LEFT JOIN ids USING (device_id) GROUP BY 1 "
        "ORDER BY count DESC, first_seen DESC NULLS LAST, user_id NULLS LAST LIMIT 10",
    ),
    Query(
        "other_events_by_type_device",
        'event_type not in ("click", "page_view") | last 7d | count by event_type, '
        "_device_type | limit 10",
        f"SELECT event_type, _device_type, count(*) AS count FROM {E7} "
        "WHERE event_type NOT IN ('click', 'page_view') GROUP BY event_type, _device_type "
        "ORDER BY count DESC, event_type NULLS LAST, _device_type NULLS LAST LIMIT 10",
    ),
    Query(
        "funnel_cart",
        'last 30d | funnel "page_view" -> "add_to_cart" -> "purchase" within 1d',
        _funnel(
            D30,
            "true",
            [
                ("page_view", "event_type = 'page_view'"),
                ("add_to_cart", "event_type = 'add_to_cart'"),
                ("purchase", "event_type = 'purchase'"),
            ],
            "1 day",
        ),
    ),
    Query(
        "funnel_pricing_us",
        '_country = "US" | last 30d | funnel (event_type = "page_view" and _path = "/pricing") '
        '-> "signup" -> "purchase" within 7d',
        _funnel(
            D30,
            "_country = 'US'",
            [
                (
                    'event_type = "page_view" and _path = "/pricing"',
                    "event_type = 'page_view' AND _path = '/pricing'",
                ),
                ("signup", "event_type = 'signup'"),
                ("purchase", "event_type = 'purchase'"),
            ],
            "7 days",
        ),
    ),
    Query(
        "retention_signup_purchase",
        'from 2025-11-17 to 2026-01-12 | retention "signup" -> "purchase" every week periods 6',
        f"WITH {IDS}, e AS (SELECT time, event_type, user_id, device_id FROM "
        + _dedup(_range("2025-11-17 00:00:00", END))
        + " WHERE event_type IN ('signup', 'purchase')),\n"
        "b AS (SELECT coalesce(e.user_id, ids.id_user, e.device_id) AS actor, time, event_type "
        "FROM e LEFT JOIN ids USING (device_id)),\n"
        "f AS (SELECT actor, min(time) AS first, date_trunc('week', min(time)) AS cohort "
        "FROM b WHERE event_type = 'signup' GROUP BY actor),\n"
        "sizes AS (SELECT cohort, count(*) AS cohort_users FROM f GROUP BY cohort),\n"
        "r AS (SELECT f.cohort, (date_diff('day', f.cohort, date_trunc('week', b.time)) // 7) "
        "AS period, count(DISTINCT b.actor) AS users FROM b JOIN f USING (actor) "
        "WHERE b.event_type = 'purchase' AND b.time >= f.first GROUP BY 1, 2 "
        "HAVING period BETWEEN 0 AND 6)\n"
        "SELECT s.cohort, p.period, s.cohort_users, coalesce(r.users, 0) AS users, "
        "coalesce(r.users, 0) * 100.0 / s.cohort_users AS pct FROM sizes s "
        "CROSS JOIN range(0, 7) p(period) LEFT JOIN r ON r.cohort = s.cohort "
        "AND r.period = p.period ORDER BY s.cohort, p.period",
    ),
    Query(
        "sessions_summary",
        "last 7d | sessions | where events >= 2 | count, avg(duration_s) as avg_duration, "
        "p90(events)",
        f"WITH {IDS}, e AS (SELECT time, event_id, event_type, user_id, device_id, session_id "
        f"FROM {E7}),\n"
        "b AS (SELECT coalesce(e.user_id, ids.id_user) AS user_id, "
        "coalesce(e.user_id, ids.id_user, e.device_id) AS actor, time, event_id, event_type, "
        "session_id FROM e LEFT JOIN ids USING (device_id)),\n"
        "gaps AS (SELECT *, CASE WHEN lag(time) OVER w IS NULL OR epoch_us(time) - "
        "epoch_us(lag(time) OVER w) > 1800000000 THEN 1 ELSE 0 END AS new FROM b "
        "WHERE session_id IS NULL WINDOW w AS (PARTITION BY actor ORDER BY time, event_id)),\n"
        "seqs AS (SELECT *, sum(new) OVER (PARTITION BY actor ORDER BY time, event_id "
        "ROWS UNBOUNDED PRECEDING) AS seq FROM gaps),\n"
        "loose AS (SELECT actor || ':' || CAST(epoch_us(min(time) OVER (PARTITION BY actor, "
        "seq)) // 1000000 AS VARCHAR) AS session_id, user_id, time, event_type FROM seqs),\n"
        "allev AS (SELECT session_id, user_id, time, event_type FROM b "
        "WHERE session_id IS NOT NULL UNION ALL SELECT * FROM loose),\n"
        "s AS (SELECT session_id, count(*) AS events, (epoch_us(max(time)) - "
        "epoch_us(min(time))) / 1e6 AS duration_s FROM allev GROUP BY session_id)\n"
        "SELECT count(*) AS count, avg(duration_s) AS avg_duration, "
        "quantile_cont(events, 0.9) AS p90_events FROM s WHERE events >= 2",
    ),
    Query(
        "full_scan_count",
        "last 30d | count",
        f"SELECT count(*) AS count FROM {E30}",
    ),
    Query(
        "full_scan_by_type",
        "last 30d | count by event_type",
        f"SELECT event_type, count(*) AS count FROM {E30} GROUP BY event_type "
        "ORDER BY count DESC, event_type",
    ),
]
