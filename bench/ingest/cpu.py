"""CPU per ingest request, in process: the app driven as an ASGI callable, no HTTP, no wrk.

Throughput on a shared 2-core machine moves with whatever else runs; the CPU time the server
process spends per request (all its threads: handler, WAL writer, flusher) does much less, so
this is the figure to compare code changes with. The durable path is on (WAL fdatasync, the
flusher into Delta); the flusher's child process is counted with the rest.

    python -m bench.ingest.cpu track 6000 64     # shape, requests, concurrent requests
    PYTHONPATH=/other/checkout python -m bench.ingest.cpu batch 600 16
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

UA = (
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/124.0.0.0 Safari/537.36"
)


def event(i: int, request: int, now_ms: int) -> dict[str, Any]:
    """One event shaped like the wrk scripts' (bench/ingest/events.lua)."""
    user = 1 + (i * 7919) % 5000
    return {
        "event_type": "product_viewed",
        "user_id": f"user_{user}",
        "device_id": f"d{user:08x}-4b1e-4c2a-9f3e-{user:012d}",
        "session_id": str(now_ms - 600_000 + user),
        "time": now_ms - (i % 1000) * 37,
        "insert_id": f"{request}-{i}",
        "event_properties": {
            "product_id": f"sku_{1000 + i % 900}",
            "category": "shoes",
            "price": 89.99,
            "currency": "EUR",
            "position": 3,
            "list": "search results",
            "in_stock": True,
            "query": "running shoes 3",
        },
        "user_properties": {
            "plan": "pro",
            "signup_source": "google",
            "company_size": "11-50",
            "beta": True,
        },
        "url": f"https://shop.example.com/products/sku_{1000 + i % 900}?utm_source=google",
        "referrer": "https://www.google.com/",
        "library": "growthos-js/1.4.2",
    }


def _thread_cpu() -> dict[int, tuple[str, float, float]]:
    """CPU seconds of each thread of this process (name, user + system, system), by thread
    id, from /proc: which thread spends the time (the handler, the WAL writer's fdatasync,
    the flusher), and how much of it is the kernel's."""
    ticks = os.sysconf("SC_CLK_TCK")
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    found: dict[int, tuple[str, float, float]] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = names.get(int(task.name)) or stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        user, system = int(fields[11]) / ticks, int(fields[12]) / ticks
        found[int(task.name)] = (name, user + system, system)
    return found


def _children_cpu() -> dict[int, tuple[str, float, float]]:
    """CPU seconds (user + system, system) of this process's child processes: the flusher
    runs in one (growthos_pipeline/ingest/committer.py)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float, float]] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in children:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            user, system = int(fields[11]) / ticks, int(fields[12]) / ticks
            found[int(pid)] = ("flusher process", user + system, system)
    return found


def main() -> None:
    shape, total, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data_dir = tempfile.mkdtemp(prefix="growthos-cpu-")
    os.environ.update(GROWTHOS_DATA_DIR=data_dir, GROWTHOS_RATE_LIMITS_ENABLED="false")
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "growthos"),
            "bootstrap",
            "--org",
            "B",
            "--project",
            "b",
            "--data-dir",
            data_dir,
        ],
        capture_output=True,
        check=True,
    )
    key = json.loads(out.stdout)["public_key"].encode()

    import uvloop

    from api.app import create_app

    app = create_app()
    now_ms = int(time.time() * 1000)
    bodies = [
        json.dumps(
            {"events": [event(i, r, now_ms) for i in range(100)]}
            if shape == "batch"
            else event(r % 1000, r, now_ms)
        ).encode()
        for r in range(200)
    ]

    async def one(n: int) -> None:
        body = bodies[n % len(bodies)]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/track",
            "raw_path": b"/v1/track",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"x-api-key", key),
                (b"user-agent", UA),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        assert statuses == [200], statuses

    async def run() -> None:
        async with app.router.lifespan_context(app):
            for n in range(50):
                await one(n)
            numbers = iter(range(total))

            async def worker() -> None:
                for n in numbers:
                    await one(n)

            started, cpu = time.perf_counter(), time.process_time()
            threads_before = {**_thread_cpu(), **_children_cpu()}
            await asyncio.gather(*[worker() for _ in range(concurrency)])
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            await asyncio.sleep(2.5)  # the last seal and the flusher's commit of it
            threads = {**_thread_cpu(), **_children_cpu()}
            children = sum(
                seconds - threads_before.get(pid, ("", 0.0, 0.0))[1]
                for pid, (name, seconds, _) in threads.items()
                if name == "flusher process"
            )
            cpu += children
        per = 100 if shape == "batch" else 1
        print(
            f"{shape}: {total / wall:,.0f} req/s in process, CPU {cpu / total * 1e6:,.0f} us per "
            f"request ({cpu / total / per * 1e6:,.1f} us per event), load "
            f"{os.getloadavg()[0]:.1f}"
        )
        spent: dict[str, list[float]] = {}
        for tid, (name, seconds, system) in threads.items():
            _, seconds_before, system_before = threads_before.get(tid, (name, 0.0, 0.0))
            totals = spent.setdefault(name, [0.0, 0.0])
            totals[0] += seconds - seconds_before
            totals[1] += system - system_before
        scale = 1e6 / total / per
        print(
            "  by thread, us per event (of which kernel): "
            + ", ".join(
                f"{name} {seconds * scale:.1f} ({system * scale:.1f})"
                for name, (seconds, system) in sorted(spent.items(), key=lambda kv: -kv[1][0])
                if seconds * scale >= 0.05
            )
        )

    uvloop.run(run())


if __name__ == "__main__":
    main()
