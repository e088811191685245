"""The web console's people: accounts, roles per service, sessions, the sign-in lock-out.

Rules (``engine.domain.console`` has the policy; migration 0030 the tables):
- Sessions are found by the SHA-256 of their cookie and only while ``expires_at`` is after
  the ``now`` the caller gives (the console's clock: tests fix it).
- A failed attempt is counted by one UPDATE that also sets the lock when the count reaches
  the limit, so two processes counting at once cannot both miss it.
- A user's email address and name are sealed (``engine.store.sealing``, bound to the
  user's id) and the address is found through its keyed hash (``email_hash``, lower case),
  as a team member's is; the reads here return them open.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from engine.store._pipe import Pipe, affected
from engine.store.rows import Row
from engine.store.sealing import Sealer

_FAIL_SQL = """
UPDATE console_users SET
    failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END,
    locked_until = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked_until END
WHERE id = $1
RETURNING failed_attempts, locked_until
"""

_SESSION_SQL = """
SELECT s.user_id, s.verified, s.code_hash, s.code_attempts, s.expires_at,
       u.email, u.name, u.platform_admin, u.locked_until
FROM console_sessions s JOIN console_users u ON u.id = s.user_id
WHERE s.id_hash = $1 AND s.expires_at > $2
"""

_SERVICES_SQL = """
SELECT s.id, s.name, m.roles FROM console_memberships m JOIN services s ON s.id = m.service_id
WHERE m.user_id = $1 ORDER BY lower(s.name), s.id
"""

_ALL_SERVICES_SQL = """
SELECT s.id, s.name, '{}'::text[] AS roles FROM services s
WHERE s.id <> $1 ORDER BY lower(s.name), s.id
"""


class Console:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    def _open(self, row: Any) -> Row | None:
        """The row (an asyncpg Record) as a dict with ``email`` and ``name`` open."""
        if row is None:
            return None
        found: dict[str, Any] = dict(row.items())
        owner = row["user_id"] if "user_id" in found else row["id"]
        for column in ("email", "name"):
            found[column] = self._sealer.open(row[column], owner, column)
        return found

    async def create_user(
        self,
        user_id: uuid.UUID,
        email: str,
        name: str,
        password_hash: str,
        platform_admin: bool,
    ) -> bool:
        """False when the email is taken."""
        email = email.lower()
        seal = self._sealer.seal
        status = await self._pipe.execute(
            "INSERT INTO console_users (id, email_hash, email, name, password_hash,"
            " platform_admin) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email_hash) DO NOTHING",
            user_id, self._sealer.recipient_hash(email), seal(email, user_id, "email"),
            seal(name, user_id, "name"), password_hash, platform_admin,
        )  # fmt: skip
        return affected(status) > 0

    async def user_by_email(self, email: str) -> Row | None:
        columns = "SELECT id, email, name, password_hash, platform_admin, locked_until"
        if self._sealer.keys is None:  # a store without data keys: the address is clear
            found = await self._pipe.fetchrow(
                f"{columns} FROM console_users WHERE email = $1", email.lower()
            )
        else:
            found = await self._pipe.fetchrow(
                f"{columns} FROM console_users WHERE email_hash = ANY($1::bytea[])"
                # a row written clear, not yet re-encrypted (engine.store.sealing)
                " OR (email_hash IS NULL AND email = $2)",
                self._sealer.recipient_hashes(email.lower()),
                email.lower(),
            )
        return self._open(found)

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self._pipe.execute(
            "UPDATE console_users SET password_hash = $2 WHERE id = $1", user_id, password_hash
        )

    async def set_roles(self, user_id: uuid.UUID, service_id: uuid.UUID, roles: list[str]) -> None:
        await self._pipe.execute(
            "INSERT INTO console_memberships (user_id, service_id, roles) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id, service_id) DO UPDATE SET roles = excluded.roles",
            user_id, service_id, roles,
        )  # fmt: skip

    async def record_failure(
        self, user_id: uuid.UUID, limit: int, lock_until: dt.datetime
    ) -> dt.datetime | None:
        """Count one failed attempt; returns the lock's end if this one locked the account."""
        row = await self._pipe.fetchrow(_FAIL_SQL, user_id, limit, lock_until)
        if row is None or row["locked_until"] != lock_until:
            return None
        locked: dt.datetime = row["locked_until"]
        return locked

    async def reset_failures(self, user_id: uuid.UUID) -> None:
        await self._pipe.execute(
            "UPDATE console_users SET failed_attempts = 0 WHERE id = $1 AND failed_attempts <> 0",
            user_id,
        )

    async def open_session(
        self, id_hash: bytes, user_id: uuid.UUID, code_hash: bytes, expires_at: dt.datetime
    ) -> None:
        """A pending session: the password was right, the emailed code is awaited."""
        await self._pipe.execute(
            "INSERT INTO console_sessions (id_hash, user_id, code_hash, expires_at)"
            " VALUES ($1, $2, $3, $4)",
            id_hash, user_id, code_hash, expires_at,
        )  # fmt: skip

    async def session(self, id_hash: bytes, now: dt.datetime) -> Row | None:
        return self._open(await self._pipe.fetchrow(_SESSION_SQL, id_hash, now))

    async def verify_session(
        self, id_hash: bytes, new_hash: bytes, expires_at: dt.datetime
    ) -> bool:
        """The code was right: the session becomes verified under a new id."""
        status = await self._pipe.execute(
            "UPDATE console_sessions SET id_hash = $2, verified = true, code_hash = NULL,"
            " expires_at = $3 WHERE id_hash = $1 AND NOT verified",
            id_hash, new_hash, expires_at,
        )  # fmt: skip
        return affected(status) > 0

    async def end_session(self, id_hash: bytes) -> None:
        await self._pipe.execute("DELETE FROM console_sessions WHERE id_hash = $1", id_hash)

    async def end_expired(self, now: dt.datetime) -> int:
        status = await self._pipe.execute(
            "DELETE FROM console_sessions WHERE expires_at <= $1", now
        )
        return affected(status)

    async def services_of(
        self, user_id: uuid.UUID, platform_admin: bool, hidden: uuid.UUID
    ) -> list[Row]:
        """``id``, ``name``, ``roles`` of the services the user may see (every service but
        ``hidden``, the engine's own, for a platform admin)."""
        if platform_admin:
            return await self._pipe.fetch(_ALL_SERVICES_SQL, hidden)
        return await self._pipe.fetch(_SERVICES_SQL, user_id)

    async def roles(self, user_id: uuid.UUID, service_id: uuid.UUID) -> frozenset[str]:
        row = await self._pipe.fetchrow(
            "SELECT roles FROM console_memberships WHERE user_id = $1 AND service_id = $2",
            user_id, service_id,
        )  # fmt: skip
        return frozenset() if row is None else frozenset(row["roles"])

    async def user_exists(self, user_id: uuid.UUID) -> bool:
        row = await self._pipe.fetchrow("SELECT 1 FROM console_users WHERE id = $1", user_id)
        return row is not None

    async def names(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of these users (opened), by id: for pages that show who did what."""
        rows = await self._pipe.fetch(
            "SELECT id, name FROM console_users WHERE id = ANY($1::uuid[])", user_ids
        )
        return {r["id"]: self._sealer.open(r["name"], r["id"], "name") or "" for r in rows}
