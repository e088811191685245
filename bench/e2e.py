"""The end-to-end benchmark: notifications in through the public API, out through SES/SNS
simulators, receipts back, status callbacks out, until every one is delivered and called back.

    python bench/e2e.py --quick                       # 20,000 single POSTs, under a minute
    python bench/e2e.py --notifications 1000000       # the headline run
    python bench/e2e.py --mode bulk --notifications 100000   # /v2/notifications/bulk, 50k-row jobs
    python bench/e2e.py --quick --rate 1000           # API latency at a fixed 1,000 requests/s
    python bench/e2e.py --engine-root ../old          # another checkout's engine, this load

Everything runs as separate processes on loopback: PostgreSQL (``DATABASE_URL``, in a
scratch database created and dropped here, or an embedded server in a temporary folder),
``python -m bench.simulators aws`` (SES v2 + SNS, receipts posted back to the engine),
``python -m bench.simulators callbacks``, ``python -m engine serve`` and the load
(``python -m bench.loadgen``, raw keep-alive sockets). ``--providers simulated`` uses the
engine's built-in simulated provider instead of SES (receipts stay inside the engine).

Prints ONE JSON line (see ``report``), writes ``bench/out/e2e-*.json`` and a PNG of
accepted / sent / delivered / callbacks per second (``--save-docs`` also copies it to
``docs/e2e-throughput.png``). Every wait is bounded; child processes are killed on exit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make `bench` and `engine` importable

from bench.e2e_load import PY, http, provision, send_bulk, send_single, start_engine  # noqa: E402
from bench.harness import (  # noqa: E402
    Failed,
    Processes,
    database,
    proc_cpu_seconds,
    proc_cpu_split,
    proc_status_mb,
    sql,
)

OUT = ROOT / "bench" / "out"
TARGETS = {
    "notifications_per_s": 1111,
    "api_p99_ms": 50,
    "peak_rss_mb": 1024,
    "bulk_accept_s": 2,
    "bulk_delivered_s": 20,
}


# -- the run --------------------------------------------------------------------------------
def wait_until_done(
    dsn: str, sid: str, expected: int, cb_url: str | None, args: argparse.Namespace
) -> tuple[int, int, int]:
    """Poll until every notification is delivered and called back; bounded, with a stall
    limit. Returns (delivered, failed, delivered callbacks)."""
    deadline, last, last_change = time.monotonic() + args.timeout, None, time.monotonic()
    delivered = failed = callbacks = 0
    while time.monotonic() < deadline and time.monotonic() - last_change < args.stall:
        row = sql(
            dsn,
            "SELECT count(*) FILTER (WHERE status = 'delivered') AS d, count(*) FILTER"
            " (WHERE status LIKE '%failure') AS f FROM notifications WHERE service_id = $1",
            sid,
        )[0]
        delivered, failed = row["d"], row["f"]
        if cb_url:
            callbacks = http("GET", cb_url + "/stats")[1].get("final", {}).get("delivered", 0)
        if (delivered, callbacks) != last:
            last, last_change = (delivered, callbacks), time.monotonic()
        if delivered + failed >= expected and (not cb_url or callbacks >= delivered):
            break
        time.sleep(args.poll)
    return delivered, failed, callbacks


def timeline(dsn: str, sid: str, t0: float, cb_stats: dict[str, Any] | None) -> dict[str, Any]:
    series: dict[str, dict[int, int]] = {}
    for name, column, where in (
        ("accepted", "created_at", ""),
        ("sent", "sent_at", ""),
        ("delivered", "updated_at", " AND status = 'delivered'"),
    ):
        rows = sql(
            dsn,
            f"SELECT floor(extract(epoch FROM {column}) - $2)::int AS s, count(*) AS n"
            f" FROM notifications WHERE service_id = $1 AND {column} IS NOT NULL{where}"
            " GROUP BY 1 ORDER BY 1",
            sid,
            t0,
        )
        series[name] = {r["s"]: r["n"] for r in rows}
    if cb_stats:
        series["callbacks"] = {int(s) - int(t0): n for s, n in cb_stats["per_second"].items()}
    return series


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    procs = Processes(folder)
    try:
        with database(folder) as dsn:
            return measure(args, folder, procs, dsn)
    finally:
        procs.stop_all()


def measure(args: argparse.Namespace, folder: Path, procs: Processes, dsn: str) -> dict[str, Any]:
    cb_url = None
    if not args.no_callbacks:
        receiver = procs.start(
            "callbacks",
            [PY, "-m", "bench.simulators", "callbacks", "--bearer-token", "e2e-callback-token"],
        )
        cb_url = f"http://127.0.0.1:{procs.listening_port('callbacks', receiver)}"
    providers = "aws" if args.providers == "auto" else args.providers
    root = Path(args.engine_root).resolve() if args.engine_root else ROOT
    try:
        engine, base, token, sim_url = start_engine(procs, dsn, folder, providers, args, root)
    except Failed as exc:
        if args.providers != "auto" or "unknown provider" not in str(exc):
            raise
        providers = "simulated"  # this engine has no SES/SNS providers
        engine, base, token, sim_url = start_engine(procs, dsn, folder, providers, args, root)
    ids = provision(base, token, args.notifications, cb_url and cb_url + "/callback", args.channel)
    profiler = profile_path = None
    if args.profile:
        profile_path = OUT / f"e2e-profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
        OUT.mkdir(parents=True, exist_ok=True)
        # --subprocesses: with NOTIFY_WORKERS > 1 the work is in the engine's children.
        # --gil: only the thread holding the GIL, i.e. Python's CPU; without it py-spy also
        # counts threads waiting for the GIL or a socket, and spreads a difference over
        # everything (README, "Results", twelfth session).
        profiler = procs.start("py-spy", [str(Path(PY).parent / "py-spy"), "record", "--pid",
                               str(engine.pid), "--rate", str(args.profile_rate), "--format", "raw",
                               "--nonblocking", "--gil", "--subprocesses",
                               "--output", str(profile_path)])  # fmt: skip
    (user0, sys0), t0 = proc_cpu_split(engine.pid), time.time()
    load = (
        send_single(procs, base, ids, args, folder)
        if args.mode == "single"
        else send_bulk(base, ids, args)
    )
    delivered, failed, callbacks = wait_until_done(
        dsn, ids["service_id"], load["created"], cb_url, args
    )
    user1, sys1 = proc_cpu_split(engine.pid)
    user, system = user1 - user0, sys1 - sys0
    cpu = user + system
    peak_rss = proc_status_mb(engine.pid, "VmHWM")
    helpers = {
        name: round(proc_cpu_seconds(proc.pid), 1)
        for name, proc in procs.running
        if proc.poll() is None and name in ("aws-simulator", "callbacks")
    }
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
        profiler.wait(timeout=60)
    cb_stats = http("GET", cb_url + "/stats")[1] if cb_url else None
    sid = ids["service_id"]
    # The run ends at the last status change or callback, not at the poll that saw it.
    last = sql(dsn, "SELECT extract(epoch FROM max(updated_at)) AS t FROM notifications"
               " WHERE service_id = $1", sid)[0]["t"]  # fmt: skip
    seconds = max(float(last or 0), (cb_stats or {}).get("last_at") or 0) - t0
    lat = sql(
        dsn,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p50,"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY d) AS p99 FROM (SELECT"
        " extract(epoch FROM updated_at - created_at) * 1000 AS d FROM notifications"
        " WHERE service_id = $1 AND status = 'delivered') x",
        sid,
    )[0]
    n = load["created"]
    result: dict[str, Any] = {
        "mode": args.mode,
        "providers": providers,
        "requested": args.notifications,
        "notifications": n,
        "seconds": round(seconds, 2),
        "notifications_per_s": round(n / seconds, 1),
        **{k: v for k, v in load.items() if k.startswith("api_") or k == "bulk_accept_s"},
        "created_to_delivered_p50_ms": round(float(lat["p50"] or 0), 1),
        "created_to_delivered_p99_ms": round(float(lat["p99"] or 0), 1),
        "callbacks": callbacks if cb_url else None,
        "callbacks_per_s": round(callbacks / seconds, 1) if cb_url else None,
        "engine_cpu_s_per_1000": round(cpu / max(n, 1) * 1000, 3),
        "engine_system_cpu_share": round(system / max(cpu, 1e-9), 3),
        "peak_rss_mb": round(peak_rss, 1),
        "delivered": delivered,
        "failed": failed,
        "lost": n - delivered - failed + (max(0, delivered - callbacks) if cb_url else 0),
        "helper_cpu_s": helpers,
        # Calls and receipts (delivered / retried / failed) as the AWS simulator saw them.
        "simulator": http("GET", sim_url + "/stats")[1] if sim_url else None,
    }
    if profile_path is not None and profile_path.exists():
        result["profile"] = str(profile_path.relative_to(ROOT))
        result["profile_top_self"] = profile_summary(profile_path)
    if args.mode == "bulk":
        job_id, started = load["jobs"][0]
        row = sql(
            dsn,
            "SELECT extract(epoch FROM max(updated_at)) AS last FROM notifications"
            " WHERE job_id = $1 AND status = 'delivered'",
            job_id,
        )[0]
        result["bulk_delivered_s"] = round(float(row["last"] or 0) - started, 2)
    result["targets_missed"] = missed(result, full=n >= 1_000_000, rate=args.rate)
    series = timeline(dsn, sid, t0, cb_stats)
    save(result, series, args)
    return result


def profile_summary(path: Path, top: int = 12) -> list[str]:
    """The functions where the engine spent its CPU (self time), from py-spy's raw output."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        frame = stack.rsplit(";", 1)[-1]
        name, _, where = frame.partition(" (")
        key = f"{name} ({where.rpartition(':')[0]})"  # per function, not per line
        counts[key] = counts.get(key, 0) + int(n)
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
    return [f"{n / max(total, 1):.1%} {key}" for key, n in ranked]


def missed(result: dict[str, Any], *, full: bool, rate: float = 0.0) -> dict[str, str]:
    out = {}
    checks = [("peak_rss_mb", False)]
    # The latency target is "p99 < 50 ms at 1,000 requests/s": a closed loop saturates the
    # machine on purpose, so its p99 measures queueing for the CPU, not that target.
    if 0 < rate <= 1000:
        checks.append(("api_p99_ms", False))
    # A paced run cannot go faster than its --rate, so it says nothing about throughput.
    judge_throughput = result["mode"] == "single" and rate == 0
    if judge_throughput:
        checks.append(("notifications_per_s", True))
    elif result["mode"] == "bulk":
        checks += [("bulk_accept_s", False), ("bulk_delivered_s", False)]
    for name, higher_is_better in checks:
        value, target = result.get(name), TARGETS[name]
        if value is None:
            continue
        if (value < target) if higher_is_better else (value > target):
            gap = f"{abs(value - target) / target:.0%} {'short' if higher_is_better else 'over'}"
            out[name] = f"{value} vs target {target} ({gap})"
    if result["notifications"] < result["requested"]:
        out["accepted"] = f"{result['notifications']} of {result['requested']} accepted"
    if result["lost"]:
        out["lost"] = f"{result['lost']} notifications not delivered and called back (target 0)"
    if judge_throughput and not full:
        out["note"] = "throughput target is for the 1,000,000-notification run"
    return out


def save(result: dict[str, Any], series: dict[str, Any], args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    title = (
        f"{result['notifications']:,} {result['mode']} notifications, "
        f"{result['notifications_per_s']:,}/s end to end ({result['providers']} providers)"
    )
    data = {"title": title, "result": result, "series": series}
    (OUT / f"e2e-{stamp}.json").write_text(json.dumps(data))
    from bench.plot import plot_timeline

    png = plot_timeline(data, OUT / f"e2e-{stamp}.png")
    result["plot"] = str(png.relative_to(ROOT))
    if args.save_docs:
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(png, ROOT / "docs" / "e2e-throughput.png")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--notifications", type=int, default=100_000)
    p.add_argument("--quick", action="store_true", help="20,000 notifications (CI smoke)")
    p.add_argument("--mode", choices=("single", "bulk"), default="single")
    p.add_argument("--channel", choices=("email", "sms"), default="email", help="single mode")
    p.add_argument(
        "--providers",
        choices=("auto", "aws", "simulated"),
        default="auto",
        help="auto: SES/SNS simulators if the engine has those providers",
    )
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--load-procs", type=int, default=1)
    p.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = closed loop")
    p.add_argument("--receipt-delay-ms", type=float, default=50.0)
    p.add_argument("--no-callbacks", action="store_true")
    p.add_argument("--timeout", type=float, default=0.0, help="seconds; default scales with N")
    p.add_argument("--stall", type=float, default=30.0, help="give up after no progress for S")
    p.add_argument("--poll", type=float, default=0.0)
    p.add_argument("--save-docs", action="store_true")
    p.add_argument(
        "--engine-root",
        default=None,
        metavar="DIR",
        help="run the engine of another checkout (A/B: same load and simulators)",
    )
    p.add_argument("--engine-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra engine setting, e.g. NOTIFY_CALLBACK_CONCURRENCY=32")  # fmt: skip
    p.add_argument("--profile", action="store_true", help="py-spy the engine's CPU (GIL holder)")
    p.add_argument("--profile-rate", type=int, default=49, help="py-spy samples per second")
    args = p.parse_args(argv)
    if args.quick:
        args.notifications = 20_000
    args.timeout = args.timeout or max(300.0, args.notifications / 100)
    args.poll = args.poll or min(5.0, max(0.5, args.notifications / 200_000))
    folder = Path(tempfile.mkdtemp(prefix="notify-e2e-"))
    try:
        result = run(args, folder)
    except Failed as exc:
        print(json.dumps({"error": str(exc), "logs": str(folder)}), flush=True)
        raise SystemExit(1) from None
    except BaseException:
        print(f"e2e: logs kept in {folder}", file=sys.stderr)
        raise
    print(json.dumps(result), flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    raise SystemExit(1 if result["lost"] else 0)


if __name__ == "__main__":
    main()
