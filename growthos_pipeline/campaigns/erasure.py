"""A person's campaign rows, erased with the rest of their data by a GDPR deletion.

Referral codes hold the user id they were made for, attributions the user id referred, and
one-response surveys a keyed hash of the respondent's user and device ids: all of them go
(the attributions made to an erased referrer go with their code). Counters of other referrers
stay: they are counts, not people.

Waitlist signups hold an email address, not a user id. A user id that is an email address
(normalized as signups are, case-insensitively) erases that address's signups on every
waitlist of the project, by the erasure rule of :mod:`growthos_pipeline.campaigns.waitlist`.
An address that is not the person's user id is erased with the signup route
(``DELETE /v1/projects/{id}/campaigns/{key}/signups/{signup_id}``).

On SQLite the rows are deleted with ``secure_delete`` (their bytes overwritten) and the
write-ahead log is checkpointed and truncated, so no copy of the ids stays in the catalog's
files.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select

from growthos_pipeline.campaigns import abuse
from growthos_pipeline.campaigns.surveys import actor_hashes
from growthos_pipeline.campaigns.waitlist import erase_signups
from growthos_pipeline.catalog.database import Catalog
from growthos_pipeline.catalog.tables import (
    campaign_attributions,
    campaign_referrers,
    campaign_respondents,
    campaign_signups,
    campaigns,
)
from growthos_pipeline.errors import BadRequest
from growthos_pipeline.settings import Settings


def email_keys(values: Iterable[str]) -> list[str]:
    """The deduplication keys of the values that are email addresses (others are skipped).

    Examples
    --------
    >>> email_keys(["Ada@Example.com", "u-42", "ada@"])
    ['ada@example.com']
    """
    found = set()
    for value in values:
        if "@" not in value:
            continue
        try:
            found.add(abuse.normalize_email(value)[1])
        except BadRequest:
            continue
    return sorted(found)


def erase_person(
    catalog: Catalog,
    settings: Settings,
    project_id: str,
    *,
    user_ids: Iterable[str],
    device_ids: Iterable[str] = (),
) -> int:
    """Delete the campaign rows of a person of ``project_id``; how many rows went."""
    users, devices = sorted(set(user_ids)), sorted(set(device_ids))
    hashes = [h for u in users for h in actor_hashes(settings, u, None)]
    hashes += [h for d in devices for h in actor_hashes(settings, None, d)]
    addresses = email_keys(users)
    of_project = select(campaigns.c.id).where(campaigns.c.project_id == project_id)
    their_codes = select(campaign_referrers.c.id).where(
        campaign_referrers.c.campaign_id.in_(of_project), campaign_referrers.c.user_id.in_(users)
    )
    deleted = 0
    with catalog.begin_erasure() as conn:
        if users:
            result = conn.execute(
                delete(campaign_attributions).where(
                    campaign_attributions.c.referrer_id.in_(their_codes)
                )
            )
            deleted += result.rowcount or 0
        for table, column, values in (
            (campaign_attributions, campaign_attributions.c.user_id, users),
            (campaign_referrers, campaign_referrers.c.user_id, users),
            (campaign_respondents, campaign_respondents.c.actor_hash, hashes),
        ):
            if values:
                result = conn.execute(
                    delete(table).where(table.c.campaign_id.in_(of_project), column.in_(values))
                )
                deleted += result.rowcount or 0
        if addresses:
            deleted += erase_signups(
                conn,
                campaign_signups.c.campaign_id.in_(of_project)
                & campaign_signups.c.email_key.in_(addresses),
            )
    return deleted
