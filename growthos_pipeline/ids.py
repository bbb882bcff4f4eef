"""Identifiers: a type prefix and a ULID, so that ids sort by creation time.

Examples
--------
>>> a, b = new_id("proj"), new_id("proj")
>>> a.startswith("proj_") and len(a) == 31 and a < b
True
"""

from __future__ import annotations

import threading

from ulid import ULID

_lock = threading.Lock()
_last = ULID()


def new_id(prefix: str) -> str:
    """A new ``<prefix>_<ULID>``, strictly increasing within the process."""
    global _last
    with _lock:
        candidate = ULID()
        if candidate.bytes <= _last.bytes:
            candidate = ULID.from_int(int(_last) + 1)
        _last = candidate
    return f"{prefix}_{candidate}"
