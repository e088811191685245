"""The simulated provider: Notify's test-key semantics and the SES mailbox simulator,
with configurable latency, error and throttle rates. Embedded default and benchmark provider.

Outcomes by recipient (contract sections 5.1 and 5.2, DESIGN.md "Providers"):
- ``temp-fail@simulator.notify``, ``+15149301633``, numbers ending ``7700900003``
  -> temporary-failure
- ``perm-fail@simulator.notify``, ``+15149301632``, numbers ending ``7700900002``,
  ``bounce@`` and ``suppressionlist@simulator.amazonses.com`` -> permanent-failure
- ``complaint@simulator.amazonses.com`` -> delivered, then a complaint
- anything else -> delivered

Errors and throttles are results (``engine.providers.base``: one failure channel), drawn
per message at ``error_rate`` / ``throttle_rate``.

Receipts are emitted ``receipt_delay`` seconds after the send, in send order, through a
bounded channel (a slow consumer slows the provider down; nothing piles up unbounded).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence

import trio

from engine.domain import statuses as st
from engine.domain.notification import EmailMessage, Outbound
from engine.providers.base import Channel, Receipt, SendResult, failed
from engine.providers.ses_events import SUPPRESSED_RESPONSE

SES_SIMULATOR = "@simulator.amazonses.com"


def simulated_outcome(message: Outbound) -> tuple[str, bool, str | None]:
    """(final status, complaint?, provider_response) for a recipient. Pure."""
    return outcome_for("email" if isinstance(message, EmailMessage) else "sms", message.to)


def outcome_for(channel: str, recipient: str) -> tuple[str, bool, str | None]:
    to = recipient.lower()
    if channel == "email":
        if to == "temp-fail@simulator.notify":
            return st.TEMPORARY_FAILURE, False, None
        if to == "perm-fail@simulator.notify" or to == "bounce" + SES_SIMULATOR:
            return st.PERMANENT_FAILURE, False, None
        if to == "suppressionlist" + SES_SIMULATOR:
            return st.PERMANENT_FAILURE, False, SUPPRESSED_RESPONSE
        if to == "complaint" + SES_SIMULATOR:
            return st.DELIVERED, True, None
        return st.DELIVERED, False, None
    digits = to.lstrip("+")
    if to == "+15149301633" or digits.endswith("7700900003"):
        return st.TEMPORARY_FAILURE, False, "Phone carrier is currently unreachable/unavailable"
    if to == "+15149301632" or digits.endswith("7700900002"):
        return st.PERMANENT_FAILURE, False, "Phone is currently unreachable/unavailable"
    return st.DELIVERED, False, None


class SimulatedProvider:
    def __init__(
        self,
        channel: Channel,
        receipts: trio.MemorySendChannel[Receipt],
        *,
        name: str | None = None,
        latency: float = 0.0,
        receipt_delay: float = 0.05,
        error_rate: float = 0.0,
        throttle_rate: float = 0.0,
        max_batch: int = 50,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name or f"simulated-{channel}"
        self.channel: Channel = channel
        self.max_batch = max_batch
        self.latency = latency
        self.receipt_delay = receipt_delay
        self.error_rate = error_rate
        self.throttle_rate = throttle_rate
        self._rng = rng or random.Random()
        self._receipts = receipts
        self._due_send, self._due_recv = trio.open_memory_channel[tuple[float, Receipt]](100_000)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Emit receipts when due, until the provider is closed."""
        task_status.started()
        async with self._due_recv, self._receipts:
            async for due, receipt in self._due_recv:
                await trio.sleep_until(due)
                await self._receipts.send(receipt)

    async def send_batch(self, messages: Sequence[Outbound]) -> list[SendResult]:
        if self.latency:
            await trio.sleep(self.latency)
        else:
            await trio.lowlevel.checkpoint()
        now = dt.datetime.now(dt.UTC)
        due = trio.current_time() + self.receipt_delay
        results: list[SendResult] = []
        for message in messages:
            roll = self._rng.random() if (self.error_rate or self.throttle_rate) else 1.0
            if roll < self.throttle_rate:
                results.append(failed(message, "throttled"))
                continue
            if roll < self.throttle_rate + self.error_rate:
                results.append(failed(message, "retryable", "simulated provider error"))
                continue
            reference = f"sim-{uuid.uuid4()}"
            await self._schedule(reference, simulated_outcome(message), now, due)
            results.append(
                SendResult(
                    notification_id=message.notification_id,
                    outcome="accepted",
                    reference=reference,
                    status=st.SENDING if self.channel == "email" else st.SENT,
                )
            )
        return results

    async def replay(self, sent: Sequence[tuple[str, str, str]]) -> None:
        """Schedule receipts again for (reference, channel, recipient) of messages this
        provider accepted in an engine process that died before their receipts were due.

        A real provider keeps its receipts through our crash (SNS retries delivery); the
        simulated one keeps them in memory, so recovery hands them back here."""
        now = dt.datetime.now(dt.UTC)
        due = trio.current_time() + self.receipt_delay
        for reference, channel, recipient in sent:
            await self._schedule(reference, outcome_for(channel, recipient), now, due)

    async def _schedule(
        self,
        reference: str,
        outcome: tuple[str, bool, str | None],
        now: dt.datetime,
        due: float,
    ) -> None:
        status, complaint, response = outcome
        receipt = Receipt(
            reference=reference,
            status=status,
            at=now,
            provider=self.name,
            provider_response=response,
            # SES's bounce subtype for its suppression list (engine.providers.ses_events).
            feedback_subtype="suppressed" if response == SUPPRESSED_RESPONSE else None,
        )
        await self._due_send.send((due, receipt))
        if complaint:
            complained = Receipt(
                reference=reference, status=status, at=now, provider=self.name,
                feedback_type="abuse", complaint=True,
            )  # fmt: skip
            await self._due_send.send((due, complained))

    async def aclose(self) -> None:
        await self._due_send.aclose()
