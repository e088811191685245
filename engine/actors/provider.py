"""ProviderActor: one per configured provider. Batches, sends, records the outcome.

Rules:
- Messages arrive in a bounded mailbox; a full mailbox blocks the sender (backpressure).
- A batch is up to ``provider.max_batch`` messages or whatever arrived within ``linger``.
- Before the call the batch is marked ``sending`` in one store update; after it, accepted
  messages get the provider reference (email stays ``sending``, SMS becomes ``sent``).
- At most ``concurrency`` calls are in flight.
- Throttled / retryable results are retried with jittered exponential backoff up to
  ``max_attempts``, then marked ``technical-failure``; rejected ones become
  ``technical-failure`` at once (the address or content will never be accepted).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence

import trio

from engine.actors.store import StatusChange, StatusUpdate, Store, utcnow
from engine.domain import statuses as st
from engine.metrics import (
    PROVIDER_BATCH,
    PROVIDER_CALLS,
    PROVIDER_LATENCY,
    PROVIDER_RETRIES,
    observe_mailbox,
)
from engine.providers.base import Outbound, Provider, ProviderError, SendResult

OnChanges = Callable[[Sequence[StatusChange]], Awaitable[None]]


class ProviderActor:
    def __init__(
        self,
        provider: Provider,
        store: Store,
        on_changes: OnChanges,
        *,
        mailbox: int = 10_000,
        linger: float = 0.002,
        concurrency: int = 8,
        max_attempts: int = 5,
        base_backoff: float = 0.5,
    ) -> None:
        self.provider = provider
        self.name = provider.name
        self._store = store
        self._on_changes = on_changes
        self._linger = linger
        self._limiter = trio.CapacityLimiter(concurrency)
        self._max_attempts = max_attempts
        self._base_backoff = base_backoff
        self._attempts: dict[object, int] = {}
        self.send_channel, self._recv = trio.open_memory_channel[Outbound](mailbox)

    def depth(self) -> int:
        return self._recv.statistics().current_buffer_used

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async with self._recv:
                async for first in self._recv:
                    batch = await self._collect(first)
                    observe_mailbox("provider", self._recv.statistics())
                    await self._limiter.acquire()
                    nursery.start_soon(self._send_and_release, batch, nursery)

    async def _collect(self, first: Outbound) -> list[Outbound]:
        batch = [first]
        with trio.move_on_after(self._linger):
            while len(batch) < self.provider.max_batch:
                try:
                    batch.append(self._recv.receive_nowait())
                except trio.WouldBlock:
                    try:
                        batch.append(await self._recv.receive())
                    except trio.EndOfChannel:
                        break
                except trio.EndOfChannel:
                    break
        return batch

    async def _send_and_release(self, batch: list[Outbound], nursery: trio.Nursery) -> None:
        try:
            await self._send(batch, nursery)
        finally:
            self._limiter.release()

    async def _send(self, batch: list[Outbound], nursery: trio.Nursery) -> None:
        now = utcnow()
        first_try = [m for m in batch if m.notification_id not in self._attempts]
        if first_try:
            await self._store.update_statuses(
                [StatusUpdate(id=m.notification_id, status=st.SENDING, at=now) for m in first_try]
            )
        start = trio.current_time()
        try:
            results = await self.provider.send_batch(batch)
        except ProviderError as exc:
            results = [
                SendResult(notification_id=m.notification_id, outcome="retryable", detail=str(exc))
                for m in batch
            ]
        PROVIDER_LATENCY.labels(self.name).observe(trio.current_time() - start)
        PROVIDER_BATCH.labels(self.name).observe(len(batch))
        updates: list[StatusUpdate] = []
        retry: list[Outbound] = []
        done = utcnow()
        for message, result in zip(batch, results, strict=True):
            PROVIDER_CALLS.labels(self.name, result.outcome).inc()
            if result.outcome == "accepted":
                self._attempts.pop(message.notification_id, None)
                updates.append(
                    StatusUpdate(
                        id=message.notification_id,
                        status=result.status or st.SENDING,
                        at=done,
                        provider=self.name,
                        provider_reference=result.reference,
                    )
                )
            elif result.outcome == "rejected":
                self._attempts.pop(message.notification_id, None)
                updates.append(
                    StatusUpdate(
                        id=message.notification_id,
                        status=st.TECHNICAL_FAILURE,
                        at=done,
                        provider=self.name,
                        provider_response=result.detail,
                    )
                )
            else:
                attempts = self._attempts.get(message.notification_id, 0) + 1
                if attempts >= self._max_attempts:
                    self._attempts.pop(message.notification_id, None)
                    updates.append(
                        StatusUpdate(
                            id=message.notification_id,
                            status=st.TECHNICAL_FAILURE,
                            at=done,
                            provider=self.name,
                            provider_response=result.detail,
                        )
                    )
                else:
                    self._attempts[message.notification_id] = attempts
                    PROVIDER_RETRIES.labels(self.name, result.outcome).inc()
                    retry.append(message)
        if updates:
            changes = await self._store.update_statuses(updates)
            await self._on_changes(changes)
        if retry:
            nursery.start_soon(self._retry_later, retry)

    async def _retry_later(self, messages: list[Outbound]) -> None:
        attempts = max(self._attempts.get(m.notification_id, 1) for m in messages)
        delay = self._base_backoff * (2 ** (attempts - 1))
        await trio.sleep(delay * (0.5 + random.random()))
        for message in messages:
            await self.send_channel.send(message)
