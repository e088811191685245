"""StoreActor: the only owner of the asyncpg pool, and the group-commit writer.

Rules:
- asyncpg is asyncio-only. It runs on the store's own asyncio thread
  (``engine.store.asyncio_thread``) and every call goes through ``self.db.call``;
  nothing else in the engine touches asyncio.
- Writes on the hot path are never one round trip per notification. Callers hand rows to
  ``insert_notifications`` / ``update_statuses``; writer tasks gather everything that
  arrives within ``store_linger_ms`` (or ``store_batch_rows`` rows), write it with one COPY
  or one ``UPDATE ... FROM unnest(...)`` in one transaction, then wake every waiter. A
  caller returns only after its rows are committed (the 201 depends on it).
- A failed batch fails every waiter in it with the database error; nothing is retried
  silently here (the caller decides).
- Mailboxes are bounded: when writers fall behind, callers wait (backpressure).
- Round trips are the cost that matters (each one is a syscall both ways and a wake-up on
  each side), so connections keep no session state between uses (no session ``SET``, no
  ``LISTEN``, no advisory lock or cursor held past the call) and the pool does not reset
  them on release.
- Statements that find their rows by key on the hot path (status and receipt writes, the
  callback queue's claim and bookkeeping: ``keyed=True``) run on their own small pool
  whose sessions always plan custom and shun table scans (``engine.store.pools``), so a
  status batch is one statement without BEGIN/SET/COMMIT around it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio

from engine.domain import statuses as st
from engine.providers.base import Receipt
from engine.store.asyncio_thread import AsyncioThread, open_asyncio_thread
from engine.store.group_commit import GroupCommit
from engine.store.pools import STATEMENT_TIMEOUT_S, open_pools


class NotificationRow(msgspec.Struct, kw_only=True):
    """One row of ``notifications``, in COPY column order."""

    id: uuid.UUID
    service_id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    api_key_id: uuid.UUID | None
    key_type: str
    notification_type: str
    recipient: str
    status: str
    client_reference: str | None
    personalisation: str | None  # JSON text
    subject: str | None
    body: str
    reply_to_text: str | None
    process_type: str
    billable_units: int
    job_id: uuid.UUID | None
    job_row_number: int | None
    scheduled_for: dt.datetime | None
    unsubscribe_url: str | None
    created_at: dt.datetime
    owner: uuid.UUID | None = None


NOTIFICATION_COLUMNS = list(NotificationRow.__struct_fields__)

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
    "created_at": "timestamptz", "owner": "uuid",
}  # fmt: skip
_INSERT_SQL = "INSERT INTO notifications ({}) SELECT * FROM unnest({})".format(
    ", ".join(NOTIFICATION_COLUMNS),
    ", ".join(f"${i}::{_COLUMN_TYPES[c]}[]" for i, c in enumerate(NOTIFICATION_COLUMNS, 1)),
)


class StatusUpdate(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    status: str
    at: dt.datetime
    provider: str | None = None
    provider_reference: str | None = None
    provider_response: str | None = None
    feedback_type: str | None = None
    feedback_subtype: str | None = None


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


_UPDATE_SQL = """
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::text[])
        AS u(id, status, at, provider, provider_reference, provider_response,
             feedback_type, feedback_subtype, from_statuses)
), old AS (
    SELECT n.id, n.status AS previous_status FROM notifications n JOIN u ON n.id = u.id
    WHERE n.id = ANY($1::uuid[])  -- lets the planner use the primary key, not a table scan
      AND n.status = ANY(string_to_array(u.from_statuses, ','))
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
WHERE n.id = j.id
RETURNING n.id, n.status, j.previous_status, n.notification_type, n.process_type,
          extract(epoch FROM COALESCE(CASE WHEN n.status IN ('sending', 'sent', 'pending')
                                           THEN n.sent_at END, n.updated_at) - n.created_at
          )::float8
"""


class ReceiptOutcome(msgspec.Struct, frozen=True):
    matched: bool
    change: StatusChange | None


class Store:
    """Owns the pool. Reads are plain methods; hot-path writes are group-committed."""

    def __init__(
        self,
        db: AsyncioThread,
        pool: Any,
        *,
        keyed_pool: Any = None,
        batch_rows: int,
        linger_ms: float,
        writers: int,
        status_linger_ms: float | None = None,
    ) -> None:
        self.db = db
        self.pool = pool
        self.keyed_pool = pool if keyed_pool is None else keyed_pool
        self._writers = writers
        linger = linger_ms / 1000.0
        # Status writes (provider actors) are off every request's latency path: gathering
        # them longer makes fewer, larger transactions (each costs a round trip, a commit).
        status_linger = linger if status_linger_ms is None else status_linger_ms / 1000.0
        self.inserts: GroupCommit[NotificationRow, None] = GroupCommit(
            "insert", self._copy_notifications, max_rows=batch_rows, linger=linger, mailbox=4096
        )
        self.updates: GroupCommit[StatusUpdate, StatusChange] = GroupCommit(
            "status", self._apply_updates, max_rows=batch_rows, linger=status_linger, mailbox=4096
        )
        self.receipts: GroupCommit[Receipt, ReceiptOutcome] = GroupCommit(
            # Receipt senders (SNS over HTTP) wait for the commit before their 200, but no
            # person does, and SNS uses many connections: the status linger. With the API's
            # 2 ms, a receipt transaction (4 round trips) held ~2 receipts at 1,000/s.
            "receipt",
            self._apply_receipts,
            max_rows=batch_rows,
            linger=status_linger,
            mailbox=4096,
        )

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        dsn: str,
        *,
        pool_size: int = 8,
        batch_rows: int = 1000,
        linger_ms: float = 2.0,
        writers: int = 2,
        status_linger_ms: float | None = None,
        statement_timeout_s: float = STATEMENT_TIMEOUT_S,
    ) -> AsyncIterator[Store]:
        # The keyed pool: one connection per status and receipt writer, two for callbacks.
        async with (
            open_asyncio_thread() as db,
            open_pools(
                db,
                dsn,
                pool_size=pool_size,
                keyed_size=2 * writers + 2,
                statement_timeout_s=statement_timeout_s,
            ) as (pool, keyed_pool),
        ):
            yield cls(
                db,
                pool,
                keyed_pool=keyed_pool,
                batch_rows=batch_rows,
                linger_ms=linger_ms,
                writers=writers,
                status_linger_ms=status_linger_ms,
            )

    async def run(self, *, task_status: trio.TaskStatus[Store] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the writer tasks until both mailboxes are closed and drained."""
        async with trio.open_nursery() as nursery:
            for _ in range(self._writers):
                nursery.start_soon(self.inserts.run_writer)
                nursery.start_soon(self.updates.run_writer)
                nursery.start_soon(self.receipts.run_writer)
            task_status.started(self)

    async def close(self) -> None:
        """Stop intake; writers finish what is queued, then ``run`` returns."""
        await self.inserts.close()
        await self.updates.close()
        await self.receipts.close()

    # -- hot-path writes -------------------------------------------------------------
    async def insert_notifications(self, rows: Sequence[NotificationRow]) -> None:
        await self.inserts.submit(rows)

    async def update_statuses(self, updates: Sequence[StatusUpdate]) -> list[StatusChange]:
        return await self.updates.submit(updates)

    async def apply_receipts(
        self, receipts: Sequence[Receipt]
    ) -> tuple[list[bool], list[StatusChange]]:
        """Apply provider receipts; returns (reference found?, per receipt) and the changes."""
        outcomes = await self.receipts.submit(receipts)
        changes = [o.change for o in outcomes if o.change is not None]
        return [o.matched for o in outcomes], changes

    async def _apply_receipts(self, receipts: list[Receipt]) -> list[list[ReceiptOutcome]]:
        async def write() -> list[list[ReceiptOutcome]]:
            # No transaction: the lookup only reads, and each UPDATE re-checks the status
            # it may move from, so a row that changed in between is simply not updated.
            async with self.keyed_pool.acquire() as conn:
                found = await conn.fetch(
                    "SELECT provider_reference, id FROM notifications"
                    " WHERE provider_reference = ANY($1::text[])",
                    list({r.reference for r in receipts}),
                )
                ids = {r["provider_reference"]: r["id"] for r in found}
                updates = [
                    StatusUpdate(
                        id=ids[r.reference],
                        status=r.status,
                        at=r.at,
                        provider_response=r.provider_response,
                        feedback_type=r.feedback_type,
                        feedback_subtype=r.feedback_subtype,
                    )
                    for r in receipts
                    if r.reference in ids
                ]
                changed = await _update_in_rounds(conn, updates)
            out: list[list[ReceiptOutcome]] = []
            position = 0
            for r in receipts:
                if r.reference not in ids:
                    out.append([ReceiptOutcome(False, None)])
                    continue
                change = changed[position][0] if changed[position] else None
                position += 1
                out.append([ReceiptOutcome(True, change)])
            return out

        return await self.db.call(write)

    async def _copy_notifications(self, rows: list[NotificationRow]) -> None:
        records = [msgspec.structs.astuple(r) for r in rows]
        if len(records) < COPY_FROM_ROWS:
            columns = list(zip(*records, strict=True))

            async def insert() -> None:
                async with self.pool.acquire() as conn:
                    await conn.execute(_INSERT_SQL, *columns)

            await self.db.call(insert)
            return

        async def copy() -> None:
            async with self.pool.acquire() as conn:
                await conn.copy_records_to_table(
                    "notifications", records=records, columns=NOTIFICATION_COLUMNS
                )

        await self.db.call(copy)

    async def _apply_updates(self, updates: list[StatusUpdate]) -> list[list[StatusChange]]:
        async def write() -> list[list[StatusChange]]:
            async with self.keyed_pool.acquire() as conn:
                return await _update_in_rounds(conn, updates)

        return await self.db.call(write)

    # -- reads and admin writes (not on the per-notification hot path) -----------------
    async def fetch(self, sql: str, *args: object, keyed: bool = False) -> list[Any]:
        pool = self.keyed_pool if keyed else self.pool

        async def go() -> list[Any]:
            async with pool.acquire() as conn:
                return list(await conn.fetch(sql, *args))

        return await self.db.call(go)

    async def fetchrow(self, sql: str, *args: object) -> Any:
        async def go() -> Any:
            async with self.pool.acquire() as conn:
                return await conn.fetchrow(sql, *args)

        return await self.db.call(go)

    async def execute(self, sql: str, *args: object, keyed: bool = False) -> str:
        pool = self.keyed_pool if keyed else self.pool

        async def go() -> str:
            async with pool.acquire() as conn:
                return str(await conn.execute(sql, *args))

        return await self.db.call(go)

    async def transaction(
        self, statements: Sequence[tuple[str, tuple[object, ...]]], *, keyed: bool = False
    ) -> None:
        """Run several statements atomically (admin writes, callback bookkeeping)."""
        pool = self.keyed_pool if keyed else self.pool

        async def go() -> None:
            async with pool.acquire() as conn:
                if len(statements) == 1:  # atomic on its own: no BEGIN/COMMIT round trips
                    await conn.execute(statements[0][0], *statements[0][1])
                    return
                async with conn.transaction():
                    for sql, args in statements:
                        await conn.execute(sql, *args)

        await self.db.call(go)

    async def migrate(self) -> list[int]:
        from engine.store.migrate import apply_migrations

        async def go() -> list[int]:
            async with self.pool.acquire() as conn:
                return await apply_migrations(conn)

        return await self.db.call(go)

    async def ping(self) -> bool:
        with trio.move_on_after(2):
            return bool(await self.fetchrow("SELECT 1"))
        return False

    def queue_depth(self) -> int:
        return self.inserts.depth() + self.updates.depth()


async def _update_in_rounds(conn: Any, updates: list[StatusUpdate]) -> list[list[StatusChange]]:
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


def _update_columns(batch: list[StatusUpdate]) -> tuple[list[Any], ...]:
    return (
        [u.id for u in batch],
        [u.status for u in batch],
        [u.at for u in batch],
        [u.provider for u in batch],
        [u.provider_reference for u in batch],
        [u.provider_response for u in batch],
        [u.feedback_type for u in batch],
        [u.feedback_subtype for u in batch],
        [",".join(st.allowed_from(u.status)) for u in batch],
    )
