"""Credential strings: minting, checksums, keyed hashes.

A key reads ``<type>_<32 random base62 chars><6-char checksum>``; the type prefix tells what
it is (``ak_`` org admin, ``pk_`` project public, ``sk_`` project secret, ``aat_`` access
token). The checksum (CRC-32 of the rest, base62) lets a mistyped or truncated key be refused
before any database lookup, and lets secret scanners recognise a real key. At rest only
``HMAC-SHA256(server_secret, key)`` is kept, with a short display prefix.

Examples
--------
>>> key = mint("secret")
>>> key.startswith("sk_") and len(key) == 3 + 32 + 6
True
>>> kind_of(key)
'secret'
>>> kind_of(key[:-1] + ("A" if key[-1] != "A" else "B"))
Traceback (most recent call last):
...
growthos_pipeline.errors.Unauthorized: invalid_api_key: the key's checksum does not match: \
it was mistyped or truncated
>>> display(key) == key[:10] + "..."
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from typing import Literal

from growthos_pipeline.errors import Unauthorized

KeyKind = Literal["admin", "public", "secret", "token"]

PREFIXES: dict[KeyKind, str] = {"admin": "ak", "public": "pk", "secret": "sk", "token": "aat"}
_KIND_BY_PREFIX = {prefix: kind for kind, prefix in PREFIXES.items()}
_ALPHABET = string.digits + string.ascii_letters
_BODY_LEN = 32
_CHECK_LEN = 6
MAX_KEY_LENGTH = 64


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def _checksum(prefix: str, body: str) -> str:
    return _base62(zlib.crc32(f"{prefix}_{body}".encode()), _CHECK_LEN)


def mint(kind: KeyKind) -> str:
    """A new random key of the given kind."""
    prefix = PREFIXES[kind]
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LEN))
    return f"{prefix}_{body}{_checksum(prefix, body)}"


def derive(kind: KeyKind, server_secret: bytes, label: str) -> str:
    """A key computed from the server secret and a label (used for a project's public key,
    which is public by design and must be printable again by an idempotent bootstrap)."""
    prefix = PREFIXES[kind]
    digest = hmac.new(server_secret, f"derive:{prefix}:{label}".encode(), hashlib.sha256).digest()
    body = _base62(int.from_bytes(digest, "big"), _BODY_LEN)
    return f"{prefix}_{body}{_checksum(prefix, body)}"


def kind_of(raw: str) -> KeyKind:
    """The kind of a well-formed key; :class:`Unauthorized` for anything else."""
    if not raw or len(raw) > MAX_KEY_LENGTH or "_" not in raw:
        raise Unauthorized("invalid_api_key", "the key is not a GrowthOS key")
    prefix, rest = raw.split("_", 1)
    kind = _KIND_BY_PREFIX.get(prefix)
    if kind is None:
        raise Unauthorized(
            "invalid_api_key",
            f"unknown key type '{prefix[:8]}_'; expected one of ak_, pk_, sk_, aat_",
        )
    if len(rest) != _BODY_LEN + _CHECK_LEN or any(ch not in _ALPHABET for ch in rest):
        raise Unauthorized("invalid_api_key", "the key is malformed: wrong length or characters")
    body, check = rest[:_BODY_LEN], rest[_BODY_LEN:]
    if not hmac.compare_digest(check, _checksum(prefix, body)):
        raise Unauthorized(
            "invalid_api_key",
            "the key's checksum does not match: it was mistyped or truncated",
        )
    return kind


def hash_secret(server_secret: bytes, raw: str) -> str:
    """The keyed hash stored in place of a secret (hex HMAC-SHA256)."""
    return hmac.new(server_secret, raw.encode(), hashlib.sha256).hexdigest()


def display(raw: str) -> str:
    """The part of a key safe to show in lists: its type and first characters."""
    prefix, rest = raw.split("_", 1)
    return f"{prefix}_{rest[:7]}..."
