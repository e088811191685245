"""Would status writes be cheaper on a narrow row? One table against two, same writes.

    python bench/status_split.py [--rows 8000] [--batch 35] [--rounds 2]

A measurement for issue 21 (README, "Results", thirteenth session), not a design in use.
Each status write (``sending``, the provider's reference, ``delivered``) makes a new
version of the whole ~1.4 KB sealed row and an entry in each of its indexes. Two layouts
of the same columns and indexes, on fresh tables of a scratch database (``DATABASE_URL``,
else an embedded server; no trigger, no partitions, in both):
- ``one``: today's row, its columns in migration 0035's order (written once first, then
  what status writes change), fillfactor 60, today's nine indexes.
- ``split``: the columns written once (the sealed values, the recipient's hash, what the
  list and search read) in ``content``, fillfactor 100, with the indexes on them (primary
  key, list, client reference, job row, recipient hash); what status writes change, with
  the service, type, lane and ``scheduled_for`` their indexes and claims read, in a narrow
  ``state`` row, fillfactor 60, with the primary key and the provider-reference,
  unfinished, unowned and scan indexes.
Rows are bench/soak.py's emails sealed with a data key (``Sealer.notification_record``),
inserted ``--batch`` at a time (one statement: both tables in one, for ``split``), each
batch then taking its three status writes, ``--batch`` at a time, each an unnest-driven
UPDATE that locks its rows first, as ``engine.store.notifications`` does; a VACUUM every
40 batches. Layouts take turns, ``--rounds`` each. Prints one JSON line per run: per phase
the WAL bytes per notification and the client's wall time per notification (its
statements on an idle server), and the bytes of heap and indexes per row at the end.
The WAL is the whole server's: run it on a server nothing else writes to.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import trio
import trio_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.soak import DATA_KEY, rows
from bench.store_inserts import in_scratch
from engine.crypto import DataKeys
from engine.store.notifications import _COLUMN_TYPES, STORED_COLUMNS
from engine.store.sealing import Sealer
from engine.store.store import Store
from tests import sql

PHASES = ("insert", "sending", "reference", "delivered")
_TYPES = _COLUMN_TYPES  # the store's own column types
_CHANGED = ("provider text, provider_reference text, provider_response text,"
            " feedback_type text, feedback_subtype text, sent_at timestamptz,"
            " updated_at timestamptz")  # fmt: skip
_WRITTEN = [c for c in STORED_COLUMNS if c not in ("status", "owner")]
# Columns of the narrow row that an insert writes (the rest start NULL).
_STATE = ["id", "created_at", "service_id", "notification_type", "process_type",
          "scheduled_for", "status", "owner"]  # fmt: skip
_CONTENT = [c for c in _WRITTEN if c not in ("status", "owner")]
_UNFINISHED = "('created', 'sending', 'pending', 'sent')"


def _table(name: str, columns: list[str], tail: str, fillfactor: int) -> str:
    body = ", ".join(f"{c} {_TYPES[c]}" for c in columns)
    return f"CREATE TABLE {name} ({body}{tail}) WITH (fillfactor = {fillfactor})"


def _indexes(table: str, which: list[str]) -> list[str]:
    known = {
        "pkey": f"ALTER TABLE {table} ADD PRIMARY KEY (id, created_at)",
        "list": f"CREATE INDEX ON {table} (service_id, key_type, created_at DESC)",
        "reference": f"CREATE INDEX ON {table} (service_id, client_reference)"
        " WHERE client_reference IS NOT NULL",
        "job_row": f"CREATE INDEX ON {table} (job_id, job_row_number) WHERE job_id IS NOT NULL",
        "recipient": f"CREATE INDEX ON {table} (service_id, recipient_hash, created_at DESC)"
        " WHERE recipient_hash IS NOT NULL",
        "provider_ref": f"CREATE INDEX ON {table} (provider_reference)"
        " WHERE provider_reference IS NOT NULL",
        "unfinished": f"CREATE INDEX ON {table} (status, created_at) WHERE status IN {_UNFINISHED}",
        "unowned": f"CREATE INDEX ON {table} (scheduled_for, created_at)"
        " WHERE status = 'created' AND owner IS NULL",
        "scan": f"CREATE INDEX ON {table} (created_at) WHERE status = 'pending-virus-check'",
    }
    return [known[w] for w in which]


_INDEX_ONE = ("pkey", "list", "reference", "job_row", "recipient", "provider_ref",
              "unfinished", "unowned", "scan")  # fmt: skip


def schema(layout: str) -> list[str]:
    if layout == "one":
        columns = [*_WRITTEN, "status", "owner"]
        return [
            _table("one_rows", columns, ", " + _CHANGED, 60),
            *_indexes("one_rows", list(_INDEX_ONE)),
        ]
    return [
        _table("content", _CONTENT, "", 100),
        *_indexes("content", ["pkey", "list", "reference", "job_row", "recipient"]),
        _table("state", _STATE, ", " + _CHANGED, 60),
        *_indexes("state", ["pkey", "provider_ref", "unfinished", "unowned", "scan"]),
    ]


def _unnest(columns: list[str], first: int = 1) -> str:
    args = ", ".join(f"${first + i}::{_TYPES[c]}[]" for i, c in enumerate(columns))
    return f"SELECT * FROM unnest({args}) AS r({', '.join(columns)})"


def insert_sql(layout: str) -> tuple[str, list[str]]:
    """The insert and the columns its arguments hold, in order."""
    if layout == "one":
        columns = [*_WRITTEN, "status", "owner"]
        return f"INSERT INTO one_rows ({', '.join(columns)}) {_unnest(columns)}", columns
    state = [c for c in _STATE if c not in _CONTENT]  # status, owner: after content's
    columns = [*_CONTENT, *state]
    taken = ", ".join(f"r.{c}" for c in _STATE)
    return (
        f"WITH r AS ({_unnest(columns)}), c AS (INSERT INTO content ({', '.join(_CONTENT)})"
        f" SELECT {', '.join(f'r.{c}' for c in _CONTENT)} FROM r)"
        f" INSERT INTO state ({', '.join(_STATE)}) SELECT {taken} FROM r",
        columns,
    )


def update_sql(layout: str) -> str:
    table = "one_rows" if layout == "one" else "state"
    return f"""
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
        AS u(id, status, provider, provider_reference)
), old AS (
    SELECT n.id FROM {table} n JOIN u ON n.id = u.id
    WHERE n.id = ANY($1::uuid[]) AND n.created_at >= $5 AND n.created_at < $6
    FOR UPDATE OF n
)
UPDATE {table} AS n SET
    status = u.status,
    provider = COALESCE(u.provider, n.provider),
    provider_reference = COALESCE(u.provider_reference, n.provider_reference),
    sent_at = COALESCE(n.sent_at, $7),
    updated_at = $7
FROM u JOIN old ON old.id = u.id
WHERE n.id = u.id AND n.created_at >= $5 AND n.created_at < $6
"""


_SIZE_SQL = """
SELECT coalesce(sum(pg_table_size(c.oid)), 0) AS heap,
       coalesce(sum(pg_indexes_size(c.oid)), 0) AS indexes
FROM pg_class c WHERE c.relname = ANY($1::text[])
"""


async def _lsn(store: Store) -> int:
    row = await sql.fetchrow(
        store, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint AS at"
    )
    return int(row["at"])


async def one_run(store: Store, layout: str, args: argparse.Namespace) -> dict[str, Any]:
    for table in ("one_rows", "content", "state"):
        await sql.execute(store, f"DROP TABLE IF EXISTS {table}")
    for statement in schema(layout):
        await sql.execute(store, statement)
    sealer = Sealer(DataKeys([DATA_KEY]))
    insert, columns = insert_sql(layout)
    update = update_sql(layout)
    positions = [[*STORED_COLUMNS].index(c) for c in columns]
    wal = dict.fromkeys(PHASES, 0)
    seconds = dict.fromkeys(PHASES, 0.0)
    service, template = uuid.uuid4(), uuid.uuid4()
    start_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    step = dt.timedelta(seconds=86_400 / args.rows)
    for batch_no, start in enumerate(range(0, args.rows, args.batch)):
        times = [start_at + step * i for i in range(start, min(args.rows, start + args.batch))]
        part = rows(times, start, service, template)
        records = [sealer.notification_record(r) for r in part]
        ids = [r.id for r in part]
        window = (times[0] - dt.timedelta(seconds=1), times[-1] + dt.timedelta(seconds=1))
        n = len(part)
        steps: list[tuple[str, str, tuple[Any, ...]]] = [
            ("insert", insert, tuple([rec[p] for rec in records] for p in positions)),
            ("sending", update, (ids, ["sending"] * n, ["ses"] * n, [None] * n, *window)),
            ("reference", update,
             (ids, ["sending"] * n, [None] * n, [f"ses-{i.hex}" for i in ids], *window)),
            ("delivered", update, (ids, ["delivered"] * n, [None] * n, [None] * n, *window)),
        ]  # fmt: skip
        for phase, statement, values in steps:
            extra = (times[-1],) if phase != "insert" else ()
            before = await _lsn(store)
            started = time.perf_counter()
            await sql.execute(store, statement, *values, *extra)
            seconds[phase] += time.perf_counter() - started
            wal[phase] += await _lsn(store) - before
        if (batch_no + 1) % 40 == 0:
            await sql.execute(store, "VACUUM")
    tables = ["one_rows"] if layout == "one" else ["content", "state"]
    size = await sql.fetchrow(store, _SIZE_SQL, tables)
    out: dict[str, Any] = {"layout": layout, "rows": args.rows, "batch": args.batch}
    for phase in PHASES:
        out[phase] = {
            "wal": round(wal[phase] / args.rows),
            "us": round(seconds[phase] / args.rows * 1e6, 1),
        }
    out["total_wal"] = sum(out[p]["wal"] for p in PHASES)
    out["total_us"] = round(sum(out[p]["us"] for p in PHASES), 1)
    out["heap_per_row"] = round(int(size["heap"]) / args.rows)
    out["indexes_per_row"] = round(int(size["indexes"]) / args.rows)
    return out


async def measure(dsn: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    async with (
        trio_asyncio.open_loop(),
        Store.open(dsn, data_keys=None) as store,
        trio.open_nursery() as nursery,
    ):
        await nursery.start(store.run)
        for _ in range(args.rounds):
            for layout in ("one", "split"):
                result = await one_run(store, layout, args)
                print(json.dumps(result), flush=True)
                results.append(result)
        nursery.cancel_scope.cancel()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=35)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    trio.run(in_scratch, measure, args)


if __name__ == "__main__":
    main()
