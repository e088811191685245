"""The attachment path's benchmark (issue 25): emails with a 1 MiB attachment each, in
through the public API, virus scanned by a real clamd, out through SES ``SendEmail`` with
the raw MIME message (``bench.simulators aws``), until every one is delivered.

    python bench/attachments.py                          # 200 emails, 8 connections
    python bench/attachments.py --emails 500 --connections 16
    python bench/attachments.py --burst --hold-scanner 10   # the memory bound under a burst

Everything runs as separate processes on loopback: PostgreSQL (``DATABASE_URL``: a scratch
database, else an embedded server), clamd (Debian's, with a one-signature database of its
own: the EICAR string; no freshclam), the AWS simulator and ``python -m engine serve``.
The load is this process (trio, httpx2): every file is a PDF of ``--size`` bytes whose
last bytes are unique, so clamd's cache of clean files never answers for it.

``--burst`` posts every email at once (``--connections`` of them in flight), with the
engine's ``NOTIFY_SCAN_QUEUE_BYTES`` (``--queue-mb``); ``--hold-scanner S`` also stops clamd
(SIGSTOP) for the first S seconds of the burst, so files pile up behind the scanner: the
engine's peak RSS must stay near its baseline plus the queue bound and the requests in
flight, however many emails wait (they wait in PostgreSQL, ``pending-virus-check``).

Prints ONE JSON line: emails, MiB per file, accept and delivered times, emails/s through
scanning and SES, POST latency p50/p99, engine and clamd CPU ms per attachment, the
engine's baseline and peak RSS (VmHWM, whole process tree), and the load average.
Every wait is bounded; child processes are killed on exit.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make `bench` and `engine` importable

from bench.e2e_load import PY, http, provision  # noqa: E402
from bench.harness import (  # noqa: E402
    Failed,
    Processes,
    database,
    free_port,
    proc_cpu_seconds,
    proc_status_mb,
    sql,
)

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def start_clamd(procs: Processes, folder: Path) -> tuple[Any, str]:
    binary = shutil.which("clamd") or "/usr/sbin/clamd"
    if not os.path.exists(binary):
        raise Failed("clamd not installed (Debian: apt-get install clamav-daemon)")
    db = folder / "clamdb"
    db.mkdir()
    (db / "bench.ndb").write_text(f"Bench.EICAR:0:*:{EICAR.hex()}\n")
    sock = folder / "clamd.sock"
    conf = folder / "clamd.conf"
    conf.write_text(
        f"LocalSocket {sock}\nDatabaseDirectory {db}\nForeground yes\nLogFile {folder}/clamd.log\n"
        "StreamMaxLength 25M\nMaxThreads 4\nSelfCheck 0\n"
    )
    proc = procs.start("clamd", [binary, "-c", str(conf)])
    deadline = time.monotonic() + 30
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise Failed(f"clamd did not start: {procs.tail('clamd')}")
        time.sleep(0.02)
    return proc, f"unix:{sock}"


def start_engine(
    procs: Processes, dsn: str, folder: Path, clamd: str, args: argparse.Namespace
) -> tuple[Any, str, str]:
    import secrets

    port, token = free_port(), secrets.token_urlsafe(24)
    base = f"http://127.0.0.1:{port}"
    sim = procs.start("aws-simulator", [PY, "-m", "bench.simulators", "aws", "--engine-url",
                                        base, "--receipt-delay-ms", "20"])  # fmt: skip
    sim_url = f"http://127.0.0.1:{procs.listening_port('aws-simulator', sim)}"
    env = {
        "DATABASE_URL": dsn, "NOTIFY_PORT": str(port), "NOTIFY_ADMIN_TOKEN": token,
        "NOTIFY_SECRET_KEY": secrets.token_urlsafe(32), "NOTIFY_DATA_DIR": str(folder / "data"),
        "NOTIFY_LOG_LEVEL": "WARNING", "NOTIFY_EMAIL_PROVIDERS": "ses",
        "NOTIFY_AWS_ENDPOINT_URL": sim_url, "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench", "NOTIFY_CLAMD_ADDRESS": clamd,
        "NOTIFY_SCAN_QUEUE_BYTES": str(args.queue_mb * 1024 * 1024),
        "NOTIFY_RECEIPTS_VERIFY_SIGNATURE": "false",
    }  # fmt: skip
    env.update(item.split("=", 1) for item in args.engine_env)
    engine = procs.start("engine", [PY, "-m", "engine", "serve"], env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if engine.poll() is not None:
            raise Failed(f"engine exited: {procs.tail('engine')}")
        try:
            if http("GET", base + "/_status/ready", timeout=2)[0] == 200:
                return engine, base, token
        except Exception:
            pass
        time.sleep(0.2)
    raise Failed("engine not ready within 90 s")


def post_all(base: str, ids: dict[str, str], args: argparse.Namespace) -> list[float]:
    """POST every email (``--connections`` at a time); returns each POST's seconds."""
    import httpx2
    import trio

    size = args.size - args.size % 3  # a multiple of 3: the unique tail encodes on its own
    common = base64.b64encode(b"%PDF-1.4\n" + os.urandom(size - 9)).decode()
    latencies: list[float] = []

    def body(i: int) -> bytes:
        tail = base64.b64encode(f"\n%{i:020d}\n%%EOF".encode()).decode()  # 30 bytes
        value = {"file": common + tail, "filename": f"letter-{i}.pdf", "sending_method": "attach"}
        return json.dumps({
            "email_address": f"bench-{i}@simulator.notify", "template_id": ids["template_id"],
            "personalisation": {"name": "Ada", "code": value},
        }).encode()  # fmt: skip

    async def worker(client: Any, todo: Any) -> None:
        async for i in todo:
            started = time.perf_counter()
            r = await client.post("/v2/notifications/email", content=body(i))
            latencies.append(time.perf_counter() - started)
            if r.status_code != 201:
                raise Failed(f"POST -> {r.status_code} {r.text[:300]}")

    async def main() -> None:
        headers = {"Authorization": f"ApiKey-v1 {ids['key']}",
                   "Content-Type": "application/json"}  # fmt: skip
        send, receive = trio.open_memory_channel[int](args.emails)
        for i in range(args.emails):
            send.send_nowait(i)
        send.close()
        limits = httpx2.Limits(max_connections=args.connections)
        async with (
            httpx2.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as c,
            trio.open_nursery() as nursery,
        ):
            for _ in range(args.connections):
                nursery.start_soon(worker, c, receive.clone())

    trio.run(main)
    return latencies


def wait_sent(dsn: str, sid: str, n: int, timeout: float, verbose: bool = False) -> float:
    deadline, shown = time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline:
        rows = sql(dsn, "SELECT count(*) AS n FROM notifications WHERE service_id = $1"
                        " AND status IN ('sending', 'sent', 'delivered')", sid)  # fmt: skip
        if rows[0]["n"] >= n:
            return time.monotonic()
        if verbose and time.monotonic() - shown > 2:
            shown = time.monotonic()
            by = sql(dsn, "SELECT status, count(*) AS n FROM notifications GROUP BY 1")
            print({r["status"]: r["n"] for r in by}, file=sys.stderr, flush=True)
        time.sleep(0.1)
    raise Failed(f"not every email sent within {timeout} s")


def _metric(text: str, name: str) -> float:
    for line in str(text).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    procs = Processes(folder)
    try:
        with database(folder) as dsn:
            clamd, address = start_clamd(procs, folder)
            engine, base, token = start_engine(procs, dsn, folder, address, args)
            ids = provision(base, token, args.emails, None)
            baseline_rss = proc_status_mb(engine.pid, "VmRSS")
            cpu0, clamd0 = proc_cpu_seconds(engine.pid), proc_cpu_seconds(clamd.pid)
            spy = None
            if args.profile:
                spy_bin = str(Path(PY).parent / "py-spy")
                spy = procs.start("py-spy", [spy_bin, "record", "-p", str(engine.pid),
                                             "-o", args.profile, "-f", "raw"])  # fmt: skip
            if args.hold_scanner:
                os.kill(clamd.pid, signal.SIGSTOP)
            t0 = time.monotonic()
            if args.hold_scanner:
                import threading

                threading.Timer(args.hold_scanner, os.kill, (clamd.pid, signal.SIGCONT)).start()
            latencies = post_all(base, ids, args)
            accepted = time.monotonic()
            waiting = sql(dsn, "SELECT count(*) AS n FROM notifications"
                               " WHERE status = 'pending-virus-check'")[0]["n"]  # fmt: skip
            done = wait_sent(dsn, ids["service_id"], args.emails, args.timeout, args.verbose)
            cpu = proc_cpu_seconds(engine.pid) - cpu0
            clamd_cpu = proc_cpu_seconds(clamd.pid) - clamd0
            peak = proc_status_mb(engine.pid, "VmHWM")
            if spy is not None:  # py-spy writes its profile on SIGINT
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            latencies.sort()
            n = args.emails
            metrics = http("GET", base + "/metrics")[1]
            scan_sum = _metric(metrics, "notify_virus_scan_duration_seconds_sum")
            scan_count = _metric(metrics, "notify_virus_scan_duration_seconds_count")
            return {
                "emails": n,
                "file_mib": round(args.size / 1048576, 2),
                "connections": args.connections,
                "hold_scanner_s": args.hold_scanner,
                "accept_s": round(accepted - t0, 2),
                "sent_s": round(done - t0, 2),
                "emails_per_s": round(n / (done - t0), 1),
                "waiting_for_scan_at_accept": waiting,
                "api_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
                "api_p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 1),
                "scan_mean_ms": round(scan_sum / max(scan_count, 1) * 1000, 1),
                "scans": int(scan_count),
                "scan_errors_while_held": int(
                    _metric(metrics, 'notify_virus_scans_total{outcome="error"}')
                ),
                "engine_cpu_ms_per_attachment": round(cpu / n * 1000, 1),
                "clamd_cpu_ms_per_attachment": round(clamd_cpu / n * 1000, 1),
                "engine_baseline_rss_mb": round(baseline_rss, 1),
                "engine_peak_rss_mb": round(peak, 1),
                "scan_queue_mb": args.queue_mb,
                "load_average": os.getloadavg()[0],
            }
    finally:
        procs.stop_all()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emails", type=int, default=200)
    parser.add_argument("--size", type=int, default=1024 * 1024, help="bytes per attachment")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--burst", action="store_true", help="64 connections unless given")
    parser.add_argument("--hold-scanner", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--queue-mb", type=int, default=64, help="NOTIFY_SCAN_QUEUE_BYTES")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--verbose", action="store_true", help="statuses every 2 s (stderr)")
    parser.add_argument("--profile", default="", help="py-spy's raw profile of the engine here")
    parser.add_argument("--engine-env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    if args.burst and "--connections" not in (argv or sys.argv):
        args.connections = 64
    with tempfile.TemporaryDirectory(prefix="notify-attachments-") as folder:
        try:
            print(json.dumps(run(args, Path(folder))), flush=True)
        except Failed as exc:
            print(json.dumps({"error": str(exc)}), flush=True)
            sys.exit(1)


if __name__ == "__main__":
    main()
