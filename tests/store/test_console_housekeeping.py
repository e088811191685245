"""The console's personal data past its use goes by housekeeping, not only when someone
signs in or uploads again (``engine.runtime.forget_expired_console``)."""

from __future__ import annotations

import datetime as dt
import uuid

from engine.domain import console_people
from engine.domain.timestamps import utcnow
from engine.runtime import forget_expired_console
from engine.store.store import Store
from tests import sql


async def test_expired_sessions_uploads_and_invitations_go_and_live_ones_stay(
    store: Store,
) -> None:
    now = utcnow()
    past, later = now - dt.timedelta(minutes=1), now + dt.timedelta(hours=1)
    service_id, user_id = uuid.uuid4(), uuid.uuid4()
    await sql.execute(
        store, "INSERT INTO services (id, name, email_from) VALUES ($1, 'hk', 'hk')", service_id
    )
    template_id = uuid.uuid4()  # an upload names its template; no row is needed
    assert await store.console.create_user(user_id, "lead@example.com", "Lead", "x", False)
    for id_hash, expires in ((b"live", later), (b"stale", past), (b"ended", past)):
        await store.console.open_session(id_hash, user_id, b"code", expires)
    uploads = {"live": later, "stale": past}  # the live one first: keep() sweeps before
    for name, expires in uploads.items():
        await store.console_uploads.keep(
            uuid.uuid4(), session_hash=b"live", service_id=service_id,
            template_id=template_id, file_name=f"{name}.csv", content="email address\n",
            row_count=1, now=now, expires_at=expires,
        )  # fmt: skip
    people = store.console_people
    long_ago = now - dt.timedelta(days=console_people.INVITE_KEEP_EXPIRED_DAYS, minutes=1)
    await people.invite(service_id, "kept@example.com", ["view"], b"t1", None, later)
    await people.invite(service_id, "shown@example.com", ["view"], b"t2", None, past)
    await people.invite(service_id, "gone@example.com", ["view"], b"t3", None, long_ago)

    assert await forget_expired_console(store) == 2 + 1 + 1  # sessions, upload, invitation

    sessions = await sql.fetch(store, "SELECT id_hash FROM console_sessions")
    assert [r["id_hash"] for r in sessions] == [b"live"]
    kept = await sql.fetch(store, "SELECT expires_at FROM console_uploads")
    assert [r["expires_at"] for r in kept] == [later]
    invited = await people.invitations(service_id)
    # An invitation expired this week stays, marked expired on the team page.
    assert sorted(i["email"] for i in invited) == ["kept@example.com", "shown@example.com"]
    assert await forget_expired_console(store) == 0  # nothing twice
