"""The compaction benchmark: throughput, and scan speed before vs after, on 10M events.

``python -m bench.compaction`` (or ``bench/compaction/run.sh``, or ``make bench``):

1. takes the query benchmark's events (10 million over 30 days, 0.2% retried duplicates;
   :func:`bench.query.generate.ensure` generates them into ``bench/.data/`` or reuses them)
   and writes them again the way ingest does: in arrival (``received_at``) order, one Delta
   append per WAL segment of ``--segment-rows`` events, so every day ends up in many small
   files (cached under ``bench/.data/compaction-*/pristine``, copied for each run);
2. times representative queries through :func:`growthos_pipeline.query.run.run` and a full
   scan (best of ``--reps`` after a warm-up) on the small files;
3. compacts every (project, day) partition with
   :func:`growthos_pipeline.lake.compaction.compact` and reports events/s, files and bytes
   before and after, duplicates dropped;
4. times the same queries and the full scan again, then vacuums (retention 0) and checks that
   the answers did not change;
5. writes the "Compaction" section of ``bench/RESULTS.md`` (other sections are left alone) and
   the raw figures to ``bench/compaction/out/``.

Nothing here is a test: the figures vary with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import deltalake
import polars as pl
from deltalake import DeltaTable, write_deltalake

from bench.query.generate import DATA, NOW, PROJECT, Spec, ensure
from bench.query.queries import QUERIES
from growthos_pipeline.events.model import LAKE_SCHEMA, PARTITION_BY
from growthos_pipeline.lake.compaction import compact, maintain
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.lake.tables import ensure_events_table, events_uri
from growthos_pipeline.query.run import run
from growthos_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "RESULTS.md"
OUT = Path(__file__).resolve().parent / "out"
#: A few representative queries of the query benchmark (by name), plus full scans below.
QUERY_NAMES = (
    "seed",
    "revenue_by_country",
    "coupons_over_50",
    "checkout_rows",
    "pageviews_by_country_having",
    "other_events_by_type_device",
)
SECTION = "## Compaction"


def _settings(folder: Path) -> Settings:
    return Settings(
        _env_file=None,
        env="test",
        data_dir=folder,  # type: ignore[call-arg]
        secret_key="bench-" + "x" * 40,
    )


def small_files_table(spec: Spec, segment_rows: int, *, log: bool = True) -> Path:
    """The events written as ingest writes them: one append per WAL segment (cached)."""
    folder = DATA / f"compaction-{spec.key}-seg{segment_rows}" / "pristine"
    if (folder / "READY").exists():
        return folder
    source = ensure(spec, log=log)
    shutil.rmtree(folder, ignore_errors=True)
    frame = pl.read_delta(str(source / "lake" / "events")).sort(["received_at", "event_id"])
    uri = str(folder / "lake" / "events")
    table = ensure_events_table(uri)
    started = time.perf_counter()
    commits = 0
    for offset in range(0, frame.height, segment_rows):
        chunk = frame.slice(offset, segment_rows).to_arrow().cast(LAKE_SCHEMA)
        write_deltalake(table, chunk, mode="append", partition_by=PARTITION_BY)
        commits += 1
        if log and commits % 100 == 0:
            print(
                f"  {commits} segments appended ({time.perf_counter() - started:.0f} s)", flush=True
            )
    (folder / "READY").write_text(f"{frame.height} {commits}\n")
    if log:
        print(
            f"wrote {frame.height:,} events in {commits} appends in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
    return folder


def _files(uri: str) -> tuple[int, int]:
    adds = pl.DataFrame(DeltaTable(uri).get_add_actions(flatten=True))
    return adds.height, int(adds["size_bytes"].sum())


def _partitions(uri: str) -> list[tuple[str, date]]:
    adds = pl.DataFrame(DeltaTable(uri).get_add_actions(flatten=True))
    keys = (
        adds.select("partition.project_id", "partition.event_date")
        .unique()
        .sort("partition.project_id", "partition.event_date")
    )
    return [(str(p), d) for p, d in keys.iter_rows()]


def _best(fn: Any, reps: int) -> tuple[float, Any]:
    fn()  # warm-up (file system cache, Polars thread pool)
    times, value = [], None
    for _ in range(reps):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return min(times), value


def _fingerprint(frame: pl.DataFrame) -> int:
    """The rows, order-free, floats to 9 significant digits (sums depend on scan order)."""
    rounded = frame.with_columns(pl.col(pl.Float64, pl.Float32).round_sig_figs(9))
    return int(rounded.sort(rounded.columns).hash_rows().sum())


def scans(settings: Settings, reps: int) -> dict[str, dict[str, Any]]:
    """Seconds (best of ``reps``) and a fingerprint of the answer, per query."""
    by_name = {q.name: q for q in QUERIES}
    uri = events_uri(settings)
    out: dict[str, dict[str, Any]] = {}
    for name in QUERY_NAMES:
        dsl = by_name[name].dsl
        seconds, result = _best(lambda dsl=dsl: run(settings, PROJECT, dsl, now=NOW), reps)
        out[name] = {
            "dsl": dsl,
            "seconds": seconds,
            "answer": _fingerprint(result.frame),
        }
    seconds, frame = _best(
        lambda: (
            pl.scan_delta(uri)
            .select(
                pl.len().alias("rows"),
                pl.col("event_properties").str.len_bytes().sum().alias("b"),
                pl.col("device_id").n_unique().alias("devices"),
            )
            .collect()
        ),
        reps,
    )
    out["full_scan_all_columns"] = {
        "dsl": "(every row of the table: count, property bytes, distinct devices)",
        "seconds": seconds,
        "answer": frame.row(0),
    }
    seconds, frame = _best(lambda: read_events(settings, PROJECT), reps)
    out["read_events_dedup"] = {
        "dsl": "read_events(project): every column, one row per insert_id",
        "seconds": seconds,
        "answer": frame.height,
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compaction",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=Spec().events)
    parser.add_argument(
        "--segment-rows",
        type=int,
        default=10_000,
        help="events per append (a WAL segment); default 10000",
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args(argv)
    spec = Spec(events=args.events)
    pristine = small_files_table(spec, args.segment_rows)
    work = pristine.parent / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work)
    settings = _settings(work)
    uri = events_uri(settings)
    files_before, bytes_before = _files(uri)
    print(f"{files_before:,} files, {bytes_before / 1e6:,.0f} MB before compaction", flush=True)

    before = scans(settings, args.reps)
    print("scans before:", {k: round(v["seconds"], 3) for k, v in before.items()}, flush=True)

    partitions = _partitions(uri)
    later = NOW + timedelta(days=1)
    reports = []
    started = time.perf_counter()
    for project_id, day in partitions:
        reports.append(compact(settings, project_id, day, now=later))
    compaction_s = time.perf_counter() - started
    rows = sum(r.rows_before for r in reports)
    files_after, bytes_after = _files(uri)
    print(
        f"compacted {len(reports)} partitions, {rows:,} events in {compaction_s:.1f} s "
        f"({rows / compaction_s:,.0f} events/s); {files_after} files, "
        f"{bytes_after / 1e6:,.0f} MB",
        flush=True,
    )

    after = scans(settings, args.reps)
    print("scans after:", {k: round(v["seconds"], 3) for k, v in after.items()}, flush=True)
    vacuum_started = time.perf_counter()
    maintenance = maintain(settings, retention_hours=0)
    vacuum_s = time.perf_counter() - vacuum_started
    changed = [
        k
        for k in before
        if k != "full_scan_all_columns" and before[k]["answer"] != after[k]["answer"]
    ]
    same = not changed
    if changed:
        print("answers changed:", changed, flush=True)
    per_partition = [r.seconds for r in reports if r.version is not None]
    figures: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, deltalake {deltalake.__version__}, "
        f"polars {pl.__version__}",
        "events": spec.events,
        "segment_rows": args.segment_rows,
        "partitions": len(reports),
        "rows_before": rows,
        "rows_after": sum(r.rows_after for r in reports),
        "duplicates_dropped": sum(r.duplicates_dropped for r in reports),
        "files_before": files_before,
        "files_after": files_after,
        "bytes_before": bytes_before,
        "bytes_after": bytes_after,
        "compaction_s": compaction_s,
        "events_per_s": rows / compaction_s,
        "partition_s_median": statistics.median(per_partition) if per_partition else 0.0,
        "partition_s_max": max(per_partition) if per_partition else 0.0,
        "vacuum_s": vacuum_s,
        "files_vacuumed": maintenance.tables["events"].files_vacuumed,
        "answers_unchanged": same,
        "before": {k: v["seconds"] for k, v in before.items()},
        "after": {k: v["seconds"] for k, v in after.items()},
        "dsl": {k: v["dsl"] for k, v in before.items()},
        "full_scan_rows": [
            before["full_scan_all_columns"]["answer"][0],
            after["full_scan_all_columns"]["answer"][0],
        ],
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(figures, indent=2, default=str))
    report = render(figures)
    print(report)
    if not args.no_results:
        write_section(report)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


def render(f: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        "`bench/compaction/run.sh` (part of `make bench`): the query benchmark's "
        f"{f['events']:,} events (30 days, two projects, 0.2% retried duplicates) appended "
        f"the way ingest appends them, in arrival order, one Delta commit per WAL segment of "
        f"{f['segment_rows']:,} events; then every (project, day) partition compacted with "
        "`growthos_pipeline.lake.compaction.compact` (dedup by insert_id, sort by "
        "(event_type, time), ZSTD, 128k-row row groups, one replaceWhere commit per "
        "partition). Queries through `growthos_pipeline.query.run.run` (Polars), best of "
        "the repetitions after a warm-up.",
        "",
        f"Run {f['when']} on {f['machine']}.",
        "",
        "| | before | after |",
        "|---|---:|---:|",
        f"| files | {f['files_before']:,} | {f['files_after']:,} |",
        f"| bytes | {f['bytes_before'] / 1e6:,.0f} MB | {f['bytes_after'] / 1e6:,.0f} MB |",
        f"| rows | {f['rows_before']:,} | {f['rows_after']:,} |",
        "",
        f"**Throughput: {f['events_per_s']:,.0f} events/s** ({f['rows_before']:,} events, "
        f"{f['partitions']} partitions in {f['compaction_s']:.1f} s, one process; median "
        f"{f['partition_s_median']:.2f} s and max {f['partition_s_max']:.2f} s per partition); "
        f"{f['duplicates_dropped']:,} duplicate rows dropped. Vacuum (retention 0) of the "
        f"{f['files_vacuumed']:,} replaced files: {f['vacuum_s']:.1f} s. "
        f"Answers identical before and after: {'yes' if f['answers_unchanged'] else 'NO'}.",
        "",
        "| scan | before (s) | after (s) | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for name, before in f["before"].items():
        after = f["after"][name]
        lines.append(f"| `{name}` | {before:.3f} | {after:.3f} | {before / after:.1f}x |")
    lines += ["", "Queries:", ""]
    lines += [f"* `{name}`: `{dsl}`" for name, dsl in f["dsl"].items()]
    return "\n".join(lines) + "\n"


def write_section(section: str) -> None:
    """Replace (or append) the Compaction section of bench/RESULTS.md, nothing else."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find(SECTION + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    RESULTS.write_text(text)
