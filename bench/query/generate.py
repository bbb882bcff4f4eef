"""Generated events for the query benchmark: 10 million by default, 30 days, realistic skew.

The events go into a Delta table in the lake's layout (``<data_dir>/lake/events``, partitioned
by ``project_id`` and ``event_date``, the real table's schema and statistics settings) and the
lake is then left as production leaves it (see :func:`write_lake`), so the query path reads
exactly what it reads there:

* closed days are compacted by the product's own compaction
  (:func:`growthos_pipeline.lake.compaction.compact`, as the hourly job does): one sorted file
  per partition, retried duplicates dropped;
* the last day is the not-yet-compacted tail: two appended files per partition, each free of
  duplicate insert_ids as the flusher writes them (it drops repeats within a commit), the
  second holding the day's later events plus retries of events already in the first, so the
  query-time dedup runs on real duplicates and is measured too.

The shape, all drawn with numpy and assembled with Polars (vectorised; about a minute):

* sessions first, events inside them: a session has one actor, one device, one browser/OS/
  device type/country (per user), a start drawn from a diurnal and weekly pattern, and a
  geometric number of events spaced by exponential gaps;
* users by a power law (the top 1% make about a fifth of the sessions); paths by a power law
  over ~1,500 pages (home, pricing, blog posts, docs, products); a few dominant browsers and
  countries with a long tail;
* 55% of sessions logged in throughout, 15% anonymous until an ``$identify`` (which maps the
  device to the user), 30% anonymous; 10% of sessions carry no session id (sessionized by
  inactivity); 5% of sessions belong to a second project;
* JSON properties: amounts (a few as strings or null), coupons on some purchases, nested
  ``item.sku``; user properties with a ``plan`` on part of the events;
* 0.2% of events are retried duplicates (same ``insert_id`` and client time, new
  ``event_id``, received a second later).

The table is cached under ``bench/.data/`` keyed by the generator's parameters.

Examples
--------
>>> spec = Spec(events=2_000, users=200)
>>> frame = generate(spec)
>>> frame.height >= 2_000, frame["project_id"].n_unique()
(True, 2)
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from deltalake import write_deltalake

from growthos_pipeline.events.model import LAKE_SCHEMA, PARTITION_BY
from growthos_pipeline.lake.compaction import compact
from growthos_pipeline.lake.tables import ensure_events_table, events_uri
from growthos_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
PROJECT = "proj_bench"
OTHER_PROJECT = "proj_other"
#: The end of the generated data (exclusive) and the ``now`` the queries run at.
NOW = datetime(2026, 1, 12, tzinfo=UTC)
DAYS = 30

BROWSERS = [
    "Chrome",
    "Safari",
    "Edge",
    "Firefox",
    "Samsung Internet",
    "Opera",
    "Chrome Mobile",
    "Mobile Safari",
    "Yandex Browser",
    "UC Browser",
]
BROWSER_P = [0.48, 0.12, 0.05, 0.04, 0.03, 0.02, 0.14, 0.10, 0.01, 0.01]
OSES = ["Windows", "Mac OS X", "iOS", "Android", "Linux", "Chrome OS"]
OS_P = [0.38, 0.14, 0.20, 0.24, 0.03, 0.01]
DEVICE_TYPES = ["desktop", "mobile", "tablet"]
DEVICE_P = [0.52, 0.42, 0.06]
COUNTRIES = [
    "US",
    "DE",
    "GB",
    "IN",
    "FR",
    "BR",
    "CA",
    "JP",
    "NL",
    "ES",
    "IT",
    "AU",
    "PL",
    "SE",
    "MX",
    "KR",
    "TR",
    "ID",
    "CH",
    "BE",
    "AT",
    "NO",
    "DK",
    "FI",
    "IE",
    "PT",
    "CZ",
    "RO",
    "AR",
    "CL",
    "CO",
    "ZA",
    "NG",
    "EG",
    "IL",
    "SG",
    "HK",
    "TW",
    "NZ",
    "UA",
]
PLANS = ["free", "starter", "pro", "enterprise"]
PLAN_P = [0.62, 0.2, 0.14, 0.04]
EVENT_TYPES = [
    "page_view",
    "click",
    "scroll",
    "search",
    "form_submit",
    "add_to_cart",
    "checkout",
    "purchase",
    "signup",
    "video_play",
]
EVENT_P = [0.54, 0.22, 0.06, 0.04, 0.03, 0.05, 0.022, 0.014, 0.006, 0.018]
REFERRERS = [
    "",
    "https://www.google.com/",
    "https://t.co/",
    "https://www.facebook.com/",
    "https://news.ycombinator.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://www.linkedin.com/",
]
REFERRER_P = [0.38, 0.34, 0.06, 0.07, 0.03, 0.05, 0.03, 0.04]
COUPONS = ["SAVE10", "WELCOME", "BF2025", "XMAS25", "FREESHIP"]
SITE = "https://shop.example.com"


@dataclass(frozen=True)
class Spec:
    """What to generate; the cache key."""

    events: int = 10_000_000
    users: int = 300_000
    seed: int = 7
    version: int = 3  # bump when the generator's output changes

    @property
    def key(self) -> str:
        return "q-" + "-".join(f"{k}{v}" for k, v in asdict(self).items())


def _paths(rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    blog = []
    for i in range(200):
        slug = "".join(rng.choice(letters, size=int(rng.integers(4, 12))))
        blog.append(f"/blog/{slug}" if i % 10 < 7 else f"/blog/{slug}-{2019 + i % 7}")
    docs = [
        f"/docs/{s}/page-{p}" for s in ("start", "api", "sdk", "guides", "admin") for p in range(60)
    ]
    products = [f"/product/{i:04d}" for i in range(1000)]
    head = [
        "/",
        "/pricing",
        "/signup",
        "/login",
        "/blog",
        "/docs",
        "/cart",
        "/checkout",
        "/account",
        "/search",
    ]
    tail = blog + docs + products
    order = rng.permutation(len(tail))
    return head + [tail[i] for i in order]


def _power_rank(rng: np.random.Generator, n: int, size: int, k: float) -> np.ndarray:
    """Ranks 0..n-1 with P(rank < x) = (x/n)^(1/k): a heavy head and a long tail."""
    return np.minimum((rng.random(size) ** k * n).astype(np.int64), n - 1)


def _pick(rng: np.random.Generator, values: list[str], p: list[float], size: int) -> np.ndarray:
    """Indexes into ``values`` drawn with probabilities ``p``."""
    probs = np.asarray(p, dtype=float)
    return rng.choice(len(values), size=size, p=probs / probs.sum())


def _names(values: list[str], index: np.ndarray) -> pl.Series:
    """``values[index]`` as a string Series (no Python objects per row)."""
    return pl.Series(values, dtype=pl.String).gather(index)


def generate(spec: Spec) -> pl.DataFrame:
    """The events (plus duplicates) as one DataFrame in the lake's schema."""
    rng = np.random.default_rng(spec.seed)
    n_users = spec.users
    # ---- per user: where they are and what they use -------------------------------------------
    country_p = 1.0 / (np.arange(len(COUNTRIES)) + 1.0) ** 1.3
    user_country = _pick(rng, COUNTRIES, list(country_p), n_users)
    user_plan = _pick(rng, PLANS, PLAN_P, n_users)
    dev_browser = _pick(rng, BROWSERS, BROWSER_P, 2 * n_users)
    dev_os = _pick(rng, OSES, OS_P, 2 * n_users)
    dev_type = _pick(rng, DEVICE_TYPES, DEVICE_P, 2 * n_users)
    # ---- sessions -------------------------------------------------------------------------------
    mean_len = 7.0
    n_sess = int(spec.events / mean_len * 1.05)
    length = rng.geometric(1.0 / mean_len, n_sess)
    total = np.cumsum(length)
    n_sess = int(np.searchsorted(total, spec.events)) + 1
    length = length[:n_sess]
    length[-1] -= int(total[n_sess - 1] - spec.events)
    user = _power_rank(rng, n_users, n_sess, 3.0)
    device = user * 2 + (rng.random(n_sess) < 0.25)
    login = rng.choice(3, size=n_sess, p=[0.55, 0.15, 0.30])  # 0 known, 1 logs in, 2 anonymous
    has_sid = rng.random(n_sess) >= 0.10
    project = (rng.random(n_sess) < 0.05).astype(np.int64)
    start_day = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=DAYS)
    day_w = np.array(
        [0.8 if (start_day + timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(DAYS)]
    )
    day_w *= np.linspace(0.9, 1.1, DAYS)  # growth over the month
    hour_w = 1.0 + 0.8 * np.sin((np.arange(24) - 9) / 24 * 2 * np.pi)  # peak ~15:00 UTC
    day = rng.choice(DAYS, size=n_sess, p=day_w / day_w.sum())
    hour = rng.choice(24, size=n_sess, p=hour_w / hour_w.sum())
    base_us = int(start_day.timestamp() * 1_000_000)
    start_us = (
        base_us
        + day * 86_400_000_000
        + hour * 3_600_000_000
        + rng.integers(0, 3_600_000_000, n_sess)
    )
    identify_at = np.minimum(1 + rng.geometric(0.4, n_sess), length - 1)
    referrer0 = _pick(rng, REFERRERS, REFERRER_P, n_sess)
    # ---- events ---------------------------------------------------------------------------------
    n = int(length.sum())
    sess = np.repeat(np.arange(n_sess), length)
    first = np.concatenate([[0], np.cumsum(length)[:-1]])
    pos = np.arange(n) - np.repeat(first, length)
    gaps = rng.exponential(45_000_000, n).astype(np.int64)
    gaps[pos == 0] = 0
    csum = np.cumsum(gaps)
    t_us = np.repeat(start_us, length) + csum - np.repeat(csum[first], length)
    t_us = np.minimum(t_us, base_us + DAYS * 86_400_000_000 - 1)
    types = [*EVENT_TYPES, "$identify"]
    etype = _pick(rng, EVENT_TYPES, EVENT_P, n)
    etype[pos == 0] = 0
    s_login = login[sess]
    is_identify = (s_login == 1) & (pos == identify_at[sess])
    etype[is_identify] = len(EVENT_TYPES)
    known = (s_login == 0) | ((s_login == 1) & (pos >= identify_at[sess]))
    u = user[sess]
    d = device[sess]
    paths = _paths(rng)
    path_idx = _power_rank(rng, len(paths), n, 2.5)
    amount = np.round(rng.lognormal(3.6, 0.8, n), 2)
    sku = rng.integers(0, 5000, n)
    frame = pl.DataFrame(
        {
            "project_id": _names([PROJECT, OTHER_PROJECT], project[sess]),
            "t": t_us,
            "seq": np.arange(n),
            "event_type": _names(types, etype),
            "uid": u,
            "known": known,
            "did": d,
            "sess": sess,
            "has_sid": has_sid[sess],
            "pos": pos,
            "_browser": _names(BROWSERS, dev_browser[d]),
            "_os": _names(OSES, dev_os[d]),
            "_device_type": _names(DEVICE_TYPES, dev_type[d]),
            "_country": _names(COUNTRIES, user_country[u]),
            "plan": _names(PLANS, user_plan[u]),
            "_path": _names(paths, path_idx),
            "ref0": _names(REFERRERS, referrer0[sess]),
            "amount": amount,
            "amount_kind": rng.choice(3, size=n, p=[0.97, 0.02, 0.01]),  # number, string, null
            "coupon": rng.choice(len(COUPONS) + 1, size=n, p=[0.1, 0.06, 0.04, 0.05, 0.05, 0.7]),
            "sku": sku,
            "qty": rng.integers(1, 5, n),
            "r": rng.random(n),
            "load_ms": rng.integers(80, 4000, n),
            "source_r": rng.random(n),
        }
    )
    return _shape(frame, rng)


def _fmt(template: str, *values: pl.Expr) -> pl.Expr:
    """``template`` with each ``§`` replaced by the next value (JSON braces stay literal)."""
    parts = template.split("§")
    assert len(parts) == len(values) + 1
    pieces: list[pl.Expr] = [pl.lit(parts[0])]
    for value, text in zip(values, parts[1:], strict=True):
        pieces += [value.cast(pl.String), pl.lit(text)]
    return pl.concat_str(pieces)


def _shape(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    c = pl.col
    et = c("event_type")
    amount_json = (
        pl.when(c("amount_kind") == 0)
        .then(c("amount").round(2).cast(pl.String))
        .when(c("amount_kind") == 1)
        .then(_fmt('"§"', c("amount").round(2)))
        .otherwise(pl.lit("null"))
    )
    coupon = pl.lit(None, dtype=pl.String)
    for i, code in enumerate(COUPONS):
        coupon = pl.when(c("coupon") == i).then(pl.lit(f',"coupon":"{code}"')).otherwise(coupon)
    coupon = coupon.fill_null("")
    sku = _fmt("SKU-§", c("sku").cast(pl.String).str.zfill(5))
    props = (
        pl.when(et == "page_view")
        .then(_fmt('{"title":"Page §","load_ms":§}', c("_path"), c("load_ms")))
        .when(et == "click")
        .then(_fmt('{"element":"button-§"}', c("load_ms") % 40))
        .when(et == "search")
        .then(_fmt('{"query":"term §","results":§}', c("sku") % 300, c("load_ms") % 50))
        .when(et == "add_to_cart")
        .then(_fmt('{"item":{"sku":"§","price":§},"qty":§}', sku, c("amount"), c("qty")))
        .when(et == "checkout")
        .then(_fmt('{"amount":§,"item":{"sku":"§"}§}', amount_json, sku, coupon))
        .when(et == "purchase")
        .then(
            _fmt(
                '{"amount":§,"currency":"USD","item":{"sku":"§","qty":§},'
                '"items":[{"sku":"§","qty":§}]§}',
                amount_json,
                sku,
                c("qty"),
                sku,
                c("qty"),
                coupon,
            )
        )
        .when(et == "signup")
        .then(
            _fmt(
                '{"method":"§"}',
                pl.when(c("r") < 0.6).then(pl.lit("email")).otherwise(pl.lit("google")),
            )
        )
        .when(et == "video_play")
        .then(_fmt('{"video":"v§","seconds":§}', c("sku") % 90, c("load_ms") % 600))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    user_props = (
        pl.when(et == "$identify")
        .then(_fmt('{"$set":{"plan":"§"}}', c("plan")))
        .when(c("known") & (c("r") < 0.4))
        .then(
            _fmt(
                '{"plan":"§","beta":§}',
                c("plan"),
                pl.when(c("r") < 0.1).then(pl.lit("true")).otherwise(pl.lit("false")),
            )
        )
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    web = c("source_r") < 0.92
    event_id = pl.concat_str(
        [pl.lit("01"), c("t").cast(pl.String), pl.lit("-"), c("seq").cast(pl.String)]
    )
    out = frame.select(
        c("project_id"),
        pl.from_epoch(c("t"), time_unit="us").dt.replace_time_zone("UTC").alias("time"),
        event_id.alias("event_id"),
        pl.concat_str([pl.lit("ins_"), c("seq").hash(11).cast(pl.String)]).alias("insert_id"),
        et.alias("event_type"),
        (c("t") + 150_000 + (c("load_ms") * 97) % 2_000_000).alias("recv"),
        pl.when(c("known")).then(_fmt("u_§", c("uid"))).alias("user_id"),
        _fmt("d_§", c("did")).alias("device_id"),
        pl.when(c("has_sid")).then(_fmt("s_§", c("sess"))).alias("session_id"),
        props.alias("event_properties"),
        user_props.alias("user_properties"),
        pl.lit(None, dtype=pl.String).alias("groups"),
        pl.when(c("has_sid")).then(pl.lit("growthos")).otherwise(pl.lit("segment")).alias("source"),
        pl.when(c("has_sid"))
        .then(pl.lit("growthos-js/1.4.0"))
        .otherwise(pl.lit("analytics-python/2.3.2"))
        .alias("library"),
        pl.when(web).then(c("_browser")).alias("_browser"),
        pl.when(web).then(c("_os")).alias("_os"),
        pl.when(web).then(c("_device_type")).alias("_device_type"),
        pl.when(web).then(c("_path")).alias("_path"),
        pl.when(web).then(pl.concat_str([pl.lit(SITE), c("_path")])).alias("_url"),
        pl.when(~web)
        .then(None)
        .when(c("pos") == 0)
        .then(c("ref0"))
        .otherwise(pl.lit(SITE + "/"))
        .alias("_referrer"),
        c("_country"),
    )
    # Retried deliveries: the same insert_id again, a new event_id, received a little later.
    n = out.height
    dup_rows = np.sort(rng.choice(n, size=max(1, n // 500), replace=False))
    dups = out[dup_rows].with_columns(
        (c("event_id") + "r").alias("event_id"), (c("recv") + 1_000_000).alias("recv")
    )
    out = pl.concat([out, dups])
    out = out.with_columns(
        c("time").dt.date().alias("event_date"),
        pl.from_epoch(c("recv"), time_unit="us").dt.replace_time_zone("UTC").alias("received_at"),
    ).drop("recv")
    return out.select(LAKE_SCHEMA.names).sort(["project_id", "event_date", "time"])


def data_dir(spec: Spec) -> Path:
    return DATA / spec.key


#: Days at the end of the data left as the flusher writes them (not compacted yet).
TAIL_DAYS = 1
#: Within a tail day, events before this hour (UTC) are in its first appended file.
TAIL_SPLIT_HOUR = 18


def _append(uri: str, frame: pl.DataFrame) -> None:
    write_deltalake(
        uri, frame.to_arrow().cast(LAKE_SCHEMA), mode="append", partition_by=PARTITION_BY
    )


def _is_retry() -> pl.Expr:
    return pl.col("event_id").str.ends_with("r")


def write_lake(frame: pl.DataFrame, folder: Path, *, log: bool = True) -> None:
    """``frame`` as the lake of ``folder``: closed days compacted, the last day a tail of two
    flusher-like files with retried duplicates across them."""
    settings = Settings(data_dir=folder)
    uri = events_uri(settings)
    ensure_events_table(uri)
    started = time.perf_counter()
    tail_start = (NOW - timedelta(days=TAIL_DAYS)).date()
    closed = frame.filter(pl.col("event_date") < tail_start)
    _append(uri, closed)  # raw, duplicates included: compaction below cleans it up
    partitions = closed.select("project_id", "event_date").unique().sort(pl.all()).rows()
    dropped = 0
    for project_id, day in partitions:
        dropped += compact(settings, project_id, day, now=NOW).duplicates_dropped
    if log:
        print(
            f"wrote and compacted {len(partitions)} closed partitions in "
            f"{time.perf_counter() - started:.1f} s ({dropped:,} duplicates dropped)",
            flush=True,
        )
    tail = frame.filter(pl.col("event_date") >= tail_start)
    early = pl.col("time").dt.hour() < TAIL_SPLIT_HOUR
    first = tail.filter(early & ~_is_retry())
    # The second commit: the later events, and every retry (those of events in the first file
    # make the cross-file duplicates); repeats within the commit dropped, as the flusher does.
    second = (
        tail.filter(~(early & ~_is_retry()))
        .sort("received_at", maintain_order=True)
        .unique(subset=["project_id", "insert_id"], keep="first", maintain_order=True)
    )
    _append(uri, first)
    _append(uri, second)
    if log:
        cross = second.filter(_is_retry()).height
        print(f"tail: {first.height:,} + {second.height:,} rows ({cross:,} retries)", flush=True)


def ensure(spec: Spec, *, rebuild: bool = False, log: bool = True) -> Path:
    """The data folder holding ``lake/events`` for ``spec``, generated when not cached."""
    folder = data_dir(spec)
    marker = folder / "READY"
    if marker.exists() and not rebuild:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    frame = generate(spec)
    if log:
        print(
            f"generated {frame.height:,} events in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    write_lake(frame, folder, log=log)
    marker.write_text(f"{frame.height}\n")
    return folder
