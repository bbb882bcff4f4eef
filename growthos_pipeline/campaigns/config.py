"""The campaign models: what a campaign is, the configuration of each type, and the part of
it that public clients (web components, the JS SDK) may read.

A campaign has a ``key`` (unique in its project, named by the public endpoints), a ``type``
(``waitlist``, ``referral``, ``survey``, ``social_proof``; fixed at creation), a ``name``, a
``status`` (``draft``, ``active``, ``paused``, ``ended``: only ``active`` campaigns answer on
the public endpoints) and a ``config`` validated by the model of its type.

Examples
--------
>>> body = CampaignCreate(key="launch", type="waitlist", name="Launch list",
...                       config={"title": "Join the beta"})
>>> config = parse_config(body.type, body.config)
>>> config.places_per_referral
5
>>> public_config("waitlist", config)["title"]
'Join the beta'
>>> parse_config("survey", {"questions": [{"id": "nps", "type": "rating", "prompt": "How likely?",
...                                        "min": 0, "max": 10}]}).questions[0].max
10
>>> try:
...     parse_config("survey", {"questions": [{"id": "q", "type": "single", "prompt": "?"}]})
... except BadRequest as err:
...     print(err.code, err.details[0]["field"])
invalid_campaign_config config.questions.0
"""

from __future__ import annotations

import string
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from growthos_pipeline.catalog.models import Input, Name
from growthos_pipeline.errors import BadRequest

CampaignType = Literal["waitlist", "referral", "survey", "social_proof"]
CAMPAIGN_TYPES: tuple[str, ...] = ("waitlist", "referral", "survey", "social_proof")
CampaignStatus = Literal["draft", "active", "paused", "ended"]
QuestionType = Literal["single", "multiple", "rating", "text"]

#: A campaign key: what public URLs name (lower case, digits, ``-`` and ``_``).
CampaignKey = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
#: An identifier of a question (in answers, events and the summary).
QuestionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
#: An event property name the feed reads.
PropertyName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_$-]{1,100}$")]
MAX_URL = 2000


def check_url(value: str | None) -> str | None:
    """``value`` if it is an absolute http(s) URL of sane length, else a ValueError."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(value) > MAX_URL:
        raise ValueError(
            f"'{value[:80]}' is not an absolute http(s) URL of at most {MAX_URL} characters"
        )
    return value


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: ShortText | None = None
    description: Text | None = None


# ---- waitlist -----------------------------------------------------------------------------


class WaitlistConfig(_Config):
    """A waitlist: people sign up with their email and get a place and a referral link."""

    #: The page referral links point to (``?ref=<code>`` is added); by default the page the
    #: person signed up on (``page_url`` of the signup), else the server's public URL.
    referral_url: str | None = None
    #: Places a signup moves up for each person who signs up with its code.
    places_per_referral: int = Field(default=5, ge=0, le=10_000)
    button_text: ShortText | None = None
    success_message: Text | None = None

    @field_validator("referral_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_url(value)


# ---- referral programme -------------------------------------------------------------------


class Reward(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    threshold: int = Field(ge=1, le=1_000_000)
    metric: Literal["referrals", "conversions"] = "referrals"
    description: ShortText | None = None


class ReferralConfig(_Config):
    """A referral programme: codes per user, signups and conversions attributed to them."""

    referral_url: str | None = None
    rewards: list[Reward] = Field(default_factory=list, max_length=20)
    #: What ranks the leaderboard (the other counter breaks ties).
    leaderboard_metric: Literal["referrals", "conversions"] = "referrals"

    @field_validator("referral_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_url(value)

    @field_validator("rewards")
    @classmethod
    def _sorted(cls, value: list[Reward]) -> list[Reward]:
        return sorted(value, key=lambda r: (r.metric, r.threshold))


# ---- survey -------------------------------------------------------------------------------


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: QuestionId
    type: QuestionType
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    options: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50
    )
    min: int | None = Field(default=None, ge=-1000, le=1000)
    max: int | None = Field(default=None, ge=-1000, le=1000)
    required: bool = False
    #: The longest text answer accepted (text questions).
    max_length: int = Field(default=1000, ge=1, le=5000)

    @model_validator(mode="after")
    def _shape(self) -> Question:
        if self.type in ("single", "multiple"):
            if len(self.options) < 2:
                raise ValueError(f"a {self.type} choice question needs at least 2 options")
            if len(set(self.options)) != len(self.options):
                raise ValueError("options must be distinct")
        elif self.options:
            raise ValueError(f"a {self.type} question has no options")
        if self.type == "rating":
            self.min = 1 if self.min is None else self.min
            self.max = 5 if self.max is None else self.max
            if not self.min < self.max or self.max - self.min > 100:
                raise ValueError(
                    f"a rating needs min < max within 100 steps; found {self.min}..{self.max}"
                )
        elif self.min is not None or self.max is not None:
            raise ValueError(f"min and max belong to rating questions, not {self.type}")
        return self


class Targeting(BaseModel):
    """Who sees a survey: people with an event matching ``filter`` (one condition of the query
    language, e.g. ``event_type = "purchase"``; ``profile.<name>`` reads their profile) in the
    last ``window_days``, and/or members of the segment ``segment_id``. Both set: both must
    hold."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    filter: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    window_days: int = Field(default=30, ge=1, le=365)
    segment_id: Annotated[str, StringConstraints(max_length=40)] | None = None


class SurveyConfig(_Config):
    questions: list[Question] = Field(min_length=1, max_length=50)
    targeting: Targeting | None = None
    #: One response per user (or device); later ones answer 409 ``already_responded``.
    once_per_user: bool = True
    #: How long an eligibility answer is reused for the same person (seconds).
    eligibility_cache_s: int = Field(default=60, ge=0, le=3600)

    @field_validator("questions")
    @classmethod
    def _unique_ids(cls, value: list[Question]) -> list[Question]:
        ids = [q.id for q in value]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"question ids must be unique; repeated: {dup}")
        return value


# ---- social proof -------------------------------------------------------------------------

_PLACEHOLDERS = {"in_place", "place", "label", "ago", "event_type"}
DEFAULT_TEMPLATE = "Someone{in_place} {label} {ago}"


class SocialProofConfig(_Config):
    """A feed of recent anonymised activity from chosen event types."""

    event_types: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=20
    )
    #: How an event type reads in the text (``{"signup": "signed up"}``); default: the event
    #: type with ``_`` as spaces.
    labels: dict[str, ShortText] = Field(default_factory=dict, max_length=20)
    #: The text of an item; placeholders ``{in_place}`` (" in Berlin" or nothing),
    #: ``{place}``, ``{label}``, ``{ago}`` ("5 minutes ago"), ``{event_type}``.
    template: ShortText = DEFAULT_TEMPLATE
    #: Events older than this are not shown.
    window_hours: int = Field(default=72, ge=1, le=24 * 90)
    #: Privacy: nothing is shown until the window holds at least this many events.
    min_events: int = Field(default=5, ge=1, le=10_000)
    #: Privacy: how precise a place may be (a city, only its country, or none).
    place_precision: Literal["city", "country", "none"] = "city"
    #: Privacy: a city (or a country) is named only when at least this many of the window's
    #: events share it; otherwise the item says the country, or no place.
    min_place_events: int = Field(default=3, ge=1, le=10_000)
    #: The event property holding the city (the country comes from ``_country``, else the
    #: ``country`` property).
    city_property: PropertyName = "city"
    #: Privacy: times are rounded down to this many seconds.
    round_seconds: int = Field(default=300, ge=1, le=86_400)
    #: Privacy: events whose properties set this to true are never shown.
    opt_out_property: PropertyName = "social_proof_opt_out"
    #: Items per answer at most, and how long an answer is cached (seconds).
    max_items: int = Field(default=10, ge=1, le=50)
    cache_seconds: int = Field(default=30, ge=0, le=3600)

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as err:
            raise ValueError(f"the template is not valid: {err}") from None
        unknown = sorted(names - _PLACEHOLDERS)
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {unknown}; use {sorted(_PLACEHOLDERS)} (e.g. "
                f"'{DEFAULT_TEMPLATE}')"
            )
        return value


CONFIG_MODELS: dict[str, type[_Config]] = {
    "waitlist": WaitlistConfig,
    "referral": ReferralConfig,
    "survey": SurveyConfig,
    "social_proof": SocialProofConfig,
}
#: The configuration fields public clients read, per type.
PUBLIC_FIELDS: dict[str, tuple[str, ...]] = {
    "waitlist": ("title", "description", "button_text", "success_message", "places_per_referral"),
    "referral": ("title", "description", "rewards", "leaderboard_metric"),
    "survey": ("title", "description", "questions", "once_per_user"),
    "social_proof": ("title", "description", "event_types", "max_items", "cache_seconds"),
}


# ---- the campaign -------------------------------------------------------------------------


class CampaignCreate(Input):
    key: CampaignKey
    type: CampaignType
    name: Name
    status: CampaignStatus = "draft"
    config: dict[str, Any] = Field(default_factory=dict)


class CampaignUpdate(Input):
    """Fields to change; ``config`` fields sent replace the same fields (the others stay),
    and the merged configuration is validated again. ``key`` and ``type`` never change."""

    name: Name | None = None
    status: CampaignStatus | None = None
    config: dict[str, Any] | None = None


def parse_config(campaign_type: str, config: dict[str, Any]) -> Any:
    """``config`` validated for ``campaign_type``; 400 ``invalid_campaign_config`` naming
    each wrong field."""
    try:
        return CONFIG_MODELS[campaign_type].model_validate(config)
    except ValidationError as err:
        details = [
            {
                "field": ".".join(["config", *(str(p) for p in e["loc"])]),
                "message": e["msg"],
            }
            for e in err.errors()[:20]
        ]
        first = details[0]
        raise BadRequest(
            "invalid_campaign_config",
            f"{first['field']}: {first['message']}",
            details=details,
        ) from None


def public_config(campaign_type: str, config: Any) -> dict[str, Any]:
    """The part of a validated configuration public clients may read."""
    dumped: dict[str, Any] = config.model_dump(mode="json")
    out = {k: dumped[k] for k in PUBLIC_FIELDS[campaign_type] if k in dumped}
    if campaign_type == "survey":
        out["questions"] = [
            {k: q[k] for k in ("id", "type", "prompt", "options", "min", "max", "required")}
            | ({"max_length": q["max_length"]} if q["type"] == "text" else {})
            for q in dumped["questions"]
        ]
    return out
