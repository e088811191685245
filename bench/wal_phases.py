"""Where a notification's WAL goes: the insert, each of the three status writes, VACUUM.

    python bench/wal_phases.py [--rows 8000] [--body-repeat 1] [--toast-target N]
                               [--fillfactor N] [--callbacks]

Writes ``--rows`` sealed emails into one day partition of ``notifications`` the way
bench/soak.py does (batches of 1,000: the group-committed insert, then ``sending``, the
provider's reference, ``delivered``; a VACUUM every 4 batches), and reads the server's WAL
position around each step. Prints one JSON line: for each phase the WAL bytes per
notification and the part of them that is full-page images (``pg_walinspect``'s
``pg_get_wal_stats``), and the total. The WAL is the whole server's: run it on a server
nothing else writes to (the embedded one this script starts when DATABASE_URL is unset).
``--body-repeat``, ``--toast-target`` and ``--fillfactor`` as in bench/soak.py;
``--callbacks`` gives the service a delivery-status callback, so ``delivered`` queues one
per row, as in bench/e2e.py.

Measurement only, to weigh one cost at a time (A/B, taking turns): ``--without-index NAME``
(repeatable) drops that index of ``notifications`` first (e.g.
``notifications_recipient_hash_idx``); ``--without-trigger NAME`` disables that trigger of
``notifications``; ``--clear`` writes the rows unsealed (a store without
data keys). Each phase also reports ``us``: the client's wall time per notification (its
statements on an idle server).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
import trio_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.soak import DATA_KEY, _set_fillfactor, _set_toast_target, rows
from bench.store_inserts import in_scratch
from engine.crypto import DataKeys
from engine.store.notifications import StatusUpdate
from engine.store.store import Store
from tests import sql

PHASES = ("insert", "sending", "reference", "delivered", "vacuum")
WAL_STATS_SQL = """
SELECT coalesce(sum(combined_size), 0) AS wal, coalesce(sum(fpi_size), 0) AS fpi
FROM pg_get_wal_stats($1::text::pg_lsn, $2::text::pg_lsn)
"""


async def _lsn(store: Store) -> str:
    return str((await sql.fetchrow(store, "SELECT pg_current_wal_insert_lsn()::text AS at"))["at"])


def _steps(store: Store, part: list[Any], at: dt.datetime) -> list[Callable[[], Awaitable[Any]]]:
    def status(status: str, reference: bool = False) -> Callable[[], Awaitable[Any]]:
        return lambda: store.update_statuses([
            StatusUpdate(id=r.id, status=status, at=at, provider="ses" if status == "sending"
                         else None, provider_reference=f"ses-{r.id.hex}" if reference else None)
            for r in part
        ])  # fmt: skip

    return [
        lambda: store.insert_notifications(part),
        status("sending"),
        status("sending", reference=True),
        status("delivered"),
        lambda: sql.execute(store, "VACUUM notifications"),
    ]


async def measure(dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    async with (
        trio_asyncio.open_loop(),
        Store.open(dsn, data_keys=None if args.clear else DataKeys([DATA_KEY])) as store,
    ):
        await store.migrate()
        for name in args.without_index:
            await sql.execute(store, f'DROP INDEX "{name}"')
        if args.without_trigger:
            await sql.execute(
                store, f"ALTER TABLE notifications DISABLE TRIGGER {args.without_trigger}"
            )
        await sql.execute(store, "CREATE EXTENSION IF NOT EXISTS pg_walinspect")
        await _set_fillfactor(store, args.fillfactor)
        await _set_toast_target(store, args.toast_target)
        spans: dict[str, list[tuple[str, str]]] = {phase: [] for phase in PHASES}
        seconds = dict.fromkeys(PHASES, 0.0)
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            sid, template = uuid.uuid4(), uuid.uuid4()
            await sql.execute(
                store, "INSERT INTO services (id, name, email_from) VALUES ($1, 's', 's')", sid
            )
            if args.callbacks:  # each delivered row queues its callback, as in bench/e2e.py
                await sql.execute(
                    store, "INSERT INTO service_callbacks (service_id, callback_type, url,"
                    " bearer_sealed) VALUES ($1, 'delivery_status', 'https://cb.example', 'x')",
                    sid,
                )  # fmt: skip
            day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            step = dt.timedelta(seconds=86_400 / args.rows)
            for start in range(0, args.rows, 1000):
                times = [midnight + step * i for i in range(start, min(args.rows, start + 1000))]
                part = rows(times, start, sid, template, args.body_repeat)
                steps = _steps(store, part, times[-1] + dt.timedelta(seconds=1))
                if (start // 1000 + 1) % 4:
                    steps = steps[:-1]  # VACUUM every 4 batches, as soak's --vacuum-every 4
                for phase, run_step in zip(PHASES, steps, strict=False):
                    before = await _lsn(store)
                    started = time.perf_counter()
                    await run_step()
                    seconds[phase] += time.perf_counter() - started
                    spans[phase].append((before, await _lsn(store)))
            nursery.cancel_scope.cancel()
        out: dict[str, Any] = {"rows": args.rows, "body_repeat": args.body_repeat,
                               "toast_target": args.toast_target,
                               "fillfactor": args.fillfactor, "clear": args.clear,
                               "without_index": args.without_index,
                               "without_trigger": args.without_trigger,
                               "callbacks": args.callbacks}  # fmt: skip
        # pg_walinspect reads flushed WAL only, and a VACUUM's records need not be flushed
        # yet: a transaction that takes an id commits, and its commit flushes them.
        await sql.execute(store, "SELECT pg_current_xact_id()")
        for phase, phase_spans in spans.items():
            wal = fpi = 0
            for before, after in phase_spans:
                row = await sql.fetchrow(store, WAL_STATS_SQL, before, after)
                wal, fpi = wal + int(row["wal"]), fpi + int(row["fpi"])
            out[phase] = {
                "wal": round(wal / args.rows),
                "fpi": round(fpi / args.rows),
                "us": round(seconds[phase] / args.rows * 1e6, 1),
            }
        out["total"] = sum(out[phase]["wal"] for phase in PHASES)
        out["total_us"] = round(sum(out[phase]["us"] for phase in PHASES), 1)
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    return await in_scratch(measure, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--body-repeat", type=int, default=1)
    parser.add_argument("--toast-target", type=int, default=None)
    parser.add_argument("--fillfactor", type=int, default=None)
    parser.add_argument("--without-index", action="append", default=[], metavar="NAME")
    parser.add_argument("--clear", action="store_true")
    parser.add_argument("--without-trigger", default=None, metavar="NAME")
    parser.add_argument("--callbacks", action="store_true", help="the service has a callback")
    print(json.dumps(trio.run(run, parser.parse_args())))


if __name__ == "__main__":
    main()
