"""Ingress requests/s (built-in trio + httptools server vs hypercorn -k trio) and store rows/s.

    .venv/bin/python bench/ingress.py [--seconds 5] [--rounds 3] [--connections 64]
                                      [--store-rows 200000] [--batch 1000] [--no-store]
                                      [--python-client]

Phases, each bounded in time:
1. The trivial ASGI app (bench/trivial_app.py) served by the built-in server, then by
   hypercorn's trio worker, each in its own process on 127.0.0.1. The load generator is a
   separate process at fixed concurrency over keep-alive connections: ``wrk`` if it is on
   PATH (``apt-get install wrk``), else this module's raw-socket client (``--client``),
   which is slower than wrk and so under-measures the faster server. The two servers
   take turns for ``--rounds`` rounds and each reports its median, so a noisy spell on
   this shared machine hits both rather than one. Target: built-in >= 10x hypercorn.
2. Store insert throughput through ``Store.insert_notifications`` with 1,000-row batches
   (bench/store_inserts.py), against DATABASE_URL or an embedded PostgreSQL. Target:
   >= 50,000 rows/s.

Prints human lines, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
RESPONSE_END = b"Hello, world!"  # the last bytes of every trivial_app response
RPS_TARGET_RATIO = 10.0
ROWS_TARGET = 50_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def _server_command(kind: str, port: int) -> list[str]:
    if kind == "builtin":
        return [sys.executable, str(BENCH / "trivial_app.py"), "--port", str(port)]
    return [sys.executable, "-m", "hypercorn", "-k", "trio", "-w", "1",
            "-b", f"127.0.0.1:{port}", "trivial_app:app"]  # fmt: skip


def _load(port: int, seconds: float, connections: int, use_wrk: bool) -> tuple[float, str]:
    """Requests/s from a load generator in its own process."""
    url = f"http://127.0.0.1:{port}/"
    wrk = shutil.which("wrk") if use_wrk else None
    if wrk:
        out = subprocess.run(
            [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", url],
            capture_output=True, text=True, timeout=seconds + 30, check=True,
        ).stdout  # fmt: skip
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if not match:
            raise RuntimeError(f"unexpected wrk output: {out}")
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
        if errors:
            print(f"  wrk reported: {errors.group(0)}")
        return float(match.group(1)), "wrk"
    out = subprocess.run(
        [sys.executable, __file__, "--client", str(port), str(seconds), str(connections)],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    ).stdout  # fmt: skip
    return float(json.loads(out)["rps"]), "python-client"


def measure_server(
    kind: str, seconds: float, connections: int, warmup: float, use_wrk: bool = True
) -> tuple[int, str]:
    """Serve trivial_app with ``kind`` in a child process; return (requests/s, generator)."""
    port = _free_port()
    cwd = BENCH if kind == "hypercorn" else ROOT
    proc = subprocess.Popen(_server_command(kind, port), cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        _wait_listening(port, proc)
        if warmup > 0:
            _load(port, warmup, connections, use_wrk)
        rps, generator = _load(port, seconds, connections, use_wrk)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
    return round(rps), generator


# The fallback load generator (its own process) -----------------------------------------
def client_main(port: int, seconds: float, connections: int) -> None:
    import trio

    counts = [0] * connections

    async def one(i: int) -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            tail = b""
            for _ in range(100_000_000):  # bounded in time by the caller's cancel scope
                await stream.send_all(REQUEST)
                for _ in range(1000):
                    data = await stream.receive_some(65_536)
                    if not data:
                        return
                    tail = (tail + data)[-64:]
                    if tail.endswith(RESPONSE_END):
                        break
                counts[i] += 1

    async def run() -> float:
        with trio.move_on_after(seconds):
            async with trio.open_nursery() as nursery:
                for i in range(connections):
                    nursery.start_soon(one, i)
        return sum(counts) / seconds

    print(json.dumps({"rps": trio.run(run)}))


# -------------------------------------------------------------------------------------
def measure_store(rows: int, batch: int) -> dict[str, float]:
    import trio

    sys.path.insert(0, str(BENCH))
    from store_inserts import run

    return trio.run(run, rows, batch)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--seconds", type=float, default=5.0, help="load time per server")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured load first")
    parser.add_argument("--rounds", type=int, default=3, help="turns each server takes")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--store-rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--no-store", action="store_true", help="skip the store phase")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument("--client", nargs=3, metavar=("PORT", "SECONDS", "CONNECTIONS"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.client:
        client_main(int(args.client[0]), float(args.client[1]), int(args.client[2]))
        return

    result: dict[str, object] = {"seconds": args.seconds, "connections": args.connections}
    load = (args.seconds, args.connections, args.warmup, not args.python_client)
    runs: dict[str, list[int]] = {"builtin": [], "hypercorn": []}
    generator = ""
    for _ in range(max(1, args.rounds)):
        for kind, rates in runs.items():
            rps, generator = measure_server(kind, *load)
            rates.append(rps)
    builtin, hyper = (round(statistics.median(runs[k])) for k in ("builtin", "hypercorn"))
    for label, rps, kind in (("built-in trio+httptools", builtin, "builtin"),
                             ("hypercorn -k trio", hyper, "hypercorn")):  # fmt: skip
        each = ", ".join(f"{r:,}" for r in runs[kind])
        print(f"{label + ':':<25}{rps:>9,} req/s  ({generator}, {args.connections} conns; "
              f"median of {each})")  # fmt: skip
    ratio = round(builtin / max(hyper, 1), 1)
    verdict = "meets" if ratio >= RPS_TARGET_RATIO else "MISSES"
    print(f"ratio: {ratio}x ({verdict} the >= {RPS_TARGET_RATIO:g}x target)")
    if generator != "wrk":
        print("  (the Python client, not wrk: it under-measures the faster server)")
    result.update(builtin_rps=builtin, hypercorn_rps=hyper, ratio=ratio, load_generator=generator,
                  builtin_runs=runs["builtin"], hypercorn_runs=runs["hypercorn"])  # fmt: skip
    if not args.no_store:
        store = measure_store(args.store_rows, args.batch)
        rows_s = store["store_rows_per_s"]
        verdict = "meets" if rows_s >= ROWS_TARGET else "MISSES"
        print(f"store inserts ({args.batch}-row batches): {rows_s:,.0f} rows/s "
              f"({verdict} the >= {ROWS_TARGET:,} target)")  # fmt: skip
        result.update(store, store_batch=args.batch)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
