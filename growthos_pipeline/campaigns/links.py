"""Referral codes, the links that carry them, and the names a leaderboard shows.

Codes are 8 characters of Crockford's base32 (no I, L, O, U: nothing to misread), random.
A link is the campaign's ``referral_url`` (else the page the person was on, else the server's
public URL) with ``ref=<code>`` set in its query. A leaderboard never shows an email or a user
id: a person's chosen display name (refused when it looks like an email address), else a name
derived from a keyed hash of their id, such as "Swift Otter 4K".

Examples
--------
>>> len(new_code()), new_code() != new_code()
(8, True)
>>> referral_link("https://example.com/launch?utm_source=x&ref=OLD#top", "AB12CD34")
'https://example.com/launch?utm_source=x&ref=AB12CD34'
>>> anonymous_name(b"secret", "cmp_1", "user-42") == anonymous_name(b"secret", "cmp_1", "user-42")
True
>>> anonymous_name(b"secret", "cmp_1", "user-42").count(" ")
2
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from growthos_pipeline.errors import BadRequest

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
_ADJECTIVE_WORDS = (
    "Swift Brave Calm Clever Bright Bold Eager Gentle Happy Jolly Keen Lively Lucky Merry Noble "
    "Proud Quick Quiet Sunny Witty Zesty Cosmic Golden Silver Amber Misty Rapid Steady Sly Wise "
    "Cheery Daring"
)
_ANIMAL_WORDS = (
    "Otter Falcon Badger Lynx Heron Panda Fox Koala Orca Puffin Raven Tiger Wombat Yak Zebra "
    "Beaver Bison Crane Dolphin Eagle Gecko Hare Ibis Jaguar Lemur Marten Newt Owl Quokka Seal "
    "Swan Wolf"
)
_ADJECTIVES = tuple(_ADJECTIVE_WORDS.split())
_ANIMALS = tuple(_ANIMAL_WORDS.split())


def new_code() -> str:
    """A random referral code."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def clean_code(value: str | None) -> str | None:
    """A code as people type it (spaces trimmed, case ignored, I/L read as 1 and O as 0)."""
    if value is None:
        return None
    code = value.strip().upper().replace("I", "1").replace("L", "1").replace("O", "0")
    return code or None


def referral_link(base: str, code: str) -> str:
    """``base`` with ``ref=<code>`` in its query (replacing any earlier ``ref``), no fragment."""
    parts = urlsplit(base)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ref"]
    query.append(("ref", code))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


def anonymous_name(secret: bytes, campaign_id: str, person: str) -> str:
    """A stable, friendly name for a person on a leaderboard, that reveals nothing of them."""
    digest = hmac.new(secret, f"{campaign_id}\x00{person}".encode(), hashlib.sha256).digest()
    adjective = _ADJECTIVES[digest[0] % len(_ADJECTIVES)]
    animal = _ANIMALS[digest[1] % len(_ANIMALS)]
    tag = _ALPHABET[digest[2] % 32] + _ALPHABET[digest[3] % 32]
    return f"{adjective} {animal} {tag}"


def check_display_name(value: str | None) -> str | None:
    """A display name people chose for the leaderboard; 400 ``invalid_display_name`` when it
    looks like an email address or holds control characters."""
    if value is None:
        return None
    text = " ".join(value.split())
    if not text:
        return None
    if "@" in text or len(text) > 64 or any(ord(c) < 32 for c in text):
        raise BadRequest(
            "invalid_display_name",
            "a display name has at most 64 characters and no '@' (leaderboards never show "
            "email addresses)",
            details=[{"field": "display_name"}],
        )
    return text
