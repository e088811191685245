"""Personal data at rest, at the store's boundary: which columns are sealed, what each value
is bound to, and the re-encryption that moves every value onto the write key (the cipher
and the keys: ``engine.crypto.DataKeys``).

Rules:
- Sealed columns, each value bound (associated data) to its row and column, so a value
  copied onto another row or into another column does not open:
    notifications   recipient, personalisation, subject, body    bound to (id, column)
    callback_queue  recipient (migration 0002's triggers copy it    (notification_id,
                    from notifications, sealed as it is)            "recipient")
    documents       filename, content                            (id, column)
    team_members    email_address, mobile_number                 (id, column)
    jobs            original_file_name                           (id, column)
    report_chunks   content: a report's CSV (issue 24; written and  (report_id,
                    read by engine.store.reports; not re-sealed by  "content/<attempt>/
                    ``reencrypt``: a report lives 3 days)           <seq>")
    inbound_sms     user_number, content                         (id, column)
    idempotency_keys response (the stored answer)                (token, "response")
    console_uploads file_name, content: a CSV between its check  (id, column)
                    and its send (issue 27; minutes, so not
                    re-sealed by ``reencrypt``)
- Recipient hashes (``engine.crypto``: HMAC-SHA256 of the normalised recipient under the
  write key, 16 bytes) are written beside the sealed value, for lookups that compare hashes
  and never read a clear value: ``notifications.recipient_hash`` (search by recipient) and
  ``team_members.email_hash`` / ``mobile_hash`` (team and safelist checks, through
  ``engine.crypto.HashedRecipients``). A lookup matches the hash under every data key, so
  rows hashed before a rotation are found until ``reencrypt`` re-hashes them (it re-hashes
  each row it re-seals, and fills the hashes of rows written before migration 0022).
- Looked up by equality, so kept as keyed hashes, never clear nor sealed: the numbers of
  ``sms_opt_outs`` (``lookup_hashes``: the recipient hashes below, found under every key
  in force, so a data key must stay listed while opt-outs hashed under it matter;
  ``reencrypt`` cannot move a hash it cannot open).
- Not walked by ``reencrypt`` (short-lived, so the old key must stay listed until they
  are gone): ``idempotency_keys.response`` (24 h) and the text carried by an owed
  ``inbound_sms`` callback (``callback_queue.provider_response``, until delivered).
- No column changes type, so no migration rewrites a populated table: text columns hold
  the sealed text, bytea the sealed bytes, and the jsonb ``personalisation`` a JSON string
  holding the sealed text of the whole JSON object.
- Writes seal and reads open inside the store's methods (the group-commit COPY, the
  documents, team and job inserts; notifications get/list/cancel, recovery claims, job
  pages, complaints, the callback claim, attachments and links): the rest of the engine
  sees clear values. A value without the mark (written clear, before encryption) is read
  as it is until ``reencrypt`` seals it.
- Left clear, on purpose: ``client_reference`` (the client's own key, looked up by
  equality in SQL; GC keeps it clear too), the service's own senders and reply-to
  addresses, templates (the service's text, before personalisation), ``unsubscribe_url``,
  ``complaints`` (ids, a feedback type, a date) and ``unmatched_receipts`` (a provider
  reference, a status, a time, the provider's short response: the receipt parsers keep
  nothing else). ``provider_response`` is a provider's text: SES and SNS receipt texts name
  no recipient (``engine.providers.ses_events``), but an AWS error message on a refused
  call can (``engine.providers.aws.describe``): see the README.
- No lookup reads a sealed column: lookups compare recipient hashes (above).
- ``reencrypt`` walks each table in primary-key windows of ``window`` rows, locks what in
  the window is not sealed with the write key (``FOR UPDATE SKIP LOCKED``: the engine and
  other re-encrypting processes keep running) and re-seals it in one transaction per
  window. Rows locked by someone else are left for the next pass; passes repeat (bounded)
  until none is left.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from engine.crypto import MARK, DataKeys, HashedRecipients, SealError
from engine.domain.notification import NotificationRow
from engine.store._pipe import Pipe
from engine.store.rows import Row

# A sealed personalisation as PostgreSQL prints the jsonb string: "\u0001<key id>...".
_JSON_MARK = '"\\u0001'
_NOTIFICATION_TEXT = ("recipient", "subject", "body")
# Positions in NotificationRow (COPY order) of the sealed columns.
_FIELDS = NotificationRow.__struct_fields__
_RECIPIENT, _PERSONALISATION = _FIELDS.index("recipient"), _FIELDS.index("personalisation")
_SUBJECT, _BODY = _FIELDS.index("subject"), _FIELDS.index("body")


def bound(owner: uuid.UUID, column: str) -> bytes:
    """The associated data of a value: its row's id and its column."""
    return owner.bytes + b"/" + column.encode()


class Sealer:
    """Seals and opens the sealed columns. Without keys (a store opened only to migrate or
    inspect) it writes clear and refuses to open a sealed value."""

    def __init__(self, keys: DataKeys | None) -> None:
        self.keys = keys

    def _keys(self) -> DataKeys:
        if self.keys is None:
            raise SealError("this store has no data keys")
        return self.keys

    # -- one value ------------------------------------------------------------------------
    def seal(self, value: str | None, owner: uuid.UUID, column: str) -> str | None:
        if value is None or self.keys is None:
            return value
        return self.keys.seal(value, bound(owner, column))

    def open(self, value: str | None, owner: uuid.UUID, column: str) -> str | None:
        if value is None or not value.startswith(MARK):
            return value
        return self._keys().open(value, bound(owner, column))

    def seal_json(self, value: str | None, owner: uuid.UUID) -> str | None:
        """A JSON text as the JSON string of its sealed form (for a jsonb column)."""
        if value is None or self.keys is None:
            return value
        return _JSON_MARK + self.keys.seal(value, bound(owner, "personalisation"))[1:] + '"'

    def open_json(self, value: str | None, owner: uuid.UUID) -> str | None:
        if value is None or not value.startswith(_JSON_MARK):
            return value
        sealed = MARK + value[len(_JSON_MARK) : -1]
        return self._keys().open(sealed, bound(owner, "personalisation"))

    def recipient_hash(self, recipient: str | None) -> bytes | None:
        """The stored hash of a recipient (None without keys or recipient)."""
        if recipient is None or self.keys is None:
            return None
        return self.keys.recipient_hash(recipient)

    def recipient_hashes(self, recipient: str) -> list[bytes]:
        """What a lookup of ``recipient`` matches: its hash under every data key."""
        return list(self._keys().recipient_hashes(recipient))

    def hashed_recipients(self, hashes: Iterable[bytes]) -> HashedRecipients:
        """Stored recipient hashes as a set a recipient is tested against (``in``)."""
        return HashedRecipients(hashes, self._keys())

    def seal_bytes(self, value: bytes, owner: uuid.UUID, column: str) -> bytes:
        if self.keys is None:
            return value
        return self.keys.seal_bytes(value, bound(owner, column))

    def open_bytes(self, value: bytes, owner: uuid.UUID, column: str) -> bytes:
        if not value.startswith(MARK.encode()):
            return value
        return self._keys().open_bytes(value, bound(owner, column))

    def lookup_hashes(self, value: str) -> list[bytes]:
        """The recipient hashes of a value looked up by equality (``recipient_hashes``, the
        write key's first: store that one); without keys a plain SHA-256 (a store without
        keys writes clear)."""
        if self.keys is None:
            return [hashlib.sha256(value.encode()).digest()]
        return list(self.keys.recipient_hashes(value))

    # -- onto the write key (re-encryption) ----------------------------------------------
    def reseal(self, value: str | None, owner: uuid.UUID, column: str) -> str | None:
        return self.seal(self.open(value, owner, column), owner, column)

    def reseal_json(self, value: str | None, owner: uuid.UUID) -> str | None:
        return self.seal_json(self.open_json(value, owner), owner)

    def reseal_bytes(self, value: bytes | None, owner: uuid.UUID, column: str) -> bytes | None:
        if value is None:
            return None
        return self.seal_bytes(self.open_bytes(bytes(value), owner, column), owner, column)

    # -- rows -----------------------------------------------------------------------------
    def notification_record(self, row: NotificationRow) -> tuple[Any, ...]:
        """The row in COPY column order, its personal columns sealed, then the recipient's
        hash (``engine.store.notifications.STORED_COLUMNS``)."""
        record = list(msgspec.structs.astuple(row))
        keys = self.keys
        record.append(None if keys is None else keys.recipient_hash(row.recipient))
        if keys is not None:
            owner = row.id.bytes
            record[_RECIPIENT] = keys.seal(row.recipient, owner + b"/recipient")
            record[_BODY] = keys.seal(row.body, owner + b"/body")
            if row.subject is not None:
                record[_SUBJECT] = keys.seal(row.subject, owner + b"/subject")
            if row.personalisation is not None:
                sealed = keys.seal(row.personalisation, owner + b"/personalisation")
                record[_PERSONALISATION] = _JSON_MARK + sealed[1:] + '"'
        return tuple(record)

    def notification(self, record: Any, id_column: str = "id") -> dict[str, Any]:
        """A read row (any subset of the notification's columns) with its values open."""
        row = dict(record)
        owner = row[id_column]
        for column in _NOTIFICATION_TEXT:
            if column in row:
                row[column] = self.open(row[column], owner, column)
        if "personalisation" in row:
            row["personalisation"] = self.open_json(row["personalisation"], owner)
        return row

    def notifications(self, records: Iterable[Any]) -> list[Row]:
        return [self.notification(r) for r in records]


# -- re-encryption ----------------------------------------------------------------------


class _Table(msgspec.Struct, frozen=True):
    name: str
    key: str  # primary key, the walk's order
    key_type: str
    start: object  # below every key
    owner: str  # the column values are bound to
    text: tuple[str, ...] = ()
    jsonb: tuple[str, ...] = ()
    bytea: tuple[str, ...] = ()
    hashes: tuple[tuple[str, str], ...] = ()  # (hash column, the text column it hashes)


_NIL = uuid.UUID(int=0)
TABLES = (
    _Table("notifications", "id", "uuid", _NIL, "id", text=("recipient", "subject", "body"),
           jsonb=("personalisation",), hashes=(("recipient_hash", "recipient"),)),
    _Table("callback_queue", "seq", "bigint", 0, "notification_id", text=("recipient",)),
    _Table("documents", "id", "uuid", _NIL, "id", text=("filename", "confirm_email"),
           bytea=("content",)),
    _Table("team_members", "id", "uuid", _NIL, "id", text=("email_address", "mobile_number"),
           hashes=(("email_hash", "email_address"), ("mobile_hash", "mobile_number"))),
    _Table("jobs", "id", "uuid", _NIL, "id", text=("original_file_name",)),
    _Table("inbound_sms", "id", "uuid", _NIL, "id", text=("user_number", "content")),
    _Table("console_users", "id", "uuid", _NIL, "id",
           text=("email", "name", "totp_secret", "totp_pending", "phone", "phone_pending"),
           hashes=(("email_hash", "email"),)),
    _Table("console_invitations", "id", "uuid", _NIL, "id", text=("email",),
           hashes=(("email_hash", "email"),)),
)  # fmt: skip


def _kinds(t: _Table) -> tuple[str, ...]:
    """The kinds of sealed column a table has, in the order of their prefix parameters."""
    return tuple(k for k, cols in (("text", t.text), ("jsonb", t.jsonb), ("bytea", t.bytea))
                 if cols)  # fmt: skip


def _stale(t: _Table, first: int) -> str:
    """SQL: some value of the row is not sealed with the write key; the write key's prefix
    of each kind (``_kinds``) is a parameter from ``$first`` on."""
    number = {k: f"${i}" for i, k in enumerate(_kinds(t), first)}
    checks = [f"({c} IS NOT NULL AND left({c}, 9) <> {number['text']})" for c in t.text]
    checks += [f"({c} IS NOT NULL AND left({c}::text, 15) <> {number['jsonb']})" for c in t.jsonb]
    checks += [
        f"({c} IS NOT NULL AND substring({c} FROM 1 FOR 9) <> {number['bytea']})" for c in t.bytea
    ]
    # A recipient without its hash (written before migration 0022): hashed on the way.
    checks += [f"({h} IS NULL AND {c} IS NOT NULL)" for h, c in t.hashes]
    return " OR ".join(checks)


def _statements(t: _Table) -> tuple[str, str, str, str]:
    """(the window's last key, lock the stale rows of a window, write them, count)."""
    hashes = tuple(h for h, _ in t.hashes)
    columns = t.text + t.jsonb + t.bytea + hashes
    window = (
        f"SELECT {t.key} FROM (SELECT {t.key} FROM {t.name} WHERE {t.key} > $1"
        f" ORDER BY {t.key} LIMIT $2) w ORDER BY {t.key} DESC LIMIT 1"
    )
    shown = ", ".join([*t.text, *(f"{c}::text AS {c}" for c in t.jsonb), *t.bytea])
    key_owner = t.key if t.key == t.owner else f"{t.key}, {t.owner}"
    lock = (
        f"SELECT {key_owner}, {shown} FROM {t.name}"
        f" WHERE {t.key} > $1 AND {t.key} <= $2 AND ({_stale(t, 3)})"
        " FOR UPDATE SKIP LOCKED"
    )
    types = [f"$1::{t.key_type}[]"]
    types += [f"${i}::text[]" for i, _ in enumerate(t.text, 2)]
    types += [f"${i}::jsonb[]" for i, _ in enumerate(t.jsonb, 2 + len(t.text))]
    types += [
        f"${i}::bytea[]" for i, _ in enumerate(t.bytea + hashes, 2 + len(t.text) + len(t.jsonb))
    ]
    update = (
        f"UPDATE {t.name} t SET {', '.join(f'{c} = u.{c}' for c in columns)}"
        f" FROM unnest({', '.join(types)}) AS u({t.key}, {', '.join(columns)})"
        f" WHERE t.{t.key} = u.{t.key}"
    )
    remaining = f"SELECT count(*) FROM {t.name} WHERE {_stale(t, 1)}"
    return window, lock, update, remaining


class ReencryptResult(msgspec.Struct, frozen=True):
    resealed: dict[str, int]  # rows re-sealed, per table
    remaining: dict[str, int]  # rows still not on the write key (locked all along)


class Reencrypt:
    """``python -m engine data reencrypt``: every sealed column onto the write key."""

    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    def _prefixes(self, t: _Table) -> list[object]:
        """The write key's prefix of each kind of sealed column ``t`` has."""
        keys = self._sealer._keys()
        prefix: dict[str, object] = {
            "text": keys.prefix, "jsonb": _JSON_MARK + keys.write_id, "bytea": keys.prefix_bytes
        }  # fmt: skip
        return [prefix[k] for k in _kinds(t)]

    async def remaining(self) -> dict[str, int]:
        """Rows per table holding a value not sealed with the write key."""
        found = {}
        for t in TABLES:
            row = await self._pipe.fetchrow(_statements(t)[3], *self._prefixes(t))
            found[t.name] = int(row[0])
        return found

    async def window(self, t: _Table, after: object, *, rows: int) -> tuple[object | None, int]:
        """Re-seal the stale rows of the next ``rows`` keys after ``after``: (the window's
        last key, or None at the end; rows re-sealed)."""
        window_sql, lock_sql, update_sql, _ = _statements(t)
        prefixes = self._prefixes(t)
        sealer = self._sealer

        async def go() -> tuple[object | None, int]:
            async with self._pipe.pool.acquire() as conn, conn.transaction():
                last = await conn.fetchval(window_sql, after, rows)
                if last is None:
                    return None, 0
                found = await conn.fetch(lock_sql, after, last, *prefixes)
                if not found:
                    return last, 0
                columns: list[list[Any]] = [[r[t.key] for r in found]]
                for c in t.text:
                    columns.append([sealer.reseal(r[c], r[t.owner], c) for r in found])
                for c in t.jsonb:
                    columns.append([sealer.reseal_json(r[c], r[t.owner]) for r in found])
                for c in t.bytea:
                    columns.append([sealer.reseal_bytes(r[c], r[t.owner], c) for r in found])
                for _, c in t.hashes:  # the write key's hash of the clear recipient
                    hash_ = sealer.recipient_hash
                    columns.append([hash_(sealer.open(r[c], r[t.owner], c)) for r in found])
                await conn.execute(update_sql, *columns)
                return last, len(found)

        return await self._pipe.db.call(go)

    async def run(self, *, window: int = 1000, passes: int = 5) -> ReencryptResult:
        resealed = {t.name: 0 for t in TABLES}
        remaining: dict[str, int] = {}
        for _ in range(passes):
            for t in TABLES:
                after: object | None = t.start
                while after is not None:
                    after, count = await self.window(t, after, rows=window)
                    resealed[t.name] += count
            remaining = await self.remaining()
            if not any(remaining.values()):
                break
        return ReencryptResult(resealed, remaining)
