"""The console's API keys, API integration (callbacks) and settings over real sockets
(issue 27): a key created in the console is shown once and works against /v2, revoked it
is refused; its last use appears; a callback set in the console is tested against a real
loopback receiver (time shown, or the failure in words); suspension, resume and replay;
settings validated with the admin API's rules in both languages, kept from viewers,
senders and (for limits) from anyone but a platform admin; the dashboard's today is the
service's local day."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator

import pytest
import trio

from engine.domain.timezones import day_start, local_date
from tests import sql
from tests.actors.fakes import wait_until
from tests.actors.test_callbacks import Receiver, receiver  # noqa: F401 - the fixture
from tests.api.test_slice import jwt_header
from tests.console.support import ConsoleEngine, Visitor, console_engine
from tests.console.support_integration import field_errors, member, new_key, notices

LEAD = "lead@department.example"
TOKEN = "a-bearer-token-of-the-team"


@pytest.fixture
async def running(aio_loop: None, database_url: str) -> AsyncIterator[ConsoleEngine]:
    async with console_engine(database_url) as r:
        yield r


async def _v2(running: ConsoleEngine, key: str) -> int:
    async with running.client() as api:
        r = await api.get("/v2/notifications", headers={"Authorization": f"ApiKey-v1 {key}"})
        return r.status_code


async def test_a_key_is_shown_once_works_then_is_revoked(running: ConsoleEngine) -> None:
    made = await running.create_service()
    sid = made["service"]["id"]
    async with Visitor(running) as v:
        await member(running, v, sid, LEAD, ["manage_api_keys"])
        r = await v.get(f"/console/services/{sid}/api-keys/new")
        assert r.status_code == 200
        r = await v.post(f"/console/services/{sid}/api-keys/new",
                         {"name": "Case system", "key_type": "normal"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        key = new_key(r)
        assert key.startswith(f"Case_system-{sid}-")
        assert await _v2(running, key) == 200  # it authenticates (ApiKey-v1)
        async with running.client() as api:  # and signs JWTs
            got = await api.get("/v2/notifications", headers=jwt_header(key))
            assert got.status_code == 200
        r = await v.get(f"/console/services/{sid}/api-keys")
        assert key[-36:] not in r.text  # never shown again
        stored = await running.engine.store.keys.for_service(uuid.UUID(sid))
        mine = next(k for k in stored if k["name"] == "Case system")
        assert key[-36:].encode() not in bytes(mine["secret_sealed"])  # sealed
        row = re.search(r"<td>Case system</td>.*?</tr>", r.text, re.S)
        assert row is not None
        assert "Never" not in row[0]  # last used: this process remembers at once
        today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        assert f'<td class="last-used">{today}' in row[0]
        r = await v.post(f"/console/services/{sid}/api-keys/{mine['id']}/revoke", {})
        assert r.status_code == 303
        assert await _v2(running, key) == 403
        r = await v.get(f"/console/services/{sid}/api-keys/new")  # refusals, in French
        await v.get(f"/console/language/fr?next=/console/services/{sid}")
        r = await v.post(f"/console/services/{sid}/api-keys/new", {"name": " ", "key_type": "x"})
        assert r.status_code == 400
        assert field_errors(r) == ["Entrez un nom pour la clé.", "Choisissez le type de clé."]


async def test_last_used_is_written_once_a_minute_not_per_request(
    running: ConsoleEngine,
) -> None:
    made = await running.create_service()
    sid = made["service"]["id"]
    usage = running.engine.key_usage
    keys = running.engine.store.keys
    assert usage.every == 60.0
    for _ in range(3):
        assert await _v2(running, made["keys"]["team"]) == 200
    stored = {k["name"]: k["last_used_at"] for k in await keys.for_service(uuid.UUID(sid))}
    assert stored["team key"] is None  # no request wrote it
    assert await usage.flush(keys) == 1  # one key used: one row written
    stored = {k["name"]: k["last_used_at"] for k in await keys.for_service(uuid.UUID(sid))}
    assert stored["team key"] is not None
    assert stored["normal key"] is None
    assert await usage.flush(keys) == 0  # nothing new since: nothing written


async def test_callback_set_tested_against_a_real_receiver(
    running: ConsoleEngine,
    receiver: Receiver,  # noqa: F811
) -> None:
    made = await running.create_service()
    sid = made["service"]["id"]
    base = f"/console/services/{sid}/callbacks"
    async with Visitor(running) as v:
        await member(running, v, sid, LEAD, ["manage_api_keys"])
        r = await v.get(base)
        assert r.status_code == 200
        assert "No callback URL is set." in r.text
        r = await v.post(f"{base}/delivery_status",
                         {"url": receiver.url("/cb"), "bearer_token": "short"})  # fmt: skip
        assert r.status_code == 400
        assert field_errors(r) == ["The bearer token must be at least 10 characters."]
        r = await v.post(f"{base}/delivery_status",
                         {"url": receiver.url("/cb"), "bearer_token": TOKEN})  # fmt: skip
        assert r.status_code == 303, r.text
        r = await v.get(r.headers["location"])
        assert notices(r) == ["The callback is saved."]
        assert TOKEN not in r.text  # the token is never shown back
        assert "A bearer token is set." in r.text
        receiver.hits.clear()
        r = await v.post(f"{base}/delivery_status/test", {})
        assert r.status_code == 200
        [said] = notices(r)
        assert re.fullmatch(r"Your endpoint answered HTTP 200 in \d+ ms\.", said), said
        [hit] = receiver.of("/cb")
        assert hit.headers["authorization"] == f"Bearer {TOKEN}"
        assert hit.body == {"health_check": "true"}
        receiver.answers["/cb"] = (500, 0.0)
        await v.get(f"/console/language/fr?next={base}")
        r = await v.post(f"{base}/delivery_status/test", {})
        [said] = notices(r)
        assert re.fullmatch(r"Votre point de terminaison a répondu HTTP 500 en \d+ ms : ce "
                            r"n'est pas une réussite \(2xx\), les rappels échoueraient donc\.",
                            said), said  # fmt: skip
        async with running.admin() as a:  # nothing listens on port 1: no connection
            closed = {"url": "http://127.0.0.1:1/cb", "bearer_token": TOKEN}
            put = await a.put(f"/admin/services/{sid}/callback", json=closed)
            assert put.status_code == 200, put.text
        r = await v.post(f"{base}/delivery_status/test", {})
        [said] = notices(r)
        assert said.startswith("Notification n'a pas pu se connecter à votre point de "), said
        await v.get(f"/console/language/en?next={base}")
        r = await v.post(f"{base}/delivery_status/test", {})
        [said] = notices(r)
        assert said.startswith("Notify could not connect to your endpoint (after "), said


async def test_a_url_the_engine_must_not_call_is_refused(aio_loop: None, database_url: str) -> None:
    async with console_engine(database_url, callback_allow_http=False,
                              callback_allow_private=False) as running:  # fmt: skip
        made = await running.create_service()
        sid = made["service"]["id"]
        async with Visitor(running) as v:
            await member(running, v, sid, LEAD, ["manage_api_keys"], lang="fr")
            for url in ("http://example.com/cb", "https://127.0.0.1/cb", "https://10.0.0.1/cb"):
                r = await v.post(f"/console/services/{sid}/callbacks/delivery_status",
                                 {"url": url, "bearer_token": TOKEN})  # fmt: skip
                assert r.status_code == 400, url
                [said] = field_errors(r)
                assert said.startswith("Cette URL ne peut pas être utilisée ("), said
        assert not await running.engine.store.callbacks.state(uuid.UUID(sid), ("delivery_status",))


async def test_suspension_resume_and_replay(
    running: ConsoleEngine,
    receiver: Receiver,  # noqa: F811
) -> None:
    made = await running.create_service(restricted=False)
    sid = made["service"]["id"]
    base = f"/console/services/{sid}/callbacks"
    async with running.admin() as a:
        put = await a.put(f"/admin/services/{sid}/callback",
                          json={"url": receiver.url("/cb"), "bearer_token": TOKEN})  # fmt: skip
        assert put.status_code == 200
    async with running.client() as api:
        r = await api.post("/v2/notifications/email", headers=jwt_header(made["keys"]["normal"]),
                           json={"email_address": "someone@example.com",
                                 "template_id": made["email_template"],
                                 "personalisation": {"name": "A", "code": "1"}})  # fmt: skip
        assert r.status_code == 201, r.text
        nid = r.json()["id"]

    def delivered() -> int:
        return sum(1 for b in receiver.ok("/cb") if b.get("id") == nid
                   and b.get("status") == "delivered")  # fmt: skip

    with trio.fail_after(15):
        await wait_until(lambda: delivered() >= 1)
    await sql.execute(
        running.engine.store,
        "UPDATE service_callbacks SET suspended_at = now(), suspended_reason ="
        " '25 failures within 300 s (last: HTTP 500)' WHERE service_id = $1",
        uuid.UUID(sid),
    )
    async with Visitor(running) as v:
        await member(running, v, sid, LEAD, ["manage_api_keys"])
        r = await v.get(base)
        state = re.search(r'id="delivery_status-state">(.*?)</dd>', r.text, re.S)
        assert state is not None
        assert "Suspended since" in state[0]
        assert "25 failures within 300 s (last: HTTP 500)" in state[0]
        r = await v.post(f"{base}/delivery_status/resume", {})
        assert r.status_code == 303
        r = await v.get(r.headers["location"])
        assert notices(r) == ["The callbacks are resumed."]
        assert 'id="delivery_status-state">Working</dd>' in r.text
        [row] = await running.engine.store.callbacks.state(uuid.UUID(sid), ("delivery_status",))
        assert row["suspended_at"] is None
        now = dt.datetime.now(dt.UTC)
        start = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        end = (now + dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")
        r = await v.post(f"{base}/replay", {"start": end, "end": start})  # backwards
        assert r.status_code == 400
        assert field_errors(r) == [
            "Enter two times, the second after the first and at most 31 days later."
        ]
        r = await v.post(f"{base}/replay", {"start": start, "end": end})
        assert r.status_code == 200, r.text
        assert notices(r) == ["1 delivery receipts are queued again."]
    with trio.fail_after(15):
        await wait_until(lambda: delivered() >= 2)  # the receiver gets the receipt again


async def test_settings_are_validated_and_saved(running: ConsoleEngine) -> None:
    made = await running.create_service(name="Benefits")
    sid = made["service"]["id"]
    base = f"/console/services/{sid}/settings"
    good = {"name": "Benefits office", "default_language": "fr", "time_zone": "America/Toronto",
            "email_branding": "fip", "retention_email": "30", "retention_sms": "3"}  # fmt: skip
    async with Visitor(running) as v:
        await member(running, v, sid, LEAD, ["manage_settings"])
        r = await v.get(base)
        assert r.status_code == 200
        assert "Only a platform administrator can change the limits." in r.text
        assert 'name="email_daily_limit"' not in r.text
        r = await v.post(base, {**good, "retention_email": "2", "time_zone": "Mars/Olympus"})
        assert r.status_code == 400
        assert field_errors(r) == [
            "“Mars/Olympus” is not a time zone name. Use a name such as America/Toronto.",
            "Data retention must be between 3 and 90 days.",
        ]
        await v.get(f"/console/language/fr?next={base}")
        r = await v.post(base, {**good, "retention_email": "2"})
        assert r.status_code == 400
        assert field_errors(r) == ["La conservation des données doit être de 3 à 90 jours."]
        periods = await running.engine.store.retention.periods(uuid.UUID(sid))
        assert periods == {"email": 7, "sms": 7}  # nothing written
        r = await v.post(base, {**good, "email_daily_limit": "99"})
        assert r.status_code == 403  # limits: a platform admin's
        r = await v.post(base, good)
        assert r.status_code == 303, r.text
        r = await v.get(r.headers["location"])
        assert notices(r) == ["Les paramètres sont enregistrés."]
        r = await v.post(f"{base}/reply-to", {"email_address": "not an address"})
        assert r.status_code == 400
        assert field_errors(r) == ["Entrez une adresse courriel valide."]
        r = await v.post(f"{base}/reply-to", {"email_address": "help@department.example"})
        assert r.status_code == 303
        r = await v.post(f"{base}/sms-senders", {"sms_sender": "!"})
        assert r.status_code == 400
        r = await v.post(f"{base}/sms-senders", {"sms_sender": "GOVCAN"})
        assert r.status_code == 303
        r = await v.get(base)
        assert "help@department.example (par défaut)" in r.text
        assert "GOVCAN (par défaut)" in r.text
    service = await running.engine.store.services.get(uuid.UUID(sid))
    assert service is not None
    assert (service["name"], service["default_language"], service["time_zone"]) == (
        "Benefits office", "fr", "America/Toronto")  # fmt: skip
    assert service["email_daily_limit"] == 10_000
    periods = await running.engine.store.retention.periods(uuid.UUID(sid))
    assert periods == {"email": 30, "sms": 3}
    bundle = await running.engine.registry.get(uuid.UUID(sid))  # this process knows at once
    assert bundle is not None
    assert bundle.service.time_zone == "America/Toronto"


async def test_viewers_senders_and_limits(running: ConsoleEngine) -> None:
    made = await running.create_service()
    sid = made["service"]["id"]
    base = f"/console/services/{sid}/settings"
    form = {"name": "Renamed", "time_zone": "UTC", "retention_email": "7", "retention_sms": "7"}
    for who, roles in (("viewer@department.example", ["view"]),
                       ("sender@department.example", ["send"])):  # fmt: skip
        async with Visitor(running) as v:
            await member(running, v, sid, who, roles)
            assert (await v.get(base)).status_code == 403
            assert (await v.post(base, form)).status_code == 403
            r = await v.post(f"{base}/reply-to", {"email_address": "x@department.example"})
            assert r.status_code == 403
            assert (await v.get(f"/console/services/{sid}/callbacks")).status_code == 403
            r = await v.post(f"/console/services/{sid}/api-keys/new",
                             {"name": "k", "key_type": "normal"})  # fmt: skip
            assert r.status_code == 403
    service = await running.engine.store.services.get(uuid.UUID(sid))
    assert service is not None
    assert service["name"] == "Test service"
    async with Visitor(running) as v:  # a platform admin may change the limits
        await member(running, v, sid, "ops@department.example", [], platform_admin=True)
        r = await v.get(base)
        assert 'name="email_daily_limit"' in r.text
        limits = {"email_daily_limit": "500", "sms_daily_limit": "50",
                  "email_annual_limit": "1000", "sms_annual_limit": "-1"}  # fmt: skip
        r = await v.post(base, {**form, **limits})
        assert r.status_code == 400
        assert field_errors(r) == ["Each limit must be a whole number from 0 to 2,147,483,647."]
        r = await v.post(base, {**form, **limits, "sms_annual_limit": "100"})
        assert r.status_code == 303
    service = await running.engine.store.services.get(uuid.UUID(sid))
    assert service is not None
    assert (service["email_daily_limit"], service["sms_annual_limit"]) == (500, 100)


async def test_the_dashboards_today_is_the_services_local_day(running: ConsoleEngine) -> None:
    # Kiritimati is UTC+14: its day and the UTC day overlap for 10 hours only. One email is
    # put where only one of the two days has it: the dashboard must count the local one.
    zone = "Pacific/Kiritimati"
    made = await running.create_service(restricted=False)
    sid = made["service"]["id"]
    async with running.admin() as a:
        assert (await a.patch(f"/admin/services/{sid}", json={"time_zone": zone})).is_success
    async with running.client() as api:
        r = await api.post("/v2/notifications/email", headers=jwt_header(made["keys"]["normal"]),
                           json={"email_address": "someone@example.com",
                                 "template_id": made["email_template"],
                                 "personalisation": {"name": "A", "code": "1"}})  # fmt: skip
        assert r.status_code == 201, r.text
    now = running.clock()
    local_start = day_start(local_date(now, zone), zone)
    utc_start = dt.datetime.combine(now.date(), dt.time(), tzinfo=dt.UTC)
    at = min(local_start, utc_start) + dt.timedelta(minutes=1)
    in_local_day = local_start <= at
    await sql.execute(running.engine.store, "UPDATE notifications SET created_at = $2"
                      " WHERE id = $1", uuid.UUID(r.json()["id"]), at)  # fmt: skip
    async with Visitor(running) as v:
        await member(running, v, sid, LEAD, ["view"])
        r = await v.get(f"/console/services/{sid}")
    assert f"Today ({zone})" in r.text
    row = re.search(r'<th scope="row">Email</th><td class="num">(\d+)</td>', r.text)
    assert row is not None
    assert int(row[1]) == (1 if in_local_day else 0)
