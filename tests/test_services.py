"""The registry's invalidation seam (``engine.services.Registry``): a load that an
invalidation overtook is not kept, ``invalidate_all`` drops every bundle, and a cached
bundle costs no load. On the fake store of the in-process API tests (no PostgreSQL)."""

from __future__ import annotations

import uuid

import trio

from engine.services import Registry
from tests.api.fakes import BOX, FakeServices, FakeStore, InProcessApi, Row


class GatedServices(FakeServices):
    """Counts loads; while ``gate`` is set, a load waits for it (a slow database)."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.gate: trio.Event | None = None
        self.waiting = trio.Event()

    async def settings(self, service_id: uuid.UUID) -> Row | None:
        self.loads += 1
        row = dict(self.rows[service_id])  # what the database said when the load read it
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        return row


def _registry() -> tuple[Registry, GatedServices, uuid.UUID]:
    store = FakeStore()
    services = store.services = GatedServices()
    service = InProcessApi(store).add_service()
    return Registry(store, BOX), services, service.id  # type: ignore[arg-type]


async def test_a_load_overtaken_by_an_invalidation_is_not_kept() -> None:
    registry, services, sid = _registry()
    services.gate = trio.Event()
    got = []
    async with trio.open_nursery() as nursery:

        async def get() -> None:
            bundle = await registry.get(sid)
            assert bundle is not None
            got.append(bundle.service.suspended)

        nursery.start_soon(get)
        nursery.start_soon(get)  # shares the first one's load
        await services.waiting.wait()
        # The change commits and is heard while the load (which read before it) is out.
        services.rows[sid]["suspended"] = True
        registry.invalidate(sid)
        services.gate.set()
    assert got == [False, False]  # concurrent with the change: the old view, once
    services.gate = None
    bundle = await registry.get(sid)
    assert bundle is not None
    assert bundle.service.suspended
    assert services.loads == 2


async def test_invalidate_all_drops_every_bundle_and_a_cached_one_costs_nothing() -> None:
    registry, services, sid = _registry()
    for _ in range(3):
        assert await registry.get(sid) is not None
    assert services.loads == 1
    services.rows[sid]["rate_limit"] = 1
    registry.invalidate_all()
    bundle = await registry.get(sid)
    assert bundle is not None
    assert bundle.service.rate_limit == 1
    assert services.loads == 2
