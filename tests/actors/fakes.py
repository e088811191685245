"""Seams for actor tests: an in-memory status store and a scripted provider.

Both are passed to the actors as objects (the ``store`` and ``provider`` arguments); nothing
in ``engine`` is patched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence

import trio
from prometheus_client import REGISTRY

from engine.domain import leases
from engine.domain import statuses as st
from engine.domain.leases import GiveBack, LeaseGrant, LeaseRequest
from engine.domain.notification import EmailMessage, Outbound
from engine.providers.base import Outcome, SendResult, failed_batch
from engine.store.errors import DatabaseUnavailable
from engine.store.notifications import StatusChange, StatusUpdate


def email(
    i: int = 0, *, key_type: str = "normal", lane: str = "normal", service: int = 0
) -> EmailMessage:
    return EmailMessage(
        notification_id=uuid.uuid4(),
        service_id=uuid.UUID(int=service + 1),
        to=f"user{i}@example.com",
        from_address="Service <service@notification.example>",
        reply_to=None,
        subject=f"Hello {i}",
        html="<p>Hello</p>",
        text="Hello",
        key_type=key_type,
        lane=lane,
    )


class FakeStore:
    """Records every status update in order and answers with a change per row it changed,
    as the real store does. ``fail``: the next N writes raise; ``fail_outcomes``: the next
    N writes of provider outcomes raise; ``taken``: rows another process owns now (an
    update that names an owner changes nothing there, as ``_UPDATE_SQL``'s fence)."""

    def __init__(self) -> None:
        self.updates: list[StatusUpdate] = []
        self.fail = 0
        self.fail_outcomes = 0
        self.taken: set[uuid.UUID] = set()
        self._status: dict[uuid.UUID, str] = {}

    async def update_statuses(self, updates: Sequence[StatusUpdate]) -> list[StatusChange]:
        await trio.lowlevel.checkpoint()
        if self.fail:
            self.fail -= 1
            raise OSError("database went away")
        if self.fail_outcomes and any(u.provider is not None for u in updates):
            self.fail_outcomes -= 1
            raise OSError("database went away")
        changes = []
        for u in updates:
            if u.owner is not None and u.id in self.taken:
                continue
            self.updates.append(u)
            previous = self._status.get(u.id, st.CREATED)
            self._status[u.id] = u.status
            changes.append(StatusChange(u.id, u.status, previous, "email", "normal", None))
        return changes

    def final(self) -> dict[uuid.UUID, str]:
        """The last status written per notification, for those past ``sending``-before."""
        out: dict[uuid.UUID, str] = {}
        for u in self.updates:
            if u.provider is not None:
                out[u.id] = u.status
        return out


async def no_changes(changes: Sequence[StatusChange]) -> None:
    return None


Script = Callable[[Outbound, float], Outcome]


class FakeProvider:
    """Answers each message with ``script(message, now)``; records every call. ``fails``
    fails a whole call (one outcome and detail for every message, as real providers report
    a failed call); ``raises`` makes ``send_batch`` raise, as only a provider bug would."""

    channel = "email"

    def __init__(
        self,
        name: str = "fake",
        *,
        max_batch: int = 50,
        latency: float = 0.0,
        script: Script | None = None,
        fails: Callable[[float], tuple[Outcome, str] | None] | None = None,
        raises: Callable[[float], Exception | None] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.name = name
        self.max_batch = max_batch
        self.latency = latency
        self.script = script or (lambda m, now: "accepted")
        self.fails = fails
        self.raises = raises
        self.retry_after = retry_after
        self.calls: list[tuple[float, list[Outbound]]] = []
        self.in_flight = 0
        self.peak_in_flight = 0

    async def send_batch(self, messages: Sequence[Outbound]) -> list[SendResult]:
        now = trio.current_time()
        self.calls.append((now, list(messages)))
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await trio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        if self.raises is not None:
            exc = self.raises(now)
            if exc is not None:
                raise exc
        if self.fails is not None:
            failure = self.fails(now)
            if failure is not None:
                outcome, detail = failure
                after = self.retry_after if outcome == "throttled" else None
                return failed_batch(messages, outcome, detail, after)
        results = []
        for m in messages:
            outcome = self.script(m, now)
            results.append(
                SendResult(
                    notification_id=m.notification_id,
                    outcome=outcome,
                    reference=f"ref-{m.notification_id}" if outcome == "accepted" else None,
                    status="sending" if outcome == "accepted" else None,
                    detail=None if outcome == "accepted" else f"{outcome} by {self.name}",
                    retry_after=self.retry_after if outcome == "throttled" else None,
                )
            )
        return results

    def sent(self) -> list[Outbound]:
        return [m for _, batch in self.calls for m in batch]

    async def aclose(self) -> None:
        return None


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def wait_until(predicate: Callable[[], bool], step: float = 0.01) -> None:
    """Poll on the (mock) clock; callers bound it with ``trio.fail_after``."""
    while not predicate():  # noqa: ASYNC110 - the conditions live in the actors under test
        await trio.sleep(step)


class MemoryBudgets:
    """The store's ``budgets`` subject in memory, on trio's clock, with the same grant rule
    (``engine.domain.leases.grant``). ``used``: a quota row's starting count (what the
    store would seed from stored notifications); ``lessees``: the live processes the grant
    divides by; ``down``: the database cannot be reached; ``leases``: the calls made."""

    def __init__(self, lessees: int = 1) -> None:
        self.lessees = lessees
        self.used: dict[tuple[uuid.UUID, str, dt.date], int] = {}
        self.tokens: dict[tuple[uuid.UUID, str], tuple[float, float]] = {}
        self.leases: list[list[LeaseRequest]] = []
        self.down = False

    async def lease(
        self,
        service_id: uuid.UUID,
        requests: Sequence[LeaseRequest],
        *,
        today: dt.date,
        time_zone: str = "UTC",
    ) -> list[LeaseGrant]:
        await trio.lowlevel.checkpoint()
        if self.down:
            raise DatabaseUnavailable("database unavailable: ConnectionRefusedError")
        self.leases.append(list(requests))
        grants = []
        now = trio.current_time()
        for r in requests:
            if leases.is_rate(r.kind):
                capacity, _ = leases.bucket_shape(r.limit)
                tokens, at = self.tokens.get((service_id, r.kind), (capacity, now))
                available = leases.refilled(tokens, r.limit, now - at)
                granted = leases.grant(r.need, r.want, available, self.lessees)
                self.tokens[(service_id, r.kind)] = (available - granted, now)
                grants.append(LeaseGrant(r.kind, r.window, granted, available - granted))
            else:
                key = (service_id, r.kind, r.window)
                used = self.used.get(key, 0)
                granted = leases.grant(r.need, r.want, max(0, r.limit - used), self.lessees)
                self.used[key] = used + granted
                grants.append(
                    LeaseGrant(r.kind, r.window, granted, float(max(0, r.limit - used - granted)))
                )
        return grants

    async def give_back(self, service_id: uuid.UUID, returns: Sequence[GiveBack]) -> None:
        await trio.lowlevel.checkpoint()
        if self.down:
            raise DatabaseUnavailable("database unavailable: ConnectionRefusedError")
        for g in returns:
            if leases.is_rate(g.kind):
                capacity, _ = leases.bucket_shape(g.limit)
                tokens, at = self.tokens[(service_id, g.kind)]
                self.tokens[(service_id, g.kind)] = (min(capacity, tokens + g.amount), at)
            else:
                key = (service_id, g.kind, g.window)
                self.used[key] = max(0, self.used.get(key, 0) - g.amount)
