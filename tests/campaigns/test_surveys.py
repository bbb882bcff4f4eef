"""Surveys: answers validated per question type, responses ingested as events through the
real Ingestor into a Delta lake on disk and summarised back, one response per person, and
targeting by a query-language filter and by a segment (catalog on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from growthos_pipeline import segments
from growthos_pipeline.campaigns import surveys, targeting
from growthos_pipeline.campaigns.store import active_campaign
from growthos_pipeline.campaigns.surveys import SurveyResponse
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.errors import BadRequest, Conflict, Forbidden
from growthos_pipeline.ingest.accept import Ingestor
from growthos_pipeline.lake.read import read_events
from growthos_pipeline.segments import SegmentCreate
from growthos_pipeline.settings import Settings
from tests.campaigns.world import MINUTE_US, Project, ingest, now_us, project

QUESTIONS: list[dict[str, Any]] = [
    {
        "id": "score",
        "type": "rating",
        "prompt": "How likely?",
        "min": 0,
        "max": 10,
        "required": True,
    },
    {"id": "plan", "type": "single", "prompt": "Plan?", "options": ["free", "pro"]},
    {"id": "uses", "type": "multiple", "prompt": "Uses?", "options": ["work", "home", "school"]},
    {"id": "why", "type": "text", "prompt": "Why?", "max_length": 20},
]


@pytest.fixture
def ingestor(any_settings: Settings) -> Iterator[Ingestor]:
    running = Ingestor(any_settings)
    running.start()
    yield running
    running.stop()


def _respond(p: Project, ingestor: Ingestor, key: str, **body: Any) -> dict[str, Any]:
    return asyncio.run(
        surveys.submit_response(
            p.catalog, p.settings, ingestor, p.id, key, SurveyResponse(**body), {}
        )
    )


def test_answers_are_checked_per_question_type() -> None:
    from growthos_pipeline.campaigns.config import SurveyConfig

    questions = SurveyConfig(questions=QUESTIONS).questions
    bad = {
        "score": True,
        "plan": "enterprise",
        "uses": ["work", "work"],
        "why": "x" * 21,
        "nope": 1,
    }
    with pytest.raises(BadRequest) as err:
        surveys.check_answers(questions, bad)
    codes = {d["question"]: d["code"] for d in err.value.details}
    assert codes == {
        "nope": "unknown_question",
        "score": "invalid_type",
        "plan": "unknown_option",
        "uses": "duplicate_option",
        "why": "too_long",
    }
    with pytest.raises(BadRequest) as required:
        surveys.check_answers(questions, {"plan": "pro"})
    assert required.value.details == [
        {"question": "score", "code": "answer_required", "message": "this question is required"}
    ]
    assert surveys.check_answers(questions, {"score": 7.0, "uses": [], "why": "  "}) == {"score": 7}
    with pytest.raises(BadRequest) as range_error:
        surveys.check_answers(questions, {"score": 3.5})
    assert range_error.value.details[0]["code"] == "invalid_type"


def test_responses_become_events_and_the_summary_reads_them(
    any_catalog: Catalog, any_settings: Settings, ingestor: Ingestor
) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("nps", "survey", {"questions": QUESTIONS})
    other = p.campaign("other", "survey", {"questions": QUESTIONS[:1]})
    answers = [
        {"score": 9, "plan": "pro", "uses": ["work", "home"], "why": "fast"},
        {"score": 10, "uses": ["work"]},
        {"score": 6, "plan": "free", "why": "price"},
    ]
    for i, given in enumerate(answers):
        made = _respond(p, ingestor, "nps", user_id=f"u{i}", answers=given)
        assert made["accepted"] is True and made["response_id"].startswith("rsp_")
    _respond(p, ingestor, "other", device_id="d1", answers={"score": 0})
    with pytest.raises(Conflict) as again:
        _respond(p, ingestor, "nps", user_id="u0", answers={"score": 1})
    assert again.value.code == "already_responded"
    bot = _respond(p, ingestor, "nps", user_id="bot", answers={"score": 1}, website="x")
    assert bot["accepted"] is True
    with pytest.raises(BadRequest) as anonymous:
        _respond(p, ingestor, "nps", answers={"score": 1})
    assert anonymous.value.code == "missing_identity"
    ingestor.flush_now()
    nps_id = active_campaign_id(any_catalog, p.id, "nps")
    forged = {"campaign": "nps", "campaign_id": nps_id, "answers": {"score": 0, "uses": [{}]}}
    ingest(
        any_settings,
        p.id,
        [
            {"event_type": "survey_response", "user_id": "forger", "event_properties": forged},
            {
                "event_type": "survey_response",
                "user_id": "forger",
                "event_properties": forged | {"response_id": "rsp_x", "signature": "0" * 32},
            },
        ],
    )

    events = read_events(any_settings, p.id).filter(pl.col("event_type") == "survey_response")
    assert events.height == 6
    first = events.filter(pl.col("user_id") == "u0").row(0, named=True)
    assert first["library"] == surveys.LIBRARY and first["insert_id"].startswith("rsp_")
    assert '"question_ids":["score","plan","uses","why"]' in first["event_properties"]

    with any_catalog.connect() as conn:
        campaign = active_campaign(conn, p.id, "nps")
    summary = surveys.summary(any_settings, campaign)
    by_id = {q["id"]: q for q in summary["questions"]}
    assert (summary["responses"], summary["ignored"]) == (3, 2)  # forged events left out
    assert by_id["score"]["answered"] == 3 and by_id["score"]["average"] == pytest.approx(
        25 / 3, abs=1e-4
    )
    assert by_id["score"]["distribution"]["10"] == 1
    assert by_id["plan"]["counts"] == {"free": 1, "pro": 1}
    assert by_id["uses"]["counts"] == {"work": 2, "home": 1, "school": 0}
    assert by_id["why"]["samples"] == ["price", "fast"]
    assert other["key"] == "other"  # its response is not in this summary (4 events, 3 here)


def active_campaign_id(catalog: Catalog, project_id: str, key: str) -> str:
    with catalog.connect() as conn:
        return active_campaign(conn, project_id, key).id


def test_eligibility_one_response_each(
    any_catalog: Catalog, any_settings: Settings, ingestor: Ingestor
) -> None:
    p = project(any_catalog, any_settings)
    p.campaign("nps", "survey", {"questions": QUESTIONS})
    ask = surveys.survey_for(p.catalog, p.settings, p.id, "nps", user_id="u1", device_id="d1")
    assert (ask["eligible"], ask["reason"]) == (True, None)
    assert [q["id"] for q in ask["questions"]] == ["score", "plan", "uses", "why"]
    _respond(p, ingestor, "nps", user_id="u1", device_id="d1", answers={"score": 3})
    for who in ({"user_id": "u1", "device_id": None}, {"user_id": None, "device_id": "d1"}):
        again = surveys.survey_for(p.catalog, p.settings, p.id, "nps", **who)
        assert (again["eligible"], again["reason"]) == (False, "already_responded")
    with pytest.raises(Conflict):
        _respond(p, ingestor, "nps", device_id="d1", answers={"score": 3})


def test_targeting_by_filter_and_by_segment(
    any_catalog: Catalog, any_settings: Settings, ingestor: Ingestor
) -> None:
    p = project(any_catalog, any_settings)
    t = now_us()
    ingest(
        any_settings,
        p.id,
        [
            {
                "event_type": "purchase",
                "user_id": "big",
                "time": t - MINUTE_US,
                "event_properties": {"amount": 80},
            },
            {
                "event_type": "purchase",
                "user_id": "small",
                "time": t - MINUTE_US,
                "event_properties": {"amount": 10},
            },
            {
                "event_type": "purchase",
                "user_id": "old",
                "time": t - 40 * 1440 * MINUTE_US,
                "event_properties": {"amount": 90},
            },
            {
                "event_type": "purchase",
                "device_id": "dev-7",
                "time": t - MINUTE_US,
                "event_properties": {"amount": 99},
            },
            {
                "event_type": "purchase",
                "user_id": 'q"uote\\',
                "time": t - MINUTE_US,
                "event_properties": {"amount": 60},
            },
        ],
    )
    p.campaign(
        "buyers",
        "survey",
        {
            "questions": QUESTIONS[:1],
            "targeting": {"filter": 'event_type = "purchase" and prop.amount > 50'},
        },
    )

    def eligible(key: str, user_id: str | None, device_id: str | None = None) -> Any:
        return surveys.survey_for(
            p.catalog, p.settings, p.id, key, user_id=user_id, device_id=device_id
        )

    assert eligible("buyers", "big")["eligible"] is True
    assert eligible("buyers", "small")["reason"] == "not_targeted"
    assert eligible("buyers", "old")["reason"] == "not_targeted"  # outside 30 days
    assert eligible("buyers", None, "dev-7")["eligible"] is True
    assert eligible("buyers", 'q"uote\\')["eligible"] is True
    assert eligible("buyers", None)["reason"] == "not_targeted"

    # A response is held to the same targeting as the question: refused, nothing stored.
    with pytest.raises(Forbidden) as refused:
        _respond(p, ingestor, "buyers", user_id="small", answers={"score": 3})
    assert refused.value.code == "not_targeted"
    assert _respond(p, ingestor, "buyers", user_id="big", answers={"score": 9})["accepted"]
    ingestor.flush_now()
    answered = read_events(any_settings, p.id).filter(pl.col("event_type") == "survey_response")
    assert answered["user_id"].to_list() == ["big"]

    segment = segments.create_segment(
        any_catalog,
        p.admin,
        p.id,
        SegmentCreate(name="Big", filter='event_type = "purchase" and prop.amount >= 80'),
    )
    segments.build_segment_members(any_settings, any_catalog, p.id)
    p.campaign(
        "members",
        "survey",
        {"questions": QUESTIONS[:1], "targeting": {"segment_id": segment["id"]}},
    )
    assert eligible("members", "big")["eligible"] is True
    assert eligible("members", None, "dev-7")["eligible"] is True
    assert eligible("members", "small")["reason"] == "not_targeted"


def test_targeting_condition_quotes_any_id() -> None:
    assert targeting.condition('a"b', None) == 'user_id = "a\\"b"'
    assert targeting.condition("u", "d") == 'user_id = "u" or device_id = "d"'
