"""Retries against a live server: what is retried, how long the client waits (measured at the
server), and that a retried POST is done once."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from email.utils import formatdate
from itertools import pairwise

import pytest

from growthos_pipeline.client import (
    APIConnectionError,
    BadRequestError,
    ConflictError,
    ManagementClient,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from growthos_pipeline.settings import PlanLimits
from tests.client.server import Fault, Live, live_server
from tests.conftest import MakeSettings

FAST = RetryPolicy(max_attempts=4, max_elapsed=10.0, backoff_base=0.2, backoff_max=1.0)


@pytest.fixture
def client(live: Live, keys: dict[str, str]) -> Iterator[ManagementClient]:
    with ManagementClient(
        keys["secret_key"], live.url, project_id=keys["project_id"], retry=FAST
    ) as client:
        yield client


def _gaps(seen: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(seen)]


def test_retry_after_from_the_rate_limiter_is_waited_out(
    make_settings: MakeSettings, keys: dict[str, str]
) -> None:
    settings = make_settings(
        rate_limits_enabled=True,
        plan_limits={
            "free": PlanLimits(ingest=100, management=2),
            "growth": PlanLimits(ingest=500, management=50),
            "scale": PlanLimits(ingest=1000, management=100),
        },
    )
    with (
        live_server(settings) as live,
        ManagementClient(
            keys["secret_key"], live.url, project_id=keys["project_id"], retry=FAST
        ) as client,
    ):
        for _ in range(5):
            assert client.projects.get().id == keys["project_id"]
        seen = live.faults.requests("GET", f"/v1/projects/{keys['project_id']}")

    limited = [n for n, s in enumerate(seen) if s.status == 429]
    assert limited, [s.status for s in seen]
    assert [s.status for s in seen].count(200) == 5
    for n in limited:
        wait = float(seen[n].answer_headers["retry-after"])
        assert wait >= 1
        # The next attempt came no sooner than the server asked (its clock, its log).
        assert seen[n + 1].at - seen[n].at >= wait - 0.05


def test_retry_after_as_an_http_date(live: Live, client: ManagementClient) -> None:
    path = f"/v1/projects/{client.project_id}"
    when = formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1 to 2 s from now
    live.faults.plan.append(Fault("GET", path, status=503, retry_after=when))
    assert client.projects.get().id == client.project_id
    first, second = live.faults.requests("GET", path)
    assert (first.status, second.status) == (503, 200)
    assert second.at - first.at >= 1.0


def test_without_retry_after_the_waits_grow(live: Live, client: ManagementClient) -> None:
    path = f"/v1/projects/{client.project_id}"
    live.faults.plan.append(Fault("GET", path, status=502, times=3))
    client.projects.get()
    seen = live.faults.requests("GET", path)
    assert [s.status for s in seen] == [502, 502, 502, 200]
    gaps = _gaps([s.at for s in seen])
    # attempt n waits between half and all of 0.2 * 2**n seconds
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4
    assert seen[-1].at - seen[0].at < 3.0


def test_a_4xx_is_not_retried(live: Live, client: ManagementClient) -> None:
    path = f"/v1/projects/{client.project_id}/segments"
    with pytest.raises(BadRequestError):
        client.segments.create("Bad", filter="event_type = ")
    assert len(live.faults.requests("POST", path)) == 1

    live.faults.plan.append(Fault("GET", path, status=400, times=5))
    with pytest.raises(BadRequestError) as err:
        client.segments.list().to_list()
    assert err.value.code == "injected_400" and err.value.request_id == "req_fault"
    assert len(live.faults.requests("GET", path)) == 1


def test_a_500_is_not_retried_and_a_503_is_until_the_attempts_run_out(
    live: Live, client: ManagementClient
) -> None:
    path = f"/v1/projects/{client.project_id}"
    live.faults.plan.append(Fault("GET", path, status=500, times=1))
    with pytest.raises(ServerError):
        client.projects.get()
    assert len(live.faults.requests("GET", path)) == 1

    live.faults.plan.append(Fault("GET", path, status=503, retry_after="0", times=10))
    with pytest.raises(ServerError) as err:
        client.projects.get()
    assert err.value.status == 503
    assert len(live.faults.requests("GET", path)) == 1 + FAST.max_attempts


def test_a_wait_beyond_the_budget_is_not_taken(live: Live, client: ManagementClient) -> None:
    path = f"/v1/projects/{client.project_id}"
    live.faults.plan.append(Fault("GET", path, status=429, retry_after="120"))
    started = time.monotonic()
    with pytest.raises(RateLimitError) as err:
        client.projects.get()
    assert time.monotonic() - started < 1.0
    assert err.value.retry_after == 120.0
    assert len(live.faults.requests("GET", path)) == 1


def test_a_lost_answer_is_retried_under_the_same_key_and_done_once(
    live: Live, client: ManagementClient
) -> None:
    path = f"/v1/projects/{client.project_id}/segments"
    live.faults.plan.append(Fault("POST", path, status=502, after_app=True))
    segment = client.segments.create("Buyers", filter='event_type = "purchase"')
    first, second = live.faults.requests("POST", path)
    assert first.faulted and first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert second.answer_headers.get("idempotent-replayed") == "true"
    assert [s.id for s in client.segments.list()] == [segment.id]


def test_a_refused_connection_is_retried_then_raised() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    policy = RetryPolicy(max_attempts=3, backoff_base=0.1, backoff_max=0.2)
    with ManagementClient("sk_x", f"http://127.0.0.1:{port}", retry=policy) as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as err:
            client.projects.get("proj_x")
        elapsed = time.monotonic() - started
    assert "ConnectError" in str(err.value)
    assert 0.1 <= elapsed < 2.0  # two waits of 0.05-0.1 and 0.1-0.2 s


def test_a_request_still_running_under_its_key_is_asked_again(
    live: Live, client: ManagementClient
) -> None:
    path = f"/v1/projects/{client.project_id}/segments"
    busy = Fault("POST", path, status=409, code="idempotency_request_in_progress")
    live.faults.plan.append(busy)
    client.segments.create("Buyers", filter='event_type = "purchase"')
    assert [s.status for s in live.faults.requests("POST", path)] == [409, 201]

    with pytest.raises(ConflictError) as taken:
        client.experiments.create("dup", variations=[{"value": 0}, {"value": 1}])
        client.experiments.create("dup", variations=[{"value": 0}, {"value": 1}])
    assert taken.value.code == "experiment_key_taken"
    assert len(live.faults.requests("POST", f"/v1/projects/{client.project_id}/experiments")) == 2


def test_a_timed_out_read_is_repeated_and_a_timed_out_delete_is_not(
    live: Live, keys: dict[str, str]
) -> None:
    with ManagementClient(
        keys["secret_key"], live.url, project_id=keys["project_id"], timeout=0.5, retry=FAST
    ) as client:
        segment = client.segments.create("Buyers", filter='event_type = "purchase"')
        path = f"/v1/projects/{client.project_id}/segments/{segment.id}"
        live.faults.plan.append(Fault("GET", path, status=0, delay=1.0))
        assert client.segments.get(segment.id).id == segment.id
        assert len(live.faults.requests("GET", path)) == 2

        live.faults.plan.append(Fault("DELETE", path, status=0, delay=1.0))
        with pytest.raises(APIConnectionError) as timed_out:
            client.segments.delete(segment.id)
        assert "ReadTimeout" in str(timed_out.value)
        time.sleep(0.8)  # the server finishes the delete it was sent, once
        assert len(live.faults.requests("DELETE", path)) == 1
        assert client.segments.list().to_list() == []
