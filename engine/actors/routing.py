"""Provider routing: which provider actor a message goes to, and the failover chain.

Rules:
- ``NOTIFY_EMAIL_PROVIDERS`` / ``NOTIFY_SMS_PROVIDERS`` list a channel's live providers in
  order. Each one's ``fallback`` is the next (``engine.actors.provider``: batches move on
  while a provider's breaker is open); a name listed twice is one actor.
- ``route`` gives a message to the first provider of its channel whose breaker takes
  traffic; if none does, the first one holds it (its breaker probes when half-open).
- Test keys never reach a real provider: their messages go to the simulated provider.
- Every provider (and its AWS client, and a simulated provider's receipt emitter) runs in
  the nursery given to ``start``, under ``supervise``: cancelling that nursery stops them.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import trio

from engine.actors.pacing import SendPacer
from engine.actors.provider import Fence, ProviderActor, parse_send_rates
from engine.actors.supervisor import supervise
from engine.config import Settings
from engine.domain.notification import Outbound
from engine.providers.base import Receipt
from engine.providers.simulated import SimulatedProvider
from engine.store.notifications import StatusChange
from engine.store.store import Store

OnChanges = Callable[[Sequence[StatusChange]], Awaitable[None]]


class ProviderRoutes:
    """The running provider actors of both channels, by name, and the route to them."""

    def __init__(
        self, settings: Settings, store: Store, on_changes: OnChanges, *,
        ownership: Fence | None = None,
    ) -> None:  # fmt: skip
        self._settings = settings
        self._ownership = ownership  # every provider actor's fence (engine.actors.provider)
        self._store = store
        self._on_changes = on_changes
        self._routes: dict[tuple[str, bool], list[ProviderActor]] = {}
        self.providers: dict[str, ProviderActor] = {}
        self._simulated: dict[str, SimulatedProvider] = {}
        self._nursery: trio.Nursery | None = None
        self._receipts: trio.MemorySendChannel[Receipt] | None = None

    async def start(self, nursery: trio.Nursery, receipts: trio.MemorySendChannel[Receipt]) -> None:
        """Start every configured provider; simulated ones emit receipts to ``receipts``."""
        self._nursery = nursery
        self._receipts = receipts
        s = self._settings
        for channel, names in (("email", s.email_providers), ("sms", s.sms_providers)):
            live = [await self._start_provider(channel, n.strip()) for n in names.split(",") if n]
            self._routes[(channel, True)] = live
            for primary, secondary in itertools.pairwise(live):
                if secondary is not primary:  # batches move on while primary's breaker is open
                    primary.fallback = secondary
            # Test keys never reach a real provider.
            self._routes[(channel, False)] = [await self._start_provider(channel, "simulated")]

    async def _start_provider(self, channel: str, kind: str) -> ProviderActor:
        name = f"{kind}-{channel}"
        if name in self.providers:
            return self.providers[name]
        assert self._nursery is not None
        assert self._receipts is not None
        s = self._settings
        if kind == "simulated":
            provider = SimulatedProvider(
                channel,  # type: ignore[arg-type]
                self._receipts.clone(),
                name=name,
                latency=s.simulated_latency_ms / 1000,
                receipt_delay=s.simulated_receipt_delay_ms / 1000,
            )
            await self._nursery.start(provider.run)
            self._simulated[name] = provider
        elif (kind, channel) == ("ses", "email"):
            # Imported here: botocore costs ~0.5 s of CPU at start, which the simulated
            # providers (the demo) do not need (issue 26: a restart in about a second).
            from engine.providers import aws
            from engine.providers.ses import open_ses

            # The AWS client lives in its own task: closed when the actor nursery is cancelled.
            provider = await self._nursery.start(aws.serve, partial(open_ses, s, name=name))
        elif (kind, channel) == ("sns", "sms"):
            from engine.providers import aws
            from engine.providers.sns import open_sns

            provider = await self._nursery.start(aws.serve, partial(open_sns, s, name=name))
        else:
            raise ValueError(f"unknown provider {kind!r} in NOTIFY_{channel.upper()}_PROVIDERS")
        rate = parse_send_rates(s.provider_send_rates).get(kind)
        # The rate is the deployment's: one bucket per provider kind (an SES account's
        # limit covers every process that sends through it) in the database.
        pacer = SendPacer(kind, rate, self._store.send_rates.lease) if rate else None
        actor = ProviderActor(
            provider,
            self._store,
            self._on_changes,
            pacer=pacer,
            linger=s.provider_linger_ms / 1000,
            ownership=self._ownership,
        )
        await self._nursery.start(partial(supervise, "provider", actor.run))
        self.providers[name] = actor
        return actor

    async def route(self, message: Outbound) -> None:
        live = message.key_type != "test"
        actors = self._routes[(message.__struct_config__.tag, live)]  # type: ignore[index]
        # The first provider whose breaker takes traffic; if none does, the first one holds it.
        actor = next((a for a in actors if a.available()), actors[0])
        await actor.submit(message)

    async def replay_simulated_receipts(self, rows: Sequence[Any]) -> None:
        """Recovery found simulated sends of a dead process: schedule their receipts."""
        for row in rows:
            provider = self._simulated.get(row["provider"])
            if provider is not None:
                await provider.replay(
                    [(row["provider_reference"], row["notification_type"], row["recipient"])]
                )
