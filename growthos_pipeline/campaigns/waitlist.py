"""Waitlists: signups by email, positions, referrals that move people up, and the admin's
list, export and invitations.

The ordering rule
-----------------
Signups are numbered in the order they arrive: the n-th signup of a campaign has ``seq = n``.
Each *successful referral* (a new signup, not a repeat of an address already on the list and
not a honeypot hit, that names this signup's referral code) lowers its score by
``places_per_referral`` (campaign config, default 5)::

    score = seq - places_per_referral * referrals

The list is ordered by score, lowest first; on equal scores the signup with more referrals
goes first, then the earlier signup (lower ``seq``). A signup's ``position`` is 1 + the number
of signups before it in that order, and ``total`` the number of signups. So, while nobody
around it refers anyone, each referral moves a person up exactly ``places_per_referral``
places (never past the first); a change of ``places_per_referral`` applies to everyone at
once. Invited signups keep their place (``invited`` says they were).

Erasing a signup (:func:`delete_signup`, or a GDPR deletion of a user id that is its address:
:func:`erase_signups`) deletes its row, with the address, the referral code and the link base.
The others keep their ``seq`` (it is not renumbered), so the signups behind it move up one
place; the signup whose code it came with keeps that referral (a count, not a person); the
signups that came with its code keep their place and their referrals, and their
``referred_by`` (which named it) becomes null.

Examples
--------
>>> rows = [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 1)]
>>> order(rows, places_per_referral=5)
[(1, 0), (7, 1), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0)]
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, or_, select, update

from growthos_pipeline.campaigns import abuse, links
from growthos_pipeline.campaigns.store import Campaign, active_campaign, managed
from growthos_pipeline.catalog import audit
from growthos_pipeline.catalog.access import Principal
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.pagination import Page, paginate
from growthos_pipeline.catalog.tables import campaign_signups, campaigns, utcnow
from growthos_pipeline.errors import BadRequest, NotFound
from growthos_pipeline.ids import new_id
from growthos_pipeline.settings import Settings


class WaitlistJoin(BaseModel):
    """``POST /v1/campaigns/{key}/waitlist``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: str = Field(max_length=abuse.MAX_EMAIL)
    referral_code: str | None = Field(default=None, max_length=32)
    #: The honeypot: must stay empty (hidden from people by the web component).
    website: str | None = Field(default="", max_length=500)
    #: The page the form is on: the default base of the referral link.
    page_url: str | None = Field(default=None, max_length=2000)


def order(rows: Sequence[tuple[int, int]], *, places_per_referral: int) -> list[tuple[int, int]]:
    """``(seq, referrals)`` pairs in waitlist order (the module's rule)."""
    return sorted(rows, key=lambda r: (r[0] - places_per_referral * r[1], -r[1], r[0]))


def _score(places: int) -> Any:
    return campaign_signups.c.seq - places * campaign_signups.c.referrals


def _position(conn: Connection, campaign: Campaign, row: dict[str, Any]) -> tuple[int, int]:
    places = int(campaign.config.places_per_referral)
    mine = int(row["seq"]) - places * int(row["referrals"])
    score = _score(places)
    c = campaign_signups.c
    ahead, total = conn.execute(
        select(
            func.count().filter(
                or_(
                    score < mine,
                    and_(
                        score == mine,
                        or_(
                            c.referrals > row["referrals"],
                            and_(c.referrals == row["referrals"], c.seq < row["seq"]),
                        ),
                    ),
                )
            ),
            func.count(),
        ).where(campaign_signups.c.campaign_id == campaign.id)
    ).one()
    return int(ahead) + 1, int(total)


def _link_base(settings: Settings, campaign: Campaign, stored: str | None) -> str:
    return campaign.config.referral_url or stored or settings.public_url


def _answer(
    conn: Connection, settings: Settings, campaign: Campaign, row: dict[str, Any]
) -> dict[str, Any]:
    position, total = _position(conn, campaign, row)
    return {
        "signup_id": row["id"],
        "position": position,
        "total": total,
        "referral_code": row["referral_code"],
        "referral_link": links.referral_link(
            _link_base(settings, campaign, row["link_base"]), row["referral_code"]
        ),
        "referrals": int(row["referrals"]),
        "invited": row["invited_at"] is not None,
    }


def page_link_base(page_url: str | None, allowed_origins: Sequence[str]) -> str | None:
    """The page a signup came from, as a link base: an http(s) URL, from an origin the
    project allows its public key on (when it restricts them); else None."""
    if not page_url:
        return None
    parts = urlsplit(page_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    origin = f"{parts.scheme}://{parts.netloc}"
    if allowed_origins and "*" not in allowed_origins and origin not in allowed_origins:
        return None
    return page_url


def _unused_code(conn: Connection, campaign_id: str) -> str:
    while True:
        code = links.new_code()
        taken = conn.execute(
            select(campaign_signups.c.id).where(
                campaign_signups.c.campaign_id == campaign_id,
                campaign_signups.c.referral_code == code,
            )
        ).first()
        if taken is None:
            return code


def _lock(conn: Connection, campaign_id: str) -> None:
    """Serialize signups of one campaign (PostgreSQL row lock; SQLite writers are serialized
    by BEGIN IMMEDIATE already)."""
    conn.execute(select(campaigns.c.id).where(campaigns.c.id == campaign_id).with_for_update())


def join(
    catalog: Catalog,
    settings: Settings,
    project_id: str,
    key: str,
    body: WaitlistJoin,
    *,
    allowed_origins: Sequence[str] = (),
) -> tuple[dict[str, Any], bool]:
    """Sign ``body.email`` up; the answer and whether the signup is new (an address already
    on the list gets its current answer, and its referral code, if any, is not counted)."""
    if abuse.is_bot(body.website):
        return _decoy(catalog, settings, project_id, key), True
    email, email_key = abuse.normalize_email(body.email)
    code = links.clean_code(body.referral_code)
    with catalog.begin() as conn:
        campaign = active_campaign(conn, project_id, key, "waitlist")
        _lock(conn, campaign.id)
        existing = (
            conn.execute(
                select(campaign_signups).where(
                    campaign_signups.c.campaign_id == campaign.id,
                    campaign_signups.c.email_key == email_key,
                )
            )
            .mappings()
            .first()
        )
        if existing is not None:
            return _answer(conn, settings, campaign, dict(existing)), False
        referrer = None
        if code:
            referrer = conn.execute(
                select(campaign_signups.c.id).where(
                    campaign_signups.c.campaign_id == campaign.id,
                    campaign_signups.c.referral_code == code,
                )
            ).scalar_one_or_none()
        seq = conn.execute(
            select(func.coalesce(func.max(campaign_signups.c.seq), 0)).where(
                campaign_signups.c.campaign_id == campaign.id
            )
        ).scalar_one()
        row: dict[str, Any] = {
            "id": new_id("wl"),
            "campaign_id": campaign.id,
            "seq": int(seq) + 1,
            "email": email,
            "email_key": email_key,
            "referral_code": _unused_code(conn, campaign.id),
            "referred_by": referrer,
            "referrals": 0,
            "link_base": page_link_base(body.page_url, allowed_origins),
            "invited_at": None,
            "created_at": utcnow(),
        }
        conn.execute(insert(campaign_signups).values(**row))
        if referrer is not None:
            conn.execute(
                update(campaign_signups)
                .where(campaign_signups.c.id == referrer)
                .values(referrals=campaign_signups.c.referrals + 1)
            )
        return _answer(conn, settings, campaign, row), True


def _decoy(catalog: Catalog, settings: Settings, project_id: str, key: str) -> dict[str, Any]:
    """A believable answer for a honeypot hit: nothing is stored."""
    with catalog.connect() as conn:
        campaign = active_campaign(conn, project_id, key, "waitlist")
        total = conn.execute(
            select(func.count()).where(campaign_signups.c.campaign_id == campaign.id)
        ).scalar_one()
    code = links.new_code()
    return {
        "signup_id": new_id("wl"),
        "position": int(total) + 1,
        "total": int(total) + 1,
        "referral_code": code,
        "referral_link": links.referral_link(_link_base(settings, campaign, None), code),
        "referrals": 0,
        "invited": False,
    }


def signup_status(
    catalog: Catalog, settings: Settings, project_id: str, key: str, signup_id: str
) -> dict[str, Any]:
    """A signup's current answer (position and all); ``404 signup_not_found``."""
    with catalog.connect() as conn:
        campaign = active_campaign(conn, project_id, key, "waitlist")
        row = _signup(conn, campaign, signup_id)
        return _answer(conn, settings, campaign, row)


def _signup(conn: Connection, campaign: Campaign, signup_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            select(campaign_signups).where(
                campaign_signups.c.campaign_id == campaign.id,
                campaign_signups.c.id == signup_id,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("signup_not_found", f"no signup '{signup_id[:40]}' on this waitlist")
    return dict(row)


# ---- the admin's side ---------------------------------------------------------------------


def _ranked(campaign: Campaign) -> Any:
    """Every signup of the campaign with its ``position`` (a window function: one query)."""
    score = _score(int(campaign.config.places_per_referral))
    c = campaign_signups.c
    position = func.row_number().over(order_by=(score, c.referrals.desc(), c.seq)).label("position")
    return (
        select(campaign_signups, position)
        .where(campaign_signups.c.campaign_id == campaign.id)
        .subquery("ranked")
    )


def _admin_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "position": int(row["position"]),
        "referral_code": row["referral_code"],
        "referred_by": row["referred_by"],
        "referrals": int(row["referrals"]),
        "invited_at": row["invited_at"],
        "created_at": row["created_at"],
    }


def _waitlist(campaign: Campaign) -> Campaign:
    if campaign.type != "waitlist":
        raise BadRequest(
            "campaign_type_mismatch",
            f"campaign '{campaign.key}' is a {campaign.type} campaign; signups belong to waitlists",
        )
    return campaign


def list_signups(
    catalog: Catalog,
    principal: Principal,
    project_id: str,
    ref: str,
    *,
    cursor: str | None,
    limit: int,
    email: str | None = None,
) -> Page[dict[str, Any]]:
    """One page of a waitlist's signups in signup order, each with its position (admin
    scope: the list holds email addresses). ``email`` keeps the signup of that address,
    normalized as signups are (case-insensitive; ``400 invalid_email`` when it is not an
    address)."""
    email_key = abuse.normalize_email(email)[1] if email is not None else None
    with catalog.connect() as conn:
        _, campaign = managed(conn, principal, project_id, ref, write=True)
        ranked = _ranked(_waitlist(campaign))
        query = select(ranked)
        if email_key is not None:
            query = query.where(ranked.c.email_key == email_key)
        return paginate(conn, query, ranked.c.id, cursor=cursor, limit=limit, convert=_admin_view)


CSV_COLUMNS = (
    "position",
    "email",
    "referral_code",
    "referrals",
    "referred_by",
    "invited_at",
    "created_at",
    "id",
)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_signups(
    catalog: Catalog, principal: Principal, project_id: str, ref: str
) -> Iterator[str]:
    """Every signup of a waitlist as CSV lines in waitlist order (admin scope). Access is
    checked before the first line."""
    with catalog.connect() as conn:
        _, campaign = managed(conn, principal, project_id, ref, write=True)
        ranked = _ranked(_waitlist(campaign))
        rows = [
            dict(r) for r in conn.execute(select(ranked).order_by(ranked.c.position)).mappings()
        ]

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            view = _admin_view(row)
            writer.writerow([_cell(view[c]) for c in CSV_COLUMNS])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return lines()


def invite(
    catalog: Catalog, principal: Principal, project_id: str, ref: str, signup_id: str
) -> dict[str, Any]:
    """Mark a signup invited (admin scope) and record when; inviting again keeps the first
    time."""
    with catalog.begin() as conn:
        project, campaign = managed(conn, principal, project_id, ref, write=True)
        _waitlist(campaign)
        row = _signup(conn, campaign, signup_id)
        if row["invited_at"] is None:
            row["invited_at"] = utcnow()
            conn.execute(
                update(campaign_signups)
                .where(campaign_signups.c.id == signup_id)
                .values(invited_at=row["invited_at"])
            )
            audit.record(
                conn,
                principal,
                "campaign.invite",
                org_id=str(project["org_id"]),
                project_id=project_id,
                target=signup_id,
                details={"campaign": campaign.key},
            )
        ranked = _ranked(campaign)
        ranked_row = conn.execute(select(ranked).where(ranked.c.id == signup_id)).mappings().one()
        return _admin_view(dict(ranked_row) | {"invited_at": row["invited_at"]})


def erase_signups(conn: Connection, matching: ColumnElement[bool]) -> int:
    """Delete the signups that ``matching`` selects (the module's erasure rule); how many
    went. Their campaigns are locked first, so no signup can arrive meanwhile with one of
    their codes. Run it in :meth:`Catalog.begin_erasure`."""
    c = campaign_signups.c
    campaign_ids = sorted(set(conn.execute(select(c.campaign_id).where(matching)).scalars()))
    if not campaign_ids:
        return 0
    conn.execute(
        select(campaigns.c.id)
        .where(campaigns.c.id.in_(campaign_ids))
        .order_by(campaigns.c.id)
        .with_for_update()
    )
    rows = conn.execute(select(c.id, c.campaign_id).where(matching)).all()
    for campaign_id in campaign_ids:
        ids = [r.id for r in rows if r.campaign_id == campaign_id]
        if ids:
            conn.execute(
                update(campaign_signups)
                .where(c.campaign_id == campaign_id, c.referred_by.in_(ids))
                .values(referred_by=None)
            )
    if not rows:
        return 0
    result = conn.execute(delete(campaign_signups).where(c.id.in_([r.id for r in rows])))
    return result.rowcount or 0


def delete_signup(
    catalog: Catalog, principal: Principal, project_id: str, ref: str, signup_id: str
) -> None:
    """Erase a signup (admin scope): its row with the address, code and link go, as the
    module's erasure rule says; ``404 signup_not_found``. On SQLite no copy of the address
    stays in the catalog's files."""
    with catalog.begin_erasure() as conn:
        project, campaign = managed(conn, principal, project_id, ref, write=True)
        _signup(conn, _waitlist(campaign), signup_id)
        c = campaign_signups.c
        erase_signups(conn, and_(c.campaign_id == campaign.id, c.id == signup_id))
        audit.record(
            conn,
            principal,
            "campaign.delete_signup",
            org_id=str(project["org_id"]),
            project_id=project_id,
            target=signup_id,
            details={"campaign": campaign.key},
        )


def leaderboard_rows(conn: Connection, campaign: Campaign, limit: int) -> list[dict[str, Any]]:
    """The signups with the most referrals (ties: the earlier signup)."""
    rows = conn.execute(
        select(campaign_signups.c.id, campaign_signups.c.referrals)
        .where(campaign_signups.c.campaign_id == campaign.id, campaign_signups.c.referrals > 0)
        .order_by(campaign_signups.c.referrals.desc(), campaign_signups.c.seq)
        .limit(limit)
    ).all()
    return [
        {"person": r[0], "display_name": None, "referrals": int(r[1]), "conversions": 0}
        for r in rows
    ]


def summary(conn: Connection, campaign: Campaign) -> dict[str, Any]:
    """Counts of a waitlist: signups, invited, referred."""
    c = campaign_signups.c
    total, invited, referred = conn.execute(
        select(
            func.count(),
            func.count(c.invited_at),
            func.count(c.referred_by),
        ).where(c.campaign_id == campaign.id)
    ).one()
    return {"signups": int(total), "invited": int(invited), "referred": int(referred)}
