"""A real database outage: the API answers 503 with Retry-After, the log says so once.

The test starts a PostgreSQL of its own (``tests.pg_instance``), serves an engine on it,
then stops PostgreSQL for a few seconds while clients keep sending: every send answers 503
in the Notify envelope with a ``Retry-After`` header, ``/_status/ready`` answers 503 with
the problem listed, and the engine logs a handful of WARNING/ERROR lines for the whole
outage (one per state change), not one traceback per request (351 ERROR records in a
15 s outage before). When PostgreSQL is back, sends succeed again without a restart.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import pytest
import trio

from engine.domain.timestamps import utcnow
from engine.store.errors import DatabaseUnavailable
from engine.store.notifications import StatusUpdate
from engine.store.store import Store
from tests.conftest import RunningEngine, serving_engine
from tests.pg_instance import PgInstance, pg_instance

OUTAGE_S = 3.0


@pytest.fixture
async def outage_engine(aio_loop: None) -> AsyncIterator[tuple[RunningEngine, PgInstance]]:
    with pg_instance() as pg:
        async with serving_engine(pg.dsn) as running:
            yield running, pg


async def test_the_store_reports_an_outage_as_one_error_and_a_state(aio_loop: None) -> None:
    with pg_instance() as pg, trio.fail_after(30):
        async with Store.open(pg.dsn) as store, trio.open_nursery() as nursery:
            await nursery.start(store.run)
            await store.migrate()
            assert await store.ping()
            await trio.to_thread.run_sync(pg.stop)
            assert not await store.ping()  # readiness: False, never an exception
            assert not store.availability.available
            with pytest.raises(DatabaseUnavailable):
                await store.services.settings(uuid.uuid4())
            with pytest.raises(DatabaseUnavailable):  # a group-committed write's waiter
                await store.update_statuses(
                    [StatusUpdate(id=uuid.uuid4(), status="sending", at=utcnow())]
                )
            await trio.to_thread.run_sync(pg.start)
            assert await store.ping()
            assert store.availability.available
            assert await store.services.settings(uuid.uuid4()) is None
            await store.close()


def _loud(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.WARNING]


async def test_outage_answers_503_and_logs_once_per_change(
    outage_engine: tuple[RunningEngine, PgInstance], caplog: pytest.LogCaptureFixture
) -> None:
    running, pg = outage_engine
    setup = await running.create_service(restricted=False, rate_limit=100_000)
    headers = {"Authorization": f"ApiKey-v1 {setup['keys']['normal']}"}

    def body(i: int) -> dict[str, object]:
        return {"email_address": f"user{i}@example.com", "template_id": setup["email_template"],
                "personalisation": {"name": "A", "code": i}}  # fmt: skip

    with trio.fail_after(40):
        async with running.client(headers=headers) as client:
            assert (await client.post("/v2/notifications/email", json=body(0))).status_code == 201
            caplog.clear()
            caplog.set_level(logging.WARNING)
            await trio.to_thread.run_sync(pg.stop)

            statuses: list[int] = []
            ready: list[int] = []

            async def sender(worker: int) -> None:
                i = 0
                while trio.current_time() < deadline:
                    r = await client.post("/v2/notifications/email", json=body(worker * 1000 + i))
                    i += 1
                    statuses.append(r.status_code)
                    assert r.status_code == 503, r.text
                    assert int(r.headers["retry-after"]) >= 1
                    envelope = r.json()
                    assert envelope["status_code"] == 503
                    [error] = envelope["errors"]
                    assert error["error"] == "ServiceUnavailable"
                    assert "retry" in error["message"]
                    await trio.sleep(0.01)

            deadline = trio.current_time() + OUTAGE_S
            async with trio.open_nursery() as nursery:
                for worker in range(8):
                    nursery.start_soon(sender, worker)
                while trio.current_time() < deadline:
                    r = await client.get("/_status/ready")
                    ready.append(r.status_code)
                    assert r.status_code == 503, r.text
                    assert "database unreachable" in r.json()["problems"]
                    await trio.sleep(0.2)
            assert len(statuses) > 50
            assert ready
            during = _loud(caplog.records)
            assert len(during) <= 3, [r.getMessage() for r in during]

            await trio.to_thread.run_sync(pg.start)
            back_by = trio.current_time() + 10
            while True:
                r = await client.post("/v2/notifications/email", json=body(999_999))
                if r.status_code == 201:
                    break
                assert r.status_code == 503, r.text
                assert trio.current_time() < back_by, "sends never recovered"
                await trio.sleep(0.2)
            assert (await client.get("/_status/ready")).status_code == 200
            # Two state changes (down, up) over the whole outage, whatever actor noticed.
            assert len(_loud(caplog.records)) <= 4, [r.getMessage() for r in caplog.records]
