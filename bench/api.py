"""API benchmark: single ``POST /v2/notifications/email`` with GC's ``ApiKey-v1`` header at
a fixed concurrency against a running engine (simulated provider).

    python bench/api.py                          # 64 connections, 1 s warm-up, 10 s measured
    python bench/api.py --connections 128 --duration 20
    python bench/api.py --template bilingual     # a GC [[en]]/[[fr]] template (issue 22)

Processes, all on loopback: PostgreSQL (``DATABASE_URL``, a scratch database created and
dropped here, or an embedded server in a temporary folder), ``python -m engine serve``
(built-in simulated provider: receipts stay inside the engine) and the load
(``python bench/api.py load``: raw trio sockets + httptools, keep-alive, one request in
flight per connection, so latency is the engine's answer time). A service, template and key
are created through the admin API.

Reports ONE JSON line: requests/s (201 answers over the measured window), p50/p99 latency
and the engine process's CPU time per request (utime + stime from /proc/<pid>/stat before
and after the measured window, so it includes the background work each request causes:
group-commit writes, the simulated send and its receipt). Target: >= 3,000 requests/s with
p99 < 50 ms on a 2-core machine with PostgreSQL alongside. Every wait is bounded; child
processes are stopped on exit.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make `bench` and `engine` importable

from bench.e2e_load import PY, http, percentile, provision, start_engine  # noqa: E402
from bench.harness import Failed, Processes, database, proc_cpu_seconds  # noqa: E402
from bench.loadgen import Load  # noqa: E402

TARGETS = {"requests_per_s": 3000, "p99_ms": 50}
# ``--template bilingual``: GC Notify's bilingual layout, English then French blocks, with
# the same personalisation (name, code) the load sends.
BILINGUAL = (
    "[[en]]\n# Application received\n\nDear ((name)),\n\nYour application has been received."
    " Reference: **((code))**.\n\n* keep this email\n* check your status online\n[[/en]]\n\n"
    "---\n\n[[fr]]\n# Demande reçue\n\nBonjour ((name)),\n\nNous avons reçu votre demande."
    " Référence : **((code))**.\n\n* conservez ce courriel\n* suivez votre demande en ligne\n"
    "[[/fr]]\n"
)


# -- the load process -----------------------------------------------------------------------
class _ApiKeyHeader:
    """Same interface as loadgen's JWT header: a bearer secret needs no clock."""

    def __init__(self, key: str) -> None:
        self._header = b"authorization: ApiKey-v1 " + key.encode()

    def header(self) -> bytes:
        return self._header


class ApiKeyLoad(Load):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.token = _ApiKeyHeader(args.key)  # type: ignore[assignment]


def load_args(argv: list[str]) -> argparse.Namespace:
    """The load process's arguments, with the fixed ones ``loadgen.Load`` also reads."""
    p = argparse.ArgumentParser(prog="python bench/api.py load")
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--template", required=True)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    args.channel, args.first, args.count, args.rate, args.ids = "email", 0, 10**9, 0.0, False
    return args


def load_main(argv: list[str]) -> None:
    import trio

    args = load_args(argv)

    async def run() -> tuple[ApiKeyLoad, float, float]:
        load = ApiKeyLoad(args)
        started = time.time()
        with trio.move_on_after(args.duration):
            async with trio.open_nursery() as nursery:
                for _ in range(args.connections):
                    nursery.start_soon(load.connection)
        return load, started, time.time()

    load, started, finished = trio.run(run)
    with open(args.out + ".lat", "wb") as lat:
        load.latencies.tofile(lat)
    with open(args.out, "w") as f:
        json.dump({**load.counts, "started": started, "finished": finished}, f)


# -- the driver -----------------------------------------------------------------------------
def run_load(
    procs: Processes, name: str, base: str, ids: dict[str, str], seconds: float, args: Any
) -> tuple[dict[str, Any], array[float]]:
    out = Path(procs.folder) / f"{name}.json"
    proc = procs.start(
        name,
        [
            PY,
            str(ROOT / "bench" / "api.py"),
            "load",
            "--url",
            base,
            "--key",
            ids["key"],
            "--template",
            ids["template_id"],
            "--connections",
            str(args.connections),
            "--duration",
            str(seconds),
            "--out",
            str(out),
        ],
    )
    try:
        proc.wait(timeout=seconds + 60)
    except Exception as exc:
        raise Failed(f"{name} did not finish: {procs.tail(name)}") from exc
    if proc.returncode != 0:
        raise Failed(f"{name} failed: {procs.tail(name)}")
    latencies = array("d")
    raw = Path(str(out) + ".lat").read_bytes()
    latencies.frombytes(raw)
    return json.loads(out.read_text()), latencies


def _bilingual_template(base: str, token: str, service_id: str) -> str:
    body = {"name": "bilingual", "type": "email", "subject": "Hello ((name)) | Bonjour ((name))",
            "content": BILINGUAL}  # fmt: skip
    status, answer = http("POST", f"{base}/admin/services/{service_id}/templates", token, body)
    if status not in (200, 201):
        raise Failed(f"bilingual template -> {status} {answer}")
    return str(answer["id"])


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    procs = Processes(folder)
    try:
        with database(folder) as dsn:
            engine, base, admin_token, _ = start_engine(procs, dsn, folder, "simulated", args)
            ids = provision(base, admin_token, 10**7, None)
            if args.template == "bilingual":
                ids["template_id"] = _bilingual_template(base, admin_token, ids["service_id"])
            if args.warmup > 0:
                run_load(procs, "warmup", base, ids, args.warmup, args)
            cpu_before = proc_cpu_seconds(engine.pid)
            counts, latencies = run_load(procs, "load", base, ids, args.duration, args)
            cpu_after = proc_cpu_seconds(engine.pid)
    finally:
        procs.stop_all()
    created = int(counts.get("created", 0))
    elapsed = counts["finished"] - counts["started"]
    ordered = sorted(latencies)
    errors = {
        k: v for k, v in counts.items() if k not in ("sent", "created", "started", "finished")
    }
    result = {
        "benchmark": "api",
        "auth": "ApiKey-v1",
        "template": args.template,
        "connections": args.connections,
        "duration_s": round(elapsed, 2),
        "requests": int(counts.get("sent", 0)),
        "created": created,
        "errors": errors,
        "requests_per_s": round(created / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "engine_cpu_ms_per_request": (
            round((cpu_after - cpu_before) * 1000 / created, 3) if created else None
        ),
        "targets": TARGETS,
    }
    result["meets_targets"] = (
        result["requests_per_s"] >= TARGETS["requests_per_s"]
        and result["p99_ms"] < TARGETS["p99_ms"]
        and not errors
    )
    return result


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["load"]:
        load_main(argv[1:])
        return
    p = argparse.ArgumentParser(
        prog="python bench/api.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of load not measured")
    p.add_argument("--receipt-delay-ms", type=float, default=50.0)
    p.add_argument(
        "--template",
        choices=("plain", "bilingual"),
        default="plain",
        help="the email template sent: e2e's plain one, or a bilingual [[en]]/[[fr]] one",
    )
    p.add_argument(
        "--engine-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra engine setting, e.g. NOTIFY_STORE_LINGER_MS=5 (repeatable)",
    )
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notify-bench-api-") as tmp:
        try:
            result = measure(args, Path(tmp))
        except Failed as exc:
            print(json.dumps({"benchmark": "api", "error": str(exc)}))
            sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
