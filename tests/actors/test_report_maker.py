"""The report maker never raises into the engine's nursery (issue 24): a failure while
writing marks the report ``error``; a database that cannot be reached at all leaves the
report to its lease. Fakes through the maker's arguments (its seams), no database."""

from __future__ import annotations

import uuid
from typing import Any

from engine.actors import report_maker
from engine.store.errors import DatabaseUnavailable

SERVICE = uuid.uuid4()


class FakeReports:
    def __init__(self, *, claim_fails: bool = False, fail_fails: bool = False) -> None:
        self.claim_fails = claim_fails
        self.fail_fails = fail_fails
        self.failed: list[tuple[uuid.UUID, int]] = []
        self.finished: list[uuid.UUID] = []

    async def claim(self, report_id: uuid.UUID, *, lease_s: float) -> dict[str, Any]:
        if self.claim_fails:
            raise DatabaseUnavailable("down")
        return {"id": report_id, "service_id": SERVICE, "attempt": 3, "language": "en",
                "job_id": None, "report_type": "email"}  # fmt: skip

    async def channel_page(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise RuntimeError("a page could not be read")

    async def fail(self, report_id: uuid.UUID, attempt: int) -> None:
        if self.fail_fails:
            raise DatabaseUnavailable("down")
        self.failed.append((report_id, attempt))

    async def finish(self, report_id: uuid.UUID, *args: Any, **kwargs: Any) -> bool:
        self.finished.append(report_id)
        return True


class FakePeriods:
    async def periods(self, service_id: uuid.UUID) -> dict[str, int]:
        return {"email": 7, "sms": 7}


class FakeRegistry:
    async def get(self, service_id: uuid.UUID) -> None:
        return None


async def make(reports: FakeReports, report_id: uuid.UUID) -> None:
    await report_maker.make(
        reports,  # type: ignore[arg-type]
        FakePeriods(),  # type: ignore[arg-type]
        FakeRegistry(),  # type: ignore[arg-type]
        report_id,
    )


async def test_a_failed_page_marks_the_attempt_error() -> None:
    reports, rid = FakeReports(), uuid.uuid4()
    await make(reports, rid)
    assert reports.failed == [(rid, 3)]
    assert reports.finished == []


async def test_an_unreachable_database_is_logged_never_raised(caplog: Any) -> None:
    for reports in (FakeReports(claim_fails=True), FakeReports(fail_fails=True)):
        await make(reports, uuid.uuid4())  # returns: the engine's nursery is safe
        assert reports.finished == []
    assert "report left to its lease" in caplog.text
