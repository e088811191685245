"""One endpoint's callback delivery: a CallbackActor and the HTTP sender it posts through.

The CallbackManager (``engine.actors.callbacks``) owns durability, claims and suspension,
its Settler (``engine.actors.callback_settle``) the bookkeeping; the manager creates one
actor per (service, callback type, origin) and hands it owed rows. Origin None is the
service's endpoint; a per-send ``callback_url`` (issue 23) is delivered by the actor of
its origin, with its own lanes and breaker, and the endpoint's bearer token and signing
secret. Before such a POST the URL's host must still be on the service's
``callback_hosts`` (the list may have shrunk since the send): if not, the callback is
given up, not sent anywhere else.
Rules here:
- ``concurrency`` worker lanes per actor; a notification always goes to the same lane, so
  its callbacks leave in ``seq`` order. ``offer`` never blocks: a full lane says no and
  the manager leaves the row in the database.
- Every answer is classified (``engine.domain.callbacks.classify``): delivered rows are
  done, a 4xx other than 429 is given up at once, the rest retried ``retry_seconds`` apart
  up to ``max_retries``. A row put back for a retry holds its notification's later rows
  back (they are released, not sent) until it goes out.
- Each failure feeds the endpoint's breaker (``engine.domain.breaker``, configured by
  ``cb.suspension_breaker``); tripping it asks the manager to suspend. While it is open no
  request leaves: the row is released as for a suspended endpoint.
- A worker that hits an unexpected error releases the row (retry in a second) and goes on.
- Just before the POST the manager's ``deliverable`` is asked (fencing, the manager's
  rules): a row this process no longer owns is dropped, not sent.
"""

from __future__ import annotations

import logging
import time
import uuid
from functools import partial
from typing import Protocol

import msgspec
import trio

from engine.domain import callback_urls
from engine.domain import callbacks as cb
from engine.http1.client import Http11Client, HttpClientError
from engine.metrics import CALLBACK_LATENCY, CALLBACK_RETRIES, CALLBACKS_SENT, labelled
from engine.services import Callback
from engine.store.errors import BACKOFF_S, DatabaseUnavailable

log = logging.getLogger("engine.callbacks")

# (service_id, callback_type, origin): origin None for the service's endpoint, else a
# per-send URL's scheme://host[:port] (engine.domain.callback_urls.origin).
Key = tuple[uuid.UUID, str, str | None]
Endpoint = tuple[uuid.UUID, str]  # (service_id, callback_type): a configured endpoint


class Answer(msgspec.Struct, frozen=True):
    status: int | None  # None: no HTTP answer
    error: str | None = None  # "timeout" | "connection"


class Sender(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer: ...


class HttpSender:
    """Keep-alive POSTs through ``engine.http1.client`` (httpx2 costs ~1 ms CPU a request,
    too much at callback volume; see that module). Connections are kept per origin; each
    actor bounds its own concurrency, so a slow endpoint holds no one else's connections.
    """

    def __init__(
        self, timeout: float, *, allow_http: bool = False, allow_private: bool = False
    ) -> None:
        self.timeout = timeout
        # The SSRF rules (engine.domain.callback_urls), checked again at every connection.
        self._client = Http11Client(
            timeout=timeout,
            url_check=partial(callback_urls.url_problem, allow_http=allow_http),
            address_check=(
                None if allow_private
                else partial(callback_urls.address_problem, allow_private=False)
            ),
        )  # fmt: skip

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The client's watchdog (it bounds each POST by ``timeout``): the owner starts it."""
        await self._client.run(task_status=task_status)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            return Answer(await self._client.post(url, body, headers))
        except trio.TooSlowError:
            return Answer(None, "timeout")
        except HttpClientError:
            return Answer(None, "connection")

    def forget(self, origin: str) -> None:
        """An origin's actor was reaped: its idle connections go too."""
        self._client.forget(origin)

    async def aclose(self) -> None:
        await self._client.aclose()


class Manager(Protocol):
    """What an actor needs of its CallbackManager."""

    sender: Sender
    max_retries: int
    retry_seconds: float
    wants_room: set[Key]

    def wake(self) -> None: ...
    def observed(self, key: Key, failure: str | None) -> None: ...
    async def deliverable(self, owed: cb.Owed) -> bool: ...
    async def config(self, key: Key | Endpoint) -> Callback | None: ...
    async def done(self, owed: cb.Owed) -> None: ...
    async def release(self, owed: cb.Owed, attempts: int, delay: float) -> None: ...
    async def release_now(self, owed: cb.Owed, attempts: int, delay: float) -> None: ...
    async def suspend(self, actor: CallbackActor, reason: str, url: str) -> None: ...


class CallbackActor:
    """Delivers one endpoint's owed callbacks. ``concurrency`` workers, each a FIFO."""

    def __init__(self, manager: Manager, key: Key, concurrency: int, size: int) -> None:
        self.manager = manager
        self.key = key
        self.suspended = False
        self.suspended_since: float | None = None  # when the suspension was committed
        self.breaker = cb.suspension_breaker()
        self._lane_size = max(1, size // concurrency)
        self._lanes = [
            trio.open_memory_channel[cb.Owed](self._lane_size) for _ in range(concurrency)
        ]
        # Rows waiting in each lane, kept here rather than read from the channels'
        # ``statistics()``: ``room`` runs after every callback while the manager waits for
        # room, and 16 lanes' statistics objects cost ~8 µs there (bench/callbacks.py).
        self._queued = [0] * concurrency
        # notification id -> (seq of the row put back for a retry, until when to hold)
        self._blocked: dict[uuid.UUID, tuple[int, float]] = {}
        # For the manager's reaper (per-send origins): rows offered so far, rows in hand.
        self.offered = 0
        self.busy = 0
        self._scope = trio.CancelScope()

    def idle(self, now: float) -> bool:
        """Nothing queued, nothing in hand, no retry hold still running."""
        return (
            self.busy == 0 and self.depth() == 0
            and all(until <= now for _, until in self._blocked.values())
        )  # fmt: skip

    def stop(self) -> None:
        """End the workers (the reaper's, on an idle actor)."""
        self._scope.cancel()

    def depth(self) -> int:
        return sum(self._queued)

    @property
    def capacity(self) -> int:
        return self._lane_size * len(self._lanes)

    def room(self) -> int:
        """How many rows a claim may bring this actor without overflowing: half of what its
        fullest lane has free, times the lanes (rows spread over lanes by notification id,
        so a batch rarely puts more than twice its share in one lane)."""
        return (self._lane_size - max(self._queued)) * len(self._lanes) // 2

    def ready_for_more(self) -> bool:
        """Worth a claim: every lane at most half full (a quarter of capacity as room)."""
        return self.room() >= max(1, self.capacity // 4)

    def offer(self, owed: cb.Owed) -> bool:
        lane = owed.notification_id.int % len(self._lanes)
        try:
            self._lanes[lane][0].send_nowait(owed)
        except trio.WouldBlock:
            return False
        self._queued[lane] += 1
        self.offered += 1
        return True

    async def run(self) -> None:
        with self._scope:
            async with trio.open_nursery() as nursery:
                for lane, (_, recv) in enumerate(self._lanes):
                    nursery.start_soon(self._worker, lane, recv)

    async def _worker(self, lane: int, recv: trio.MemoryReceiveChannel[cb.Owed]) -> None:
        async for owed in recv:
            self._queued[lane] -= 1
            self.busy += 1
            try:
                await self._handle(owed)
            except DatabaseUnavailable:  # logged once by the store: retry after a pause
                await self.manager.release(owed, owed.attempts, BACKOFF_S)
            except Exception:
                log.exception("callback worker error", extra={"service_id": str(self.key[0])})
                await self.manager.release(owed, owed.attempts, 1.0)
            finally:
                self.busy -= 1
            if self.key in self.manager.wants_room and self.ready_for_more():
                # Left out of claims while full; half empty now: ask for more at once
                # rather than at the next poll (that wait capped a backlog's drain rate).
                self.manager.wants_room.discard(self.key)
                self.manager.wake()

    async def _handle(self, owed: cb.Owed) -> None:
        m = self.manager
        if self.suspended:
            await m.release(owed, owed.attempts, 0.0)
            return
        held = self._blocked.get(owed.notification_id)
        if held is not None:
            if owed.seq != held[0] and trio.current_time() < held[1]:
                await m.release(owed, owed.attempts, 0.0)  # an earlier status waits for a retry
                return
            del self._blocked[owed.notification_id]
        config = await m.config(self.key)
        if config is None:
            log.warning(
                "callback dropped: no callback configured",
                extra={"service_id": str(self.key[0]), "callback_type": self.key[1]},
            )
            await m.done(owed)
            return
        url = owed.callback_url or config.url
        if owed.callback_url is not None and callback_urls.url_host(url) not in config.hosts:
            CALLBACKS_SENT.labels(self.key[1], "rejected").inc()
            log.warning(
                "callback given up: its host is no longer in callback_hosts",
                extra={"service_id": str(self.key[0]), "origin": self.key[2],
                       "notification_id": str(owed.notification_id)},
            )  # fmt: skip
            await m.done(owed)
            return
        epoch = self.breaker.acquire(trio.current_time())
        if epoch is None:  # open: the manager is suspending this endpoint
            await m.release(owed, owed.attempts, 0.0)
            return
        if not await m.deliverable(owed):
            # Fencing: the row is another process's now (or will be claimed again).
            self.breaker.release(epoch)
            return
        body = cb.encode_body(owed, config.language)
        headers = cb.request_headers(config.bearer_token, config.signing_secret, body, time.time())
        started = trio.current_time()
        answer = await m.sender.post(url, body, headers)
        CALLBACK_LATENCY.observe(trio.current_time() - started)
        verdict = cb.classify(answer.status)
        kind = self.key[1]
        m.observed(self.key, None if verdict == "ok" else _what_failed(answer))
        if verdict == "ok":
            labelled(CALLBACKS_SENT, kind, "success").inc()
            await m.done(owed)
            return
        if self.breaker.record(epoch, trio.current_time(), 1, 1):
            await m.suspend(self, _describe(answer), url)
        if verdict == "reject":
            CALLBACKS_SENT.labels(kind, "rejected").inc()
            await m.done(owed)
            return
        attempts = owed.attempts + 1
        delay = cb.retry_delay(attempts, m.max_retries, m.retry_seconds)
        if delay is None:
            CALLBACKS_SENT.labels(kind, "gave_up").inc()
            log.warning(
                "callback given up after retries",
                extra={
                    "service_id": str(self.key[0]),
                    "callback_type": kind,
                    "notification_id": str(owed.notification_id),
                },
            )
            await m.done(owed)
            return
        CALLBACKS_SENT.labels(kind, "retry").inc()
        reason = answer.error or ("429" if answer.status == 429 else "5xx")
        CALLBACK_RETRIES.labels(kind, reason).inc()
        # Put back before anything later of this notification can be claimed.
        await m.release_now(owed, attempts, delay)
        now = trio.current_time()
        if len(self._blocked) >= 10_000:  # holds whose row went elsewhere (another worker)
            self._blocked = {k: v for k, v in self._blocked.items() if v[1] > now}
        self._blocked[owed.notification_id] = (owed.seq, now + delay + 5.0)


def _what_failed(answer: Answer) -> str:
    return answer.error or f"HTTP {answer.status}"


def _describe(answer: Answer) -> str:
    what = _what_failed(answer)
    return f"{cb.BREAKER_FAILURES} failures within {cb.BREAKER_WINDOW:.0f} s (last: {what})"
