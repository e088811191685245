"""ProviderActor: one per configured provider. Batches, paces, sends, records the outcome.

Rules:
- Messages arrive in a bounded mailbox; a full mailbox blocks the sender (backpressure).
- A batch is up to ``provider.max_batch`` messages or whatever arrived within ``linger``.
- Pacing (``pacer``, None = unpaced): the provider's send rate is the whole deployment's
  (``engine.actors.pacing``: leases of a token bucket in PostgreSQL). It paces the calls'
  start times per message, not per batch: with a slot in hand, the actor asks the pacer how
  many messages of the batch in hand may go now (>= 1, a small burst at most) and sends
  those in one call; the rest stay in hand for the next turn. Each such call marks its own
  rows ``sending`` just before it (the store's group commit still writes the marks of
  every call within its linger in one statement), so a row is never marked long before
  its call. Unpaced, the whole batch goes in one call, as before.
- At most ``concurrency`` calls are in flight.
- Before the call a batch's messages are marked ``sending`` in one store update, each
  conditional on its row still being owned by the registration it was claimed under
  (``Outbound.owner``; fencing, ``engine.domain.ownership``), from ``created`` or
  ``sending`` only (a retry re-marks its row, so it is fenced too), and never on a row
  that has a provider reference. The batch then sends ONLY the messages whose mark
  changed a row: the others were taken over by another process, finished, or accepted
  by the provider already (a frozen sender's late reference), and are dropped from
  memory, counted in ``notify_ownership_dropped_total{kind="send"}``.
- After the mark, before the call, ``ownership.acting`` checks the lease: while it is not
  valid the batch is held (the database is down, or the process was paused) until a
  heartbeat renews it; a message whose registration was lost meanwhile is dropped (its
  row is claimed again, by a sweep, and sent by whoever claims it). Mark, then check: a
  valid lease after the mark means nobody could have declared this process dead before
  the mark, and nobody can for ``dead_after / 3`` after the check.
- After the call, accepted messages get the provider reference (email stays ``sending``,
  SMS becomes ``sent``), conditional on the owner as the mark was, except that the
  reference itself is a fact: it is recorded on a row that has none even if another
  process claimed the row meanwhile (this one froze during the call; recovery waits the
  sending grace before resending, ``engine.domain.ownership``). While the database is
  unreachable that write is retried, not the send: resending what the provider accepted
  because of an outage would be a duplicate. A failed ``sending`` mark (nothing sent yet)
  puts the batch back for a retry a second later instead of crashing the actor: a crash
  would cancel the batches in flight, and theirs would be resent.
- Throttled / retryable results are retried with jittered exponential backoff. Attempts
  are counted per notification; after ``max_attempts`` the message is marked
  ``technical-failure`` (contract 3.2: max retries exhausted). Rejected messages become
  ``permanent-failure`` at once (the issue's rule: the address or content will never be
  accepted).
- One failure channel: providers report every outcome as results (``engine.providers.base``),
  and ``_settle`` is the one place they are classified (status, retry, breaker failure). An
  exception from ``send_batch``, or a wrong number of results, is a provider bug: every
  message of the batch becomes a retryable result.
- Retries wait in the actor's own delay queue, not in the mailbox: a full mailbox can never
  block a retry, so the actor cannot deadlock on itself. The delay queue is bounded: while
  it holds ``retry_capacity`` messages the actor takes nothing new from the mailbox (the
  backpressure reaches the senders), only the retries as they fall due.
- A circuit breaker (``engine.domain.breaker``, a failure-share rule) watches retryable
  results. While it refuses traffic, batches go to ``fallback`` (the next provider of the
  channel) and count in ``notify_provider_failovers_total``; without a fallback they wait
  for the half-open probe. Test-key messages never fail over (test keys never reach a real
  provider). Fallback chains must not loop.
- Mailbox, delay queue and the batch in hand belong to the object, not to ``run``: after a
  crash the supervisor's restart finds them intact, and a batch interrupted mid-call is put
  back on the delay queue (at-least-once, as recovery does for a crashed process).
- A call that hangs is bounded where the call is made, per provider call (the AWS
  providers' deadline, ``NOTIFY_PROVIDER_TIMEOUT_SECONDS``, ``engine.providers.aws``;
  it counts the time the process ran, so a thawed process reads the answers that
  arrived while it was frozen, ``engine.providers.deadline``): it
  comes back as retryable results, so the breaker counts it and the batch is retried or
  failed over one deadline plus one backoff after it was sent. Not a deadline on the whole
  ``send_batch`` here: that would throw away the answers of the batch's calls that did
  return and resend accepted messages. A timed-out call may still have been delivered; it
  is resent all the same (the rule above: a resend is safer than a row stuck in
  ``sending``), so a hang can cost a duplicate, never a lost message.
- Throttles are retried, and do not count against the breaker: pacing (``pacer``) is the
  cure for them, not failover.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import trio

from engine.actors.pacing import SendPacer
from engine.batching import gather
from engine.domain import statuses as st
from engine.domain.breaker import CircuitBreaker
from engine.domain.notification import Outbound
from engine.domain.timestamps import utcnow
from engine.metrics import (
    OWNERSHIP_DROPPED,
    PROVIDER_BATCH,
    PROVIDER_BREAKER_OPEN,
    PROVIDER_CALLS,
    PROVIDER_FAILOVERS,
    PROVIDER_LATENCY,
    PROVIDER_RETRIES,
    labelled,
    observe_mailbox,
)
from engine.providers.base import Provider, SendResult, failed_batch
from engine.store.errors import BACKOFF_S, DatabaseUnavailable
from engine.store.notifications import StatusChange, StatusUpdate

log = logging.getLogger("engine.provider")

OnChanges = Callable[[Sequence[StatusChange]], Awaitable[None]]
Item = tuple[Outbound, int]  # a message and the attempts it has used so far

# While half-open with every probe slot taken and no fallback, how often to look again.
_PROBE_POLL = 0.05
# Outcome writes failing for another reason than an outage: tries, a second apart.
_RECORD_ATTEMPTS = 5


class StatusStore(Protocol):
    async def update_statuses(self, updates: Sequence[StatusUpdate]) -> list[StatusChange]: ...


class Fence(Protocol):
    """``engine.actors.ownership.Ownership``: may this process act on a row it claimed as
    ``owner`` (waiting while its lease is being renewed)?"""

    async def acting(self, owner: uuid.UUID | None) -> bool: ...


def backoff_delay(attempts: int, base: float, cap: float, jitter: float) -> float:
    """Delay before retry number ``attempts`` (1-based): exponential, capped, with "equal
    jitter" (``jitter`` in [0, 1) picks a point in the upper half) so the batches that a
    throttle hit together come back spread out instead of all at once."""
    delay = min(cap, base * (2.0 ** (attempts - 1)))
    return delay / 2 + jitter * delay / 2


def parse_send_rates(text: str) -> dict[str, float]:
    """``"ses=14, sns=20"`` -> ``{"ses": 14.0, "sns": 20.0}`` (messages per second)."""
    rates: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, value = part.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not sep or rate <= 0:
            raise ValueError(f"NOTIFY_PROVIDER_SEND_RATES: {part!r} is not provider=rate")
        rates[kind.strip()] = rate
    return rates


class ProviderActor:
    def __init__(
        self,
        provider: Provider,
        store: StatusStore,
        on_changes: OnChanges,
        *,
        mailbox: int = 10_000,
        linger: float = 0.002,
        concurrency: int = 8,
        pacer: SendPacer | None = None,
        max_attempts: int = 5,
        base_backoff: float = 0.5,
        max_backoff: float = 60.0,
        retry_capacity: int = 10_000,
        breaker: CircuitBreaker | None = None,
        fallback: ProviderActor | None = None,
        rng: random.Random | None = None,
        ownership: Fence | None = None,
    ) -> None:
        self.provider = provider
        self._ownership = ownership
        self.name = provider.name
        self.breaker = breaker or CircuitBreaker()
        self.fallback = fallback
        self._store = store
        self._on_changes = on_changes
        self._linger = linger
        self._slots = trio.Semaphore(concurrency)
        self._pacer = pacer
        self._max_attempts = max_attempts
        self._base_backoff = base_backoff
        self._max_backoff = max_backoff
        self._retry_capacity = retry_capacity
        self._rng = rng or random.Random()
        self._delayed: list[tuple[float, int, Outbound, int]] = []  # heap: due, seq, msg, n
        self._seq = itertools.count()
        self._waiting: trio.CancelScope | None = None
        self._hand: list[Item] = []
        self.send_channel, self._recv = trio.open_memory_channel[Outbound](mailbox)
        PROVIDER_BREAKER_OPEN.labels(self.name).set(0)

    def depth(self) -> int:
        return self._recv.statistics().current_buffer_used + len(self._delayed) + len(self._hand)

    async def submit(self, message: Outbound) -> None:
        """Queue ``message``; wait while the mailbox is full (FIFO among waiting senders).
        With room, no task switch: a service dispatcher moves a burst in one go."""
        try:
            self.send_channel.send_nowait(message)
        except trio.WouldBlock:
            await self.send_channel.send(message)

    def available(self) -> bool:
        """Does the breaker take traffic now? (``ProviderRoutes.route`` skips those that don't.)"""
        return self.breaker.admits(trio.current_time())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            while True:
                # The batch in hand is ``self._hand`` (the object's, not this call's): if
                # ``run`` is cancelled or crashes before handing it over, the restart has it.
                if not self._hand and not await self._fill():
                    return  # mailbox closed and no retry waiting
                observe_mailbox("provider", self._recv.statistics())
                if not self._hand:
                    continue
                epoch = await self._admit()
                if not self._hand:
                    continue
                try:
                    await self._slots.acquire()
                    if self._pacer is not None:
                        n = await self._paced(len(self._hand))
                except BaseException:
                    self.breaker.release(epoch)
                    raise
                if self._pacer is None:
                    batch, self._hand = self._hand, []
                else:
                    batch, self._hand = self._hand[:n], self._hand[n:]
                nursery.start_soon(self._send_and_release, batch, epoch)

    async def _paced(self, want: int) -> int:
        """How many of the hand's first ``want`` messages may go now (waits for >= 1). The
        slot is taken first, so a message's start time is its paced time even when every
        slot was busy; a cancelled wait gives the slot back."""
        assert self._pacer is not None
        try:
            return await self._pacer.take(want, self.depth())
        except BaseException:
            self._slots.release()
            raise

    # -- batching ---------------------------------------------------------------------
    async def _fill(self) -> bool:
        """Put the next batch in hand: due retries first, then the mailbox. False once the
        mailbox is closed and nothing waits; an empty hand means a retry fell due."""
        batch = self._hand
        limit = self.provider.max_batch
        batch.extend(self._due(trio.current_time(), limit))
        next_due = self._delayed[0][0] if self._delayed else math.inf
        if len(self._delayed) >= self._retry_capacity:
            if not batch:
                with trio.move_on_at(next_due) as self._waiting:
                    await trio.sleep_forever()
                self._waiting = None
            return True
        if not batch:
            # ``_delay`` pulls this deadline in when a sooner retry is queued meanwhile.
            with trio.move_on_at(next_due) as self._waiting:
                try:
                    batch.append((await self._recv.receive(), 0))
                except trio.EndOfChannel:
                    if not self._delayed:
                        return False
                    await trio.sleep_forever()
            self._waiting = None
            if not batch:
                return True
        fresh: list[Outbound] = []
        await gather(self._recv, fresh, linger=self._linger, limit=limit - len(batch))
        batch.extend((message, 0) for message in fresh)
        return True

    def _due(self, now: float, limit: int) -> list[Item]:
        batch: list[Item] = []
        while self._delayed and self._delayed[0][0] <= now and len(batch) < limit:
            _, _, message, attempts = heapq.heappop(self._delayed)
            batch.append((message, attempts))
        return batch

    def _delay(self, message: Outbound, attempts: int, due: float) -> None:
        heapq.heappush(self._delayed, (due, next(self._seq), message, attempts))
        if self._waiting is not None and due < self._waiting.deadline:
            self._waiting.deadline = due

    # -- breaker and failover ---------------------------------------------------------
    async def _admit(self) -> int:
        """Wait until the breaker lets the batch in hand through (its epoch); meanwhile fail
        over what may move. Forwarded messages leave the hand one by one, so a cancellation
        half-way neither loses nor duplicates any."""
        while True:
            now = trio.current_time()
            epoch = self.breaker.acquire(now)
            self._export_breaker()
            if epoch is not None:
                return epoch
            if self.fallback is not None:
                moving = [item for item in self._hand if item[0].key_type != "test"]
                if moving:
                    PROVIDER_FAILOVERS.labels(self.name).inc()
                for item in moving:
                    await self.fallback.submit(item[0])
                    self._hand.remove(item)
                if not self._hand:
                    return -1
            await trio.sleep(max(self.breaker.retry_after(now), _PROBE_POLL))

    def _export_breaker(self) -> None:
        PROVIDER_BREAKER_OPEN.labels(self.name).set(0 if self.breaker.state == "closed" else 1)

    # -- sending ----------------------------------------------------------------------
    async def _send_and_release(self, batch: list[Item], epoch: int) -> None:
        try:
            await self._send(batch, epoch)
        finally:
            self._slots.release()

    async def _send(self, batch: list[Item], epoch: int) -> None:
        unsettled, recorded = batch, False
        try:
            try:
                batch = unsettled = await self._fence(batch)
            except Exception as exc:
                # Nothing was sent: the batch waits and tries again. Not a crash, which
                # would cancel the other batches in flight, and those whose outcome is
                # being written would be resent (duplicates caused by an outage).
                if not isinstance(exc, DatabaseUnavailable):  # that one is logged once
                    log.exception("sending mark failed", extra={"provider": self.name})
                due = trio.current_time() + BACKOFF_S
                for message, attempts in batch:
                    self._delay(message, attempts, due)
                unsettled = []
                return
            if not batch:
                return  # every row of it is someone else's now (finally: the epoch)
            results = await self._call([m for m, _ in batch])
            updates, retries, failures = self._settle(batch, results)
            self.breaker.record(epoch, trio.current_time(), len(results), failures)
            recorded = True
            self._export_breaker()
            now_t = trio.current_time()
            for message, attempts, delay in retries:
                self._delay(message, attempts, now_t + delay)
            retried = {id(m) for m, _, _ in retries}
            unsettled = [item for item in batch if id(item[0]) not in retried]
            if updates:
                changes = await self._record(updates)
                unsettled = []
                await self._on_changes(changes)
            unsettled = []
        finally:
            if not recorded:
                self.breaker.release(epoch)  # an interrupted probe must not hold its slot
            if unsettled:
                # Interrupted (crash or shutdown) before the outcome was stored: keep the
                # messages for the next run; a resend is safer than a row stuck in `sending`.
                due = trio.current_time()
                for message, attempts in unsettled:
                    self._delay(message, attempts, due)

    async def _fence(self, batch: list[Item]) -> list[Item]:
        """Mark the batch ``sending`` (conditional on each row's owner), then check the
        lease: the items this process still owns and may send now (module rules)."""
        now = utcnow()
        marked = await self._store.update_statuses(
            [
                StatusUpdate(
                    id=m.notification_id,
                    status=st.SENDING,
                    at=now,
                    owner=m.owner,
                    service_id=m.service_id,
                )
                for m, _ in batch
            ]
        )
        # created -> sending: the hand-off latency (a retry's sending -> sending is not one).
        await self._on_changes([c for c in marked if c.previous_status == st.CREATED])
        changed = {c.id for c in marked}
        kept = [item for item in batch if item[0].notification_id in changed]
        if self._ownership is not None:
            # Once per owner the batch names (one, but for rows claimed back and forth):
            # awaiting ``acting`` per message cost ~1.5% of the API's CPU (py-spy).
            owners = {item[0].owner for item in kept}
            acting = {owner: await self._ownership.acting(owner) for owner in owners}
            kept = [item for item in kept if acting[item[0].owner]]
        if len(kept) < len(batch):
            OWNERSHIP_DROPPED.labels("send").inc(len(batch) - len(kept))
            log.warning(
                "dropped messages another process owns now (or the provider accepted)",
                extra={"provider": self.name, "dropped": len(batch) - len(kept)},
            )
        return kept

    async def _record(self, updates: list[StatusUpdate]) -> list[StatusChange]:
        """Store the outcomes of a call. While the database is unreachable, keep trying:
        the provider has these messages, and resending them because a write failed would
        be a duplicate send caused by an outage (a cancellation still falls back to the
        resend, at-least-once)."""
        for attempt in itertools.count(1):
            try:
                return await self._store.update_statuses(updates)
            except DatabaseUnavailable:  # logged once by the store: as long as it lasts
                pass
            except Exception:
                if attempt >= _RECORD_ATTEMPTS:
                    raise  # not an outage: the messages are resent (at-least-once)
                log.exception("storing provider outcomes failed", extra={"provider": self.name})
            await trio.sleep(BACKOFF_S)
        raise AssertionError("unreachable")

    async def _call(self, messages: list[Outbound]) -> list[SendResult]:
        """The provider's results, one per message. Providers report every failure as results
        (``engine.providers.base``); an exception or a wrong count is a provider bug, and
        must not lose the batch: every message becomes a retryable result."""
        start = trio.current_time()
        try:
            results = await self.provider.send_batch(messages)
        except Exception as exc:
            log.exception("provider call failed", extra={"provider": self.name})
            results = failed_batch(messages, "retryable", f"{type(exc).__name__}: {exc}")
        else:
            if len(results) != len(messages):
                log.error(
                    "provider returned %d results for %d messages", len(results), len(messages)
                )
                results = failed_batch(
                    messages, "retryable", "provider returned a wrong number of results"
                )
        labelled(PROVIDER_LATENCY, self.name).observe(trio.current_time() - start)
        labelled(PROVIDER_BATCH, self.name).observe(len(messages))
        return results

    def _settle(
        self, batch: list[Item], results: list[SendResult]
    ) -> tuple[list[StatusUpdate], list[tuple[Outbound, int, float]], int]:
        """The one place outcomes are classified: status updates to write, (message,
        attempts, delay) to retry, and the failures the breaker counts (retryable only)."""
        updates: list[StatusUpdate] = []
        retries: list[tuple[Outbound, int, float]] = []
        done = utcnow()
        jitter = self._rng.random()  # one draw per batch: its retries stay together
        outcomes: dict[str, int] = {}
        for (message, attempts), result in zip(batch, results, strict=True):
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            if result.outcome == "accepted":
                status = result.status or st.SENDING
                reference, response = result.reference, None
            elif result.outcome == "rejected":
                status, reference, response = st.PERMANENT_FAILURE, None, result.detail
            elif attempts + 1 >= self._max_attempts:
                status, reference, response = st.TECHNICAL_FAILURE, None, result.detail
            else:
                PROVIDER_RETRIES.labels(self.name, result.outcome).inc()  # rare: per message
                delay = backoff_delay(attempts + 1, self._base_backoff, self._max_backoff, jitter)
                retries.append((message, attempts + 1, max(delay, result.retry_after or 0.0)))
                continue
            updates.append(
                StatusUpdate(
                    id=message.notification_id,
                    status=status,
                    at=done,
                    provider=self.name,
                    provider_reference=reference,
                    provider_response=response,
                    owner=message.owner,
                    service_id=message.service_id,
                )
            )
        for outcome, n in outcomes.items():
            labelled(PROVIDER_CALLS, self.name, outcome).inc(n)
        return updates, retries, outcomes.get("retryable", 0)
