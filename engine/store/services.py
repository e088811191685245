"""Services and what belongs to each: its settings row, reply-to addresses, SMS senders and
team members (API keys: ``keys``; templates: ``templates``; callbacks: ``callbacks``).

Rules:
- Settings are written by the admin API only; the registry (``engine.services``) reads
  them back through ``settings`` and caches them.
- ``update`` writes only the columns named in ``SETTINGS`` (a column name is never taken
  from the caller unchecked). ``phone_region`` and ``time_zone`` may be set to NULL: the
  deployment's default (``engine.services.Registry`` resolves it).
- Team members' contacts are sealed, each with its keyed hash beside it
  (``engine.store.sealing``); ``team`` gives the registry the hashes only, so a team or
  safelist check compares hashes (``engine.crypto.HashedRecipients``) and no clear contact
  stays in memory. ``team_members`` opens the contacts for the team's own mail.
- A new default sender (reply-to address or SMS sender) and the end of the previous
  default are one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from engine.crypto import HashedRecipients
from engine.store._pipe import Pipe, Statement
from engine.store.rows import Row
from engine.store.sealing import Sealer

# The columns the admin API may change after creation.
SETTINGS = frozenset({
    "name", "email_from", "sending_domain", "restricted", "active", "suspended", "rate_limit",
    "email_daily_limit", "sms_daily_limit", "email_annual_limit", "sms_annual_limit",
    "prefix_sms", "international_sms", "callback_language", "phone_region", "time_zone",
    # issue 22: email branding (brand_logo: set by set_logo only), default language
    "email_branding", "default_branding_is_french", "brand_name", "brand_colour",
    "default_language",
    "inbound_number",  # issue 24: the number the service receives texts on
})  # fmt: skip
# What the admin API shows of a service.
_ADMIN_COLUMNS = (
    "id, name, email_from, sending_domain, restricted, active, suspended, rate_limit,"
    " email_daily_limit, sms_daily_limit, email_annual_limit, sms_annual_limit, prefix_sms,"
    " international_sms, callback_language, phone_region, time_zone, created_at,"
    " email_branding, default_branding_is_french, brand_name, brand_colour, brand_logo,"
    " default_language, inbound_number"
)


_TEAM_HASHES = (("email_address", "email_hash"), ("mobile_number", "mobile_hash"))


class Services:
    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def exists(self, service_id: uuid.UUID) -> bool:
        return (
            await self._pipe.fetchrow("SELECT 1 FROM services WHERE id = $1", service_id)
            is not None
        )

    async def create(
        self, service_id: uuid.UUID, *, name: str, email_from: str, sending_domain: str | None,
        restricted: bool, rate_limit: int, email_daily_limit: int, sms_daily_limit: int,
        email_annual_limit: int, sms_annual_limit: int, prefix_sms: bool,
        international_sms: bool,
    ) -> Row:  # fmt: skip
        """Insert a service; returns it as ``get`` does."""
        row: Row = await self._pipe.fetchrow(
            "INSERT INTO services (id, name, email_from, sending_domain, restricted, rate_limit,"
            " email_daily_limit, sms_daily_limit, email_annual_limit, sms_annual_limit,"
            " prefix_sms, international_sms) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
            f" RETURNING {_ADMIN_COLUMNS}",
            service_id, name, email_from, sending_domain, restricted, rate_limit,
            email_daily_limit, sms_daily_limit, email_annual_limit, sms_annual_limit,
            prefix_sms, international_sms,
        )  # fmt: skip
        return row

    async def get(self, service_id: uuid.UUID) -> Row | None:
        """The service as the admin API shows it (every setting and ``created_at``)."""
        row: Row | None = await self._pipe.fetchrow(
            f"SELECT {_ADMIN_COLUMNS} FROM services WHERE id = $1", service_id
        )
        return row

    async def update(self, service_id: uuid.UUID, changes: Mapping[str, object]) -> None:
        """Set the given ``SETTINGS`` columns (nothing to do for no changes)."""
        unknown = set(changes) - SETTINGS
        if unknown:
            raise ValueError(f"not a service setting: {', '.join(sorted(unknown))}")
        if not changes:
            return
        sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(changes, start=2))
        await self._pipe.execute(
            f"UPDATE services SET {sets}, updated_at = now() WHERE id = $1",
            service_id,
            *changes.values(),
        )

    async def settings(self, service_id: uuid.UUID) -> Row | None:
        """What the registry caches of a service (``engine.services.Service``'s fields)."""
        row: Row | None = await self._pipe.fetchrow(
            "SELECT id, name, email_from, sending_domain, restricted, active, suspended,"
            " rate_limit, email_daily_limit, sms_daily_limit, email_annual_limit,"
            " sms_annual_limit, prefix_sms, international_sms, callback_language,"
            " phone_region, time_zone, email_branding, default_branding_is_french,"
            " brand_name, brand_colour, brand_logo, default_language, callback_hosts,"
            " inbound_number"
            " FROM services WHERE id = $1",
            service_id,
        )
        return row

    # -- branding (issue 22) ----------------------------------------------------------
    async def set_logo(
        self, service_id: uuid.UUID, digest: str, content_type: str, data: bytes
    ) -> None:
        """The service's logo, and its digest on the service row (which tells every
        process, migration 0010), in one transaction."""
        await self._pipe.transaction([
            (
                "INSERT INTO service_logos (service_id, digest, content_type, data)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (service_id) DO UPDATE SET"
                " digest = $2, content_type = $3, data = $4, created_at = now()",
                (service_id, digest, content_type, data),
            ),
            (
                "UPDATE services SET brand_logo = $2, updated_at = now() WHERE id = $1",
                (service_id, digest),
            ),
        ])  # fmt: skip

    async def logo(self, service_id: uuid.UUID, digest: str) -> Row | None:
        """``content_type`` and ``data`` of the service's logo if its digest is ``digest``."""
        row: Row | None = await self._pipe.fetchrow(
            "SELECT content_type, data FROM service_logos WHERE service_id = $1 AND digest = $2",
            service_id,
            digest,
        )
        return row

    # -- senders and team ------------------------------------------------------------
    async def reply_to_addresses(self, service_id: uuid.UUID) -> list[Row]:
        """``id``, ``email_address``, ``is_default``; oldest first."""
        return await self._pipe.fetch(
            "SELECT id, email_address, is_default FROM reply_to_addresses"
            " WHERE service_id = $1 ORDER BY created_at",
            service_id,
        )

    async def sms_senders(self, service_id: uuid.UUID) -> list[Row]:
        """``id``, ``sms_sender``, ``is_default``; oldest first."""
        return await self._pipe.fetch(
            "SELECT id, sms_sender, is_default FROM sms_senders"
            " WHERE service_id = $1 ORDER BY created_at",
            service_id,
        )

    async def team_members(self, service_id: uuid.UUID) -> list[Row]:
        """``email_address``, ``mobile_number`` (either may be None), open."""
        rows = await self._pipe.fetch(
            "SELECT id, email_address, mobile_number FROM team_members WHERE service_id = $1",
            service_id,
        )
        open_ = self._sealer.open
        return [
            {
                "email_address": open_(r["email_address"], r["id"], "email_address"),
                "mobile_number": open_(r["mobile_number"], r["id"], "mobile_number"),
            }
            for r in rows
        ]

    async def team(self, service_id: uuid.UUID) -> tuple[HashedRecipients, HashedRecipients]:
        """The team's (email addresses, phone numbers) as keyed hashes. A member written
        before migration 0022 has no hash yet: it is opened and hashed here, in memory."""
        rows = await self._pipe.fetch(
            "SELECT id, email_address, mobile_number, email_hash, mobile_hash"
            " FROM team_members WHERE service_id = $1",
            service_id,
        )
        sealer = self._sealer
        found: dict[str, list[bytes]] = {"email_address": [], "mobile_number": []}
        for r in rows:
            for column, hashed in _TEAM_HASHES:
                if r[hashed] is not None:
                    found[column].append(bytes(r[hashed]))
                elif r[column] is not None:
                    hashed_now = sealer.recipient_hash(sealer.open(r[column], r["id"], column))
                    if hashed_now is not None:
                        found[column].append(hashed_now)
        return (
            sealer.hashed_recipients(found["email_address"]),
            sealer.hashed_recipients(found["mobile_number"]),
        )

    async def add_reply_to(
        self, service_id: uuid.UUID, reply_to_id: uuid.UUID, email_address: str, *,
        is_default: bool,
    ) -> None:  # fmt: skip
        statements: list[Statement] = []
        if is_default:
            statements.append(
                (
                    "UPDATE reply_to_addresses SET is_default = false WHERE service_id = $1",
                    (service_id,),
                )
            )
        statements.append(
            (
                "INSERT INTO reply_to_addresses (id, service_id, email_address, is_default)"
                " VALUES ($1, $2, $3, $4)",
                (reply_to_id, service_id, email_address, is_default),
            )
        )
        await self._pipe.transaction(statements)

    async def add_sms_sender(
        self, service_id: uuid.UUID, sender_id: uuid.UUID, sms_sender: str, *, is_default: bool
    ) -> None:
        statements: list[Statement] = []
        if is_default:
            statements.append(
                ("UPDATE sms_senders SET is_default = false WHERE service_id = $1", (service_id,))
            )
        statements.append(
            (
                "INSERT INTO sms_senders (id, service_id, sms_sender, is_default)"
                " VALUES ($1, $2, $3, $4)",
                (sender_id, service_id, sms_sender, is_default),
            )
        )
        await self._pipe.transaction(statements)

    async def add_team_member(
        self, service_id: uuid.UUID, member_id: uuid.UUID, *, email_address: str | None,
        mobile_number: str | None,
    ) -> None:  # fmt: skip
        await self._pipe.execute(
            "INSERT INTO team_members (id, service_id, email_address, mobile_number,"
            " email_hash, mobile_hash) VALUES ($1, $2, $3, $4, $5, $6)",
            member_id,
            service_id,
            self._sealer.seal(email_address, member_id, "email_address"),
            self._sealer.seal(mobile_number, member_id, "mobile_number"),
            self._sealer.recipient_hash(email_address),
            self._sealer.recipient_hash(mobile_number),
        )
