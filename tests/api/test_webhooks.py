"""Webhooks end to end: a receiver on 127.0.0.1 gets signed messages for experiment and
feature changes, retries back off, redirects are not followed, and private addresses are
refused unless allowed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from api.app import create_app
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.orgs import bootstrap
from growthos_pipeline.experiments import webhooks
from growthos_pipeline.settings import Settings
from tests.api.webhook_receiver import Receiver, receiver
from tests.conftest import MakeSettings, auth

EXPERIMENT = {"key": "cta", "status": "running", "variations": [{"value": "a"}, {"value": "b"}]}


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


@pytest.fixture
def dev_settings(make_settings: MakeSettings) -> Settings:
    """Private addresses allowed (the receiver is on loopback), fast retries, no worker: the
    tests run the deliveries themselves unless they start one."""
    return make_settings(
        webhooks_allow_private=True,
        webhooks_backoff_base_s=0.05,
        webhooks_poll_interval_s=0.02,
        webhooks_worker_enabled=False,
        webhooks_max_attempts=3,
    )


@pytest.fixture
def dev_catalog(dev_settings: Settings) -> Iterator[Catalog]:
    catalog = Catalog.open(dev_settings)
    yield catalog
    catalog.dispose()


@pytest.fixture
def boot(dev_catalog: Catalog, dev_settings: Settings) -> dict[str, str]:
    return bootstrap(dev_catalog, dev_settings, org_name="Acme", project_name="Web")


@pytest.fixture
def api(dev_settings: Settings, dev_catalog: Catalog) -> Iterator[TestClient]:
    with TestClient(create_app(dev_settings, catalog=dev_catalog)) as client:
        yield client


def _register(client: TestClient, boot: dict[str, str], url: str) -> dict[str, Any]:
    response = client.post(
        f"/v1/projects/{boot['project_id']}/webhooks",
        json={"url": url, "description": "receiver"},
        headers=auth(boot["secret_key"]),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _log(client: TestClient, boot: dict[str, str], webhook_id: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/v1/projects/{boot['project_id']}/webhooks/{webhook_id}/deliveries",
        headers=auth(boot["secret_key"]),
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_a_change_survives_a_restart_and_arrives_signed(
    api: TestClient,
    boot: dict[str, str],
    hook: Receiver,
    dev_settings: Settings,
    dev_catalog: Catalog,
) -> None:
    created = _register(api, boot, f"{hook.url}/hooks")
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) >= len("whsec_") + 32
    response = api.post(
        f"/v1/projects/{boot['project_id']}/experiments",
        json=EXPERIMENT,
        headers=auth(boot["secret_key"]),
    )
    assert response.status_code == 201, response.text
    assert hook.requests == []  # this app runs no worker: the delivery waits in the catalog

    # Another process (its worker on) picks the pending delivery up from the catalog.
    worker_settings = dev_settings.model_copy(update={"webhooks_worker_enabled": True})
    with TestClient(create_app(worker_settings, catalog=dev_catalog)):
        (received,) = hook.wait_for(1)
    assert received.path == "/hooks"
    payload = Webhook(secret).verify(received.body, received.headers)
    assert payload["type"] == "experiment.created"
    assert payload["data"]["experiment"]["key"] == "cta"
    rules = payload["data"]["features"]["features"]
    assert rules == {}  # no feature serves it yet; the SDK payload comes along all the same
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43 + "=").verify(received.body, received.headers)

    (attempt,) = _log(api, boot, created["id"])
    assert attempt["status_code"] == 200 and attempt["delivery_status"] == "succeeded"
    assert attempt["delivery_id"] == received.headers["webhook-id"]


def test_feature_update_delivers_the_sdk_payload(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    secret = _register(api, boot, hook.url)["secret"]
    project = f"/v1/projects/{boot['project_id']}"
    headers = auth(boot["secret_key"])
    api.post(f"{project}/features", json={"key": "dark", "default_value": False}, headers=headers)
    patched = api.patch(f"{project}/features/dark", json={"enabled": False}, headers=headers)
    assert patched.status_code == 200
    webhooks.deliver_due(api.app.state.catalog, dev_settings)  # type: ignore[attr-defined]
    types = [Webhook(secret).verify(r.body, r.headers)["type"] for r in hook.wait_for(2)]
    assert types == ["feature.created", "feature.updated"]
    first, last = (orjson.loads(r.body) for r in hook.requests)
    assert "dark" in first["data"]["features"]["features"]  # what the SDKs read now
    assert last["data"]["feature"]["enabled"] is False
    assert "dark" not in last["data"]["features"]["features"]  # switched off: not served


def test_retries_back_off_and_keep_the_message_id(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    catalog: Catalog = api.app.state.catalog  # type: ignore[attr-defined]
    created = _register(api, boot, hook.url)
    hook.script = [500, 500, 200]
    queued = api.post(
        f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}/test",
        headers=auth(boot["secret_key"]),
    )
    assert queued.status_code == 202 and queued.json()["event_type"] == "webhook.test"

    now = datetime.fromisoformat(queued.json()["created_at"])
    times = [now]
    for _ in range(3):
        assert webhooks.deliver_due(catalog, dev_settings, now=now) == 1
        assert webhooks.deliver_due(catalog, dev_settings, now=now) == 0  # not due again yet
        log = _log(api, boot, created["id"])
        if log[-1]["next_attempt_at"] is None:
            break
        now = datetime.fromisoformat(log[-1]["next_attempt_at"])
        times.append(now)
    log = _log(api, boot, created["id"])
    assert [a["status_code"] for a in log] == [500, 500, 200]
    assert [a["attempt"] for a in log] == [1, 2, 3]
    assert log[-1]["delivery_status"] == "succeeded" and log[0]["error"]
    first, second = times[1] - times[0], times[2] - times[1]
    assert 0 < first.total_seconds() < second.total_seconds()
    ids = {r.headers["webhook-id"] for r in hook.wait_for(3)}
    assert ids == {queued.json()["id"]}
    for received in hook.requests:
        Webhook(created["secret"]).verify(received.body, received.headers)


def test_a_delivery_fails_after_the_last_attempt(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    catalog: Catalog = api.app.state.catalog  # type: ignore[attr-defined]
    created = _register(api, boot, hook.url)
    hook.script = [503] * 10
    api.post(
        f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}/test",
        headers=auth(boot["secret_key"]),
    )
    later = datetime.now(UTC)
    for day in range(1, 6):  # each pass a day later: every retry is due
        webhooks.deliver_due(catalog, dev_settings, now=later + timedelta(days=day))
    log = _log(api, boot, created["id"])
    assert len(log) == dev_settings.webhooks_max_attempts == 3
    assert log[-1]["delivery_status"] == "failed" and log[-1]["next_attempt_at"] is None


def test_a_redirect_is_a_failure_and_not_followed(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    catalog: Catalog = api.app.state.catalog  # type: ignore[attr-defined]
    created = _register(api, boot, hook.url)
    hook.script = [302]
    api.post(
        f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}/test",
        headers=auth(boot["secret_key"]),
    )
    webhooks.deliver_due(catalog, dev_settings)
    (attempt,) = _log(api, boot, created["id"])
    assert attempt["status_code"] == 302 and "not followed" in attempt["error"]
    assert attempt["delivery_status"] == "pending" and attempt["next_attempt_at"] is not None
    assert [r.path for r in hook.requests] == ["/"]  # /elsewhere was never asked for


def test_a_slow_endpoint_times_out(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    catalog: Catalog = api.app.state.catalog  # type: ignore[attr-defined]
    created = _register(api, boot, hook.url)
    hook.script = [0]  # the receiver stalls for 2 s
    api.post(
        f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}/test",
        headers=auth(boot["secret_key"]),
    )
    impatient = dev_settings.model_copy(update={"webhooks_timeout_s": 0.3})
    webhooks.deliver_due(catalog, impatient)
    (attempt,) = _log(api, boot, created["id"])
    assert attempt["status_code"] is None and "Timeout" in attempt["error"]
    assert attempt["duration_ms"] < 1500 and attempt["delivery_status"] == "pending"


def test_a_slow_endpoint_does_not_hold_up_the_others(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    catalog: Catalog = api.app.state.catalog  # type: ignore[attr-defined]
    with receiver() as slow:
        slow.script = [0]  # stalls for 2 s
        _register(api, boot, slow.url)
        _register(api, boot, hook.url)
        api.post(
            f"/v1/projects/{boot['project_id']}/features",
            json={"key": "dark", "default_value": False},
            headers=auth(boot["secret_key"]),
        )
        pass_ = threading.Thread(target=webhooks.deliver_due, args=(catalog, dev_settings))
        pass_.start()
        hook.wait_for(1, timeout=1.5)  # while the slow one still stalls
        pass_.join()
        assert len(slow.wait_for(1)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[fd00:ec2::254]/",
        "http://localhost:9000/hook",  # a name that resolves to loopback
        "http://0.0.0.0/",
        "http://192.168.1.10/",
    ],
)
def test_private_addresses_are_refused(client: TestClient, keys: dict[str, str], url: str) -> None:
    response = client.post(
        f"/v1/projects/{keys['project_id']}/webhooks",
        json={"url": url},
        headers=auth(keys["secret_key"]),
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "webhook_url_forbidden"
    assert "address" in response.json()["error"]["details"][0]["reason"]


def test_a_stranger_learns_nothing_of_a_url(
    client: TestClient, keys: dict[str, str], other_keys: dict[str, str]
) -> None:
    """Access is checked before the URL: another tenant gets 404, not the URL's verdict."""
    response = client.post(
        f"/v1/projects/{keys['project_id']}/webhooks",
        json={"url": "http://localhost:9000/"},
        headers=auth(other_keys["secret_key"]),
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "project_not_found")
    refused = client.post(
        f"/v1/projects/{keys['project_id']}/webhooks",
        json={"url": "http://localhost:9000/"},
        headers=auth(keys["secret_key"]),
    )
    assert "127.0.0.1" not in refused.text and "loopback" in refused.text


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///nohost", "http://u:p@1.1.1.1/"])
def test_malformed_urls_are_refused(client: TestClient, keys: dict[str, str], url: str) -> None:
    response = client.post(
        f"/v1/projects/{keys['project_id']}/webhooks",
        json={"url": url},
        headers=auth(keys["secret_key"]),
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_webhook_url"


def test_metadata_addresses_are_refused_even_in_development(
    api: TestClient, boot: dict[str, str]
) -> None:
    response = api.post(
        f"/v1/projects/{boot['project_id']}/webhooks",
        json={"url": "http://169.254.169.254/"},
        headers=auth(boot["secret_key"]),
    )
    assert response.json()["error"]["code"] == "webhook_url_forbidden"


def test_delivery_checks_the_address_again(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    """An endpoint allowed once is checked again before each attempt (DNS rebinding)."""
    catalog: Catalog = api.app.state.catalog  # type: ignore[attr-defined]
    created = _register(api, boot, hook.url)
    api.post(
        f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}/test",
        headers=auth(boot["secret_key"]),
    )
    strict = dev_settings.model_copy(update={"webhooks_allow_private": False})
    webhooks.deliver_due(catalog, strict)
    (attempt,) = _log(api, boot, created["id"])
    assert attempt["status_code"] is None and "webhook_url_forbidden" in attempt["error"]
    assert hook.requests == []


def test_the_secret_is_shown_once_and_not_stored_in_clear(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    created = _register(api, boot, hook.url)
    secret = created["secret"]
    base = f"/v1/projects/{boot['project_id']}/webhooks"
    headers = auth(boot["secret_key"])
    answers = [
        api.get(base, headers=headers),
        api.get(f"{base}/{created['id']}", headers=headers),
        api.get(f"{base}/{created['id']}/deliveries", headers=headers),
    ]
    for answer in answers:
        assert answer.status_code == 200 and "secret" not in answer.text
        assert secret.split("_", 1)[1][:16] not in answer.text
    assert answers[0].json()["data"][0]["id"] == created["id"]

    api.app.state.catalog.dispose()  # type: ignore[attr-defined]
    db = Path(dev_settings.data_dir) / "catalog.db"
    dump = b"".join(p.read_bytes() for p in db.parent.glob("catalog.db*"))
    assert created["id"].encode() in dump  # the endpoint is there ...
    body = secret.split("_", 1)[1]
    for part in (secret, body[:16], body[-22:]):  # ... but no part of its secret
        assert part.encode() not in dump


def test_delete_removes_the_endpoint_and_its_log(
    api: TestClient, boot: dict[str, str], hook: Receiver
) -> None:
    created = _register(api, boot, hook.url)
    url = f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}"
    api.post(f"{url}/test", headers=auth(boot["secret_key"]))
    deleted = api.delete(url, headers=auth(boot["secret_key"]))
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    gone = api.get(url, headers=auth(boot["secret_key"]))
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "webhook_not_found")


def test_signatures_match_the_reference_library() -> None:
    secret = webhooks.new_secret()
    stamp = datetime.now().astimezone()
    reference = Webhook(secret).sign("msg_1", stamp, '{"a": 1}')
    assert webhooks.sign(secret, "msg_1", int(stamp.timestamp()), '{"a": 1}') == reference


def test_a_named_host_is_reached_at_the_address_checked(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    """The delivery connects to the address the guard allowed, the name kept as Host."""
    catalog: Catalog = api.app.state.catalog  # type: ignore[attr-defined]
    port = hook.url.rsplit(":", 1)[1]
    created = _register(api, boot, f"http://localhost:{port}/named")
    api.post(
        f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}/test",
        headers=auth(boot["secret_key"]),
    )
    webhooks.deliver_due(catalog, dev_settings)
    (received,) = hook.wait_for(1)
    assert received.path == "/named" and received.headers["host"] == f"localhost:{port}"
    Webhook(created["secret"]).verify(received.body, received.headers)


def test_the_docs_verification_examples_accept_a_delivery(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    """Both Python examples of the "Webhooks" section of docs/experiments.md accept a real
    delivery and refuse it once the body is changed."""
    text = (Path(__file__).parents[2] / "docs" / "experiments.md").read_text()
    section = text.split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    namespace: dict[str, Any] = {}
    for block in section.split("```python\n")[1:]:
        exec(block.split("```", 1)[0], namespace)
    created = _register(api, boot, hook.url)
    api.post(
        f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}/test",
        headers=auth(boot["secret_key"]),
    )
    webhooks.deliver_due(api.app.state.catalog, dev_settings)  # type: ignore[attr-defined]
    (received,) = hook.wait_for(1)
    secret = created["secret"]
    assert namespace["receive"](received.body, received.headers, secret)["type"] == "webhook.test"
    assert namespace["signature_ok"](received.body, received.headers, secret) is True
    assert namespace["signature_ok"](received.body + b" ", received.headers, secret) is False
    with pytest.raises(Exception, match="signature"):
        namespace["receive"](received.body + b" ", received.headers, secret)


def test_finished_deliveries_are_pruned_after_the_retention(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    catalog: Catalog = api.app.state.catalog  # type: ignore[attr-defined]
    created = _register(api, boot, hook.url)
    test_url = f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}/test"
    api.post(test_url, headers=auth(boot["secret_key"]))
    webhooks.deliver_due(catalog, dev_settings)
    hook.script = [500]
    api.post(test_url, headers=auth(boot["secret_key"]))  # this one stays pending
    webhooks.deliver_due(catalog, dev_settings)
    assert len(_log(api, boot, created["id"])) == 2
    days = dev_settings.webhooks_log_retention_days
    assert webhooks.prune_log(catalog, dev_settings) == 0
    later = datetime.now(UTC) + timedelta(days=days, hours=1)
    assert webhooks.prune_log(catalog, dev_settings, now=later) == 1
    (left,) = _log(api, boot, created["id"])
    assert left["status_code"] == 500 and left["delivery_status"] == "pending"


def test_a_changed_server_secret_fails_the_attempt_not_the_worker(
    api: TestClient, boot: dict[str, str], hook: Receiver, dev_settings: Settings
) -> None:
    catalog: Catalog = api.app.state.catalog  # type: ignore[attr-defined]
    created = _register(api, boot, hook.url)
    api.post(
        f"/v1/projects/{boot['project_id']}/webhooks/{created['id']}/test",
        headers=auth(boot["secret_key"]),
    )
    other = dev_settings.model_copy(update={"secret_key": SecretStr("another-" + "y" * 40)})
    assert webhooks.deliver_due(catalog, other) == 1
    (attempt,) = _log(api, boot, created["id"])
    assert "GROWTHOS_SECRET_KEY" in attempt["error"] and hook.requests == []


def test_the_worker_retries_on_its_own(
    boot: dict[str, str], hook: Receiver, dev_settings: Settings, dev_catalog: Catalog
) -> None:
    worker_settings = dev_settings.model_copy(update={"webhooks_worker_enabled": True})
    hook.script = [500, 500, 200]
    with TestClient(create_app(worker_settings, catalog=dev_catalog)) as client:
        created = _register(client, boot, hook.url)
        client.post(
            f"/v1/projects/{boot['project_id']}/experiments",
            json=EXPERIMENT,
            headers=auth(boot["secret_key"]),
        )
        received = hook.wait_for(3)
        assert len({r.headers["webhook-id"] for r in received}) == 1
        for _ in range(100):  # the third attempt is logged just after its answer
            log = _log(client, boot, created["id"])
            if log and log[-1]["delivery_status"] == "succeeded":
                break
            threading.Event().wait(0.05)
    assert [a["status_code"] for a in log] == [500, 500, 200]
