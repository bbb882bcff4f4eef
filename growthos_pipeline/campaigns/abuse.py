"""What the public campaign endpoints refuse, or pretend to accept.

* **Email syntax** with the ``email-validator`` package (syntax only: no DNS lookup, so a
  signup never waits on the network); the normalized form is stored, and the lower-cased
  normalized form deduplicates.
* **The honeypot**: public forms carry a field ``website`` that people never see (the web
  components hide it) and bots fill in. A request whose ``website`` is not empty is answered
  like a success and nothing is stored or counted.
* **Identifiers** (user ids, device ids) of at most 255 characters, without control characters.

Per-IP rate limits and body size limits are applied by the API (docs/campaigns.md).

Examples
--------
>>> normalize_email("  Ada.Lovelace@Example.COM ")
('Ada.Lovelace@example.com', 'ada.lovelace@example.com')
>>> normalize_email("ada@")
Traceback (most recent call last):
...
growthos_pipeline.errors.BadRequest: invalid_email: 'ada@' is not a valid email address: \
There must be something after the @-sign.
>>> is_bot(""), is_bot(None), is_bot("https://spam.example")
(False, False, True)
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from growthos_pipeline.errors import BadRequest

MAX_EMAIL = 320
MAX_ID = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_email(value: str) -> tuple[str, str]:
    """The normalized address and its deduplication key; 400 ``invalid_email`` otherwise."""
    text = value.strip()
    if len(text) > MAX_EMAIL:
        raise BadRequest(
            "invalid_email",
            f"an email address has at most {MAX_EMAIL} characters; found {len(text)}",
            details=[{"field": "email"}],
        )
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as err:
        raise BadRequest(
            "invalid_email",
            f"'{text[:100]}' is not a valid email address: {err}",
            details=[{"field": "email"}],
        ) from None
    return checked.normalized, checked.normalized.lower()


def is_bot(honeypot: str | None) -> bool:
    """Whether the hidden ``website`` field was filled in."""
    return bool(honeypot and honeypot.strip())


def check_identifier(value: str | None, field: str) -> str | None:
    """``value`` stripped, if it is a usable user or device id; 400 ``invalid_identifier``."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > MAX_ID or _CONTROL.search(text):
        raise BadRequest(
            "invalid_identifier",
            f"{field} must be 1 to {MAX_ID} characters without control characters",
            details=[{"field": field}],
        )
    return text
