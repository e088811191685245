"""The API while the database cannot be reached, in process on the fake store.

Whatever handler meets ``DatabaseUnavailable`` (an insert, a query, the registry), the
answer is 503 ``ServiceUnavailable`` in the Notify envelope with a ``Retry-After`` header
(seconds), and nothing is logged for it (the store logs the outage once). Readiness
answers 503 naming the problem. The real outage, on a PostgreSQL stopped and started, is
``tests/test_database_outage.py``.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
import trio

from engine.api.errors import RETRY_AFTER_S
from engine.store.errors import DatabaseUnavailable
from tests.api.fakes import FakeNotifications, FakeServices, InProcessApi, Row

UNAVAILABLE = {
    "status_code": 503,
    "errors": [
        {
            "error": "ServiceUnavailable",
            "message": "The service is temporarily unavailable (database unreachable): "
            f"retry in {RETRY_AFTER_S} s",
        }
    ],
}


@pytest.fixture
async def api(nursery: trio.Nursery) -> InProcessApi:
    return InProcessApi().start(nursery)


def email(template_id: uuid.UUID) -> dict[str, Any]:
    return {
        "email_address": "someone@example.com",
        "template_id": str(template_id),
        "personalisation": {"name": "Ada", "code": "1"},
    }


async def test_a_send_answers_503_with_retry_after_and_logs_nothing(
    api: InProcessApi, caplog: pytest.LogCaptureFixture
) -> None:
    s = api.add_service(email_daily_limit=1)
    api.store.down = True
    body = email(s.templates["email"])
    got = await api.request("POST", "/v2/notifications/email", json=body, headers=s.bearer())
    assert (got.status, got.body) == (503, UNAVAILABLE)
    assert got.headers["retry-after"] == str(RETRY_AFTER_S)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    # The refused send did not use up the daily limit of 1.
    api.store.down = False
    got = await api.request("POST", "/v2/notifications/email", json=body, headers=s.bearer())
    assert got.status == 201, got.body


class DownNotifications(FakeNotifications):
    async def get(self, service_id: uuid.UUID, notification_id: uuid.UUID) -> Row | None:
        raise DatabaseUnavailable("database unavailable: ConnectionResetError")


class DownServices(FakeServices):
    async def settings(self, service_id: uuid.UUID) -> Row | None:
        raise DatabaseUnavailable("database unavailable: ConnectionRefusedError")


async def test_any_query_that_meets_the_outage_answers_503(
    api: InProcessApi, caplog: pytest.LogCaptureFixture
) -> None:
    s = api.add_service()
    api.store.notifications = DownNotifications()
    got = await api.request("GET", f"/v2/notifications/{uuid.uuid4()}", headers=s.bearer())
    assert (got.status, got.body) == (503, UNAVAILABLE)
    # Authentication of a service not cached yet: the registry's query meets it too.
    other = api.add_service()
    rows = api.store.services.rows
    api.store.services = DownServices()
    api.store.services.rows = rows
    got = await api.request("GET", "/v2/templates", headers=other.bearer())
    assert (got.status, got.body) == (503, UNAVAILABLE)
    assert got.headers["retry-after"] == str(RETRY_AFTER_S)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_ready_answers_503_while_the_database_is_down(api: InProcessApi) -> None:
    got = await api.request("GET", "/_status/ready")
    assert (got.status, got.body) == (200, {"status": "ok"})
    api.store.down = True
    got = await api.request("GET", "/_status/ready")
    assert (got.status, got.body) == (
        503,
        {"status": "error", "problems": ["database unreachable"]},
    )
    api.store.down = False
    got = await api.request("GET", "/_status/ready")
    assert got.status == 200
