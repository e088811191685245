"""Store: the only owner of the asyncpg pools, the group-commit writer, and the door to
every query (``store.notifications``, ``store.services``, ``store.callbacks``, ...).

Rules:
- The queries live by subject in this package's modules, each bound to the private pipe
  (``engine.store._pipe``); the hot-path writes below are this class's own.
- asyncpg is asyncio-only. It runs on the store's own asyncio thread
  (``engine.store.asyncio_thread``) and every call goes through ``self._db.call``
  (``engine.store.availability``); nothing else in the engine touches asyncio.
- A database that cannot be reached raises ``engine.store.errors.DatabaseUnavailable``
  from any call (queries, group-committed writes: every waiter of the batch), and
  ``self.availability`` knows since when; it logs one line per change, not per call.
- Writes on the hot path are never one round trip per notification. Callers hand rows to
  ``insert_notifications`` / ``update_statuses``; writer tasks gather everything that
  arrives within ``store_linger_ms`` (or ``store_batch_rows`` rows), write it with one COPY
  or one ``UPDATE ... FROM unnest(...)`` in one transaction, then wake every waiter. A
  caller returns only after its rows are committed (the 201 depends on it).
- A failed batch fails every waiter in it with the database error; nothing is retried
  silently here (the caller decides), except that an insert batch refused for its rows
  is split so only the request that carries them fails (``group_commit``'s rules).
- Mailboxes are bounded: when writers fall behind, callers wait (backpressure).
- Round trips are the cost that matters (each one is a syscall both ways and a wake-up on
  each side), so connections keep no session state between uses (no session ``SET``, no
  ``LISTEN``, no advisory lock or cursor held past the call) and the pool does not reset
  them on release.
- Statements that find their rows by key on the hot path (status and receipt writes, the
  callback queue's claim and bookkeeping: ``keyed=True``) run on their own small pool
  whose sessions always plan custom and shun table scans (``engine.store.pools``), so a
  status batch is one statement without BEGIN/SET/COMMIT around it.
- Read-only API traffic (GET, the list, the search by recipient) reads from a replica
  when one is given (``replica_dsn``: ``engine.store.replica`` has the lag rules);
  everything else uses the primary.
- Personal data is sealed on write and opened on read inside the store's methods
  (``engine.store.sealing`` names the columns): the COPY below seals each row's recipient,
  personalisation, subject and body before it leaves for the database thread. A store
  opened without ``data_keys`` (migrations, maintenance) writes clear, opens no sealed value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import trio

from engine.crypto import DataKeys
from engine.domain.notification import NotificationRow
from engine.domain.timestamps import utcnow
from engine.providers.base import Receipt
from engine.store._pipe import Pipe, affected
from engine.store.asyncio_thread import AsyncioThread, open_asyncio_thread
from engine.store.availability import Availability
from engine.store.budgets import Budgets
from engine.store.callbacks import Callbacks
from engine.store.changes import ChangeListener
from engine.store.complaints import Complaints
from engine.store.console import Console
from engine.store.console_people import ConsolePeople
from engine.store.console_uploads import ConsoleUploads
from engine.store.counts import Counts
from engine.store.documents import Documents
from engine.store.errors import DatabaseUnavailable
from engine.store.group_commit import ROW_ERRORS, GroupCommit
from engine.store.idempotency import (
    ANSWER_SQL,
    Answer,
    ClaimLost,
    Idempotency,
    answer_columns,
)
from engine.store.inbound import Inbound
from engine.store.jobs import Jobs
from engine.store.keys import Keys
from engine.store.migrate import apply_migrations
from engine.store.notifications import (
    CALLBACK_URL_AT,
    COPY_FROM_ROWS,
    INSERT_SQL,
    INSERT_WITH_URL_SQL,
    STORED_COLUMNS,
    Notifications,
    ReceiptOutcome,
    StatusChange,
    StatusUpdate,
    lookup_references,
    update_in_rounds,
)
from engine.store.partitions import Partitions
from engine.store.pools import STATEMENT_TIMEOUT_S, open_pools, session_settings
from engine.store.recovery import Recovery
from engine.store.replica import Replica, open_replica
from engine.store.reports import Reports
from engine.store.retention import Retention
from engine.store.scans import Scans
from engine.store.sealing import Reencrypt, Sealer
from engine.store.send_rates import SendRates
from engine.store.services import Services
from engine.store.team_notices import TeamNotices
from engine.store.templates import Templates
from engine.store.unmatched_receipts import UnmatchedReceipts, keep, receipt_update
from engine.watchdog import Watchdog

# The store's watchdog looks this often: bounds of a few seconds (receipts' 10) hold to
# within half a second.
WATCHDOG_TICK_S = 0.5


class Store:
    """Owns the pools. Queries are the subject attributes; hot-path writes are
    group-committed."""

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
        changes: Callable[[Availability], ChangeListener] | None = None,
        data_keys: DataKeys | None = None,
        replica: Replica | None = None,
    ) -> None:
        self.availability = Availability(db)
        self._db = self.availability
        self._pool = pool
        self._keyed_pool = pool if keyed_pool is None else keyed_pool
        self._pipe = pipe = Pipe(self._db, self._pool, self._keyed_pool, replica)
        self.sealer = sealer = Sealer(data_keys)
        # The queries, by subject (each module's docstring states its rules).
        self.notifications = Notifications(pipe, sealer)
        self.services = Services(pipe, sealer)
        self.keys = Keys(pipe)
        self.templates = Templates(pipe)
        self.callbacks = Callbacks(pipe, sealer)
        self.jobs = Jobs(pipe, sealer)
        self.documents = Documents(pipe, sealer)
        self.recovery = Recovery(pipe, sealer)
        self.scans = Scans(pipe, sealer)
        self.complaints = Complaints(pipe, sealer)
        self.reencrypt = Reencrypt(pipe, sealer)
        self.counts = Counts(pipe)
        self.budgets = Budgets(pipe, self.counts)
        self.unmatched_receipts = UnmatchedReceipts(pipe)
        self.retention = Retention(pipe)
        self.partitions = Partitions(pipe)
        self.team_notices = TeamNotices(pipe)
        self.send_rates = SendRates(pipe)
        self.reports = Reports(pipe, sealer)
        self.idempotency = Idempotency(pipe, sealer)
        self.inbound = Inbound(pipe, sealer)
        self.console = Console(pipe, sealer)  # issue 27: the web console's people
        self.console_uploads = ConsoleUploads(pipe, sealer)  # issue 27: CSVs before sending
        self.console_people = ConsolePeople(pipe, sealer)  # invitations, team, factors
        # Service changes heard from every process (``engine.store.changes``); only a store
        # opened from a DSN has one (its listening connection is its own).
        self.changes = None if changes is None else changes(self.availability)
        self._writers = writers
        # Bounds the waits of writers' callers that pass ``within`` (receipts over HTTP):
        # no cancel scope per request (engine.watchdog). Runs with the writers.
        self.watchdog = Watchdog(WATCHDOG_TICK_S)
        linger = linger_ms / 1000.0
        # Status writes (provider actors) are off every request's latency path: gathering
        # them longer makes fewer, larger transactions (each costs a round trip, a commit).
        status_linger = linger if status_linger_ms is None else status_linger_ms / 1000.0
        self.inserts: GroupCommit[NotificationRow | Answer, None] = GroupCommit(
            "insert",
            self._copy_notifications,  # one transaction: all or nothing, so it may be split
            max_rows=batch_rows,
            linger=linger,
            mailbox=4096,
            split_on=(*ROW_ERRORS, ClaimLost),
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
        keyed_pool_size: int | None = None,
        batch_rows: int = 1000,
        linger_ms: float = 2.0,
        writers: int = 2,
        status_linger_ms: float | None = None,
        statement_timeout_s: float = STATEMENT_TIMEOUT_S,
        data_keys: DataKeys | None = None,
        replica_dsn: str | None = None,
        replica_pool_size: int = 4,
    ) -> AsyncIterator[Store]:
        # The keyed pool: by default one connection per status and receipt writer, two
        # for callbacks (``engine.store.pools``: ``keyed_pool_size``).
        keyed_size = keyed_pool_size if keyed_pool_size is not None else 2 * writers + 2
        settings = session_settings(dsn, statement_timeout_s)
        async with (
            open_asyncio_thread() as db,
            open_pools(
                db,
                dsn,
                pool_size=pool_size,
                keyed_size=keyed_size,
                statement_timeout_s=statement_timeout_s,
            ) as (pool, keyed_pool),
            AsyncExitStack() as stack,
        ):
            replica = None
            if replica_dsn:  # read-only API traffic (engine.store.replica)
                replica = await stack.enter_async_context(
                    open_replica(
                        db, replica_dsn, size=replica_pool_size,
                        statement_timeout_s=statement_timeout_s,
                    )
                )  # fmt: skip
            yield cls(
                db,
                pool,
                keyed_pool=keyed_pool,
                batch_rows=batch_rows,
                linger_ms=linger_ms,
                writers=writers,
                status_linger_ms=status_linger_ms,
                changes=lambda available: ChangeListener(available, dsn, settings),
                data_keys=data_keys,
                replica=replica,
            )

    async def run(self, *, task_status: trio.TaskStatus[Store] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the writer tasks until the mailboxes are closed and drained (the watchdog
        with them)."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.watchdog.run)
            async with trio.open_nursery() as writers:
                for _ in range(self._writers):
                    writers.start_soon(self.inserts.run_writer)
                    writers.start_soon(self.updates.run_writer)
                    writers.start_soon(self.receipts.run_writer)
                task_status.started(self)
            nursery.cancel_scope.cancel()

    async def close(self) -> None:
        """Stop intake; writers finish what is queued, then ``run`` returns."""
        await self.inserts.close()
        await self.updates.close()
        await self.receipts.close()

    # -- hot-path writes -------------------------------------------------------------
    async def insert_notifications(
        self, rows: Sequence[NotificationRow], answer: Answer | None = None
    ) -> None:
        """Commit ``rows``; with ``answer`` (an Idempotency-Key's first answer), in the
        same transaction, or neither (``ClaimLost``: ``engine.store.idempotency``)."""
        await self.inserts.submit(rows if answer is None else [*rows, answer])

    async def update_statuses(self, updates: Sequence[StatusUpdate]) -> list[StatusChange]:
        return await self.updates.submit(updates)

    async def apply_receipts(
        self, receipts: Sequence[Receipt], within: float | None = None
    ) -> tuple[list[bool], list[StatusChange]]:
        """Apply provider receipts; returns (reference found?, per receipt) and the changes.
        Receipts not found are stored (``engine.store.unmatched_receipts``) before this
        returns, so the caller may acknowledge every receipt it passed. ``within``:
        ``trio.TooSlowError`` after that many seconds (the watchdog's tick late at most)."""
        if within is None:
            outcomes = await self.receipts.submit(receipts)
        else:
            with self.watchdog.ticket(within) as ticket:
                outcomes = await self.receipts.submit(receipts, ticket)
        changes = [o.change for o in outcomes if o.change is not None]
        return [o.matched for o in outcomes], changes

    async def _apply_receipts(self, receipts: list[Receipt]) -> list[list[ReceiptOutcome]]:
        async def write() -> list[list[ReceiptOutcome]]:
            # No transaction: the lookup only reads, and each UPDATE re-checks the status
            # it may move from, so a row that changed in between is simply not updated.
            async with self._keyed_pool.acquire() as conn:
                ids = await lookup_references(conn, list({r.reference for r in receipts}))
                updates = [
                    receipt_update(ids[r.reference], r) for r in receipts if r.reference in ids
                ]
                changed = await update_in_rounds(conn, updates)
                # Before the caller acknowledges them: engine.store.unmatched_receipts.
                await keep(conn, [r for r in receipts if r.reference not in ids])
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

        return await self._db.call(write)

    async def _copy_notifications(self, items: list[NotificationRow | Answer]) -> None:
        seal = self.sealer.notification_record
        rows = [r for r in items if type(r) is NotificationRow]
        if len(rows) < len(items):
            answers = [a for a in items if type(a) is Answer]
            await self._copy_with_answers(rows, answers)
            return
        records = [seal(r) for r in rows]
        if len(records) < COPY_FROM_ROWS:
            sql, columns = _insert_statement(records)

            async def insert() -> None:
                async with self._pool.acquire() as conn:
                    await conn.execute(sql, *columns)

            await self._db.call(insert)
            return

        async def copy() -> None:
            async with self._pool.acquire() as conn:
                await conn.copy_records_to_table(
                    "notifications", records=records, columns=STORED_COLUMNS
                )

        await self._db.call(copy)

    async def _copy_with_answers(self, rows: list[NotificationRow], answers: list[Answer]) -> None:
        """Rows and Idempotency-Key answers in one transaction; ``ClaimLost`` (rolling all
        back) if a claim is no longer ours, so the batch is split down to its request."""
        sql, columns = _insert_statement([self.sealer.notification_record(r) for r in rows])
        answer_cols = answer_columns(self.sealer, answers)

        async def write() -> None:
            async with self._pool.acquire() as conn, conn.transaction():
                if columns:
                    await conn.execute(sql, *columns)
                if affected(await conn.execute(ANSWER_SQL, *answer_cols)) != len(answers):
                    raise ClaimLost("an Idempotency-Key claim was taken over")

        await self._db.call(write)

    async def _apply_updates(self, updates: list[StatusUpdate]) -> list[list[StatusChange]]:
        async def write() -> list[list[StatusChange]]:
            async with self._keyed_pool.acquire() as conn:
                return await update_in_rounds(conn, updates)

        return await self._db.call(write)

    async def migrate(self) -> list[int]:
        """Apply pending migrations, then make sure ``notifications`` has its partitions
        ahead (an engine started after a long stop must not wait for housekeeping)."""

        async def go() -> list[int]:
            async with self._pool.acquire() as conn:
                return await apply_migrations(conn)

        applied = await self._db.call(go)
        await self.partitions.create_ahead(utcnow().date())
        return applied

    async def ping(self) -> bool:
        """True when the database answers within 2 s (the state flips back if it does)."""
        with trio.move_on_after(2):
            try:
                return bool(await self._pipe.fetchrow("SELECT 1"))
            except DatabaseUnavailable:
                return False
        return False

    def queue_depth(self) -> int:
        return self.inserts.depth() + self.updates.depth()


def _insert_statement(records: list[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """The one-statement insert of sealed records and its columns: ``callback_url`` is left
    out when no row of the batch has one (the common case costs no more, issue 23)."""
    columns = list(zip(*records, strict=True))
    if columns and any(columns[CALLBACK_URL_AT]):
        return INSERT_WITH_URL_SQL, columns
    if columns:
        del columns[CALLBACK_URL_AT]
    return INSERT_SQL, columns
