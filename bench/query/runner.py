"""The query benchmark: the DSL on Polars against hand-written SQL on DuckDB, same files, one run.

``python -m bench.query`` (or ``bench/query/run.sh``, or ``make bench``):

1. generates (or reuses from ``bench/.data/``) the events table, 10 million events over 30 days;
2. times each query of :mod:`bench.query.queries` on (a) the product path,
   :func:`growthos_pipeline.query.run.run` with ``engine="polars"`` and a fixed ``now``,
   (b) DuckDB running the hand-written SQL over ``read_parquet`` of the Delta snapshot's files
   (file list taken once, as an analyst would), deduplicating every row in range as the DSL
   defines it, and (c) the same SQL without any dedup (a floor: it does not know which rows
   are duplicates, so it can count retried copies), warm-up first, then ``--reps``
   repetitions, alternating engines;
3. checks that (a) and (b) return the same rows (floats to 9 significant digits), and reports
   whether (c) does too;
4. times compile overhead (parse + compile + guard) over many runs;
5. prints a Markdown report and writes it with the raw figures to ``bench/query/out/``.

Nothing here is a test: the figures vary with the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import deltalake
import duckdb
import polars as pl
import pyarrow as pa
import sqlglot
from deltalake import DeltaTable

from bench.query.generate import NOW, PROJECT, Spec, ensure
from bench.query.queries import DEDUP, QUERIES, Query
from growthos_pipeline.lake.tables import events_uri
from growthos_pipeline.query import guard
from growthos_pipeline.query.compile import compile_query
from growthos_pipeline.query.run import run
from growthos_pipeline.settings import Settings

HERE = Path(__file__).resolve().parent
SEED_TARGET_MS = 150.0
COMPILE_TARGET_MS = 5.0


@dataclass
class Figures:
    name: str
    dsl: str
    polars_ms: list[float] = field(default_factory=list)
    duckdb_ms: list[float] = field(default_factory=list)
    nodedup_ms: list[float] = field(default_factory=list)
    compile_ms: float = 0.0
    rows: int = 0
    same: bool = False
    diff: str = ""
    nodedup_same: bool = False

    @property
    def ratio(self) -> float:
        return median(self.polars_ms) / median(self.duckdb_ms)


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _norm(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.9g}")
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def rows_of(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    return [tuple(_norm(v) for v in row) for row in frame.iter_rows()]


def compare(polars_frame: pl.DataFrame, duck_frame: pl.DataFrame) -> str:
    """'' when the two answers are the same, else what differs."""
    if polars_frame.columns != duck_frame.columns:
        return f"columns {polars_frame.columns} != {duck_frame.columns}"
    a, b = rows_of(polars_frame), rows_of(duck_frame)
    if a == b:
        return ""
    if sorted(a, key=repr) == sorted(b, key=repr):
        return "same rows, different order"
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"{len(a)} vs {len(b)} rows; first difference at row {i}: {x} != {y}"
    return f"{len(a)} vs {len(b)} rows"


def duck_connection(uri: str) -> tuple[duckdb.DuckDBPyConnection, str]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    files = DeltaTable(uri).file_uris()
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return con, f"read_parquet([{listing}], hive_partitioning = true)"


def time_compile(text: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        compiled = compile_query(text, PROJECT, now=NOW)
        guard.check(compiled.tree, PROJECT)
        samples.append((time.perf_counter() - started) * 1000)
    return median(samples)


def bench(
    settings: Settings, queries: list[Query], reps: int, compile_runs: int, log: bool = True
) -> list[Figures]:
    uri = events_uri(settings)
    con, src = duck_connection(uri)
    out = []
    for query in queries:
        fig = Figures(query.name, query.dsl)
        sql = query.sql.replace("{src}", src)
        dedup_sql, plain_sql = sql.replace("{dedup}", DEDUP), sql.replace("{dedup}", "")

        def polars_once(text: str = query.dsl) -> pl.DataFrame:
            return run(settings, PROJECT, text, now=NOW).frame

        def duck_once(sql: str) -> pl.DataFrame:
            return pl.from_arrow(con.sql(sql).to_arrow_table())  # type: ignore[return-value]

        polars_frame = polars_once()  # warm-up, and the answers
        duck_frame, plain_frame = duck_once(dedup_sql), duck_once(plain_sql)
        fig.diff = compare(polars_frame, duck_frame)
        fig.same = not fig.diff
        fig.nodedup_same = not compare(polars_frame, plain_frame)
        fig.rows = polars_frame.height
        for _ in range(reps):
            started = time.perf_counter()
            polars_once()
            fig.polars_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            duck_once(dedup_sql)
            fig.duckdb_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            duck_once(plain_sql)
            fig.nodedup_ms.append((time.perf_counter() - started) * 1000)
        fig.compile_ms = time_compile(query.dsl, compile_runs)
        if log:
            print(
                f"{query.name:32s} polars {median(fig.polars_ms):8.1f} ms  duckdb "
                f"{median(fig.duckdb_ms):8.1f} ms  no-dedup {median(fig.nodedup_ms):8.1f} ms  "
                f"ratio {fig.ratio:5.2f}  compile "
                f"{fig.compile_ms:5.2f} ms  {'same' if fig.same else 'DIFF: ' + fig.diff}",
                flush=True,
            )
        out.append(fig)
    return out


def describe_layout(table: DeltaTable) -> str:
    """Files per partition, read from the snapshot: how much of the lake needs the dedup."""
    adds = pl.DataFrame(pa.table(table.get_add_actions(flatten=True)))
    per = adds.group_by("partition.project_id", "partition.event_date").len()
    multi = per.filter(pl.col("len") > 1)
    return (
        f"{adds.height} files in {per.height} partitions (project x day); "
        f"{per.height - multi.height} partitions of one compacted file, {multi.height} of "
        f"{', '.join(str(n) for n in sorted(set(multi['len'].to_list()))) or '-'} files "
        "(the uncompacted tail, with retried duplicates across its files)"
    )


def machine() -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        mem_gb = f"{int(mem) / 1024 / 1024:.0f} GB"
    except OSError:
        mem_gb = "?"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} logical CPUs",
        "memory": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load": "load average {:.1f} {:.1f} {:.1f} at the start".format(*os.getloadavg()),
        "versions": f"polars {pl.__version__}, duckdb {duckdb.__version__}, deltalake "
        f"{deltalake.__version__}, sqlglot {sqlglot.__version__}",
    }


def report(
    figures: list[Figures],
    spec: Spec,
    reps: int,
    facts: dict[str, str],
    events: int,
    size: str,
    layout: str,
) -> str:
    lines = [
        f"Run {facts['date']}; {facts['cpu']}, {facts['memory']} RAM; {facts['os']}; "
        f"Python {facts['python']}; {facts['versions']}; {facts.get('load', '')}.",
        "",
        f"Data: {events:,} rows ({spec.events:,} events + retried duplicates; {size} of "
        f"Parquet), 30 days to {NOW:%Y-%m-%d}, {layout}; queries for `{PROJECT}` (95% of "
        f"rows) at now = {NOW:%Y-%m-%dT%H:%MZ}. {reps} timed repetitions per query after a "
        "warm-up, engines alternating. Polars = `run(settings, project, text, now=...)` end "
        "to end (compile, guard, open the Delta snapshot, translate, collect); DuckDB = "
        "hand-written SQL over `read_parquet([snapshot files], hive_partitioning = true)`, "
        "file list taken once, one row per (event_date, insert_id) by `QUALIFY row_number()` "
        "over every row in range; DuckDB no dedup = the same SQL without the `QUALIFY`.",
        "",
        "| query | Polars median ms | Polars p95 ms | DuckDB median ms | DuckDB p95 ms | "
        "Polars/DuckDB | DuckDB no dedup median ms | Polars/no dedup | compile ms | rows | "
        "same answer | no dedup same |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for f in figures:
        plain = median(f.nodedup_ms)
        lines.append(
            f"| `{f.name}` | {median(f.polars_ms):.0f} | {p95(f.polars_ms):.0f} | "
            f"{median(f.duckdb_ms):.0f} | {p95(f.duckdb_ms):.0f} | {f.ratio:.2f}x | "
            f"{plain:.0f} | {median(f.polars_ms) / plain:.2f}x | "
            f"{f.compile_ms:.2f} | {f.rows} | {'yes' if f.same else 'NO: ' + f.diff} | "
            f"{'yes' if f.nodedup_same else 'no'} |"
        )
    seed = next((f for f in figures if f.name == "seed"), None)
    over = [f for f in figures if f.ratio > 1.0]
    worst_compile = max(f.compile_ms for f in figures)
    lines += [""]
    if seed is not None:
        lines.append(
            f"- Seed query: {median(seed.polars_ms):.0f} ms median (target "
            f"< {SEED_TARGET_MS:.0f} ms): "
            f"{'met' if median(seed.polars_ms) < SEED_TARGET_MS else 'NOT met'}."
        )
    lines.append(
        f"- At most 1.0x DuckDB: {len(figures) - len(over)} of {len(figures)} queries "
        f"met; over: {', '.join(f'`{f.name}` {f.ratio:.2f}x' for f in over) or 'none'}."
    )
    lines.append(
        f"- Compile overhead (parse + compile + guard, median of many): at most "
        f"{worst_compile:.2f} ms (target < {COMPILE_TARGET_MS:.0f} ms): "
        f"{'met' if worst_compile < COMPILE_TARGET_MS else 'NOT met'}."
    )
    lines.append(
        f"- Same answer on both engines: {sum(f.same for f in figures)} of {len(figures)}."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.query",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=Spec.events)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--compile-runs", type=int, default=300)
    parser.add_argument("--only", nargs="*", help="query names to run")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the data")
    args = parser.parse_args(argv)
    spec = Spec(events=args.events)
    folder = ensure(spec, rebuild=args.rebuild)
    settings = Settings(data_dir=folder)
    queries = [q for q in QUERIES if not args.only or q.name in args.only]
    facts = machine()
    uri = events_uri(settings)
    table = DeltaTable(uri)
    files = table.file_uris()
    size = sum(Path(f).stat().st_size for f in files)
    events = int(pl.scan_delta(uri).select(pl.len()).collect().item())
    layout = describe_layout(table)
    print(f"data: {folder} ({events:,} rows, {layout}, {size / 2**20:.0f} MiB)", flush=True)
    figures = bench(settings, queries, args.reps, args.compile_runs)
    text = report(figures, spec, args.reps, facts, events, f"{size / 2**20:.0f} MiB", layout)
    print()
    print(text)
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"{stamp}.md").write_text(text)
    (out / f"{stamp}.json").write_text(
        json.dumps(
            {
                "facts": facts,
                "spec": spec.__dict__,
                "reps": args.reps,
                "queries": [f.__dict__ for f in figures],
            },
            indent=1,
            default=str,
        )
    )
    return 0 if all(f.same for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
