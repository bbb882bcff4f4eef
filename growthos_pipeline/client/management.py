"""The management API from Python: projects, keys and tokens, segments, experiments, feature
flags, webhooks, campaigns, queries, usage, user profiles and GDPR requests.

:class:`ManagementClient` takes a secret key (``sk_``: one project), an access token
(``aat_``: one project, its scopes) or an org admin key (``ak_``: every project of the org).
Calls are grouped by resource (``client.segments.create(...)``, ``client.tokens.list()``)
and answer typed models (:mod:`growthos_pipeline.client.models`). Project-scoped calls use the
``project_id`` given to the client unless a call names another.

* Lists answer a :class:`~growthos_pipeline.client.pagination.Pager`: iterate it for every
  item, page by page (``page_size`` up to 100).
* Every ``POST`` sends an ``Idempotency-Key``: a new UUID per call, the same on each retry of
  that call, or the ``idempotency_key=`` you pass (to make a call safe across restarts of your
  own program). The server answers a repeat with the first answer.
* Failures the server calls temporary (``429``, ``502``-``504``, a refused connection) are
  retried with backoff, honouring ``Retry-After``; other errors raise at once, typed by status
  (:mod:`growthos_pipeline.client.errors`).
* ``PATCH`` methods send only the fields you pass; pass ``None`` to clear a field that may be
  empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import orjson
from pydantic import BaseModel

from growthos_pipeline.client.models import (
    AdminKeyRotated,
    AuditEntry,
    Campaign,
    CampaignDeleted,
    Experiment,
    ExperimentDeleted,
    ExperimentResults,
    Feature,
    FeatureDeleted,
    GdprJob,
    Leaderboard,
    Org,
    Project,
    ProjectCreated,
    ProjectDeleted,
    QueryResult,
    SecretKeyRotated,
    Segment,
    SegmentDeleted,
    SegmentMember,
    Signup,
    Token,
    TokenCreated,
    Usage,
    UserProfile,
    Webhook,
    WebhookAttempt,
    WebhookCreated,
    WebhookDeleted,
    WebhookTestQueued,
)
from growthos_pipeline.client.pagination import MAX_PAGE_SIZE, Page, Pager
from growthos_pipeline.client.retry import RetryPolicy
from growthos_pipeline.client.transport import Transport

M = TypeVar("M", bound=BaseModel)
DEFAULT_HOST = "http://127.0.0.1:8000"


class NotGiven:
    """The default of optional arguments: "leave as it is", unlike ``None`` ("clear it")."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN = NotGiven()


def _given(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if not isinstance(v, NotGiven)}


def _seg(value: str) -> str:
    """One path segment, quoted (ids are plain, a user id may hold anything)."""
    return quote(value, safe="")


class ManagementClient:
    """A GrowthOS server's management API, with one key.

    Examples
    --------
    >>> client = ManagementClient("sk_example", "http://127.0.0.1:8000", project_id="proj_1")
    >>> client.project_id, client.segments.list().page_size
    ('proj_1', 100)
    >>> client.close()
    """

    def __init__(
        self,
        key: str,
        host: str = DEFAULT_HOST,
        *,
        project_id: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.project_id = project_id
        self.transport = transport or Transport(host, key, timeout=timeout, retry=retry)
        self.org = OrgResource(self)
        self.projects = Projects(self)
        self.tokens = Tokens(self)
        self.segments = Segments(self)
        self.experiments = Experiments(self)
        self.features = Features(self)
        self.webhooks = Webhooks(self)
        self.campaigns = Campaigns(self)
        self.users = Users(self)
        self.gdpr = Gdpr(self)

    def __repr__(self) -> str:
        return f"<ManagementClient {self.transport.host} project={self.project_id}>"

    def close(self) -> None:
        """Close the connections."""
        self.transport.close()

    def __enter__(self) -> ManagementClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- queries and usage -------------------------------------------------------------

    def query(
        self,
        q: str,
        *,
        limit: int = 100,
        offset: int = 0,
        as_of: int | None = None,
        engine: Literal["polars", "duckdb"] = "polars",
        project_id: str | None = None,
    ) -> QueryResult:
        """Run a pipe query (``POST /v1/query``); ``.to_polars()`` on the answer gives a
        DataFrame. A query's own mistakes raise
        :class:`~growthos_pipeline.client.errors.BadRequestError` with the position in
        ``details``."""
        body = _given(q=q, format="json", limit=limit, offset=offset, engine=engine)
        if as_of is not None:
            body["as_of"] = as_of
        target = project_id or self.project_id
        if target is not None:
            body["project_id"] = target
        response = self.transport.request("POST", "/v1/query", json=body, repeatable=True)
        return QueryResult.model_validate_json(response.content)

    def query_rows(
        self,
        q: str,
        *,
        page_size: int = 1000,
        as_of: int | None = None,
        engine: Literal["polars", "duckdb"] = "polars",
        project_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row of a query, ``page_size`` rows per request. The pages after the first
        read the lake version the first one read, so rows arriving meanwhile neither shift
        nor repeat them."""
        offset = 0
        while True:
            result = self.query(
                q,
                limit=page_size,
                offset=offset,
                as_of=as_of,
                engine=engine,
                project_id=project_id,
            )
            yield from result.rows
            if not result.has_more or result.next_offset is None:
                return
            if as_of is None:
                as_of = result.lake_version
            offset = result.next_offset

    def usage(
        self,
        *,
        start: date | str | None = None,
        end: date | str | None = None,
        project_id: str | None = None,
    ) -> Usage:
        """Events ingested and queries run per UTC day, ``start`` to ``end`` inclusive
        (default: this month)."""
        params = {
            "from": str(start) if start is not None else None,
            "to": str(end) if end is not None else None,
        }
        path = f"/v1/projects/{_seg(self._project(project_id))}/usage"
        return self._get(path, Usage, params=params)

    # ---- plumbing ------------------------------------------------------------------------

    def _project(self, project_id: str | None) -> str:
        target = project_id or self.project_id
        if not target:
            raise ValueError(
                "no project: pass project_id=..., or ManagementClient(..., project_id=...)"
            )
        return target

    def _get(self, path: str, model: type[M], *, params: Mapping[str, Any] | None = None) -> M:
        return model.model_validate_json(self.transport.request("GET", path, params=params).content)

    def _post(
        self,
        path: str,
        model: type[M],
        body: Any = None,
        *,
        idempotency_key: str | None = None,
    ) -> M:
        response = self.transport.request(
            "POST", path, json=body, idempotency_key=idempotency_key or str(uuid.uuid4())
        )
        return model.model_validate_json(response.content)

    def _patch(self, path: str, model: type[M], body: Any) -> M:
        return model.model_validate_json(self.transport.request("PATCH", path, json=body).content)

    def _delete(self, path: str, model: type[M], body: Any = None) -> M:
        return model.model_validate_json(self.transport.request("DELETE", path, json=body).content)

    def _pager(
        self,
        path: str,
        model: type[M],
        *,
        page_size: int = MAX_PAGE_SIZE,
        params: Mapping[str, Any] | None = None,
    ) -> Pager[M]:
        page_type = Page[model]  # type: ignore[valid-type]

        def fetch(cursor: str | None, limit: int) -> Page[M]:
            query = {**(params or {}), "cursor": cursor, "limit": limit}
            response = self.transport.request("GET", path, params=query)
            return page_type.model_validate_json(response.content)

        return Pager(fetch, page_size=page_size)


class _Resource:
    def __init__(self, client: ManagementClient) -> None:
        self._client = client

    def _base(self, project_id: str | None, *parts: str) -> str:
        path = f"/v1/projects/{_seg(self._client._project(project_id))}"
        return path + "".join(f"/{_seg(p)}" for p in parts)


class OrgResource(_Resource):
    """The organisation of an org admin key (``ak_``)."""

    def get(self) -> Org:
        return self._client._get("/v1/admin/org", Org)

    def rotate_admin_key(self, *, idempotency_key: str | None = None) -> AdminKeyRotated:
        """Revoke every admin key of the org (this client's too) and issue a new one."""
        return self._client._post(
            "/v1/admin/rotate-key", AdminKeyRotated, idempotency_key=idempotency_key
        )

    def audit(self, *, page_size: int = MAX_PAGE_SIZE) -> Pager[AuditEntry]:
        """The org's audit trail, oldest first."""
        return self._client._pager("/v1/admin/audit", AuditEntry, page_size=page_size)


class Projects(_Resource):
    """Projects: created, listed and deleted with an org admin key; read and changed with a
    project's secret key, an ``aat_`` with the admin scope, or the org admin key."""

    def create(
        self,
        name: str,
        *,
        plan: str | NotGiven = NOT_GIVEN,
        timezone: str | NotGiven = NOT_GIVEN,
        retention_days: int | NotGiven | None = NOT_GIVEN,
        allowed_origins: Sequence[str] | NotGiven = NOT_GIVEN,
        idempotency_key: str | None = None,
    ) -> ProjectCreated:
        """A new project with its public key and its secret key (shown in this answer
        only)."""
        body = _given(
            name=name,
            plan=plan,
            timezone=timezone,
            retention_days=retention_days,
            allowed_origins=allowed_origins
            if isinstance(allowed_origins, NotGiven)
            else list(allowed_origins),
        )
        return self._client._post(
            "/v1/admin/projects", ProjectCreated, body, idempotency_key=idempotency_key
        )

    def list(self, *, page_size: int = MAX_PAGE_SIZE) -> Pager[Project]:
        return self._client._pager("/v1/admin/projects", Project, page_size=page_size)

    def get(self, project_id: str | None = None) -> Project:
        return self._client._get(self._base(project_id), Project)

    def update_settings(
        self,
        project_id: str | None = None,
        *,
        plan: str | NotGiven = NOT_GIVEN,
        timezone: str | NotGiven = NOT_GIVEN,
        retention_days: int | NotGiven | None = NOT_GIVEN,
        allowed_origins: Sequence[str] | NotGiven = NOT_GIVEN,
    ) -> Project:
        """Change the settings passed (``plan`` needs the org admin key)."""
        body = _given(
            plan=plan,
            timezone=timezone,
            retention_days=retention_days,
            allowed_origins=allowed_origins
            if isinstance(allowed_origins, NotGiven)
            else list(allowed_origins),
        )
        return self._client._patch(self._base(project_id, "settings"), Project, body)

    def rotate_secret_key(
        self, project_id: str | None = None, *, idempotency_key: str | None = None
    ) -> SecretKeyRotated:
        """A new ``sk_``; the old ones stop working (this client's too, if it used one)."""
        return self._client._post(
            self._base(project_id, "rotate-secret-key"),
            SecretKeyRotated,
            idempotency_key=idempotency_key,
        )

    def delete(self, project_id: str, *, confirm_name: str) -> ProjectDeleted:
        """Delete a project and all its data; ``confirm_name`` must be the project's name."""
        body = {"project_name": confirm_name, "project_name_confirm": confirm_name}
        return self._client._delete(f"/v1/admin/projects/{_seg(project_id)}", ProjectDeleted, body)

    def audit(
        self, project_id: str | None = None, *, page_size: int = MAX_PAGE_SIZE
    ) -> Pager[AuditEntry]:
        """The project's audit trail, oldest first."""
        return self._client._pager(self._base(project_id, "audit"), AuditEntry, page_size=page_size)


class Tokens(_Resource):
    """Access tokens (``aat_``) of a project, with scopes and an expiry."""

    def create(
        self,
        name: str,
        *,
        scopes: Sequence[Literal["track", "query", "admin"]],
        expires_in: str | NotGiven = NOT_GIVEN,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> TokenCreated:
        """A token (``expires_in`` like ``"720h"``, ``"30d"``); ``.token`` is shown this once."""
        body = _given(name=name, scopes=list(scopes), expires_in=expires_in)
        return self._client._post(
            self._base(project_id, "tokens"), TokenCreated, body, idempotency_key=idempotency_key
        )

    def list(
        self, *, project_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Pager[Token]:
        return self._client._pager(self._base(project_id, "tokens"), Token, page_size=page_size)

    def get(self, token_id: str, *, project_id: str | None = None) -> Token:
        return self._client._get(self._base(project_id, "tokens", token_id), Token)

    def revoke(self, token_id: str, *, project_id: str | None = None) -> Token:
        """Revoke a token; it stops working at once."""
        return self._client._delete(self._base(project_id, "tokens", token_id), Token)


class Segments(_Resource):
    """Segments: a filter of the query language; members are computed by the
    ``segment_members`` asset."""

    def create(
        self,
        name: str,
        *,
        filter: str,
        window_days: int | NotGiven = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Segment:
        body = _given(name=name, filter=filter, window_days=window_days, description=description)
        return self._client._post(
            self._base(project_id, "segments"), Segment, body, idempotency_key=idempotency_key
        )

    def list(
        self, *, project_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Pager[Segment]:
        return self._client._pager(self._base(project_id, "segments"), Segment, page_size=page_size)

    def get(self, segment_id: str, *, project_id: str | None = None) -> Segment:
        return self._client._get(self._base(project_id, "segments", segment_id), Segment)

    def update(
        self,
        segment_id: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        filter: str | NotGiven = NOT_GIVEN,
        window_days: int | NotGiven = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
        project_id: str | None = None,
    ) -> Segment:
        body = _given(name=name, filter=filter, window_days=window_days, description=description)
        return self._client._patch(self._base(project_id, "segments", segment_id), Segment, body)

    def delete(self, segment_id: str, *, project_id: str | None = None) -> SegmentDeleted:
        return self._client._delete(self._base(project_id, "segments", segment_id), SegmentDeleted)

    def members(
        self, segment_id: str, *, project_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Pager[SegmentMember]:
        """The members at the segment's last build, by user id."""
        return self._client._pager(
            self._base(project_id, "segments", segment_id, "members"),
            SegmentMember,
            page_size=page_size,
        )


class Experiments(_Resource):
    """Experiments (GrowthBook-compatible); paths take an experiment's id or its key."""

    def create(
        self,
        key: str,
        *,
        variations: Sequence[Mapping[str, Any]],
        name: str | NotGiven | None = NOT_GIVEN,
        weights: Sequence[float] | NotGiven | None = NOT_GIVEN,
        coverage: float | NotGiven = NOT_GIVEN,
        targeting: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        status: Literal["draft", "running", "stopped"] | NotGiven = NOT_GIVEN,
        force: int | NotGiven | None = NOT_GIVEN,
        winner: int | NotGiven | None = NOT_GIVEN,
        hash_attribute: str | NotGiven = NOT_GIVEN,
        seed: str | NotGiven | None = NOT_GIVEN,
        hash_version: Literal[1, 2] | NotGiven = NOT_GIVEN,
        namespace: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        phases: Sequence[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        goal: str | NotGiven | None = NOT_GIVEN,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Experiment:
        """An experiment: ``variations`` like ``[{"key": "control", "value": "a"}, ...]``,
        ``weights`` summing to 1 (equal by default), ``coverage``, ``targeting``
        (``groups``, ``condition``, ``url``), ``status``, the ``goal`` its results count
        (one condition of the query language); see docs/experiments.md."""
        body = _json_ready(
            _given(
                key=key,
                variations=variations,
                name=name,
                weights=weights,
                coverage=coverage,
                targeting=targeting,
                status=status,
                force=force,
                winner=winner,
                hash_attribute=hash_attribute,
                seed=seed,
                hash_version=hash_version,
                namespace=namespace,
                phases=phases,
                goal=goal,
            )
        )
        return self._client._post(
            self._base(project_id, "experiments"), Experiment, body, idempotency_key=idempotency_key
        )

    def list(
        self, *, project_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Pager[Experiment]:
        return self._client._pager(
            self._base(project_id, "experiments"), Experiment, page_size=page_size
        )

    def get(self, experiment: str, *, project_id: str | None = None) -> Experiment:
        return self._client._get(self._base(project_id, "experiments", experiment), Experiment)

    def update(
        self,
        experiment: str,
        *,
        name: str | NotGiven | None = NOT_GIVEN,
        variations: Sequence[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        weights: Sequence[float] | NotGiven | None = NOT_GIVEN,
        coverage: float | NotGiven = NOT_GIVEN,
        targeting: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        status: Literal["draft", "running", "stopped"] | NotGiven = NOT_GIVEN,
        force: int | NotGiven | None = NOT_GIVEN,
        winner: int | NotGiven | None = NOT_GIVEN,
        hash_attribute: str | NotGiven = NOT_GIVEN,
        seed: str | NotGiven | None = NOT_GIVEN,
        hash_version: Literal[1, 2] | NotGiven = NOT_GIVEN,
        namespace: Mapping[str, Any] | NotGiven | None = NOT_GIVEN,
        phases: Sequence[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        goal: str | NotGiven | None = NOT_GIVEN,
        project_id: str | None = None,
    ) -> Experiment:
        """Change the fields passed; the whole experiment is validated again."""
        body = _json_ready(
            _given(
                name=name,
                variations=variations,
                weights=weights,
                coverage=coverage,
                targeting=targeting,
                status=status,
                force=force,
                winner=winner,
                hash_attribute=hash_attribute,
                seed=seed,
                hash_version=hash_version,
                namespace=namespace,
                phases=phases,
                goal=goal,
            )
        )
        return self._client._patch(
            self._base(project_id, "experiments", experiment), Experiment, body
        )

    def delete(self, experiment: str, *, project_id: str | None = None) -> ExperimentDeleted:
        """Delete an experiment no feature serves (else ``ConflictError``
        ``experiment_in_use``)."""
        return self._client._delete(
            self._base(project_id, "experiments", experiment), ExperimentDeleted
        )

    def results(
        self,
        experiment: str,
        *,
        fresh: bool = False,
        goal: str | None = None,
        as_of: int | None = None,
        project_id: str | None = None,
    ) -> ExperimentResults:
        """The results the ``experiment_results`` asset stored, else computed now;
        ``fresh=True`` always computes from the lake, ``goal`` and ``as_of`` compute for
        another goal or lake version."""
        params = {"fresh": "true" if fresh else None, "goal": goal, "as_of": as_of}
        return self._client._get(
            self._base(project_id, "experiments", experiment, "results"),
            ExperimentResults,
            params=params,
        )


class Features(_Resource):
    """Feature flags: a typed default value and ordered force and experiment rules."""

    def create(
        self,
        key: str,
        *,
        value_type: Literal["boolean", "string", "number", "json"] | NotGiven = NOT_GIVEN,
        default_value: Any = NOT_GIVEN,
        enabled: bool | NotGiven = NOT_GIVEN,
        rules: Sequence[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Feature:
        body = _json_ready(
            _given(
                key=key,
                value_type=value_type,
                default_value=default_value,
                enabled=enabled,
                rules=rules,
                description=description,
            )
        )
        return self._client._post(
            self._base(project_id, "features"), Feature, body, idempotency_key=idempotency_key
        )

    def list(
        self, *, project_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Pager[Feature]:
        return self._client._pager(self._base(project_id, "features"), Feature, page_size=page_size)

    def get(self, feature: str, *, project_id: str | None = None) -> Feature:
        return self._client._get(self._base(project_id, "features", feature), Feature)

    def update(
        self,
        feature: str,
        *,
        value_type: Literal["boolean", "string", "number", "json"] | NotGiven = NOT_GIVEN,
        default_value: Any = NOT_GIVEN,
        enabled: bool | NotGiven = NOT_GIVEN,
        rules: Sequence[Mapping[str, Any]] | NotGiven = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
        project_id: str | None = None,
    ) -> Feature:
        body = _json_ready(
            _given(
                value_type=value_type,
                default_value=default_value,
                enabled=enabled,
                rules=rules,
                description=description,
            )
        )
        return self._client._patch(self._base(project_id, "features", feature), Feature, body)

    def delete(self, feature: str, *, project_id: str | None = None) -> FeatureDeleted:
        return self._client._delete(self._base(project_id, "features", feature), FeatureDeleted)


class Webhooks(_Resource):
    """Endpoints that receive every change of the project's experiments and features."""

    def create(
        self,
        url: str,
        *,
        description: str | NotGiven | None = NOT_GIVEN,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookCreated:
        """Register an endpoint; ``.secret`` (``whsec_...``) is shown this once."""
        body = _given(url=url, description=description)
        return self._client._post(
            self._base(project_id, "webhooks"),
            WebhookCreated,
            body,
            idempotency_key=idempotency_key,
        )

    def list(
        self, *, project_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Pager[Webhook]:
        return self._client._pager(self._base(project_id, "webhooks"), Webhook, page_size=page_size)

    def get(self, webhook_id: str, *, project_id: str | None = None) -> Webhook:
        return self._client._get(self._base(project_id, "webhooks", webhook_id), Webhook)

    def delete(self, webhook_id: str, *, project_id: str | None = None) -> WebhookDeleted:
        return self._client._delete(self._base(project_id, "webhooks", webhook_id), WebhookDeleted)

    def test(
        self,
        webhook_id: str,
        *,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookTestQueued:
        """Queue a ``webhook.test`` message to the endpoint."""
        return self._client._post(
            self._base(project_id, "webhooks", webhook_id, "test"),
            WebhookTestQueued,
            idempotency_key=idempotency_key,
        )

    def deliveries(
        self, webhook_id: str, *, project_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Pager[WebhookAttempt]:
        """The delivery log: one entry per attempt."""
        return self._client._pager(
            self._base(project_id, "webhooks", webhook_id, "deliveries"),
            WebhookAttempt,
            page_size=page_size,
        )


class Campaigns(_Resource):
    """Waitlists, referral programmes, surveys and social proof feeds; paths take a
    campaign's id or its key. Signups (email addresses) need the admin scope."""

    def create(
        self,
        key: str,
        *,
        type: Literal["waitlist", "referral", "survey", "social_proof"],
        name: str,
        status: Literal["draft", "active", "paused", "ended"] | NotGiven = NOT_GIVEN,
        config: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Campaign:
        """A campaign (``draft`` unless ``status`` says otherwise: only ``active`` ones answer
        on the public endpoints) with the ``config`` of its type."""
        body = _json_ready(_given(key=key, type=type, name=name, status=status, config=config))
        return self._client._post(
            self._base(project_id, "campaigns"), Campaign, body, idempotency_key=idempotency_key
        )

    def list(
        self, *, project_id: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> Pager[Campaign]:
        return self._client._pager(
            self._base(project_id, "campaigns"), Campaign, page_size=page_size
        )

    def get(self, campaign: str, *, project_id: str | None = None) -> Campaign:
        return self._client._get(self._base(project_id, "campaigns", campaign), Campaign)

    def update(
        self,
        campaign: str,
        *,
        name: str | NotGiven = NOT_GIVEN,
        status: Literal["draft", "active", "paused", "ended"] | NotGiven = NOT_GIVEN,
        config: Mapping[str, Any] | NotGiven = NOT_GIVEN,
        project_id: str | None = None,
    ) -> Campaign:
        """Change the name, the status, or ``config`` fields (those passed replace theirs;
        the others stay)."""
        body = _json_ready(_given(name=name, status=status, config=config))
        return self._client._patch(self._base(project_id, "campaigns", campaign), Campaign, body)

    def delete(self, campaign: str, *, project_id: str | None = None) -> CampaignDeleted:
        """Delete a campaign with its signups, codes and attributions."""
        return self._client._delete(self._base(project_id, "campaigns", campaign), CampaignDeleted)

    def signups(
        self,
        campaign: str,
        *,
        email: str | None = None,
        project_id: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Pager[Signup]:
        """A waitlist's signups in signup order, each with its current position; ``email``
        keeps the signup of that address (normalized as signups are)."""
        return self._client._pager(
            self._base(project_id, "campaigns", campaign, "signups"),
            Signup,
            page_size=page_size,
            params={"email": email},
        )

    def export_signups(self, campaign: str, *, project_id: str | None = None) -> str:
        """Every signup of a waitlist as CSV text, in waitlist order."""
        path = self._base(project_id, "campaigns", campaign) + "/signups.csv"
        return self._client.transport.request("GET", path).text

    def invite(
        self,
        campaign: str,
        signup_id: str,
        *,
        project_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Signup:
        """Mark a signup invited (inviting again keeps the first time)."""
        return self._client._post(
            self._base(project_id, "campaigns", campaign, "signups", signup_id, "invite"),
            Signup,
            idempotency_key=idempotency_key,
        )

    def delete_signup(
        self, campaign: str, signup_id: str, *, project_id: str | None = None
    ) -> None:
        """Erase a signup: its row with the email address, referral code and link (the
        signup whose code it came with keeps the referral)."""
        path = self._base(project_id, "campaigns", campaign, "signups", signup_id)
        self._client.transport.request("DELETE", path)

    def leaderboard(
        self, campaign: str, *, limit: int | None = None, project_id: str | None = None
    ) -> Leaderboard:
        """The leaderboard of a referral programme or a waitlist, whatever its status."""
        return self._client._get(
            self._base(project_id, "campaigns", campaign, "leaderboard"),
            Leaderboard,
            params={"limit": limit},
        )

    def summary(self, campaign: str, *, project_id: str | None = None) -> dict[str, Any]:
        """The figures of the campaign's type (survey answers, signups, attributions, the
        feed), as the server answers them."""
        path = self._base(project_id, "campaigns", campaign, "summary")
        answer: dict[str, Any] = self._client.transport.request("GET", path).json()
        return answer


class Users(_Resource):
    """User profiles, as the ``profiles`` asset last built them."""

    def get(self, user_id: str, *, project_id: str | None = None) -> UserProfile:
        return self._client._get(self._base(project_id, "users", user_id), UserProfile)


class Gdpr(_Resource):
    """Export or erase one person's data."""

    def _params(self, project_id: str | None, **more: Any) -> dict[str, Any]:
        return {"project_id": project_id or self._client.project_id, **more}

    def delete_user(self, user_id: str, *, project_id: str | None = None) -> GdprJob:
        """Queue the erasure of a person; poll :meth:`job` until it is ``completed``."""
        response = self._client.transport.request(
            "DELETE", f"/v1/gdpr/users/{_seg(user_id)}", params=self._params(project_id)
        )
        return GdprJob.model_validate_json(response.content)

    def export_user(
        self, user_id: str, *, project_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The person's events, oldest first, read from the answer as it streams."""
        response = self._client.transport.request(
            "GET",
            f"/v1/gdpr/users/{_seg(user_id)}/export",
            params=self._params(project_id),
            stream=True,
        )
        try:
            for line in response.iter_lines():
                if line.strip():
                    yield orjson.loads(line)
        finally:
            response.close()

    def jobs(
        self,
        *,
        user_id: str | None = None,
        project_id: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Pager[GdprJob]:
        """The project's deletion jobs, oldest first; ``user_id`` keeps one person's."""
        return self._client._pager(
            "/v1/gdpr/jobs",
            GdprJob,
            page_size=page_size,
            params=self._params(project_id, user_id=user_id),
        )

    def job(self, job_id: str) -> GdprJob:
        return self._client._get(f"/v1/gdpr/jobs/{_seg(job_id)}", GdprJob)


def _json_ready(body: dict[str, Any]) -> dict[str, Any]:
    """Sequences and mappings the caller passed (tuples, read-only mappings) as JSON does."""
    return orjson.loads(orjson.dumps(body, default=_default))  # type: ignore[no-any-return]


def _default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")
