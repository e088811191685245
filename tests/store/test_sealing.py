"""Personal data at rest (``engine.store.sealing``, ``engine.crypto.DataKeys``): rotation
from one key to the next, legacy clear rows, re-encryption in two processes at once."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from engine.crypto import MARK, DataKeys, SealError
from engine.domain import statuses as st
from engine.domain.timestamps import utcnow
from engine.providers.base import Receipt
from engine.store.documents import NewDocument
from engine.store.notifications import StatusUpdate
from engine.store.sealing import TABLES
from engine.store.store import Store
from tests import sql
from tests.conftest import reset_database
from tests.store.test_store import make_row

KEY_A = "data-key-A-0123456789abcdef"
KEY_B = "data-key-B-0123456789abcdef"
RECIPIENT = "ada.lovelace@example.com"
PERSONALISATION = '{"name": "Ada", "case": "CASE-8812"}'
BODY = "Dear Ada, your case CASE-8812 is ready."
FILE = b"%PDF-1.4 the file of case CASE-8812"
# Rows holding personal values that ``write_everything`` leaves, per table.
ROWS_WRITTEN = {"notifications": 2, "callback_queue": 1, "documents": 1, "team_members": 1,
                "jobs": 1, "inbound_sms": 1, "console_users": 1,
                "console_invitations": 1}  # fmt: skip


@asynccontextmanager
async def open_store(database_url: str, keys: DataKeys | None) -> AsyncIterator[Store]:
    async with (
        Store.open(database_url, linger_ms=1.0, data_keys=keys) as store,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(store.run)
        yield store
        await store.close()


class Written:
    """What ``write_everything`` wrote, to read back."""

    def __init__(self) -> None:
        self.service_id = uuid.uuid4()
        self.email = make_row(
            service_id=self.service_id, recipient=RECIPIENT, personalisation=PERSONALISATION,
            subject="Case CASE-8812", body=BODY, job_id=uuid.uuid4(), job_row_number=1,
        )  # fmt: skip
        self.sms = make_row(
            service_id=self.service_id, notification_type="sms", recipient="+16135550123",
            subject=None, body=BODY,
        )  # fmt: skip
        self.document_id = uuid.uuid4()
        self.member_id = uuid.uuid4()


async def write_everything(store: Store) -> Written:
    """A notification of each kind, a file, a team member, a job, an owed callback, a
    complaint's recipient and a received text, through the store's own writes."""
    w = Written()
    await sql.execute(
        store, "INSERT INTO services (id, name, email_from) VALUES ($1, 's', 's')", w.service_id
    )
    await store.callbacks.configure(
        w.service_id, "delivery_status", url="https://example.org/cb", bearer_sealed=b"t",
        signing_sealed=None,
    )  # fmt: skip
    assert w.email.job_id is not None
    await store.jobs.insert(
        w.email.job_id, w.service_id, template_id=w.email.template_id, template_version=1,
        api_key_id=uuid.uuid4(), name="ada-case-list.csv", count=1, status="finished",
        scheduled_for=None, sender_id=None, created_at=utcnow(),
    )  # fmt: skip
    await store.documents.insert(
        w.service_id,
        w.email.id,
        [NewDocument(id=w.document_id, personalisation_key="file", filename="ada-case.pdf",
                     mime_type="application/pdf", sending_method="attach", content=FILE)],
        expires_at=utcnow() + dt.timedelta(days=1),
    )  # fmt: skip
    await store.services.add_team_member(
        w.service_id, w.member_id, email_address="grace@example.com", mobile_number="+16135550199"
    )
    await store.insert_notifications([w.email, w.sms])
    await store.console.create_user(uuid.uuid4(), "Ada.Console@example.com", "Ada Console",
                                    "$argon2id$not-checked-here", platform_admin=False)  # fmt: skip
    await store.console_people.invite(
        w.service_id, "Ada.Invited@example.com", ["view"], b"token-hash", None,
        utcnow() + dt.timedelta(days=1),
    )  # fmt: skip
    await store.inbound.receive(
        w.service_id, notify_number="+16135550100", user_number="+16135550123",
        content="STOP", reference=f"in-{w.service_id}", at=utcnow(),
    )  # fmt: skip
    at = utcnow()
    await store.update_statuses(
        [StatusUpdate(id=r.id, status=st.SENDING, at=at, provider="ses",
                      provider_reference=f"ref-{r.id}") for r in (w.email, w.sms)]
    )  # fmt: skip
    await store.update_statuses([StatusUpdate(id=w.email.id, status=st.DELIVERED, at=at)])
    return w


async def read_everything(store: Store, w: Written) -> None:
    """Every store read that returns a sealed column gives the clear value back."""
    user = await store.console.user_by_email("ada.console@example.com")
    assert user is not None
    assert (user["email"], user["name"]) == ("ada.console@example.com", "Ada Console")
    [invited] = await store.console_people.invitations(w.service_id)
    assert invited["email"] == "ada.invited@example.com"
    got = await store.notifications.get(w.service_id, w.email.id)
    assert got is not None
    assert (got["recipient"], got["body"], got["subject"]) == (RECIPIENT, BODY, "Case CASE-8812")
    page = await store.notifications.page(
        w.service_id, "normal", types=[], statuses=[], reference=None, include_jobs=True,
        older_than=None, limit=10,
    )  # fmt: skip
    assert {r["recipient"] for r in page} == {RECIPIENT, "+16135550123"}
    attached = await store.documents.load_attachments([w.email.id])
    [attachment] = attached[w.email.id]
    assert (attachment.filename, attachment.content) == ("ada-case.pdf", FILE)
    [member] = await store.services.team_members(w.service_id)
    assert member["email_address"] == "grace@example.com"
    assert member["mobile_number"] == "+16135550199"
    claimer = uuid.uuid4()
    owed = await store.callbacks.claim(claimer, limit=10, full=[])
    assert [o.recipient for o in owed] == [RECIPIENT]
    await store.callbacks.unclaim([o.seq for o in owed], claimer)
    # A recovery claim (the sms is `sending` without an owner's heartbeat: a dead worker's;
    # no sending grace, the timing is not under test here).
    await sql.execute(store, "UPDATE notifications SET owner = $1, provider_reference = NULL"
                      " WHERE id = $2", uuid.uuid4(), w.sms.id)  # fmt: skip
    claimed = await store.recovery.claim(uuid.uuid4(), sending_grace=0, limit=10)
    assert [(r["recipient"], r["body"]) for r in claimed] == [("+16135550123", BODY)]
    complaints = await store.complaints.record(
        [Receipt(reference=f"ref-{w.email.id}", status=st.DELIVERED, at=utcnow(),
                 provider="ses", complaint=True)]
    )  # fmt: skip
    assert [c.recipient for c in complaints] == [RECIPIENT]
    await sql.execute(store, "DELETE FROM complaints")
    await sql.execute(store, "DELETE FROM callback_queue WHERE callback_type = 'complaint'")
    job_owner = uuid.uuid4()
    assert w.email.job_id is not None
    await sql.execute(store, "UPDATE notifications SET status = 'created', owner = $1"
                      " WHERE id = $2", job_owner, w.email.id)  # fmt: skip
    [fed] = await store.jobs.page(w.email.job_id, after_row=0, owner=job_owner, limit=10)
    assert fed["recipient"] == RECIPIENT
    assert json.loads(fed["personalisation"]) == json.loads(PERSONALISATION)
    await sql.execute(store, "UPDATE notifications SET status = 'sending', owner = NULL"
                      " WHERE id = $1", w.email.id)  # fmt: skip


async def values_sealed_with(store: Store, key_id: str) -> int:
    """How many stored personal values name the key ``key_id``."""
    total = 0
    for t in TABLES:
        for c in t.text + t.jsonb:
            row = await sql.fetchrow(
                store, f"SELECT count(*) FROM {t.name} WHERE {c}::text LIKE $1",
                f"%{key_id}%",
            )  # fmt: skip
            total += row[0]
        for c in t.bytea:
            row = await sql.fetchrow(
                store, f"SELECT count(*) FROM {t.name} WHERE position($1 IN {c}) = 2",
                key_id.encode(),
            )  # fmt: skip
            total += row[0]
    return total


async def test_rotation_from_key_a_to_key_b(aio_loop: None, database_url: str) -> None:
    await reset_database(database_url)
    a, b_then_a, b = DataKeys([KEY_A]), DataKeys([KEY_B, KEY_A]), DataKeys([KEY_B])
    async with open_store(database_url, a) as store:
        w = await write_everything(store)
        assert await values_sealed_with(store, a.write_id) == 17  # 12, text, console user, invite
    async with open_store(database_url, b_then_a) as store:
        await read_everything(store, w)  # B writes, A still reads
        result = await store.reencrypt.run(window=2)
        assert result.resealed == ROWS_WRITTEN
        assert not any(result.remaining.values())
        assert await values_sealed_with(store, a.write_id) == 0
    async with open_store(database_url, b) as store:  # A is gone: every read still works
        await read_everything(store, w)
        assert await values_sealed_with(store, a.write_id) == 0
        assert await values_sealed_with(store, b.write_id) >= 12
        assert not any((await store.reencrypt.remaining()).values())
    async with open_store(database_url, a) as store:  # without B nothing opens
        with pytest.raises(SealError):
            await store.notifications.get(w.service_id, w.email.id)


async def test_legacy_clear_rows_read_as_they_are_and_reencrypt_seals_them(
    aio_loop: None, database_url: str
) -> None:
    await reset_database(database_url)
    async with open_store(database_url, None) as store:  # as today's main writes: clear
        w = await write_everything(store)
        [raw] = await sql.fetch(store, "SELECT recipient, body FROM notifications"
                                " WHERE id = $1", w.email.id)  # fmt: skip
        assert (raw["recipient"], raw["body"]) == (RECIPIENT, BODY)
    keys = DataKeys([KEY_A])
    async with open_store(database_url, keys) as store:
        await read_everything(store, w)
        assert await store.reencrypt.remaining() == ROWS_WRITTEN
        result = await store.reencrypt.run(window=1)
        assert result.resealed == ROWS_WRITTEN
        assert not any(result.remaining.values())
        assert await values_sealed_with(store, keys.write_id) == 17
        rows = await sql.fetch(store, "SELECT recipient FROM notifications")
        assert all(r["recipient"].startswith(MARK) for r in rows)
        await read_everything(store, w)


async def test_two_processes_reencrypting_at_once_reseal_each_row_once(
    aio_loop: None, database_url: str
) -> None:
    await reset_database(database_url)
    async with open_store(database_url, None) as store:
        rows = [make_row(recipient=f"p{i}@example.com") for i in range(400)]
        await store.insert_notifications(rows)
    keys = DataKeys([KEY_B, KEY_A])
    results: list[Any] = []
    async with open_store(database_url, keys) as one, open_store(database_url, keys) as two:

        async def run(store: Store) -> None:
            results.append(await store.reencrypt.run(window=25))

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run, one)
                nursery.start_soon(run, two)
        assert sum(r.resealed["notifications"] for r in results) == 400
        assert all(not any(r.remaining.values()) for r in results)
        opened = await sql.opened(one, "SELECT id, recipient FROM notifications")
        assert sorted(r["recipient"] for r in opened) == sorted(r.recipient for r in rows)


def test_a_sealed_value_opens_only_where_it_was_written() -> None:
    keys = DataKeys([KEY_A])
    here, there = uuid.uuid4(), uuid.uuid4()
    sealed = keys.seal(RECIPIENT, here.bytes + b"/recipient")
    assert sealed.startswith(keys.prefix)
    assert RECIPIENT not in sealed
    assert keys.open(sealed, here.bytes + b"/recipient") == RECIPIENT
    with pytest.raises(SealError):
        keys.open(sealed, there.bytes + b"/recipient")  # copied onto another row
    with pytest.raises(SealError):
        keys.open(sealed, here.bytes + b"/body")  # moved into another column
    with pytest.raises(SealError):
        keys.open(sealed[:-4] + "AAA=", here.bytes + b"/recipient")  # tampered
    assert keys.open("clear@example.com", b"") == "clear@example.com"  # legacy: as it is
    assert keys.seal(RECIPIENT, b"x") != keys.seal(RECIPIENT, b"x")  # fresh nonce each time
    # NOTIFY_DATA_KEYS unset reads and writes with NOTIFY_SECRET_KEY's entry.
    assert DataKeys.from_settings(KEY_A, "").write_id == keys.write_id
    assert DataKeys.from_settings("other-secret-0123456789", f"{KEY_B},{KEY_A}").key_ids == (
        DataKeys([KEY_B]).write_id,
        keys.write_id,
    )
    with pytest.raises(ValueError, match="16 characters"):
        DataKeys(["short"])
