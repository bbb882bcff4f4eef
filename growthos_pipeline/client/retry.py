"""When and how long the client waits before trying a request again.

A request is tried again when it got no answer (the connection was refused or broke) or an
answer that says "later": ``429``, ``502``, ``503``, ``504``, and ``409
idempotency_request_in_progress`` (the first attempt under the same ``Idempotency-Key`` is
still running). No other ``4xx`` is ever retried: the same request would fail the same way.

The wait is the server's ``Retry-After`` when it sent one (seconds or an HTTP date), else an
exponential backoff with jitter: attempt ``n`` waits between half and all of
``min(backoff_max, backoff_base * 2**n)``. Both the number of attempts and the total time are
bounded: a wait that would end past ``max_elapsed`` seconds after the first attempt is not
taken, and the last error is raised at once instead.

Examples
--------
>>> parse_retry_after("3")
3.0
>>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412478.0)
2.0
>>> parse_retry_after("soon") is None
True
>>> policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
>>> [policy.backoff(n, random=lambda: 1.0) for n in range(5)]
[0.5, 1.0, 2.0, 4.0, 4.0]
"""

from __future__ import annotations

import email.utils
import math
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass

#: Statuses that mean "not now" rather than "not this request".
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: 409 codes that mean the same.
RETRY_CONFLICT_CODES = frozenset({"idempotency_request_in_progress"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    ``max_attempts`` counts the first try; ``max_elapsed`` bounds the time from the first
    attempt to the start of the last; ``max_retry_after`` caps what a server may ask for
    (a ``Retry-After`` above it ends the retries instead of stalling the caller).
    """

    max_attempts: int = 5
    max_elapsed: float = 30.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, *, random: Callable[[], float] = _random.random) -> float:
        """The wait after the ``attempt``-th failure (0-based) when the server named none."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        return ceiling / 2 + ceiling / 2 * random()

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """The wait before the next attempt, or None when the server asks for too long."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.backoff(attempt)


NO_RETRIES = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)
