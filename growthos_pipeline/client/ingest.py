"""Sending events from a Python server: :class:`GrowthOS` batches them in the background.

``track``, ``identify``, ``page``, ``group`` and ``alias`` only put the event in a bounded
in-memory queue and return its ``insert_id``; a background thread sends the queue in batches
(``POST /v1/track`` and its siblings with ``{"events": [...], "sent_at": ...}``) when
``batch_size`` events are waiting or the oldest has waited ``flush_interval`` seconds,
whichever comes first.

* **Exactly once.** Every event carries an ``insert_id`` (a UUID unless you give one) and the
  time of the call, fixed before the first attempt; a batch retried after a lost answer is
  stored once, since the server counts an ``insert_id`` once per day of event time.
* **Retries** as for the management API: no answer, ``429``, ``502``-``504``, with backoff and
  ``Retry-After``, within the policy's attempts and time (:mod:`~growthos_pipeline.client.retry`).
  A ``413`` splits the batch in two and sends each half. Any other error drops the batch and
  calls ``on_error(error, events)`` (by default: logged).
* **Rejected events.** The server answers which events of a batch it refused and why
  (``missing_identity``, ``event_too_large``, ...): each one calls ``on_reject(rejection)``
  (by default: a warning on the ``growthos_pipeline.client`` logger).
* **A full queue** (``max_queue_size`` events waiting, when the server is slower than the app
  or unreachable) drops the *new* event: the call returns ``None`` instead of an insert id,
  :attr:`GrowthOS.dropped` counts it, and a warning is logged (at most once every 10 s). The
  app is never blocked and memory stays bounded.
* **Exit.** :meth:`GrowthOS.flush` sends everything queued so far and waits for it;
  :meth:`GrowthOS.close` flushes and stops the thread. Both run at interpreter exit (``atexit``),
  for up to ``shutdown_timeout`` seconds, so a script that exits without calling them still
  sends its events. A process killed (``SIGKILL``, ``os._exit``) loses what it had queued.
* Bodies of ``gzip_min_bytes`` or more are sent gzip-compressed.
"""

from __future__ import annotations

import atexit
import gzip
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from growthos_pipeline.client.errors import APIConnectionError, APIError, PayloadTooLargeError
from growthos_pipeline.client.management import DEFAULT_HOST
from growthos_pipeline.client.retry import RetryPolicy
from growthos_pipeline.client.transport import USER_AGENT, Transport

logger = logging.getLogger("growthos_pipeline.client")

#: The ingest endpoints, by kind of call.
PATHS = {
    "track": "/v1/track",
    "identify": "/v1/identify",
    "page": "/v1/page",
    "group": "/v1/group",
    "alias": "/v1/alias",
}
#: The server's default limit of events per request (``GROWTHOS_INGEST_MAX_BATCH_EVENTS``).
MAX_BATCH_EVENTS = 2000
#: A request's body is kept under this many bytes before compression (the server takes 5 MiB).
MAX_BATCH_BYTES = 1024 * 1024
_DROP_WARNING_EVERY_S = 10.0

Time = datetime | int | float | str


@dataclass(frozen=True)
class Rejection:
    """One event the server refused: why (``code``, ``message``, ``field``) and the event."""

    kind: str
    code: str
    message: str
    field: str | None
    event: dict[str, Any]

    @property
    def insert_id(self) -> str | None:
        value = self.event.get("insert_id")
        return str(value) if value is not None else None


OnReject = Callable[[Rejection], None]
OnError = Callable[[Exception, list[dict[str, Any]]], None]


@dataclass
class _Item:
    kind: str
    data: bytes  # the event as JSON, encoded at the call
    at: float  # monotonic time it was queued


class GrowthOS:
    """An ingest client: events are queued by each call and sent in batches by a thread.

    Examples
    --------
    >>> analytics = GrowthOS("pk_example", "http://127.0.0.1:9", flush_interval=60)
    >>> insert_id = analytics.track("signup", user_id="u1", properties={"plan": "pro"})
    >>> len(insert_id), analytics.queued
    (36, 1)
    >>> analytics.discard()  # drop the queue: nothing listens on that port
    1
    >>> analytics.close()
    """

    def __init__(
        self,
        write_key: str,
        host: str = DEFAULT_HOST,
        *,
        batch_size: int = 100,
        flush_interval: float = 0.5,
        max_queue_size: int = 10_000,
        gzip_min_bytes: int = 1024,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        shutdown_timeout: float = 10.0,
        on_reject: OnReject | None = None,
        on_error: OnError | None = None,
        library: str = USER_AGENT,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_EVENTS:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_EVENTS}")
        if flush_interval <= 0 or max_queue_size < 1:
            raise ValueError("flush_interval must be positive and max_queue_size at least 1")
        self.host = host.rstrip("/")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue_size = max_queue_size
        self.gzip_min_bytes = gzip_min_bytes
        self.shutdown_timeout = shutdown_timeout
        self.on_reject = on_reject or _log_rejection
        self.on_error = on_error or _log_error
        self.library = library
        self._transport = Transport(host, write_key, timeout=timeout, retry=retry)
        #: Events sent and accepted, refused by the server, lost to an error, dropped because
        #: the queue was full.
        self.accepted = 0
        self.rejected = 0
        self.failed = 0
        self.dropped = 0
        self._last_drop_warning = 0.0
        self._closed = False
        self._reset()
        atexit.register(self._at_exit)

    def _check_fork(self) -> None:
        """In a child after ``fork``: a fresh queue and no thread (the parent's queue is the
        parent's to send, and its thread does not exist here)."""
        if os.getpid() != self._pid:
            self._reset()

    def _reset(self) -> None:
        """A fresh queue and no thread (at the start, and in a child after ``fork``)."""
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._enqueued = 0
        self._taken = 0
        self._finished = 0
        self._flush_until = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<GrowthOS {self.host} queued={self.queued}>"

    # ---- the calls ---------------------------------------------------------------------------

    def track(
        self,
        event_type: str,
        *,
        user_id: str | int | None = None,
        device_id: str | int | None = None,
        properties: Mapping[str, Any] | None = None,
        user_properties: Mapping[str, Any] | None = None,
        groups: Mapping[str, str] | None = None,
        session_id: str | int | None = None,
        time: Time | None = None,
        insert_id: str | None = None,
        url: str | None = None,
        referrer: str | None = None,
        user_agent: str | None = None,
    ) -> str | None:
        """Queue an event; its insert id, or None when the queue was full and it was dropped.

        ``time`` defaults to now; a naive ``datetime`` is taken as UTC.
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("track needs an event_type")
        return self._enqueue(
            "track",
            {
                "event_type": event_type,
                "event_properties": properties,
                "user_properties": user_properties,
                "groups": groups,
                "session_id": session_id,
                "url": url,
                "referrer": referrer,
                "user_agent": user_agent,
            },
            user_id=user_id,
            device_id=device_id,
            time=time,
            insert_id=insert_id,
        )

    def identify(
        self,
        user_id: str | int | None = None,
        *,
        device_id: str | int | None = None,
        properties: Mapping[str, Any] | None = None,
        operations: Mapping[str, Any] | None = None,
        time: Time | None = None,
        insert_id: str | None = None,
    ) -> str | None:
        """Set the user's ``properties`` and apply ``operations`` (``{"$add": {"logins":
        1}, "$unset": ["trial"], ...}``); with both ids it binds the device to the user."""
        return self._enqueue(
            "identify",
            {"user_properties": properties, "user_property_ops": operations},
            user_id=user_id,
            device_id=device_id,
            time=time,
            insert_id=insert_id,
        )

    def page(
        self,
        url: str | None = None,
        *,
        user_id: str | int | None = None,
        device_id: str | int | None = None,
        name: str | None = None,
        title: str | None = None,
        referrer: str | None = None,
        properties: Mapping[str, Any] | None = None,
        session_id: str | int | None = None,
        user_agent: str | None = None,
        time: Time | None = None,
        insert_id: str | None = None,
    ) -> str | None:
        """A page view (event ``page_view``)."""
        return self._enqueue(
            "page",
            {
                "url": url,
                "name": name,
                "title": title,
                "referrer": referrer,
                "properties": properties,
                "session_id": session_id,
                "user_agent": user_agent,
            },
            user_id=user_id,
            device_id=device_id,
            time=time,
            insert_id=insert_id,
        )

    def group(
        self,
        group_type: str,
        group_id: str | int,
        *,
        user_id: str | int | None = None,
        device_id: str | int | None = None,
        properties: Mapping[str, Any] | None = None,
        time: Time | None = None,
        insert_id: str | None = None,
    ) -> str | None:
        """Put the user in a group (event ``$group``) and set the group's properties."""
        if not group_type or group_id in (None, ""):
            raise ValueError("group needs a group_type and a group_id")
        return self._enqueue(
            "group",
            {"group_type": group_type, "group_id": group_id, "group_properties": properties},
            user_id=user_id,
            device_id=device_id,
            time=time,
            insert_id=insert_id,
        )

    def alias(
        self,
        user_id: str | int,
        previous_id: str | int,
        *,
        time: Time | None = None,
        insert_id: str | None = None,
    ) -> str | None:
        """Say that ``previous_id`` (an earlier user or device id) is ``user_id``."""
        if user_id in (None, "") or previous_id in (None, ""):
            raise ValueError("alias needs a user_id and a previous_id")
        return self._enqueue(
            "alias",
            {"previous_id": previous_id},
            user_id=user_id,
            device_id=None,
            time=time,
            insert_id=insert_id,
            identity_needed=False,
        )

    # ---- queue, flush, close -----------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Events waiting to be sent (not counting a batch being sent)."""
        self._check_fork()
        with self._cond:
            return len(self._queue)

    def flush(self, timeout: float | None = None) -> bool:
        """Send every event queued so far and wait until each is answered (accepted, refused
        or given up on); False when ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._check_fork()
        with self._cond:
            target = self._enqueued
            if self._finished >= target:
                return True
            self._flush_until = max(self._flush_until, target)
            self._start_thread()
            self._cond.notify_all()
            while self._finished < target:
                if self._thread is None or not self._thread.is_alive():
                    return False
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued (for up to ``timeout`` seconds, by default
        ``shutdown_timeout``), then stop the thread and close the connections. Events still
        queued after that are counted in :attr:`failed` and logged."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._at_exit)
        wait = self.shutdown_timeout if timeout is None else timeout
        self._check_fork()
        with self._cond:
            self._stopping = True
            self._flush_until = self._enqueued
            thread = self._thread
            if thread is None and self._queue:
                thread = self._start_thread()
            self._cond.notify_all()
        if thread is not None:
            thread.join(wait)
        with self._cond:
            left = len(self._queue) + (self._taken - self._finished)
            self._queue.clear()
        if left:
            self.failed += left
            logger.error(
                "growthos: %d events were not sent within %.1f s of close() and are lost",
                left,
                wait,
            )
        if thread is None or not thread.is_alive():
            self._transport.close()

    def discard(self) -> int:
        """Drop every queued event without sending it; the number dropped."""
        self._check_fork()
        with self._cond:
            count = len(self._queue)
            self._queue.clear()
            self._taken += count
            self._finished += count
            self._cond.notify_all()
            return count

    def __enter__(self) -> GrowthOS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _at_exit(self) -> None:
        self.close()

    # ---- inside --------------------------------------------------------------------------

    def _enqueue(
        self,
        kind: str,
        fields: dict[str, Any],
        *,
        user_id: str | int | None,
        device_id: str | int | None,
        time: Time | None,
        insert_id: str | None,
        identity_needed: bool = True,
    ) -> str | None:
        if identity_needed and user_id in (None, "") and device_id in (None, ""):
            raise ValueError(f"{kind} needs a user_id or a device_id")
        event_id = insert_id or str(uuid.uuid4())
        event = {
            "user_id": user_id,
            "device_id": device_id,
            **fields,
            "time": _time_text(time),
            "insert_id": event_id,
            "library": self.library,
        }
        data = orjson.dumps({k: v for k, v in event.items() if v is not None}, default=_default)
        now = _monotonic()
        self._check_fork()
        with self._cond:
            if self._closed:
                self.dropped += 1
                logger.warning("growthos: %s after close() is dropped", kind)
                return None
            if len(self._queue) >= self.max_queue_size:
                self.dropped += 1
                if now - self._last_drop_warning >= _DROP_WARNING_EVERY_S:
                    self._last_drop_warning = now
                    logger.warning(
                        "growthos: the queue is full (%d events); new events are dropped "
                        "(%d so far)",
                        self.max_queue_size,
                        self.dropped,
                    )
                return None
            self._queue.append(_Item(kind, data, now))
            self._enqueued += 1
            self._start_thread()
            if len(self._queue) >= self.batch_size:
                self._cond.notify_all()
        return event_id

    def _start_thread(self) -> threading.Thread:
        """The sending thread, started on first use (call with the lock held)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="growthos-ingest", daemon=True)
            self._thread.start()
        return self._thread

    def _due(self) -> bool:
        return (
            len(self._queue) >= self.batch_size
            or self._taken < self._flush_until
            or _monotonic() - self._queue[0].at >= self.flush_interval
        )

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue or not self._due():
                    if self._stopping and not self._queue:
                        return
                    if not self._queue:
                        self._cond.wait()
                    else:
                        due = self._queue[0].at + self.flush_interval
                        self._cond.wait(max(0.0, due - _monotonic()))
                items = [
                    self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))
                ]
                self._taken += len(items)
            try:
                self._send(items)
            except Exception:  # a bug must not kill the thread and strand the queue
                logger.exception("growthos: sending a batch failed")
                self.failed += len(items)
            finally:
                with self._cond:
                    self._finished += len(items)
                    self._cond.notify_all()

    def _send(self, items: list[_Item]) -> None:
        by_kind: dict[str, list[bytes]] = {}
        for item in items:
            by_kind.setdefault(item.kind, []).append(item.data)
        for kind, events in by_kind.items():
            for chunk in _chunks(events, MAX_BATCH_BYTES):
                self._post(kind, chunk)

    def _post(self, kind: str, events: list[bytes]) -> None:
        joined = b'{"events":[' + b",".join(events) + b'],"sent_at":'
        compress = len(joined) >= self.gzip_min_bytes
        headers = {"Content-Type": "application/json"}
        if compress:
            headers["Content-Encoding"] = "gzip"

        def body() -> bytes:
            sent_at = orjson.dumps(datetime.now(UTC).isoformat())
            raw = joined + sent_at + b"}"
            return gzip.compress(raw, compresslevel=5, mtime=0) if compress else raw

        try:
            response = self._transport.request(
                "POST", PATHS[kind], content=body, headers=headers, repeatable=True
            )
        except PayloadTooLargeError as err:
            if len(events) > 1:
                half = len(events) // 2
                self._post(kind, events[:half])
                self._post(kind, events[half:])
                return
            self._fail(err, events)
            return
        except (APIError, APIConnectionError) as err:
            self._fail(err, events)
            return
        answer = response.json()
        refused = answer.get("rejected") or []
        self.accepted += int(answer.get("accepted", 0))
        self.rejected += len(refused)
        for entry in refused:
            index = entry.get("index")
            event = orjson.loads(events[index]) if isinstance(index, int) else {}
            rejection = Rejection(
                kind=kind,
                code=str(entry.get("code")),
                message=str(entry.get("message")),
                field=entry.get("field"),
                event=event,
            )
            try:
                self.on_reject(rejection)
            except Exception:
                logger.exception("growthos: on_reject raised")

    def _fail(self, error: Exception, events: list[bytes]) -> None:
        self.failed += len(events)
        try:
            self.on_error(error, [orjson.loads(e) for e in events])
        except Exception:
            logger.exception("growthos: on_error raised")


def _chunks(events: list[bytes], max_bytes: int) -> list[list[bytes]]:
    """Consecutive runs of events whose JSON stays under ``max_bytes`` (an event larger than
    that goes alone; the server says whether it takes it)."""
    chunks: list[list[bytes]] = [[]]
    size = 0
    for event in events:
        if chunks[-1] and size + len(event) + 1 > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(event)
        size += len(event) + 1
    return chunks


def _time_text(value: Time | None) -> str | int | float:
    if value is None:
        return datetime.now(UTC).isoformat()
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    return value


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot send a {type(value).__name__} in an event: not JSON")


def _monotonic() -> float:
    return time.monotonic()


def _log_rejection(rejection: Rejection) -> None:
    logger.warning(
        "growthos: %s event %s refused: %s: %s",
        rejection.kind,
        rejection.insert_id,
        rejection.code,
        rejection.message,
    )


def _log_error(error: Exception, events: list[dict[str, Any]]) -> None:
    logger.error("growthos: %d events not sent: %s", len(events), error)
