"""Per-send callback origins (issue 23): what the CallbackManager does for the actors of
origins that sends named (``callback_url``), apart from the service's endpoint.

Rules:
- An origin's actor is created lazily by the manager's claim, like an endpoint's, and has
  its own lanes and breaker: 25 failures in 300 s suspend that origin alone
  (``callback_origins`` rows, migration 0012), never the service's endpoint nor another
  origin; the claim skips a suspended origin's rows.
- Bounded memory: ``reaper`` ends and forgets an origin's actor once it has had nothing
  queued, nothing in hand and no new row for ``idle_after`` seconds (the breaker's window
  by default, so no failure within the window is forgotten) and no retry hold running;
  the HTTP client's idle connections to that origin are closed and dropped with it.
  The endpoints' actors (one or two per service) are kept, as before.
- ``probe``: every probe round, each suspended origin's last failing URL gets the
  service's ``{"health_check": "true"}``; a success resumes it (half-open), as for an
  endpoint. ``resume`` is the admin API's (and the probe's) way back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from engine.domain import callbacks as cb
from engine.metrics import CALLBACKS_SUSPENDED

if TYPE_CHECKING:
    from engine.actors.callbacks import CallbackManager

log = logging.getLogger("engine.callbacks")

DELIVERY = "delivery_status"


async def reaper(manager: CallbackManager) -> None:
    """Every ``reap_every`` seconds, end the origins' actors idle for ``idle_after``."""
    # actor key -> (rows offered when last seen, since when unchanged and idle)
    seen: dict[tuple[uuid.UUID, str, str | None], tuple[int, float]] = {}
    while True:
        await trio.sleep(manager.reap_every)
        reap(manager, seen, trio.current_time())


def reap(
    manager: CallbackManager,
    seen: dict[tuple[uuid.UUID, str, str | None], tuple[int, float]],
    now: float,
) -> int:
    """One reaper round; returns how many actors were ended."""
    ended = 0
    for key, actor in list(manager.actors.items()):
        if key[2] is None:
            continue
        if not actor.idle(now):
            seen.pop(key, None)
            continue
        offered, since = seen.get(key, (-1, now))
        if offered != actor.offered:
            seen[key] = (actor.offered, now)
            continue
        if now - since >= manager.idle_after:
            manager.forget(key[2])
            actor.stop()
            del manager.actors[key]
            manager.wants_room.discard(key)
            seen.pop(key, None)
            ended += 1
    for key in [k for k in seen if k not in manager.actors]:
        del seen[key]
    return ended


async def resume(
    manager: CallbackManager, service_id: uuid.UUID, origins: Sequence[str]
) -> list[str]:
    """Lift these origins' suspensions (admin or probe); returns those resumed."""
    resumed = await manager.store.callbacks.resume_origins(service_id, origins)
    for origin in origins:
        manager.reset((service_id, DELIVERY, origin))
    for origin in resumed:
        await manager.tell_team((service_id, DELIVERY, origin), resumed=True, reason="")
    if resumed:
        CALLBACKS_SUSPENDED.dec(len(resumed))
        log.info("callbacks resumed", extra={"service_id": str(service_id), "origins": resumed})
    manager.wake()
    return resumed


async def probe(manager: CallbackManager) -> None:
    """Try each suspended origin once; resume those that answer 2xx."""
    suspended = await manager.store.callbacks.suspended_origins()
    CALLBACKS_SUSPENDED.inc(len(suspended))
    for service_id, origin, url in suspended:
        try:
            result = await manager.health_check((service_id, DELIVERY), url)
            if result is not None and cb.classify(result["status_code"]) == "ok":
                log.info("callback probe succeeded",
                         extra={"service_id": str(service_id), "origin": origin})  # fmt: skip
                await resume(manager, service_id, [origin])
        except Exception:
            log.exception("callback probe failed", extra={"service_id": str(service_id)})
