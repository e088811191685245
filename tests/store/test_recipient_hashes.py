"""Keyed hashes of recipients (``engine.crypto.DataKeys.recipient_hash``, migration 0022):
the search by recipient and the team check compare hashes, never a clear value; the hashes
follow a key rotation (old ones match until ``data reencrypt`` re-hashes them), and rows
written before the hashes existed are hashed by ``reencrypt`` (team members also at load).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from engine.crypto import DataKeys
from engine.domain.timestamps import utcnow
from engine.store.store import Store
from tests import sql
from tests.conftest import reset_database
from tests.store.test_sealing import KEY_A, KEY_B, open_store
from tests.store.test_store import make_row

EMAIL = "Ada.Lovelace@Example.com"  # stored as the client wrote it; found in any case
PHONE = "+16135550123"
MEMBER = "Grace.Hopper@Example.gc.ca"


async def seed(store: Store) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    """Two services: A sends 3 times to EMAIL (oldest first) and once elsewhere, B once to
    EMAIL; A has a team member. Returns (A, B, A's notifications to EMAIL, oldest first)."""
    a, b = uuid.uuid4(), uuid.uuid4()
    for sid in (a, b):
        await sql.execute(
            store, "INSERT INTO services (id, name, email_from) VALUES ($1, 's', 's')", sid
        )
    start = utcnow() - dt.timedelta(minutes=10)
    mine = [make_row(service_id=a, recipient=EMAIL, created_at=start + dt.timedelta(seconds=i))
            for i in range(3)]  # fmt: skip
    others = [
        make_row(service_id=a, recipient="someone.else@example.com"),
        make_row(service_id=b, recipient=EMAIL),
        make_row(service_id=a, notification_type="sms", recipient=PHONE, subject=None),
    ]
    await store.insert_notifications([*mine, *others])
    await store.services.add_team_member(a, uuid.uuid4(), email_address=MEMBER, mobile_number=PHONE)
    return a, b, [r.id for r in mine]


async def found(store: Store, service_id: uuid.UUID, recipient: str) -> list[uuid.UUID]:
    return [r["id"] for r in await store.notifications.by_recipient(service_id, recipient)]


async def test_the_search_finds_a_services_notifications_to_a_recipient_by_its_hash(
    aio_loop: None, database_url: str
) -> None:
    await reset_database(database_url)
    keys = DataKeys([KEY_A])
    async with open_store(database_url, keys) as store:
        a, b, mine = await seed(store)
        assert await found(store, a, "ada.lovelace@example.com") == mine[::-1]  # newest first
        assert await found(store, a, f"  {EMAIL.upper()} ") == mine[::-1]
        assert len(await found(store, b, EMAIL)) == 1  # the other service's own
        assert await found(store, a, "nobody@example.com") == []
        [sms] = await store.notifications.by_recipient(a, PHONE)
        assert sms["recipient"] == PHONE  # opened like every read
        # What is stored is the write key's hash of the normalised recipient, no clear value.
        rows = await sql.fetch(store, "SELECT recipient, recipient_hash FROM notifications"
                               " WHERE service_id = $1 AND id = ANY($2)", a, mine)  # fmt: skip
        assert {bytes(r["recipient_hash"]) for r in rows} == {
            keys.recipient_hash("ada.lovelace@example.com")
        }
        assert not any(EMAIL.lower() in r["recipient"].lower() for r in rows)
        # The index serves it, service first (the distribution column).
        [index] = await sql.fetch(
            store,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'notifications_recipient_hash_idx'",
        )
        assert "(service_id, recipient_hash, created_at DESC)" in index["indexdef"]
        # Enough of the service's rows to other recipients (copies of one of its rows, in
        # its partition) that the planner's choice is the point, not a few-row accident:
        # with a handful of rows, PostgreSQL 18 scans the list index and filters.
        await sql.execute(
            store,
            "INSERT INTO notifications SELECT (jsonb_populate_record(n, jsonb_build_object("
            "'id', gen_random_uuid(), 'recipient_hash', decode(md5(g::text), 'hex')))).*"
            " FROM notifications n, generate_series(1, 3000) g WHERE n.id = $1",
            mine[0],
        )
        await sql.execute(store, "ANALYZE notifications")
        plan = await sql.fetch(
            store,
            "EXPLAIN SELECT id FROM notifications WHERE service_id = $1"
            " AND recipient_hash = ANY($2::bytea[]) ORDER BY created_at DESC LIMIT 50",
            a,
            [keys.recipient_hash(EMAIL)],
            keyed=True,  # sessions that shun table scans: the tiny table is not the point
        )
        text = "\n".join(r[0] for r in plan)
        # The index itself, or on a partitioned table each partition's copy of it (named
        # <partition>_service_id_recipient_hash_...).
        assert re.search(r"Index Scan (using|on) \S*recipient_hash", text), text
        assert "Seq Scan" not in text, text


async def test_the_team_check_compares_hashes(aio_loop: None, database_url: str) -> None:
    await reset_database(database_url)
    keys = DataKeys([KEY_A])
    async with open_store(database_url, keys) as store:
        a, _, _ = await seed(store)
        emails, phones = await store.services.team(a)
        assert MEMBER.upper() in emails
        assert "grace.hopper@example.gc.ca" in emails
        assert PHONE in phones
        assert PHONE not in emails
        assert "ada.lovelace@example.com" not in emails
        [stored] = await sql.fetch(store, "SELECT email_hash, mobile_hash FROM team_members")
        assert bytes(stored["email_hash"]) == keys.recipient_hash(MEMBER)
        assert bytes(stored["mobile_hash"]) == keys.recipient_hash(PHONE)
        assert "Grace" not in repr(emails)  # holds hashes only


async def test_hashes_follow_a_key_rotation(aio_loop: None, database_url: str) -> None:
    """Written under A; with B,A both hashes match; ``reencrypt`` re-hashes under B; with B
    alone everything is still found. A is then useless to confirm a guessed address."""
    await reset_database(database_url)
    a_keys, b_then_a, b_keys = DataKeys([KEY_A]), DataKeys([KEY_B, KEY_A]), DataKeys([KEY_B])
    assert a_keys.recipient_hash(EMAIL) != b_keys.recipient_hash(EMAIL)
    async with open_store(database_url, a_keys) as store:
        a, _, mine = await seed(store)
    async with open_store(database_url, b_then_a) as store:
        assert await found(store, a, EMAIL) == mine[::-1]  # A's hashes, looked up under B,A
        newer = make_row(service_id=a, recipient=EMAIL)  # written under B
        await store.insert_notifications([newer])
        assert await found(store, a, EMAIL) == [newer.id, *mine[::-1]]
        assert MEMBER in (await store.services.team(a))[0]
        result = await store.reencrypt.run(window=2)
        assert not any(result.remaining.values())
        hashes = await sql.fetch(store, "SELECT DISTINCT recipient_hash FROM notifications"
                                 " WHERE service_id = $1 AND notification_type = 'email'"
                                 " AND recipient_hash = ANY($2)", a,
                                 list(b_then_a.recipient_hashes(EMAIL)))  # fmt: skip
        assert [bytes(h[0]) for h in hashes] == [b_keys.recipient_hash(EMAIL)]
        [member] = await sql.fetch(store, "SELECT email_hash FROM team_members")
        assert bytes(member[0]) == b_keys.recipient_hash(MEMBER)
    async with open_store(database_url, b_keys) as store:  # A is gone
        assert await found(store, a, EMAIL) == [newer.id, *mine[::-1]]
        assert MEMBER in (await store.services.team(a))[0]
    async with open_store(database_url, a_keys) as store:  # A alone matches nothing now
        assert await found(store, a, EMAIL) == []


async def test_rows_written_before_the_hashes_are_hashed_by_reencrypt(
    aio_loop: None, database_url: str
) -> None:
    """Rows sealed under the write key but without a hash (written before migration 0022):
    the team check hashes such members at load; ``reencrypt`` fills every missing hash."""
    await reset_database(database_url)
    keys = DataKeys([KEY_A])
    async with open_store(database_url, keys) as store:
        a, _, mine = await seed(store)
        await sql.execute(store, "UPDATE notifications SET recipient_hash = NULL")
        await sql.execute(store, "UPDATE team_members SET email_hash = NULL, mobile_hash = NULL")
        assert await found(store, a, EMAIL) == []  # not searchable yet
        emails, phones = await store.services.team(a)
        assert MEMBER in emails
        assert PHONE in phones
        remaining = await store.reencrypt.remaining()
        assert (remaining["notifications"], remaining["team_members"]) == (6, 1)
        result = await store.reencrypt.run(window=4)
        assert (result.resealed["notifications"], result.resealed["team_members"]) == (6, 1)
        assert not any(result.remaining.values())
        assert await found(store, a, EMAIL) == mine[::-1]
        [member] = await sql.fetch(store, "SELECT email_hash, mobile_hash FROM team_members")
        assert bytes(member["mobile_hash"]) == keys.recipient_hash(PHONE)
