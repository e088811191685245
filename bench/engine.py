"""Engine send-path benchmark: ServiceActors -> ProviderActor -> provider, with the real
store's status writes (``sending`` before the call, the provider reference after) to
PostgreSQL.

    python bench/engine.py [--count 10000] [--services 4] [--provider simulated|ses|both]

- ``simulated``: the built-in simulated email provider (receipts are drained, not stored).
- ``ses``: ``engine.providers.ses`` (SendBulkEmail, 50 entries per call, aiobotocore +
  httpx2) against a minimal SES v2 HTTP simulator on 127.0.0.1, in a separate process.

The notifications are inserted as ``created`` rows first (not timed), then pushed into the
ServiceActors' lanes as fast as the lanes take them (bounded lanes: the pusher waits when
they are full) and timed until every outcome is committed. Reports notifications/s, this
process's CPU µs per notification (``time.process_time``: engine and database client, not
the PostgreSQL server or the simulator), and RSS at the start, at 25% pushed (the bounded
lanes and mailboxes are full by then), peak and end: from 25% on, RSS stays flat however
many are pushed. ``--store null`` swaps the status writes for a no-op to show the actors'
own ceiling. ``--workers N`` runs the send path in N processes sharing the services, as
``NOTIFY_WORKERS=N`` runs the engine (``bench/engine_workers.py``). Prints one JSON line per
provider. Uses DATABASE_URL if set, else the embedded PostgreSQL; works in a scratch
database it creates and drops.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import trio
import trio_asyncio
from prometheus_client import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.store_inserts import _drop, _scratch, server_dsn
from engine.actors.provider import ProviderActor
from engine.actors.service import ServiceActor
from engine.config import Settings, load_settings
from engine.domain.notification import EmailMessage, NotificationRow
from engine.domain.timestamps import utcnow
from engine.gc_policy import tune_for_serving
from engine.providers.base import Provider, Receipt
from engine.providers.simulated import SimulatedProvider
from engine.services import Service
from engine.store.notifications import StatusChange, StatusUpdate
from engine.store.store import Store
from tests import sql

LANE_SIZE = 5_000
LANES = ("normal",) * 8 + ("bulk", "priority")  # mostly normal, some bulk and priority


# -- SES v2 simulator (runs in its own process) -----------------------------------------
class _SesHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections
    disable_nagle_algorithm = True  # headers and body go out in two writes
    stats: ClassVar[dict[str, int]] = {"calls": 0, "entries": 0}

    def do_GET(self) -> None:  # /stats: how many calls and entries it answered
        payload = json.dumps(self.stats).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/outbound-bulk-emails"):
            entries = json.loads(body).get("BulkEmailEntries", [])
            self.stats["calls"] += 1  # one handler thread at a time per connection; close enough
            self.stats["entries"] += len(entries)
            results = [{"Status": "SUCCESS", "MessageId": f"sim-{uuid.uuid4()}"} for _ in entries]
            payload = json.dumps({"BulkEmailEntryResults": results}).encode()
        elif self.path.endswith("/outbound-emails"):
            payload = json.dumps({"MessageId": f"sim-{uuid.uuid4()}"}).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def serve_ses() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SesHandler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- the measured pipeline --------------------------------------------------------------
def _service(i: int) -> Service:
    return Service(
        id=uuid.uuid4(), name=f"bench {i}", email_from=f"bench{i}", sending_domain=None,
        restricted=False, active=True, suspended=False, rate_limit=10**9,
        email_daily_limit=10**9, sms_daily_limit=10**9, email_annual_limit=10**9,
        sms_annual_limit=10**9, prefix_sms=False, international_sms=False,
    )  # fmt: skip


def _message(nid: uuid.UUID, service: Service, i: int) -> EmailMessage:
    return EmailMessage(
        notification_id=nid, service_id=service.id, to=f"user{i}@example.com",
        from_address=f"{service.name} <{service.email_from}@notification.example>",
        reply_to=None, subject=f"Your code {i}", html=f"<p>Your code is {i}.</p>",
        text=f"Your code is {i}.", lane=LANES[i % len(LANES)],
    )  # fmt: skip


def _row(nid: uuid.UUID, service: Service, i: int, now: Any) -> NotificationRow:
    return NotificationRow(
        id=nid, service_id=service.id, template_id=uuid.UUID(int=1), template_version=1,
        api_key_id=None, key_type="normal", notification_type="email",
        recipient=f"user{i}@example.com", status="created", client_reference=None,
        personalisation=None, subject=f"Your code {i}", body=f"Your code is {i}.",
        reply_to_text=None, process_type=LANES[i % len(LANES)], billable_units=1,
        job_id=None, job_row_number=None, scheduled_for=None, unsubscribe_url=None,
        created_at=now,
    )  # fmt: skip


async def _insert(store: Store, services: list[Service], ids: list[uuid.UUID]) -> None:
    now = utcnow()
    for start in range(0, len(ids), 5000):
        chunk = range(start, min(start + 5000, len(ids)))
        async with trio.open_nursery() as nursery:
            for k in range(0, len(chunk), 1000):
                rows = [
                    _row(ids[i], services[i % len(services)], i, now) for i in chunk[k : k + 1000]
                ]
                nursery.start_soon(store.insert_notifications, rows)


def _histograms(provider: str | None) -> dict[str, float]:
    """Sums and counts of the provider-batch and store-commit histograms, from /metrics."""
    out: dict[str, float] = {}
    for metric in REGISTRY.collect():
        if metric.name not in (
            "notify_provider_batch_size",
            "notify_store_commit_duration_seconds",
        ):
            continue
        for s in metric.samples:
            if s.name.endswith(("_sum", "_count")) and s.labels.get("kind", "status") == "status":
                key = s.name.rsplit("_", 1)[1]
                out[f"{metric.name}_{key}"] = out.get(f"{metric.name}_{key}", 0.0) + s.value
    return out


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    d = {k: after[k] - before.get(k, 0.0) for k in after}
    batch = d.get("notify_provider_batch_size_count") or 1
    commits = d.get("notify_store_commit_duration_seconds_count") or 1
    return {
        "provider_calls": int(d.get("notify_provider_batch_size_count", 0)),
        "mean_batch": round(d.get("notify_provider_batch_size_sum", 0) / batch, 1),
        "status_commits": int(d.get("notify_store_commit_duration_seconds_count", 0)),
        "mean_commit_ms": round(
            d.get("notify_store_commit_duration_seconds_sum", 0) / commits * 1e3, 2
        ),
    }


class NullStore:
    """``--store null``: status writes cost nothing, to see the actors' own ceiling."""

    async def update_statuses(self, updates: Sequence[StatusUpdate]) -> list[StatusChange]:
        await trio.lowlevel.checkpoint()
        return [_NULL_CHANGE] * len(updates) if updates[0].provider is not None else []


_NULL_CHANGE: Any = SimpleNamespace(previous_status="sending")  # an outcome, as counted

OpenProvider = Callable[[trio.Nursery], Awaitable[Provider]]


async def measure(
    store: Store,
    open_provider: OpenProvider,
    count: int,
    services: int,
    concurrency: int,
    null_store: bool = False,
    gate: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Insert ``count`` rows for ``services`` new services, then time pushing them through.
    ``gate`` (``--workers``): awaited between the untimed insert and the timed push."""
    before = _histograms(None)
    svcs = [_service(i) for i in range(services)]
    ids = [uuid.uuid4() for _ in range(count)]
    await _insert(store, svcs, ids)
    # Fresh rows, no statistics yet: without ANALYZE the planner joins the status UPDATE's
    # unnest() by sequential scan (~100x slower). Autovacuum would get there within a minute.
    await sql.execute(store, "ANALYZE notifications")
    writer: Any = NullStore() if null_store else store
    done = trio.Event()
    written = 0

    async def on_changes(changes: Sequence[StatusChange]) -> None:
        nonlocal written
        # The actor reports created -> sending before the call too; count the outcomes only.
        written += sum(1 for c in changes if c.previous_status != "created")
        if written >= count:
            done.set()

    async with trio.open_nursery() as nursery:
        provider = await open_provider(nursery)
        actor = ProviderActor(provider, writer, on_changes, concurrency=concurrency)
        await nursery.start(actor.run)
        actors = [ServiceActor(s, actor.submit, store.budgets, lane_size=LANE_SIZE) for s in svcs]
        for a in actors:
            await nursery.start(a.run)
        rss = [_rss_mb()]
        at_quarter = 0.0  # queues are full by then: from here on RSS should stay flat

        async def sample_rss() -> None:
            while True:
                await trio.sleep(0.25)
                rss.append(_rss_mb())

        nursery.start_soon(sample_rss)
        if gate is not None:
            await gate()
        cpu0, t0, wall0 = time.process_time(), time.perf_counter(), time.time()
        for i, nid in enumerate(ids):
            svc = i % services
            message = _message(nid, svcs[svc], i)
            while not actors[svc].enqueue_nowait(message):  # noqa: ASYNC110 - as the API does
                await trio.sleep(0.001)  # lane full: wait for the dispatcher (bounded memory)
            if i % 500 == 0:
                await trio.lowlevel.checkpoint()
            if i == count // 4:
                at_quarter = _rss_mb()
        with trio.fail_after(max(60.0, count / 500)):
            await done.wait()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        wall1 = time.time()
        rss.append(_rss_mb())
        nursery.cancel_scope.cancel()
    sent = await sql.fetchrow(
        store,
        "SELECT count(*) FILTER (WHERE provider_reference IS NOT NULL) AS sent,"
        " count(*) FILTER (WHERE status = 'sending') AS sending FROM notifications"
        " WHERE service_id = ANY($1::uuid[])",
        [s.id for s in svcs],
    )
    calls = _delta(before, _histograms(provider.name))
    return {
        **calls,
        "provider": provider.name, "count": count, "services": services,
        "seconds": round(elapsed, 3), "notifications_per_s": round(count / elapsed),
        "cpu_us_per_notification": round(cpu / count * 1e6, 1),
        "rss_mb_start": round(rss[0], 1), "rss_mb_at_25pct": round(at_quarter, 1),
        "rss_mb_peak": round(max(rss), 1), "rss_mb_end": round(rss[-1], 1),
        "rows_with_reference": sent["sent"], "rows_sending": sent["sending"],
        "store": "null" if null_store else "postgresql",
        "span": [wall0, wall1],  # wall clock, to add up --workers processes
    }  # fmt: skip


async def _simulated(nursery: trio.Nursery) -> Provider:
    receipts_send, receipts_recv = trio.open_memory_channel[Receipt](10_000)
    provider = SimulatedProvider("email", receipts_send, name="simulated-email")
    await nursery.start(provider.run)

    async def drain() -> None:
        async for _ in receipts_recv:
            pass

    nursery.start_soon(drain)
    return provider


def _ses_opener(port: int, concurrency: int, validate: bool) -> OpenProvider:
    from contextlib import asynccontextmanager

    from aiobotocore.config import AioConfig

    from engine.providers import aws
    from engine.providers.ses import SesProvider

    settings = load_settings({}, aws_endpoint_url=f"http://127.0.0.1:{port}")
    config = aws.client_config(max_connections=concurrency)
    if validate:
        # botocore's own check of every parameter, which the engine's client config turns
        # off: ~5 ms CPU per 50-entry call. For comparison only.
        config = config.merge(AioConfig(parameter_validation=True))

    @asynccontextmanager
    async def open_provider() -> Any:
        credentials = ("bench", "bench")
        async with aws.open_client("sesv2", settings, config=config, credentials=credentials) as c:
            yield SesProvider(c, concurrency=concurrency)

    async def opener(nursery: trio.Nursery) -> Provider:
        provider: Provider = await nursery.start(aws.serve, open_provider)
        return provider

    return opener


async def run(
    args: argparse.Namespace, ses_port: int | None, dsn: str | None = None
) -> list[dict[str, Any]]:
    """One process's measurement. ``dsn``: a ``--workers`` child, in the parent's scratch
    database (already migrated and emptied), gated by a line on stdin."""
    base = server_dsn()
    if dsn is None:
        async with trio_asyncio.open_loop():
            dsn = await _scratch(base)
        scratch = True
    else:
        scratch = False
    results = []
    try:
        async with trio_asyncio.open_loop(), Store.open(dsn, batch_rows=2000) as store:
            if scratch:
                await store.migrate()
            tune_for_serving(args.gc_young)  # as `python -m engine serve` does
            async with trio.open_nursery() as nursery:
                await nursery.start(store.run)
                sizes = (args.count, args.services, args.concurrency, args.store == "null")
                gate = None if scratch else _stdin_gate
                if args.provider in ("simulated", "both"):
                    if scratch:
                        await sql.execute(store, "TRUNCATE notifications")
                    results.append(await measure(store, _simulated, *sizes, gate=gate))
                if ses_port is not None:
                    if scratch:
                        await sql.execute(store, "TRUNCATE notifications")
                    opener = _ses_opener(ses_port, args.concurrency, args.param_validation)
                    results.append(await measure(store, opener, *sizes, gate=gate))
                await store.close()
    finally:
        if scratch:
            async with trio_asyncio.open_loop():
                await _drop(base, dsn)
    return results


async def _stdin_gate() -> None:
    """``--workers`` child: say the rows are in, then start when the parent says go."""
    print("ready", flush=True)
    line = await trio.to_thread.run_sync(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit("the parent did not say go")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16, help="provider calls in flight")
    parser.add_argument("--provider", choices=("simulated", "ses", "both"), default="both")
    parser.add_argument("--store", choices=("postgresql", "null"), default="postgresql")
    parser.add_argument(
        "--param-validation",
        action="store_true",
        help="SES client with botocore parameter validation on (the engine runs it off)",
    )
    parser.add_argument("--gc-young", type=int, default=Settings().gc_young_threshold,
                        help="engine/gc_policy.py's young threshold; 0 = Python's")  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=1, help="engine processes sharing the services"
    )
    parser.add_argument("--serve-ses", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-dsn", help=argparse.SUPPRESS)  # a --workers child
    parser.add_argument("--ses-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ses:
        serve_ses()
        return
    if args.worker_dsn:
        for result in trio.run(run, args, args.ses_port, args.worker_dsn):
            print(json.dumps(result), flush=True)
        return
    sim: subprocess.Popen[str] | None = None
    port = None
    try:
        if args.provider in ("ses", "both"):
            sim = subprocess.Popen(
                [sys.executable, __file__, "--serve-ses"], stdout=subprocess.PIPE, text=True
            )
            assert sim.stdout is not None
            port = int(sim.stdout.readline())
        if args.workers > 1:
            from bench.engine_workers import run_workers

            results = [run_workers(args, port)]
        else:
            results = trio.run(run, args, port)
            for result in results:
                result.pop("span")
        if sim is not None:
            results[-1]["simulator_cpu_s"] = round(_cpu_seconds(sim.pid), 2)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
                stats = json.loads(r.read())
            results[-1]["ses_http_calls"] = stats["calls"]
            results[-1]["ses_entries_per_call"] = round(
                stats["entries"] / max(stats["calls"], 1), 1
            )
    finally:
        if sim is not None:
            sim.terminate()
            sim.wait(5)
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
