"""The ingest benchmark: wrk against ``growthos serve`` and against a bare ASGI app.

``python -m bench.ingest`` (or ``bench/ingest/run.sh``, or ``make bench``) runs, for each
worker count:

* batched ingest (100 events per ``POST /v1/track``) and single-event ``POST /v1/track``, each
  for a fixed duration at a few connection counts, against a fresh GrowthOS server (fresh data
  folder, SQLite catalog, rate limits off, the durable path as in production: WAL fdatasync
  before the answer, the flusher appending to Delta);
* after each GrowthOS run: the WAL backlog when the load stopped, the time the flusher took to
  drain it, and whether the lake then holds exactly the events the server acknowledged;
* the same load shapes against ``bench.ingest.bare:app`` under the same uvicorn settings;
* a soak: both load shapes at once for ``--soak`` seconds (``--full-soak``: 300), the server's
  resident memory sampled every few seconds.

The figures go to ``bench/ingest/out/<stamp>.json`` and ``.md``; ``bench/RESULTS.md`` holds the
recorded runs. Only loopback addresses are used; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BIN = Path(sys.executable).parent
#: Another copy of the code to serve (``--pythonpath``), e.g. a checkout before a change.
CODE_PATH: str | None = None
HOST = "127.0.0.1"
EVENTS_PER_BATCH = 100
TARGETS = {"batch_events_per_s": 150_000, "track_requests_per_s": 4_000, "p99_ms": 50}
#: Requests a second that ``--paced`` offers: the targets' rates.
PACED_RPS = {
    "batch": TARGETS["batch_events_per_s"] / EVENTS_PER_BATCH,
    "track": TARGETS["track_requests_per_s"],
}


# ---- processes ----------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian's package when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            if http_get(url, timeout=1)[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready at {url} after {timeout} s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


@dataclass
class Server:
    kind: str  # "growthos" or "bare"
    workers: int
    port: int
    proc: subprocess.Popen[bytes]
    data_dir: Path | None = None
    key: str = ""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)


def start_growthos(workers: int, *, log: Path) -> Server:
    data_dir = Path(tempfile.mkdtemp(prefix="growthos-bench-"))
    env = {
        **os.environ,
        "GROWTHOS_DATA_DIR": str(data_dir),
        "GROWTHOS_RATE_LIMITS_ENABLED": "false",
    }
    env.pop("GROWTHOS_REDIS_URL", None)
    if CODE_PATH:
        env["PYTHONPATH"] = CODE_PATH
    out = subprocess.run(
        [
            str(BIN / "growthos"),
            "bootstrap",
            "--org",
            "Bench",
            "--project",
            "bench",
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    keys = json.loads(out.stdout)
    port = free_port()
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [
                str(BIN / "growthos"),
                "serve",
                "--data-dir",
                str(data_dir),
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    server = Server("growthos", workers, port, proc, data_dir, keys["public_key"])
    wait_ready(f"{server.url}/readyz", proc)
    if workers > 1:  # every worker has claimed its WAL slot
        deadline = time.monotonic() + 60
        while len(list((data_dir / "wal").glob("slot-*"))) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.2)
    return server


def start_bare(workers: int, *, log: Path) -> Server:
    port = free_port()
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.ingest.bare:app",
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--proxy-headers",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    server = Server("bare", workers, port, proc, key="pk_unused")
    wait_ready(f"{server.url}/healthz", proc)
    return server


# ---- measurements -------------------------------------------------------------------------


def wal_bytes(data_dir: Path) -> int:
    total = 0
    for path in (data_dir / "wal").glob("slot-*/*.wal"):
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def acknowledged_requests(server: Server) -> int:
    """200 answers on /v1/track the server sent, from its Prometheus counter."""
    status, body = http_get(f"{server.url}/metrics", timeout=30)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    total = 0.0
    for line in body.decode().splitlines():
        if (
            line.startswith("growthos_http_requests_total{")
            and 'route="/v1/track"' in line
            and 'status="200"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def lake_counts(data_dir: Path) -> tuple[int, int]:
    """(rows, distinct insert_ids) in the events table."""
    import polars as pl

    uri = str(data_dir / "lake" / "events")
    frame = (
        pl.scan_delta(uri)
        .select(pl.len().alias("rows"), pl.col("insert_id").n_unique().alias("ids"))
        .collect()
    )
    return int(frame["rows"][0]), int(frame["ids"][0])


class Sampler:
    """Samples the server's RSS, CPU time and WAL bytes every ``interval`` seconds."""

    def __init__(self, server: Server, interval: float) -> None:
        self.server = server
        self.interval = interval
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def sample(self) -> dict[str, float]:
        pids = self.server.pids()
        row = {
            "t": round(time.monotonic() - self._t0, 2),
            "rss_mb": round(rss_mb(pids), 1),
            "cpu_s": round(cpu_seconds(pids), 2),
            "busy_s": round(machine_busy_seconds(), 2),
        }
        if self.server.data_dir is not None:
            row["wal_mb"] = round(wal_bytes(self.server.data_dir) / 2**20, 2)
        return row

    def __enter__(self) -> Sampler:
        self.samples.append(self.sample())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.sample())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.sample())


def run_wrk(
    wrk: str,
    server: Server,
    shape: str,
    conns: int,
    duration: float,
    tag: str,
    threads: int = 2,
    pause_ms: int = 0,
) -> dict[str, Any]:
    script = HERE / ("batch.lua" if shape == "batch" else "track.lua")
    args = [server.key, tag] + ([str(EVENTS_PER_BATCH)] if shape == "batch" else [])
    args.append(str(pause_ms))
    cmd = [
        wrk,
        f"-t{min(threads, conns)}",
        f"-c{conns}",
        f"-d{duration:g}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        server.url,
        "--",
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 120)
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, Any] = json.loads(line[len("WRK_JSON ") :])
            seconds = result["duration_us"] / 1e6
            ok = result["requests"] - result["non2xx"]
            result["requests_per_s"] = round(ok / seconds, 1)
            per = EVENTS_PER_BATCH if shape == "batch" else 1
            result["events_per_s"] = round(ok * per / seconds, 1)
            result["acked_events_client"] = ok * per
            return result
    raise RuntimeError(f"no summary from wrk:\n{out.stdout}\n{out.stderr}")


@dataclass
class Run:
    kind: str
    workers: int
    shape: str
    conns: int
    duration_s: float
    pause_ms: int = 0  #: paced runs: each connection's wait after an answer
    requests_per_s: float = 0
    events_per_s: float = 0
    p50_ms: float = 0
    p99_ms: float = 0
    max_ms: float = 0
    non2xx: int = 0
    socket_errors: int = 0
    server_cpu_pct: float = 0
    machine_busy_pct: float = 0  #: all cores, 200 = both busy: server + wrk + anything else
    load_before: float = 0
    rss_max_mb: float = 0
    wal_backlog_end_mb: float | None = None
    wal_backlog_max_mb: float | None = None
    drain_s: float | None = None
    acked_events_server: int | None = None
    acked_events_client: int | None = None
    lake_rows: int | None = None
    lake_distinct_ids: int | None = None
    lake_matches: bool | None = None
    samples: list[dict[str, float]] = field(default_factory=list)


def drain(server: Server, timeout: float = 300) -> float | None:
    """Seconds until every WAL segment is in the lake (None after ``timeout``)."""
    assert server.data_dir is not None
    started = time.monotonic()
    zero_since: float | None = None
    while time.monotonic() - started < timeout:
        if wal_bytes(server.data_dir) == 0:
            zero_since = zero_since or time.monotonic()
            if time.monotonic() - zero_since >= 1.0:  # stayed empty: nothing left in flight
                return round(zero_since - started, 2)
        else:
            zero_since = None
        time.sleep(0.05)
    return None


def pause_for(shape: str, conns: int) -> int:
    """The wait after each answer that paces ``conns`` connections to the target rate
    (:data:`PACED_RPS`), allowing a few milliseconds of latency per request; the warm-up's
    mean latency then corrects it (wrk waits the pause after each answer, so the period is
    pause + latency)."""
    return max(0, round(1000 * conns / PACED_RPS[shape]) - 3)


def measure(
    wrk: str,
    server: Server,
    shape: str,
    conns: int,
    duration: float,
    warmup: float,
    *,
    paced: bool = False,
) -> Run:
    tag = f"{server.kind}{server.workers}-{shape}-{conns}-{int(time.time())}"
    pause_ms = pause_for(shape, conns) if paced else 0
    if warmup > 0:
        warm = run_wrk(wrk, server, shape, conns, warmup, tag + "-warm", pause_ms=pause_ms)
        if paced:  # each connection's period is pause + latency: take the latency seen off
            period_ms = 1000 * conns / PACED_RPS[shape]
            pause_ms = max(0, round(period_ms - warm["lat_mean_us"] / 1000))
    load_before = float(Path("/proc/loadavg").read_text().split()[0])
    with Sampler(server, 1.0) as sampler:
        result = run_wrk(wrk, server, shape, conns, duration, tag, pause_ms=pause_ms)
    samples = sampler.samples
    seconds = result["duration_us"] / 1e6
    run = Run(
        kind=server.kind,
        workers=server.workers,
        shape=shape,
        conns=conns,
        pause_ms=pause_ms,
        duration_s=round(seconds, 2),
        requests_per_s=result["requests_per_s"],
        events_per_s=result["events_per_s"],
        p50_ms=result["lat_p50_us"] / 1000,
        p99_ms=result["lat_p99_us"] / 1000,
        max_ms=result["lat_max_us"] / 1000,
        non2xx=result["non2xx"],
        socket_errors=result["connect_errors"]
        + result["read_errors"]
        + result["write_errors"]
        + result["timeouts"],
        server_cpu_pct=round(100 * (samples[-1]["cpu_s"] - samples[0]["cpu_s"]) / seconds, 1),
        machine_busy_pct=round(100 * (samples[-1]["busy_s"] - samples[0]["busy_s"]) / seconds, 1),
        load_before=load_before,
        rss_max_mb=max(s["rss_mb"] for s in samples),
        samples=samples,
    )
    if server.kind == "growthos":
        assert server.data_dir is not None
        run.wal_backlog_end_mb = samples[-1]["wal_mb"]
        run.wal_backlog_max_mb = max(s["wal_mb"] for s in samples)
        run.drain_s = drain(server)
        per = EVENTS_PER_BATCH if shape == "batch" else 1
        run.acked_events_server = acknowledged_requests(server) * per
        run.acked_events_client = result["acked_events_client"]
        run.lake_rows, run.lake_distinct_ids = lake_counts(server.data_dir)
        run.lake_matches = run.lake_rows == run.lake_distinct_ids == run.acked_events_server
    return run


def soak(
    wrk: str, workers: int, seconds: float, log: Path, batch_conns: int, track_conns: int
) -> dict[str, Any]:
    """Both load shapes at once for ``seconds``; RSS every 5 s."""
    server = start_growthos(workers, log=log)
    try:
        idle_rss = rss_mb(server.pids())
        results: dict[str, dict[str, Any]] = {}

        def load(shape: str, conns: int) -> None:
            results[shape] = run_wrk(wrk, server, shape, conns, seconds, f"soak-{shape}", threads=1)

        loaders = [
            threading.Thread(target=load, args=("batch", batch_conns)),
            threading.Thread(target=load, args=("track", track_conns)),
        ]
        with Sampler(server, 5.0) as sampler:
            for thread in loaders:
                thread.start()
            for thread in loaders:
                thread.join()
        drain_s = drain(server)
        acked = acknowledged_requests(server)  # requests: both shapes use /v1/track
        rows, ids = lake_counts(server.data_dir) if server.data_dir else (0, 0)
    finally:
        stop(server.proc)
        if server.data_dir is not None:
            shutil.rmtree(server.data_dir, ignore_errors=True)
    loaded = [s for s in sampler.samples if s["t"] >= 10] or sampler.samples
    client_events = sum(r["acked_events_client"] for r in results.values())
    return {
        "workers": workers,
        "duration_s": seconds,
        "batch_conns": batch_conns,
        "track_conns": track_conns,
        "idle_rss_mb": round(idle_rss, 1),
        "start_rss_mb": loaded[0]["rss_mb"],
        "end_rss_mb": sampler.samples[-1]["rss_mb"],
        "max_rss_mb": max(s["rss_mb"] for s in sampler.samples),
        "wal_max_mb": max(s.get("wal_mb", 0) for s in sampler.samples),
        "drain_s": drain_s,
        "acked_requests_server": acked,
        "client_acked_events": client_events,
        "lake_rows": rows,
        "lake_distinct_ids": ids,
        "batch": {
            k: results["batch"][k] for k in ("events_per_s", "lat_p50_us", "lat_p99_us", "non2xx")
        },
        "track": {
            k: results["track"][k] for k in ("requests_per_s", "lat_p50_us", "lat_p99_us", "non2xx")
        },
        "samples": sampler.samples,
    }


# ---- report -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    packages = (
        "uvicorn",
        "uvloop",
        "httptools",
        "fastapi",
        "starlette",
        "msgspec",
        "orjson",
        "polars",
        "deltalake",
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version.split(" [")[0].strip(),
        "packages": {name: version(name) for name in packages},
        "filesystem": subprocess.run(
            ["df", "-T", str(tempfile.gettempdir())], capture_output=True, text=True
        )
        .stdout.splitlines()[-1]
        .split()[1],
    }


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"Run {m['date']}: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GiB, "
        f"Linux {m['kernel']}, Python {m['python']}, {m['wrk']}, temp filesystem "
        f"{m['filesystem']}.",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        f"Settings: {report['settings']}. Code: {report['code']} {report['label']}",
        "",
        "| server | workers | shape | conns | pause ms | req/s | events/s | p50 ms | p99 ms "
        "| non-2xx "
        "| server CPU % | machine busy % | load before | RSS max MB | WAL at end MB | drain s "
        "| lake = acked |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        lake = (
            ""
            if run["lake_matches"] is None
            else f"{'yes' if run['lake_matches'] else 'NO'} ({run['lake_rows']:,} / "
            f"{run['acked_events_server']:,})"
        )
        lines.append(
            f"| {run['kind']} | {run['workers']} | {run['shape']} | {run['conns']} "
            f"| {run.get('pause_ms', 0)} "
            f"| {run['requests_per_s']:,.0f} | {run['events_per_s']:,.0f} "
            f"| {run['p50_ms']:.1f} | {run['p99_ms']:.1f} | {run['non2xx']} "
            f"| {run['server_cpu_pct']:.0f} | {run['machine_busy_pct']:.0f} "
            f"| {run['load_before']:.1f} | {run['rss_max_mb']:.0f} "
            f"| {'' if run['wal_backlog_end_mb'] is None else run['wal_backlog_end_mb']} "
            f"| {'' if run['drain_s'] is None and run['kind'] == 'bare' else run['drain_s']} "
            f"| {lake} |"
        )
    soaked = report.get("soak")
    if soaked:
        lines += [
            "",
            f"Soak: {soaked['duration_s']:g} s, {soaked['workers']} worker(s), batch at "
            f"{soaked['batch_conns']} + single at {soaked['track_conns']} connections. "
            f"RSS idle {soaked['idle_rss_mb']} MB, at 10 s {soaked['start_rss_mb']} MB, end "
            f"{soaked['end_rss_mb']} MB, max {soaked['max_rss_mb']} MB; batch "
            f"{soaked['batch']['events_per_s']:,.0f} events/s (p99 "
            f"{soaked['batch']['lat_p99_us'] / 1000:.1f} ms), single "
            f"{soaked['track']['requests_per_s']:,.0f} req/s (p99 "
            f"{soaked['track']['lat_p99_us'] / 1000:.1f} ms); WAL max {soaked['wal_max_mb']} "
            f"MB, drained in {soaked['drain_s']} s; lake rows {soaked['lake_rows']:,} "
            f"(distinct ids {soaked['lake_distinct_ids']:,}), client-acknowledged events "
            f"{soaked['client_acked_events']:,}.",
            "",
            "RSS samples (s: MB): "
            + ", ".join(f"{s['t']:.0f}: {s['rss_mb']:.0f}" for s in soaked["samples"]),
        ]
    return "\n".join(lines) + "\n"


def ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workers", type=ints, default=[1, 2], help="e.g. 1,2")
    parser.add_argument("--duration", type=float, default=15, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds before each run")
    parser.add_argument("--batch-conns", type=ints, default=[4, 16, 64])
    parser.add_argument("--track-conns", type=ints, default=[16, 64, 256])
    parser.add_argument("--servers", default="growthos,bare", help="growthos, bare or both")
    parser.add_argument("--soak", type=float, default=60, help="soak seconds (0: no soak)")
    parser.add_argument("--full-soak", action="store_true", help="soak for 300 seconds")
    parser.add_argument("--soak-workers", type=int, default=2)
    parser.add_argument(
        "--soak-conns", type=ints, default=[8, 32], help="batch,single connections during the soak"
    )
    parser.add_argument("--out", type=Path, default=HERE / "out")
    parser.add_argument(
        "--pythonpath",
        help="serve GrowthOS from this copy of the code (before/after comparisons)",
    )
    parser.add_argument("--label", default="", help="a name for this run in the report")
    parser.add_argument(
        "--paced",
        action="store_true",
        help="pace every run to a rate (by default the targets': 1,500 batches or 4,000 "
        "single events a second) instead of saturating the server: the latency at that rate",
    )
    parser.add_argument("--pace-batch-rps", type=float, help="batches a second when --paced")
    parser.add_argument("--pace-track-rps", type=float, help="single events a second when --paced")
    args = parser.parse_args(argv)
    soak_s = 300.0 if args.full_soak else args.soak
    if args.pace_batch_rps:
        PACED_RPS["batch"] = args.pace_batch_rps
    if args.pace_track_rps:
        PACED_RPS["track"] = args.pace_track_rps
    global CODE_PATH
    CODE_PATH = args.pythonpath

    wrk = ensure_wrk()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    log = args.out / f"{stamp}.server.log"
    report: dict[str, Any] = {
        "machine": machine(),
        "settings": (
            f"{args.duration:g} s per run after a {args.warmup:g} s warm-up, wrk "
            "-t2, 100 events/request for batches, rate limits off, uvicorn log "
            "level warning, SQLite catalog, WAL fdatasync + Delta flusher on"
        ),
        "label": args.label,
        "code": args.pythonpath or str(ROOT),
        "targets": TARGETS,
        "runs": [],
        "soak": None,
    }
    servers = [s.strip() for s in args.servers.split(",")]
    for workers in args.workers:
        for kind in servers:
            for shape, conns_list in (("batch", args.batch_conns), ("track", args.track_conns)):
                for conns in conns_list:
                    start = start_growthos if kind == "growthos" else start_bare
                    server = start(workers, log=log)
                    try:
                        run = measure(
                            wrk,
                            server,
                            shape,
                            conns,
                            args.duration,
                            args.warmup,
                            paced=args.paced,
                        )
                    finally:
                        stop(server.proc)
                        if server.data_dir is not None:
                            shutil.rmtree(server.data_dir, ignore_errors=True)
                    report["runs"].append(asdict(run))
                    print(
                        f"{kind:8} w={workers} {shape:5} c={conns:<4} pause {run.pause_ms} ms "
                        f"{run.requests_per_s:>9,.0f} req/s {run.events_per_s:>10,.0f} ev/s "
                        f"p50 {run.p50_ms:6.1f} p99 {run.p99_ms:6.1f} ms "
                        f"cpu {run.server_cpu_pct:4.0f}% busy {run.machine_busy_pct:4.0f}% "
                        f"load {run.load_before:.1f} non2xx {run.non2xx} "
                        f"wal_end {run.wal_backlog_end_mb} drain {run.drain_s} "
                        f"lake_ok {run.lake_matches}",
                        flush=True,
                    )
    if soak_s > 0 and "growthos" in servers:
        batch_conns, track_conns = args.soak_conns
        report["soak"] = soak(wrk, args.soak_workers, soak_s, log, batch_conns, track_conns)
        s = report["soak"]
        print(
            f"soak {soak_s:g} s: RSS idle {s['idle_rss_mb']} start {s['start_rss_mb']} end "
            f"{s['end_rss_mb']} max {s['max_rss_mb']} MB; drain {s['drain_s']} s; lake "
            f"{s['lake_rows']:,} rows",
            flush=True,
        )
    (args.out / f"{stamp}.json").write_text(json.dumps(report, indent=1))
    (args.out / f"{stamp}.md").write_text(markdown(report))
    print(f"\nwritten: {args.out / stamp}.md and .json\n")
    print(markdown(report))
