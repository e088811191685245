"""The console's people, second part: invitations, a service's team, the second factor's
settings, the sign-in failures per client address.

Rules (``engine.domain.console_people`` has the policy; migration 0032 the tables):
- An invitation's address is sealed (bound to the invitation's id) and found by its keyed
  hash; one per (service, address): inviting again replaces token, roles and expiry.
  ``take_invitation`` deletes the row it returns: a link is used once, even by two
  requests at the same moment. Housekeeping deletes invitations expired for a week
  (``forget_expired_invitations``): an unused address is not kept past its use.
- A user's TOTP secrets and phone numbers are sealed (bound to the user's id and column);
  the reads here return them open. ``accept_totp_step`` moves the last accepted step
  forward in one UPDATE that fails for a step not after it: two processes cannot both
  accept the same code.
- A client address is stored only as its keyed hash (``Sealer.lookup_hashes``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from engine.store._pipe import Pipe, affected
from engine.store.rows import Row
from engine.store.sealing import Sealer

_INVITE_SQL = """
INSERT INTO console_invitations (id, service_id, email_hash, email, roles, token_hash,
                                 invited_by, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (service_id, email_hash) DO UPDATE SET
    roles = excluded.roles, token_hash = excluded.token_hash,
    invited_by = excluded.invited_by, expires_at = excluded.expires_at
RETURNING id
"""

_BY_TOKEN = """
SELECT i.id, i.service_id, i.email, i.roles, i.expires_at, s.name AS service_name
FROM console_invitations i JOIN services s ON s.id = i.service_id
WHERE i.token_hash = $1 AND i.expires_at > $2
"""

_MEMBERS_SQL = """
SELECT u.id, u.email, u.name, m.roles FROM console_memberships m
JOIN console_users u ON u.id = m.user_id WHERE m.service_id = $1
"""

_FACTOR_SQL = """
SELECT id, second_factor, totp_secret, totp_pending, totp_last_step, phone, phone_pending,
       phone_code_hash, phone_code_expires
FROM console_users WHERE id = $1
"""


class ConsolePeople:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    def _hash(self, value: str) -> bytes:
        return self._sealer.lookup_hashes(value)[0]

    # -- invitations ------------------------------------------------------------------------
    async def invite(
        self,
        service_id: uuid.UUID,
        email: str,
        roles: list[str],
        token_hash: bytes,
        invited_by: uuid.UUID | None,
        expires_at: dt.datetime,
    ) -> uuid.UUID:
        email = email.lower()
        new = uuid.uuid4()
        row = await self._pipe.fetchrow(
            _INVITE_SQL, new, service_id, self._hash(email),
            self._sealer.seal(email, new, "email"), roles, token_hash, invited_by, expires_at,
        )  # fmt: skip
        found: uuid.UUID = row["id"]
        return found

    def _invitation(self, row: Any) -> Row | None:
        if row is None:
            return None
        found: dict[str, Any] = dict(row.items())
        found["email"] = self._sealer.open(row["email"], row["id"], "email")
        return found

    async def invitations(self, service_id: uuid.UUID) -> list[Row]:
        rows = await self._pipe.fetch(
            "SELECT id, service_id, email, roles, expires_at FROM console_invitations"
            " WHERE service_id = $1 ORDER BY created_at, id",
            service_id,
        )
        return [r for r in map(self._invitation, rows) if r is not None]

    async def invitation(self, token_hash: bytes, now: dt.datetime) -> Row | None:
        """The pending, unexpired invitation a link's token opens."""
        return self._invitation(await self._pipe.fetchrow(_BY_TOKEN, token_hash, now))

    async def take_invitation(self, token_hash: bytes, now: dt.datetime) -> Row | None:
        """The invitation, deleted (used once); None if gone or expired."""
        row = await self._pipe.fetchrow(
            "DELETE FROM console_invitations WHERE token_hash = $1 AND expires_at > $2"
            " RETURNING id, service_id, email, roles",
            token_hash, now,
        )  # fmt: skip
        return self._invitation(row)

    async def forget_expired_invitations(self, expired_before: dt.datetime) -> int:
        """Delete invitations that expired before ``expired_before`` (housekeeping, with
        ``engine.domain.console_people``'s grace): an address nobody took up is personal
        data with no use left. A small table: no index for this."""
        status = await self._pipe.execute(
            "DELETE FROM console_invitations WHERE expires_at <= $1", expired_before
        )
        return affected(status)

    async def cancel_invitation(self, service_id: uuid.UUID, invitation_id: uuid.UUID) -> bool:
        status = await self._pipe.execute(
            "DELETE FROM console_invitations WHERE id = $1 AND service_id = $2",
            invitation_id, service_id,
        )  # fmt: skip
        return affected(status) > 0

    # -- the team ---------------------------------------------------------------------------
    async def members(self, service_id: uuid.UUID) -> list[Row]:
        """``id``, ``email``, ``name`` (open), ``roles`` of the service's members, by name."""
        rows = await self._pipe.fetch(_MEMBERS_SQL, service_id)
        members = []
        for r in rows:
            found: dict[str, Any] = dict(r.items())
            for column in ("email", "name"):
                found[column] = self._sealer.open(r[column], r["id"], column)
            members.append(found)
        return sorted(members, key=lambda m: (str(m["name"]).lower(), str(m["email"])))

    async def remove_member(self, service_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        status = await self._pipe.execute(
            "DELETE FROM console_memberships WHERE service_id = $1 AND user_id = $2",
            service_id, user_id,
        )  # fmt: skip
        return affected(status) > 0

    async def change_roles(
        self, service_id: uuid.UUID, user_id: uuid.UUID, roles: list[str]
    ) -> bool:
        status = await self._pipe.execute(
            "UPDATE console_memberships SET roles = $3 WHERE service_id = $1 AND user_id = $2",
            service_id, user_id, roles,
        )  # fmt: skip
        return affected(status) > 0

    # -- the second factor ------------------------------------------------------------------
    async def factor(self, user_id: uuid.UUID) -> Row | None:
        row = await self._pipe.fetchrow(_FACTOR_SQL, user_id)
        if row is None:
            return None
        found: dict[str, Any] = dict(row.items())
        for column in ("totp_secret", "totp_pending", "phone", "phone_pending"):
            found[column] = self._sealer.open(row[column], user_id, column)
        return found

    async def set_totp_pending(self, user_id: uuid.UUID, secret: str) -> None:
        await self._pipe.execute(
            "UPDATE console_users SET totp_pending = $2 WHERE id = $1",
            user_id, self._sealer.seal(secret, user_id, "totp_pending"),
        )  # fmt: skip

    async def confirm_totp(self, user_id: uuid.UUID, secret: str, step: int) -> bool:
        """The confirmed secret takes effect (and its first step is spent)."""
        status = await self._pipe.execute(
            "UPDATE console_users SET totp_secret = $2, totp_pending = NULL,"
            " totp_last_step = $3, second_factor = 'totp'"
            " WHERE id = $1 AND totp_pending IS NOT NULL",
            user_id, self._sealer.seal(secret, user_id, "totp_secret"), step,
        )  # fmt: skip
        return affected(status) > 0

    async def accept_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        status = await self._pipe.execute(
            "UPDATE console_users SET totp_last_step = $2 WHERE id = $1"
            " AND (totp_last_step IS NULL OR totp_last_step < $2)",
            user_id, step,
        )  # fmt: skip
        return affected(status) > 0

    async def set_phone_pending(
        self, user_id: uuid.UUID, phone: str, code_hash: bytes, expires_at: dt.datetime
    ) -> None:
        await self._pipe.execute(
            "UPDATE console_users SET phone_pending = $2, phone_code_hash = $3,"
            " phone_code_expires = $4 WHERE id = $1",
            user_id, self._sealer.seal(phone, user_id, "phone_pending"), code_hash, expires_at,
        )  # fmt: skip

    async def confirm_phone(self, user_id: uuid.UUID, phone: str) -> None:
        await self._pipe.execute(
            "UPDATE console_users SET phone = $2, phone_pending = NULL, phone_code_hash = NULL,"
            " phone_code_expires = NULL, second_factor = 'sms' WHERE id = $1",
            user_id, self._sealer.seal(phone, user_id, "phone"),
        )  # fmt: skip

    async def use_email_code(self, user_id: uuid.UUID) -> None:
        await self._pipe.execute(
            "UPDATE console_users SET second_factor = 'email' WHERE id = $1", user_id
        )

    # -- sign-in failures per client address -------------------------------------------------
    async def address_failures(self, address: str, since: dt.datetime) -> int:
        row = await self._pipe.fetchrow(
            "SELECT count(*) AS n FROM console_address_failures"
            " WHERE address_hash = ANY($1::bytea[]) AND failed_at > $2",
            self._sealer.lookup_hashes(address), since,
        )  # fmt: skip
        count: int = row["n"]
        return count

    async def record_address_failure(self, address: str, at: dt.datetime) -> None:
        await self._pipe.execute(
            "INSERT INTO console_address_failures (address_hash, failed_at) VALUES ($1, $2)",
            self._hash(address), at,
        )  # fmt: skip

    async def forget_address_failures(self, before: dt.datetime) -> int:
        status = await self._pipe.execute(
            "DELETE FROM console_address_failures WHERE failed_at <= $1", before
        )
        return affected(status)
