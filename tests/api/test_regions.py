"""Regions and time zones (issue 22) through the API: a service's phone region reads local
numbers, its time zone reads a ``scheduled_for`` without an offset; both set by the admin
API's PATCH (null: the deployment's default). On a running engine and a real database."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.api.errors import ValidationError
from engine.api.v2.formats import parse_scheduled_for
from engine.domain.timezones import to_utc
from tests.api.test_admin import error_of
from tests.conftest import RunningEngine


async def test_local_numbers_and_naive_times_follow_the_services_region(
    running_engine: RunningEngine,
) -> None:
    setup = await running_engine.create_service()
    sid = setup["service"]["id"]
    assert (setup["service"]["phone_region"], setup["service"]["time_zone"]) == (None, None)
    headers = {"Authorization": f"ApiKey-v1 {setup['keys']['normal']}"}

    async def sms(number: str, **extra: Any) -> Any:
        async with running_engine.client() as client:
            body = {"phone_number": number, "template_id": setup["sms_template"],
                    "personalisation": {"code": "1"}, **extra}  # fmt: skip
            return await client.post("/v2/notifications/sms", headers=headers, json=body)

    async def sent_to(response: Any) -> dict[str, Any]:
        assert response.status_code == 201, response.text
        async with running_engine.client() as client:
            r = await client.get(f"/v2/notifications/{response.json()['id']}", headers=headers)
        return dict(r.json())

    # The deployment's default: Canada.
    assert (await sent_to(await sms("613 555 0123")))["phone_number"] == "+16135550123"
    assert error_of(await sms("0412 345 678"), 400) == ["phone_number Not a valid phone number"]

    async with running_engine.admin() as a:
        r = await a.patch(f"/admin/services/{sid}",
                          json={"phone_region": "au", "time_zone": "America/Toronto"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert (r.json()["phone_region"], r.json()["time_zone"]) == ("AU", "America/Toronto")
        bad = await a.patch(f"/admin/services/{sid}",
                            json={"phone_region": "ZZ", "time_zone": "Mars/Olympus"})  # fmt: skip
        assert error_of(bad, 400) == [
            "phone_region ZZ is not a supported ISO 3166 region code (such as CA, AU)",
            "time_zone Mars/Olympus is not an IANA time zone name (such as America/Toronto)",
        ]

    # An Australian service: its local mobile form is accepted, +1 is international.
    assert (await sent_to(await sms("0412 345 678")))["phone_number"] == "+61412345678"
    assert error_of(await sms("+1 613 555 0123"), 400) == [
        "Cannot send to international mobile numbers"
    ]
    assert error_of(await sms("613 555 0123"), 400) == ["phone_number Not a valid phone number"]

    # A scheduled_for without an offset is Toronto's wall clock; shown in UTC with Z.
    toronto = ZoneInfo("America/Toronto")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=30)
    naive = later.astimezone(toronto).replace(tzinfo=None, microsecond=0)
    scheduled = await sms("0412 345 678", scheduled_for=naive.isoformat())
    shown = await sent_to(scheduled)
    assert scheduled.json()["scheduled_for"] == naive.isoformat()  # the POST echoes it (GC)
    expected = to_utc(naive, "America/Toronto")
    assert shown["scheduled_for"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    # A time the clocks skip (March 8, 2026, 02:00-02:59 in Toronto) is refused, in French
    # when asked.
    gap = await sms("0412 345 678", scheduled_for="2026-03-08T02:30:00")
    assert error_of(gap, 400) == [
        "scheduled_for datetime does not exist in America/Toronto: the clocks skip it"
    ]
    async with running_engine.client() as client:
        fr = await client.post(
            "/v2/notifications/sms",
            headers={**headers, "Accept-Language": "fr-CA"},
            json={"phone_number": "0412 345 678", "template_id": setup["sms_template"],
                  "personalisation": {"code": "1"}, "scheduled_for": "2026-03-08T02:30:00"},
        )  # fmt: skip
    assert error_of(fr, 400) == [
        "La date et l'heure de scheduled_for n'existent pas dans le fuseau America/Toronto : "
        "les horloges sautent cette heure"
    ]

    # null: back to the deployment's defaults (Canada, UTC).
    async with running_engine.admin() as a:
        r = await a.patch(f"/admin/services/{sid}", json={"phone_region": None, "time_zone": None})
        assert (r.json()["phone_region"], r.json()["time_zone"]) == (None, None)
    assert (await sent_to(await sms("613 555 0123")))["phone_number"] == "+16135550123"


NOW = dt.datetime(2026, 10, 31, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "zone", "instant"),
    [
        ("2026-11-01T09:30:00", "UTC", dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC)),  # GC
        ("2026-11-01T09:30:00", "America/Toronto", dt.datetime(2026, 11, 1, 14, 30, tzinfo=dt.UTC)),
        # 01:30 happens twice on November 1 in Toronto: the first (EDT, UTC-4) is meant.
        ("2026-11-01T01:30:00", "America/Toronto", dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC)),
        # An offset or Z is that instant, whatever the service's zone.
        ("2026-11-01T09:30:00Z", "America/Toronto", dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC)),
        ("2026-11-01T09:30:00+11:00", "America/Toronto",
         dt.datetime(2026, 10, 31, 22, 30, tzinfo=dt.UTC)),
    ],
)  # fmt: skip
def test_scheduled_for_is_read_in_the_services_zone(
    value: str, zone: str, instant: dt.datetime
) -> None:
    assert parse_scheduled_for(value, NOW, zone) == instant


def test_the_past_and_the_horizon_are_checked_after_the_zone() -> None:
    # 11:30 in Toronto is 15:30 UTC: not past at 12:00 UTC, though 11:30 UTC would be.
    assert parse_scheduled_for("2026-10-31T11:30:00", NOW, "America/Toronto") > NOW
    with pytest.raises(ValidationError):
        parse_scheduled_for("2026-10-31T11:30:00", NOW, "UTC")
