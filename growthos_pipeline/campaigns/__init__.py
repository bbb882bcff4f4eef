"""Campaigns: the growth widgets' backend (waitlists, referral programmes, surveys, social proof).

Managed under ``/v1/projects/{id}/campaigns``; each active campaign answers on public endpoints
under ``/v1/campaigns/{key}`` with the project's public key (docs/campaigns.md).

=====================  ===========================================================================
module                 what it holds
=====================  ===========================================================================
``config.py``          the campaign models, each type's configuration, its public part
``store.py``           campaigns in the catalog: create, list, get, update, delete; the active
                       campaign a public key names
``abuse.py``           what the public endpoints refuse: email syntax, the honeypot, identifiers
``links.py``           referral codes and links, anonymised display names
``waitlist.py``        signups, positions (the ordering rule), the admin's list, export, invite
                       and erasure of a signup
``referrals.py``       codes per user, attribution of signups and conversions, rewards, leaderboard
``targeting.py``       who a survey is for: a query-language filter or a segment, evaluated
``surveys.py``         the questions a person sees, answers validated and ingested as events,
                       the summary from the lake
``social_proof.py``    the feed of recent anonymised activity, with its privacy controls
``summary.py``         the admin's summary of a campaign, whatever its type
``erasure.py``         a person's campaign rows, erased by a GDPR deletion
``countries.py``       country names for the feed's texts
``cache.py``           a small time-bounded cache (eligibility, feeds)
=====================  ===========================================================================
"""
