"""The ingest client against a live server: batching by size and by time, every call kind in
the lake, rejections reported, gzip, retries stored once, flush at interpreter exit."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from growthos_pipeline.client import AuthenticationError, GrowthOS, Rejection, RetryPolicy
from tests.client.server import Fault, Live, live_server
from tests.conftest import MakeSettings

TRACK = "/v1/track"


def _sent_ids(live: Live, path: str = TRACK) -> list[list[str]]:
    requests = live.faults.requests("POST", path)
    return [[event["insert_id"] for event in r.json()["events"]] for r in requests]


def test_events_go_in_batches_by_size_and_by_time(live: Live, keys: dict[str, str]) -> None:
    with GrowthOS(keys["public_key"], live.url, batch_size=10, flush_interval=1.0) as analytics:
        ids = [analytics.track("tick", user_id="u1") for _ in range(25)]
        last_call = time.monotonic()
        deadline = time.monotonic() + 10
        while len(live.faults.requests("POST", TRACK)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        requests = live.faults.requests("POST", TRACK)
        assert [len(batch) for batch in _sent_ids(live)] == [10, 10, 5]
        # The full batches went at once, the rest when its oldest had waited flush_interval.
        assert requests[1].at - last_call < 0.8
        assert requests[2].at - last_call >= 0.9
        assert analytics.flush(timeout=10) and analytics.accepted == 25
    assert [i for batch in _sent_ids(live) for i in batch] == ids
    assert sorted(live.server.events(keys["project_id"])["insert_id"]) == sorted(ids, key=str)


def test_every_kind_of_call_arrives_in_the_lake(live: Live, keys: dict[str, str]) -> None:
    with GrowthOS(keys["public_key"], live.url) as analytics:
        analytics.identify(
            "u1",
            device_id="d1",
            properties={"plan": "pro"},
            operations={"$add": {"logins": 1}},
            insert_id="i-identify",
        )
        analytics.track(
            "Order Completed",
            user_id="u1",
            properties={"total": 30},
            groups={"company": "acme"},
            insert_id="i-track",
        )
        analytics.page(
            "https://example.com/pricing?x=1",
            device_id="d1",
            title="Pricing",
            referrer="https://news.ycombinator.com/",
            insert_id="i-page",
        )
        analytics.group("company", "acme", user_id="u1", properties={"seats": 5}, insert_id="i-g")
        analytics.alias("u1", "legacy-7", insert_id="i-alias")
        assert analytics.flush(timeout=10)
    rows = {r["insert_id"]: r for r in live.server.events(keys["project_id"]).to_dicts()}
    assert {k: rows[k]["event_type"] for k in rows} == {
        "i-identify": "$identify",
        "i-track": "Order Completed",
        "i-page": "page_view",
        "i-g": "$group",
        "i-alias": "$alias",
    }
    assert json.loads(rows["i-identify"]["user_properties"]) == {
        "plan": "pro",
        "$add": {"logins": 1},
    }
    assert json.loads(rows["i-track"]["groups"]) == {"company": "acme"}
    assert rows["i-page"]["_path"] == "/pricing"
    assert json.loads(rows["i-g"]["event_properties"]) == {"seats": 5}
    assert rows["i-alias"]["device_id"] == "legacy-7"
    assert rows["i-track"]["library"].startswith("growthos-python/")


def test_refused_events_are_reported_and_the_rest_kept(live: Live, keys: dict[str, str]) -> None:
    refused: list[Rejection] = []
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(15):
        node["x"] = {}
        node = node["x"]
    with GrowthOS(keys["public_key"], live.url, on_reject=refused.append) as analytics:
        good = analytics.track("ok", user_id="u1")
        bad = analytics.track("too deep", user_id="u1", properties=deep)
    assert [(r.kind, r.code, r.insert_id) for r in refused] == [("track", "too_deep", bad)]
    assert analytics.accepted == 1 and analytics.rejected == 1
    assert live.server.events(keys["project_id"])["insert_id"].to_list() == [good]


def test_refused_events_are_logged_by_default(
    live: Live, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="growthos_pipeline.client"),
        GrowthOS(keys["public_key"], live.url) as analytics,
    ):
        bad = analytics.track("late", user_id="u1", time="2999-01-01T00:00:00Z")
    assert any(str(bad) in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)


def test_large_bodies_are_gzipped(live: Live, keys: dict[str, str]) -> None:
    with GrowthOS(keys["public_key"], live.url, gzip_min_bytes=2048) as analytics:
        small = analytics.track("small", user_id="u1")
        analytics.flush()
        big = analytics.track("big", user_id="u1", properties={"text": "abc" * 1000})
    first, second = live.faults.requests("POST", TRACK)
    assert "content-encoding" not in first.headers
    assert second.headers["content-encoding"] == "gzip" and len(second.body) < 1000
    assert sorted(live.server.events(keys["project_id"])["insert_id"]) == sorted(
        [small, big], key=str
    )


def test_a_lost_answer_is_sent_again_and_stored_once(live: Live, keys: dict[str, str]) -> None:
    live.faults.plan.append(Fault("POST", TRACK, status=503, retry_after="0", after_app=True))
    with GrowthOS(keys["public_key"], live.url) as analytics:
        ids = [analytics.track("pay", user_id=f"u{n}") for n in range(20)]
    sent = _sent_ids(live)
    assert len(sent) == 2 and sent[0] == sent[1] == ids  # the same events, the same insert ids
    first, second = live.faults.requests("POST", TRACK)
    assert first.faulted and second.status == 200
    assert first.json()["events"] == second.json()["events"]
    stored = live.server.events(keys["project_id"])
    assert sorted(stored["insert_id"]) == sorted(
        ids, key=str
    )  # each once, though the server got two
    raw = live.server.events(keys["project_id"], dedup=False)
    assert raw.height in (20, 40)


def test_an_oversized_batch_is_split(make_settings: MakeSettings, keys: dict[str, str]) -> None:
    settings = make_settings(ingest_max_batch_events=4)
    with live_server(settings) as live:
        with GrowthOS(keys["public_key"], live.url, batch_size=10) as analytics:
            ids = [analytics.track("tick", user_id="u1") for _ in range(10)]
        statuses = [s.status for s in live.faults.requests("POST", TRACK)]
        sizes = [len(batch) for batch in _sent_ids(live)]
        assert sorted(live.server.events(keys["project_id"])["insert_id"]) == sorted(ids, key=str)
    # 10 -> 413, halves of 5 -> 413, their halves of 2 and 3 -> stored
    assert sizes == [10, 5, 2, 3, 5, 2, 3]
    assert statuses == [413, 413, 200, 200, 413, 200, 200]
    assert analytics.accepted == 10 and analytics.failed == 0


def test_a_refused_key_drops_the_batch_after_one_attempt(live: Live) -> None:
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []
    with GrowthOS(
        "pk_not_a_real_key", live.url, on_error=lambda e, events: errors.append((e, events))
    ) as analytics:
        analytics.track("a", user_id="u1")
        analytics.track("b", user_id="u1")
    assert len(live.faults.requests("POST", TRACK)) == 1
    [(error, events)] = errors
    assert isinstance(error, AuthenticationError) and error.code == "invalid_api_key"
    assert [e["event_type"] for e in events] == ["a", "b"]
    assert analytics.failed == 2


def test_a_full_queue_drops_new_events_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # nothing listens there; nothing is sent before close
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    analytics = GrowthOS("pk_x", url, max_queue_size=5, flush_interval=60)
    with caplog.at_level(logging.WARNING, logger="growthos_pipeline.client"):
        results = [analytics.track("tick", user_id="u1") for _ in range(8)]
    assert [r is not None for r in results] == [True] * 5 + [False] * 3
    assert analytics.dropped == 3 and analytics.queued == 5
    assert sum("queue is full" in r.getMessage() for r in caplog.records) == 1
    assert analytics.discard() == 5
    analytics.close(timeout=1)


def test_calls_from_many_threads_are_each_sent_once(live: Live, keys: dict[str, str]) -> None:
    with GrowthOS(keys["public_key"], live.url, batch_size=50) as analytics:
        ids: list[str | None] = []
        lock = threading.Lock()

        def send(n: int) -> None:
            mine = [analytics.track("tick", user_id=f"t{n}") for _ in range(100)]
            with lock:
                ids.extend(mine)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    raw = live.server.events(keys["project_id"], dedup=False)
    assert raw.height == 400 and sorted(raw["insert_id"]) == sorted(i for i in ids if i)


SCRIPT = """
import sys
from growthos_pipeline.client import GrowthOS

analytics = GrowthOS(sys.argv[1], sys.argv[2], flush_interval=60, batch_size=1000)
for n in range(50):
    analytics.track("exit-test", user_id="u1", insert_id=f"exit-{n}")
print(analytics.queued, flush=True)
# no flush(), no close(): the interpreter's exit sends them
"""


def test_events_queued_at_exit_are_sent_exactly_once(
    live: Live, keys: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "send.py"
    script.write_text(textwrap.dedent(SCRIPT))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script), keys["public_key"], live.url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "50"  # all still queued when the script ended
    assert time.monotonic() - started < 30
    raw = live.server.events(keys["project_id"], dedup=False)
    assert sorted(raw["insert_id"]) == sorted(f"exit-{n}" for n in range(50))
    assert len(live.faults.requests("POST", TRACK)) == 1


def test_retries_reach_a_server_that_comes_back(live: Live, keys: dict[str, str]) -> None:
    live.faults.plan.append(Fault("POST", TRACK, status=503, times=2))
    policy = RetryPolicy(backoff_base=0.05, backoff_max=0.2)
    with GrowthOS(keys["public_key"], live.url, retry=policy) as analytics:
        insert_id = analytics.track("tick", user_id="u1")
    assert [s.status for s in live.faults.requests("POST", TRACK)] == [503, 503, 200]
    assert live.server.events(keys["project_id"])["insert_id"].to_list() == [insert_id]


FORK_SCRIPT = """
import os, sys
from growthos_pipeline.client import GrowthOS

analytics = GrowthOS(sys.argv[1], sys.argv[2], flush_interval=60)
analytics.track("before-fork", user_id="parent", insert_id="parent-1")
codes = []
for sends in (True, False):
    pid = os.fork()
    if pid == 0:
        if sends:
            analytics.track("in-child", user_id="child", insert_id="child-1")
        sys.exit(0)  # the child's exit sends the child's queue only
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(codes, flush=True)
"""


def test_a_forked_child_sends_only_its_own_events(
    live: Live, keys: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "fork.py"
    script.write_text(textwrap.dedent(FORK_SCRIPT))
    result = subprocess.run(
        [sys.executable, str(script), keys["public_key"], live.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip() == "[0, 0]", result.stderr
    assert "not sent" not in result.stderr and "lost" not in result.stderr
    raw = live.server.events(keys["project_id"], dedup=False)
    assert sorted(raw["insert_id"]) == ["child-1", "parent-1"]
    assert sorted(_sent_ids(live)) == [["child-1"], ["parent-1"]]
