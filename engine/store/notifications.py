"""Notifications: the writes of the row (insert, status changes and the rules that allow
them) and the reads of the v2 API (get, list, cancel). The row itself, in COPY column
order, is ``engine.domain.notification.NotificationRow``.

Rules:
- The hot-path writes (``Store.insert_notifications`` / ``update_statuses`` /
  ``apply_receipts``) are group-committed by ``engine.store.store``; this module holds
  their statements and the per-connection steps, unchanged in cost: one statement per
  batch, or one per round when an id changes twice (``update_in_rounds``).
- A status change names the statuses it may move *from* (``MAY_REPLACE``, enforced by
  ``_UPDATE_SQL`` and the cancel statement); a row in any other status is left alone, so
  receipts arriving late or twice are harmless. ``pending`` followed by a permanent
  failure becomes ``temporary-failure`` (both Notifys), in the same statement.
- Fencing (``engine.domain.ownership``): a status update that names an ``owner`` changes
  the row only while the row is still that owner's (the provider actor's ``sending``
  mark and outcomes). The check is in the locking read (``FOR UPDATE``), so a claim by
  another process that commits first makes the update change nothing; the returned
  changes are exactly the rows changed, and the caller acts only on those.
- A provider reference is a fact, not a claim of work: an update that carries one is
  applied to a row that has none yet whoever owns the row now (the statuses it may move
  from still apply, and the owner is left alone). So a sender that froze in the middle
  of a provider call and was fenced meanwhile still records what the provider accepted,
  and recovery never resends that row (``engine.domain.ownership``).
- A row that has a provider reference is never marked ``sending`` again (a ``sending``
  update without a reference is the provider actor's mark before a call): the claimer's
  mark and the late reference are serialised by the row lock, so either the reference
  came first and the claimer sends nothing, or the claimer's call was already under way
  (a duplicate no one can prevent without an idempotency key at the provider).
- Service first (the distribution column, README's "Distribution plan"): every statement
  here names ``service_id`` bound to the caller's service (status writes: a
  ``StatusUpdate.service_id``), except ``RECEIPT_LOOKUP_SQL``: a receipt knows only the
  provider's reference; it answers with the service, which the receipt's status write
  names. Checked by ``tests/store/test_service_first.py``.
- The v2 reads (get, list, search by recipient) go to the read replica when there is one
  (``engine.store.replica``: lag tolerated, fallback to the primary); cancel and
  ``schedule_of`` read their own writes and stay on the primary.
- Reads return ``Row`` records (by column name), personal values open
  (``engine.store.sealing``); the caller shapes the response.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from engine.domain import statuses as st
from engine.domain.notification import NotificationRow, created_window
from engine.store._pipe import Pipe
from engine.store.rows import Row
from engine.store.sealing import Sealer

NOTIFICATION_COLUMNS = list(NotificationRow.__struct_fields__)
# What an insert writes: the row's columns, then the recipient's keyed hash (computed by
# the sealer: ``Sealer.notification_record``).
STORED_COLUMNS = [*NOTIFICATION_COLUMNS, "recipient_hash"]

# Inserts: an API request waits for its row's commit, so the common small batch (a few
# rows at a time, gathered over 2 ms) is one statement, one round trip: COPY takes two
# (COPY, then the data), and on a busy engine each round trip waits for the event loop
# (bench/e2e.py --rate 1000: ~9 ms a commit of 7 rows). From COPY_FROM_ROWS rows on
# (bulk jobs), COPY's cheaper per-row encoding wins.
COPY_FROM_ROWS = 100
_COLUMN_TYPES = {
    "id": "uuid", "service_id": "uuid", "template_id": "uuid", "template_version": "int",
    "api_key_id": "uuid", "key_type": "text", "notification_type": "text",
    "recipient": "text", "status": "text", "client_reference": "text",
    "personalisation": "jsonb", "subject": "text", "body": "text", "reply_to_text": "text",
    "process_type": "text", "billable_units": "int", "job_id": "uuid",
    "job_row_number": "int", "scheduled_for": "timestamptz", "unsubscribe_url": "text",
    "created_at": "timestamptz", "owner": "uuid", "language": "text", "callback_url": "text",
    "recipient_hash": "bytea",
}  # fmt: skip
# ``callback_url`` (issue 23) is the row's last column: a batch in which no row names one
# (the common case) is inserted without it (INSERT_SQL), so an ordinary send costs no more.
assert NOTIFICATION_COLUMNS[-1] == "callback_url"
CALLBACK_URL_AT = STORED_COLUMNS.index("callback_url")


def _insert_sql(columns: list[str]) -> str:
    return "INSERT INTO notifications ({}) SELECT * FROM unnest({})".format(
        ", ".join(columns),
        ", ".join(f"${i}::{_COLUMN_TYPES[c]}[]" for i, c in enumerate(columns, 1)),
    )


INSERT_SQL = _insert_sql([c for c in STORED_COLUMNS if c != "callback_url"])
INSERT_WITH_URL_SQL = _insert_sql(STORED_COLUMNS)

# What each new status may replace: the one list of allowed transitions. Status writes
# send it with every row (``from_statuses`` in _UPDATE_SQL); the cancel statement is
# built from it.
MAY_REPLACE: dict[str, tuple[str, ...]] = {
    st.SENDING: (st.CREATED, st.SENDING),
    st.SENT: (st.CREATED, st.SENDING),
    st.PENDING: (st.SENDING, st.SENT),
    st.DELIVERED: (st.SENDING, st.SENT, st.PENDING),
    st.TEMPORARY_FAILURE: (st.CREATED, st.SENDING, st.SENT, st.PENDING),
    st.PERMANENT_FAILURE: (st.CREATED, st.SENDING, st.SENT, st.PENDING),
    # SENT: SMS are `sent` on hand-off; an SNS receipt for an opted-out number follows.
    # PENDING_VIRUS_CHECK: a row the scanner cannot show clean (its files are gone, or
    # it waited past NOTIFY_SCAN_GIVE_UP_HOURS) ends here, never sent (engine.actors.scanner).
    st.TECHNICAL_FAILURE: (st.CREATED, st.SENDING, st.SENT, st.PENDING_VIRUS_CHECK),
    st.PROVIDER_FAILURE: (st.CREATED, st.SENDING, st.SENT),
    st.CANCELLED: (st.CREATED,),
    st.VIRUS_SCAN_FAILED: (st.CREATED, st.PENDING_VIRUS_CHECK),
}
# The from-statuses as _UPDATE_SQL's text parameter, joined once rather than per row.
_MAY_REPLACE_TEXT = {new: ",".join(old) for new, old in MAY_REPLACE.items()}


class StatusUpdate(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    status: str
    at: dt.datetime
    provider: str | None = None
    provider_reference: str | None = None
    provider_response: str | None = None
    feedback_type: str | None = None
    feedback_subtype: str | None = None
    # Fencing: only while the row is owned by this registration (None: whoever owns it).
    owner: uuid.UUID | None = None
    # The row's service, the distribution column (README, "Distribution plan"): only a
    # row of this service is changed. Every per-notification write knows it (the
    # provider actor from its message, a receipt from its lookup, requeue from the row);
    # None only for recovery's timeouts, a sweep that finds rows by age.
    service_id: uuid.UUID | None = None


class StatusChange(msgspec.Struct, frozen=True):
    """A row whose status really changed: what metrics need (callbacks are queued by the
    database in the same statement). The fields are in the order of ``_UPDATE_SQL``'s
    RETURNING list: a record unpacks into one. Deliberately narrow: decoding the whole
    row for every status write cost ~6 us per row, three writes per notification."""

    id: uuid.UUID
    status: str
    previous_status: str
    notification_type: str
    process_type: str
    # Seconds from created_at to this change (to sent_at for a hand-over to the provider).
    age_s: float | None


class ReceiptOutcome(msgspec.Struct, frozen=True):
    matched: bool
    change: StatusChange | None


_UPDATE_SQL = """
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::text[], $10::uuid[],
                         $13::uuid[])
        AS u(id, status, at, provider, provider_reference, provider_response,
             feedback_type, feedback_subtype, from_statuses, owner, service_id)
), old AS (
    SELECT n.id, n.status AS previous_status FROM notifications n JOIN u ON n.id = u.id
    WHERE n.id = ANY($1::uuid[])  -- lets the planner use the primary key, not a table scan
      AND n.created_at >= $11 AND n.created_at < $12  -- the ids' partitions only
      AND n.status = ANY(string_to_array(u.from_statuses, ','))
      AND (u.service_id IS NULL OR n.service_id = u.service_id)  -- the distribution column
      AND (u.owner IS NULL OR n.owner = u.owner  -- fencing; a reference is a fact:
           OR (u.provider_reference IS NOT NULL AND n.provider_reference IS NULL))
      AND (u.status <> 'sending' OR u.provider_reference IS NOT NULL  -- no mark once
           OR n.provider_reference IS NULL)                           -- accepted
    FOR UPDATE OF n
), j AS (
    -- One relation to join the UPDATE with: it drives primary-key lookups into
    -- notifications (joining u and old separately made a nested loop of u per row).
    SELECT u.*, old.previous_status FROM u JOIN old ON old.id = u.id
)
UPDATE notifications AS n SET
    status = CASE WHEN n.status = 'pending' AND j.status = 'permanent-failure'
                  THEN 'temporary-failure' ELSE j.status END,
    provider = COALESCE(j.provider, n.provider),
    provider_reference = COALESCE(j.provider_reference, n.provider_reference),
    provider_response = COALESCE(j.provider_response, n.provider_response),
    feedback_type = COALESCE(j.feedback_type, n.feedback_type),
    feedback_subtype = COALESCE(j.feedback_subtype, n.feedback_subtype),
    sent_at = CASE WHEN n.sent_at IS NULL AND j.status IN ('sending', 'sent', 'pending')
                   THEN j.at ELSE n.sent_at END,
    updated_at = j.at
FROM j
WHERE n.id = j.id AND n.created_at >= $11 AND n.created_at < $12
RETURNING n.id, n.status, j.previous_status, n.notification_type, n.process_type,
          extract(epoch FROM COALESCE(CASE WHEN n.status IN ('sending', 'sent', 'pending')
                                           THEN n.sent_at END, n.updated_at) - n.created_at
          )::float8
"""

# Receipts name the provider's reference: the ids they move and their services, which the
# status write then names (keyed pool, no transaction). The one hot-path statement on
# notifications that cannot name the service: an SES or SNS event carries only the
# provider's message id. Under Citus it fans out to every shard (README, "Distribution
# plan": how a deployment would route it instead). Same index, same heap fetch as before:
# service_id only widens the answer.
RECEIPT_LOOKUP_SQL = (
    "SELECT provider_reference, id, service_id FROM notifications"
    " WHERE provider_reference = ANY($1::text[])"
)


async def lookup_references(conn: Any, references: list[str]) -> dict[str, Any]:
    """The rows of these provider references (``RECEIPT_LOOKUP_SQL``'s columns), by
    reference; one statement over every partition (a receipt names no day)."""
    return {r["provider_reference"]: r for r in await conn.fetch(RECEIPT_LOOKUP_SQL, references)}


async def update_in_rounds(conn: Any, updates: list[StatusUpdate]) -> list[list[StatusChange]]:
    """Apply updates in order. One UPDATE cannot change a row twice, so the k-th update
    of an id goes in round k. One round is one statement (atomic on its own, with the
    callback trigger inside it); several rounds run in order in one transaction."""
    rounds: list[list[int]] = []
    seen: dict[uuid.UUID, int] = {}
    for index, u in enumerate(updates):
        k = seen.get(u.id, 0)
        seen[u.id] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(index)
    if len(rounds) == 1:
        return await _update_round(conn, updates, rounds[0], [[] for _ in updates])
    async with conn.transaction():
        results: list[list[StatusChange]] = [[] for _ in updates]
        for indexes in rounds:
            await _update_round(conn, updates, indexes, results)
        return results


async def _update_round(
    conn: Any, updates: list[StatusUpdate], indexes: list[int], results: list[list[StatusChange]]
) -> list[list[StatusChange]]:
    """One UPDATE for ``updates[i] for i in indexes`` (distinct ids); appends to results."""
    batch = [updates[i] for i in indexes]
    records = await conn.fetch(_UPDATE_SQL, *_update_columns(batch))
    by_id = {r["id"]: r for r in records}
    for i in indexes:
        rec = by_id.get(updates[i].id)
        if rec is not None:
            results[i].append(StatusChange(*rec))
    return results


def _update_columns(batch: list[StatusUpdate]) -> tuple[Any, ...]:
    return (
        [u.id for u in batch],
        [u.status for u in batch],
        [u.at for u in batch],
        [u.provider for u in batch],
        [u.provider_reference for u in batch],
        [u.provider_response for u in batch],
        [u.feedback_type for u in batch],
        [u.feedback_subtype for u in batch],
        [_MAY_REPLACE_TEXT[u.status] for u in batch],
        [u.owner for u in batch],
        *created_window(u.id for u in batch),
        [u.service_id for u in batch],
    )


# -- the v2 API's reads and the cancel -------------------------------------------------
# The console's activity: the key types of a service's real traffic (the console sends as
# ``normal``); a test key's sends are not shown.
ACTIVITY_KEY_TYPES = ("normal", "team")

# What GET and the list show of a notification (engine.api.v2.get_notifications).
_V2_COLUMNS = (
    "id, client_reference, recipient, notification_type, status, template_id,"
    " template_version, body, subject, created_at, sent_at, updated_at, scheduled_for,"
    " provider_response, key_type, feedback_subtype, billable_units, unsubscribe_url"
)


def _older_than(params: list[Any], older_than: uuid.UUID) -> list[str]:
    """The list cursor, shared by the v2 list and the console's activity: rows after
    ``older_than``'s notification in (created_at, id) order, the order both lists use
    (rows of one job share a created_at, so comparing created_at alone skipped the rest
    of a job at a page edge). Appends its parameters to ``params``; no row when the id is
    unknown. The first condition is the one an index range scan can use."""
    params.extend((older_than, *created_window((older_than,))))
    n = len(params)
    cursor = (
        "(SELECT created_at, id FROM notifications WHERE service_id = $1"
        f" AND id = ${n - 2} AND created_at >= ${n - 1} AND created_at < ${n})"
    )
    return [f"created_at <= (SELECT created_at FROM {cursor} c)", f"(created_at, id) < {cursor}"]


def _list_filters(
    params: list[Any],
    types: list[str],
    statuses: list[str],
    reference: str | None,
    older_than: uuid.UUID | None,
) -> list[str]:
    """The filters the v2 list and the console's activity share: these types and statuses
    (all when empty), this client reference (any when None), after ``older_than``
    (``_older_than``). Appends their parameters to ``params`` (the service is ``$1``)."""
    where = []
    for column, values in (("notification_type", types), ("status", statuses)):
        if values:
            params.append(values)
            where.append(f"{column} = ANY(${len(params)}::text[])")
    if reference is not None:
        params.append(reference)
        where.append(f"client_reference = ${len(params)}")
    if older_than is not None:
        where.extend(_older_than(params, older_than))
    return where


_CANCELLABLE = ", ".join(f"'{s}'" for s in MAY_REPLACE[st.CANCELLED])
# The check and the change are one UPDATE, so a recovery sweep claiming the row at the
# same moment either wins (the cancel is refused) or loses (the row is never sent).
_CANCEL_SQL = f"""
UPDATE notifications SET status = '{st.CANCELLED}', updated_at = now()
WHERE service_id = $2 AND id = $1 AND created_at >= $3 AND created_at < $4
  AND status IN ({_CANCELLABLE})
  AND scheduled_for IS NOT NULL AND owner IS NULL
RETURNING {_V2_COLUMNS}, service_id, process_type
"""


class Notifications:
    """Reads of the v2 API and the cancel; each bound to the store's pipe."""

    def __init__(self, pipe: Pipe, sealer: Sealer) -> None:
        self._pipe = pipe
        self._sealer = sealer

    async def get(self, service_id: uuid.UUID, notification_id: uuid.UUID) -> Row | None:
        """GET's row: from the read replica if there is one, from the primary if the
        replica does not have it (yet): ``engine.store.replica`` states the lag tolerated."""
        row = await self._pipe.read_row(
            f"SELECT {_V2_COLUMNS} FROM notifications WHERE service_id = $2 AND id = $1"
            " AND created_at >= $3 AND created_at < $4",
            notification_id,
            service_id,
            *created_window((notification_id,)),
        )
        return None if row is None else self._sealer.notification(row)

    async def page(
        self,
        service_id: uuid.UUID,
        key_type: str,
        *,
        types: list[str],
        statuses: list[str],
        reference: str | None,
        include_jobs: bool,
        older_than: uuid.UUID | None,
        limit: int,
        template_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
    ) -> list[Row]:
        """Newest first: the service's notifications sent with ``key_type`` keys, of these
        ``types`` and ``statuses`` (all when empty), with this client ``reference`` (any
        when None), from jobs too if ``include_jobs``, after ``older_than``'s
        notification in (created_at, id) order (none if that id is unknown); only those
        of ``template_id``, of the job ``job_id``, created strictly after
        ``created_after`` and strictly before ``created_before``, when given. From the
        read replica if there is one (the newest rows and statuses may lag:
        ``engine.store.replica``)."""
        params: list[Any] = [service_id, key_type]
        where = ["service_id = $1", "key_type = $2"]
        where += _list_filters(params, types, statuses, reference, older_than)
        if template_id is not None:
            params.append(template_id)
            where.append(f"template_id = ${len(params)}")
        if job_id is not None:
            params.append(job_id)
            where.append(f"job_id = ${len(params)}")
        elif not include_jobs:
            where.append("job_id IS NULL")
        if created_after is not None:
            params.append(created_after)
            where.append(f"created_at > ${len(params)}")
        if created_before is not None:
            params.append(created_before)
            where.append(f"created_at < ${len(params)}")
        rows = await self._pipe.read(
            f"SELECT {_V2_COLUMNS} FROM notifications WHERE {' AND '.join(where)}"
            f" ORDER BY created_at DESC, id DESC LIMIT {int(limit)}",
            *params,
        )
        return self._sealer.notifications(rows)

    async def activity(
        self,
        service_id: uuid.UUID,
        *,
        types: list[str],
        statuses: list[str],
        reference: str | None,
        older_than: uuid.UUID | None,
        limit: int,
    ) -> list[Row]:
        """Newest first: the console's activity (issue 27), the service's notifications sent
        with live and team keys or from the console (key type ``normal``), jobs included
        (test keys' are not the service's real traffic), filtered like ``page``, after
        ``older_than``'s notification in (created_at, id) order (rows of one job share a
        created_at). One ordered scan of ``notifications_list_idx`` per key type, merged:
        no sort of the service's whole history. From the read replica if there is one."""
        params: list[Any] = [service_id]
        where = _list_filters(params, types, statuses, reference, older_than)
        order = f"ORDER BY created_at DESC, id DESC LIMIT {int(limit)}"
        branches = " UNION ALL ".join(
            f"(SELECT {_V2_COLUMNS} FROM notifications WHERE service_id = $1"
            f" AND key_type = '{kind}'{''.join(' AND ' + w for w in where)} {order})"
            for kind in ACTIVITY_KEY_TYPES
        )
        rows = await self._pipe.read(f"SELECT * FROM ({branches}) merged {order}", *params)
        return self._sealer.notifications(rows)

    async def by_recipient(
        self, service_id: uuid.UUID, recipient: str, *, limit: int = 50
    ) -> list[Row]:
        """Newest first: the service's notifications to ``recipient`` (an email address in
        any case, a phone number in E.164), found by its keyed hash under every data key
        (index ``(service_id, recipient_hash, created_at)``, migration 0022): no clear
        value is compared. Rows without a hash (written before 0022, until ``data
        reencrypt``) are not found. From the read replica if there is one (may lag)."""
        rows = await self._pipe.read(
            f"SELECT {_V2_COLUMNS} FROM notifications"
            " WHERE service_id = $1 AND recipient_hash = ANY($2::bytea[])"
            f" ORDER BY created_at DESC, id DESC LIMIT {int(limit)}",
            service_id,
            self._sealer.recipient_hashes(recipient),
        )
        return self._sealer.notifications(rows)

    async def cancel(self, service_id: uuid.UUID, notification_id: uuid.UUID) -> Row | None:
        """Cancel a scheduled notification nobody has claimed yet: the row as GET shows it
        (plus ``service_id`` and ``process_type``), or None if it could not be cancelled."""
        row = await self._pipe.fetchrow(
            _CANCEL_SQL, notification_id, service_id, *created_window((notification_id,))
        )
        return None if row is None else self._sealer.notification(row)

    async def schedule_of(self, service_id: uuid.UUID, notification_id: uuid.UUID) -> Row | None:
        """``status`` and ``scheduled_for`` of a notification (why a cancel was refused)."""
        row: Row | None = await self._pipe.fetchrow(
            "SELECT status, scheduled_for FROM notifications WHERE service_id = $2 AND id = $1"
            " AND created_at >= $3 AND created_at < $4",
            notification_id,
            service_id,
            *created_window((notification_id,)),
        )
        return row
