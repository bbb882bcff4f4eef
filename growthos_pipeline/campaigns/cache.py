"""A small in-process cache whose entries expire, bounded in size (oldest out first).

Each API process keeps its own; what it holds (survey eligibility, social-proof feeds) is
cheap to recompute and may be a little stale by design.

Examples
--------
>>> now = [100.0]
>>> cache = TTLCache(max_entries=2, clock=lambda: now[0])
>>> cache.put("a", 1, ttl_s=10)
>>> cache.get("a")
1
>>> now[0] = 111.0
>>> cache.get("a") is None
True
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class TTLCache:
    def __init__(
        self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value under ``key``, or None when absent or expired."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires, value = found
            if expires <= self.clock():
                del self._entries[key]
                return None
            return value

    def put(self, key: Hashable, value: Any, *, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        with self._lock:
            self._entries[key] = (self.clock() + ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
