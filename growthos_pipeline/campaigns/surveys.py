"""Surveys: who sees them, answers validated per question type and ingested as events, and
the summary read back from the lake.

A response becomes one ``survey_response`` event, sent through the ingest path like any other
(validated, enriched, fsynced in the write-ahead log before the answer), with the properties
``campaign`` (key), ``campaign_id``, ``question_ids`` (answered, in the survey's order) and
``answers`` (question id -> value), ``response_id`` and ``signature``. Its ``insert_id`` is
the response id, so a retried write counts once. The signature (an HMAC under the server
secret of the campaign, the response id and the answers) lets the summary tell responses that
came through this endpoint from ``survey_response`` events anyone with the public key could
send to ``/v1/track``: those are left out of the summary and counted as ``ignored``.

Answers, per question type:

===========  ==================================================================================
single       one of the question's options (a string)
multiple     a list of distinct options (at least one when required)
rating       an integer from ``min`` to ``max``
text         a string of at most ``max_length`` characters (blank counts as unanswered)
===========  ==================================================================================

Examples
--------
>>> from growthos_pipeline.campaigns.config import SurveyConfig
>>> survey = SurveyConfig(questions=[
...     {"id": "nps", "type": "rating", "prompt": "How likely?", "min": 0, "max": 10,
...      "required": True},
...     {"id": "why", "type": "text", "prompt": "Why?"},
...     {"id": "use", "type": "multiple", "prompt": "Uses", "options": ["work", "home"]}])
>>> check_answers(survey.questions, {"nps": 9, "why": "  fast  ", "use": ["home"]})
{'nps': 9, 'why': 'fast', 'use': ['home']}
>>> try:
...     check_answers(survey.questions, {"nps": 11, "use": ["car"], "extra": 1})
... except BadRequest as err:
...     print(err.code, [(d["question"], d["code"]) for d in err.details])
invalid_answers [('extra', 'unknown_question'), ('nps', 'out_of_range'), ('use', 'unknown_option')]
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from growthos_pipeline.campaigns import abuse, targeting
from growthos_pipeline.campaigns.cache import TTLCache
from growthos_pipeline.campaigns.config import public_config
from growthos_pipeline.campaigns.store import Campaign, active_campaign
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import campaign_respondents, utcnow
from growthos_pipeline.errors import BadRequest, Conflict, Forbidden
from growthos_pipeline.events.protocols import growthos
from growthos_pipeline.ids import new_id
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.lake.read import scan_events
from growthos_pipeline.settings import Settings

EVENT_TYPE = "survey_response"
LIBRARY = "growthos-campaigns/1"
#: Text answers shown per question in the summary (the most recent).
TEXT_SAMPLES = 20

#: Targeting answers per (campaign version, person), for ``eligibility_cache_s``.
_eligibility = TTLCache(max_entries=50_000)


class SurveyResponse(BaseModel):
    """``POST /v1/campaigns/{key}/responses``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str | None = Field(default=None, max_length=abuse.MAX_ID)
    device_id: str | None = Field(default=None, max_length=abuse.MAX_ID)
    answers: dict[str, Any] = Field(max_length=50)
    #: The honeypot: must stay empty.
    website: str | None = Field(default="", max_length=500)
    #: The page the survey was answered on (the event's url).
    page_url: str | None = Field(default=None, max_length=2000)


# ---- answers ------------------------------------------------------------------------------


def _problem(qid: str, code: str, message: str) -> dict[str, Any]:
    return {"question": qid, "code": code, "message": message}


def _check_one(question: Any, value: Any) -> tuple[Any, dict[str, Any] | None]:
    """(the normalized answer or None when unanswered, a problem or None)."""
    qid = question.id
    if value is None:
        return None, None
    if question.type == "single":
        if not isinstance(value, str):
            return None, _problem(qid, "invalid_type", "expected one option as a string")
        if value not in question.options:
            return None, _problem(qid, "unknown_option", f"'{value[:100]}' is not an option")
        return value, None
    if question.type == "multiple":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, _problem(qid, "invalid_type", "expected a list of options")
        if len(set(value)) != len(value):
            return None, _problem(qid, "duplicate_option", "an option is chosen twice")
        unknown = [v for v in value if v not in question.options]
        if unknown:
            return None, _problem(qid, "unknown_option", f"'{unknown[0][:100]}' is not an option")
        return (value or None), None
    if question.type == "rating":
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            return None, _problem(qid, "invalid_type", "expected a whole number")
        if not question.min <= value <= question.max:
            return None, _problem(
                qid,
                "out_of_range",
                f"expected {question.min} to {question.max}, found {value}",
            )
        return int(value), None
    if not isinstance(value, str):
        return None, _problem(qid, "invalid_type", "expected text")
    text = value.strip()
    if len(text) > question.max_length:
        return None, _problem(
            qid, "too_long", f"at most {question.max_length} characters, found {len(text)}"
        )
    return (text or None), None


def check_answers(questions: Sequence[Any], answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers normalized, in the survey's order, or 400 ``invalid_answers`` listing
    every problem (``details``: ``question``, ``code``, ``message``)."""
    known = {q.id for q in questions}
    problems = [
        _problem(qid[:64], "unknown_question", f"the survey has no question '{qid[:64]}'")
        for qid in sorted(answers)
        if qid not in known
    ]
    clean: dict[str, Any] = {}
    for question in questions:
        value, problem = _check_one(question, answers.get(question.id))
        if problem is not None:
            problems.append(problem)
        elif value is not None:
            clean[question.id] = value
        elif question.required:
            problems.append(_problem(question.id, "answer_required", "this question is required"))
    if problems:
        first = problems[0]
        raise BadRequest(
            "invalid_answers", f"{first['question']}: {first['message']}", details=problems
        )
    if not clean:
        raise BadRequest("empty_response", "the response answers no question")
    return clean


# ---- who sees it --------------------------------------------------------------------------


def actor_hashes(settings: Settings, user_id: str | None, device_id: str | None) -> list[str]:
    """Keyed hashes naming a respondent by user id and by device id."""
    secret = settings.server_secret()
    return [
        hmac.new(secret, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
        for kind, value in (("user", user_id), ("device", device_id))
        if value
    ]


def _responded(conn: Any, campaign: Campaign, hashes: list[str]) -> bool:
    if not hashes:
        return False
    return (
        conn.execute(
            select(campaign_respondents.c.actor_hash).where(
                campaign_respondents.c.campaign_id == campaign.id,
                campaign_respondents.c.actor_hash.in_(hashes),
            )
        ).first()
        is not None
    )


def _targeted(
    settings: Settings, campaign: Campaign, user_id: str | None, device_id: str | None
) -> bool:
    rules = campaign.config.targeting
    if rules is None:
        return True
    key = (campaign.id, campaign.updated_at, user_id, device_id)
    cached = _eligibility.get(key)
    if cached is None:
        cached = targeting.matches(
            settings, campaign.project_id, rules, user_id=user_id, device_id=device_id
        )
        _eligibility.put(key, cached, ttl_s=campaign.config.eligibility_cache_s)
    return bool(cached)


def survey_for(
    catalog: Catalog,
    settings: Settings,
    project_id: str,
    key: str,
    *,
    user_id: str | None,
    device_id: str | None,
) -> dict[str, Any]:
    """``{"eligible", "reason", "questions"}`` for one person: ``reason`` is null when
    eligible, else ``already_responded`` or ``not_targeted``."""
    user_id = abuse.check_identifier(user_id, "user_id")
    device_id = abuse.check_identifier(device_id, "device_id")
    with catalog.connect() as conn:
        campaign = active_campaign(conn, project_id, key, "survey")
        responded = campaign.config.once_per_user and _responded(
            conn, campaign, actor_hashes(settings, user_id, device_id)
        )
    reason = None
    if responded:
        reason = "already_responded"
    elif not _targeted(settings, campaign, user_id, device_id):
        reason = "not_targeted"
    return {
        "eligible": reason is None,
        "reason": reason,
        "questions": public_config("survey", campaign.config)["questions"],
    }


# ---- responses ----------------------------------------------------------------------------


def _claim(
    catalog: Catalog,
    settings: Settings,
    project_id: str,
    key: str,
    body: SurveyResponse,
    user_id: str | None,
    device_id: str | None,
) -> tuple[Campaign, str, dict[str, Any], list[str]]:
    """Validate a response and, for a one-response survey, record its respondent (the
    catalog's unique key refuses a second one)."""
    with catalog.begin() as conn:
        campaign = active_campaign(conn, project_id, key, "survey")
        answers = check_answers(campaign.config.questions, body.answers)
        response_id = new_id("rsp")
        hashes = actor_hashes(settings, user_id, device_id) if campaign.config.once_per_user else []
        if _responded(conn, campaign, hashes):
            raise _already_responded()
        now = utcnow()
        try:
            with conn.begin_nested():
                for actor_hash in hashes:
                    conn.execute(
                        insert(campaign_respondents).values(
                            campaign_id=campaign.id,
                            actor_hash=actor_hash,
                            response_id=response_id,
                            created_at=now,
                        )
                    )
        except IntegrityError:
            raise _already_responded() from None
    return campaign, response_id, answers, hashes


def _check_targeted(
    catalog: Catalog,
    settings: Settings,
    project_id: str,
    key: str,
    user_id: str | None,
    device_id: str | None,
) -> None:
    """Refuse a response from someone the survey's targeting leaves out (the same answer,
    cached the same way, as :func:`survey_for` gives)."""
    with catalog.connect() as conn:
        campaign = active_campaign(conn, project_id, key, "survey")
    if not _targeted(settings, campaign, user_id, device_id):
        raise Forbidden("not_targeted", "this survey is not shown to this user or device")


def _already_responded() -> Conflict:
    return Conflict(
        "already_responded", "this survey takes one response per person, and this one answered"
    )


def _release(catalog: Catalog, campaign_id: str, hashes: list[str]) -> None:
    if not hashes:
        return
    with catalog.begin() as conn:
        conn.execute(
            delete(campaign_respondents).where(
                campaign_respondents.c.campaign_id == campaign_id,
                campaign_respondents.c.actor_hash.in_(hashes),
            )
        )


async def submit_response(
    catalog: Catalog,
    settings: Settings,
    ingestor: Ingestor,
    project_id: str,
    key: str,
    body: SurveyResponse,
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """Validate a response and ingest it as a ``survey_response`` event; ``{"accepted":
    true, "response_id"}`` once the event is fsynced. A filled honeypot answers the same and
    stores nothing."""
    if abuse.is_bot(body.website):
        return {"accepted": True, "response_id": new_id("rsp")}
    user_id = abuse.check_identifier(body.user_id, "user_id")
    device_id = abuse.check_identifier(body.device_id, "device_id")
    if not user_id and not device_id:
        raise BadRequest(
            "missing_identity",
            "a response needs a user_id or a device_id",
            details=[{"field": "user_id"}],
        )
    await asyncio.to_thread(_check_targeted, catalog, settings, project_id, key, user_id, device_id)
    campaign, response_id, answers, hashes = await asyncio.to_thread(
        _claim, catalog, settings, project_id, key, body, user_id, device_id
    )
    event: dict[str, Any] = {
        "event_type": EVENT_TYPE,
        "insert_id": response_id,
        "library": LIBRARY,
        "event_properties": {
            "campaign": campaign.key,
            "campaign_id": campaign.id,
            "question_ids": list(answers),
            "answers": answers,
        },
    }
    if user_id:
        event["user_id"] = user_id
    if device_id:
        event["device_id"] = device_id
    if body.page_url:
        event["url"] = body.page_url
    event["event_properties"] |= {
        "response_id": response_id,
        "signature": signature(settings, campaign.id, response_id, answers),
    }
    try:
        await ingestor.receive_decoded(project_id, event, headers, growthos.track)
    except BaseException:
        await asyncio.to_thread(_release, catalog, campaign.id, hashes)
        raise
    return {"accepted": True, "response_id": response_id}


# ---- the summary --------------------------------------------------------------------------


def signature(settings: Settings, campaign_id: str, response_id: str, answers: Any) -> str:
    """What proves a response event came through :func:`submit_response` unchanged."""
    message = b"\x00".join(
        (
            b"survey-response",
            campaign_id.encode(),
            response_id.encode(),
            orjson.dumps(answers, option=orjson.OPT_SORT_KEYS),
        )
    )
    return hmac.new(settings.server_secret(), message, hashlib.sha256).hexdigest()[:32]


def _verified(settings: Settings, campaign: Campaign, props: Any) -> dict[str, Any] | None:
    """The answers of a response event if its signature holds, else None."""
    if not isinstance(props, dict) or props.get("campaign_id") != campaign.id:
        return None
    answers, response_id, sig = (
        props.get("answers"),
        props.get("response_id"),
        props.get("signature"),
    )
    if (
        not isinstance(answers, dict)
        or not isinstance(response_id, str)
        or not isinstance(sig, str)
    ):
        return None
    expected = signature(settings, campaign.id, response_id, answers)
    return answers if hmac.compare_digest(expected, sig) else None


def responses_frame(settings: Settings, campaign: Campaign) -> pl.DataFrame:
    """The campaign's ``survey_response`` events: ``time`` and ``event_properties``."""
    since = campaign.created_at.astimezone(UTC).date()
    return (
        scan_events(settings, campaign.project_id)
        .filter(
            (pl.col("event_date") >= since)
            & (pl.col("event_type") == EVENT_TYPE)
            & pl.col("event_properties").str.contains(campaign.id, literal=True)
        )
        .select("time", "event_properties")
        .sort("time")
        .collect()
    )


def summary(settings: Settings, campaign: Campaign) -> dict[str, Any]:
    """Per question: answered count; choices: counts per option; rating: average and
    distribution; text: the most recent answers. Events of the campaign without a valid
    signature are counted as ``ignored``."""
    questions = campaign.config.questions
    stats: dict[str, dict[str, Any]] = {
        q.id: {"id": q.id, "type": q.type, "prompt": q.prompt, "answered": 0} for q in questions
    }
    for q in questions:
        if q.type in ("single", "multiple"):
            stats[q.id]["counts"] = dict.fromkeys(q.options, 0)
        elif q.type == "rating":
            stats[q.id]["distribution"] = {str(v): 0 for v in range(q.min, q.max + 1)}
            stats[q.id]["average"] = None
        else:
            stats[q.id]["samples"] = []
    totals: dict[str, tuple[float, int]] = {}  # rating: sum and count of in-range answers
    responses = ignored = 0
    last: datetime | None = None
    frame = responses_frame(settings, campaign)
    for moment, text in frame.iter_rows():
        try:
            props = orjson.loads(text)
        except (orjson.JSONDecodeError, TypeError):
            continue
        answers = _verified(settings, campaign, props)
        if answers is None:
            ignored += isinstance(props, dict) and props.get("campaign_id") == campaign.id
            continue
        responses += 1
        last = moment
        for qid, value in answers.items():
            entry = stats.get(qid)
            if entry is None:
                continue
            entry["answered"] += 1
            if "counts" in entry:
                for option in value if isinstance(value, list) else [value]:
                    if isinstance(option, str) and option in entry["counts"]:
                        entry["counts"][option] += 1
            elif "distribution" in entry:
                if isinstance(value, int) and str(value) in entry["distribution"]:
                    entry["distribution"][str(value)] += 1
                    total, count = totals.get(qid, (0.0, 0))
                    totals[qid] = (total + float(value), count + 1)
            elif isinstance(value, str):
                entry["samples"].append(value)
    for qid, entry in stats.items():
        if qid in totals:
            total, count = totals[qid]
            entry["average"] = round(total / count, 4)
        if "samples" in entry:
            entry["samples"] = entry["samples"][-TEXT_SAMPLES:][::-1]
    return {
        "responses": responses,
        "ignored": ignored,
        "last_response_at": last,
        "questions": [stats[q.id] for q in questions],
    }
