"""Rate limits per credential and plan tier, via the ``limits`` library.

In-process (memory) by default; shared through Redis when ``GROWTHOS_REDIS_URL`` is set, so
that every API process and node counts against one limit. Fixed windows of
``rate_limit_window_s`` seconds; each credential has one counter for ingest and one for
management calls.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import FixedWindowRateLimiter

from growthos_pipeline.settings import LimitCategory, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # Unix seconds when the window resets

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - time.time())))
        return headers


class RateLimiter:
    """Counts hits per (credential, category) in fixed windows."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage: Storage
        if settings.redis_url:
            self.storage = RedisStorage(
                settings.redis_url.replace("redis://", "async+redis://", 1)
                if settings.redis_url.startswith("redis://")
                else settings.redis_url,
                implementation="redispy",
                key_prefix="growthos",
            )
        else:
            self.storage = MemoryStorage()
        self.strategy = FixedWindowRateLimiter(self.storage)

    @property
    def shared(self) -> bool:
        return self.settings.redis_url is not None

    async def hit(
        self, identity: str, limit: int, category: LimitCategory, *, window_s: int | None = None
    ) -> Decision:
        """Count one hit of ``identity`` against ``limit`` per ``window_s`` seconds (default:
        the settings' ``rate_limit_window_s``)."""
        window = window_s or self.settings.rate_limit_window_s
        item = RateLimitItemPerSecond(limit, window)
        try:
            allowed = await self.strategy.hit(item, category, identity)
            stats = await self.strategy.get_window_stats(item, category, identity)
            reset_time = await self._reset_time(item.key_for(category, identity), stats.reset_time)
        except Exception:  # the limiter's store is down: serve, and say so in the log
            log.warning("rate-limit store unavailable; request not counted", exc_info=True)
            reset = int(time.time()) + window
            return Decision(True, limit, limit, reset)
        return Decision(allowed, limit, max(0, stats.remaining), math.ceil(reset_time))

    async def _reset_time(self, key: str, reset_time: float) -> float:
        """When the window's counter expires. On Redis, ``limits`` reads the TTL, which Redis
        rounds to whole seconds, so the reset could be reported up to half a second before the
        window ends (a client retrying then gets another 429); PTTL counts milliseconds."""
        if not isinstance(self.storage, RedisStorage):
            return reset_time
        bridge = self.storage.bridge
        assert isinstance(bridge, RedispyBridge)  # implementation="redispy" above
        connection: Any = bridge.get_connection()
        pttl = int(await connection.pttl(bridge.prefixed_key(key)))
        return time.time() + max(pttl, 0) / 1000

    async def check(self) -> bool:
        """Whether the limiter's store answers (for /readyz)."""
        try:
            return bool(await self.storage.check())
        except Exception:
            return False

    async def reset(self) -> None:
        await self.storage.reset()
