"""The end-to-end benchmark's input side, shared with ``bench/api.py``: start the simulators
and the engine, provision a service, template and API key through the admin API, and send
the notifications (single POSTs through ``bench.loadgen`` processes, or bulk jobs)."""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Failed, Processes, free_port

PY = sys.executable
ROWS_PER_JOB = 50_000
EMAIL = "Dear ((name)),\n\nYour application has been received. Reference: ((code)).\n\nThanks!"


def http(
    method: str, url: str, token: str | None = None, body: Any = None, timeout: float = 30
) -> tuple[int, Any]:
    import httpx2

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx2.request(method, url, json=body, headers=headers, timeout=timeout)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


def start_engine(
    procs: Processes,
    dsn: str,
    folder: Path,
    providers: str,
    args: argparse.Namespace,
    root: Path = ROOT,
) -> tuple[subprocess.Popen[bytes], str, str, str | None]:
    """Start simulators and the engine (``root``'s: another checkout's engine under this
    one's load and simulators, for an A/B pair in which only the engine differs): (engine
    process, base URL, admin token, AWS simulator URL or None)."""
    import httpx2

    port, admin_token = free_port(), secrets.token_urlsafe(24)
    base = f"http://127.0.0.1:{port}"
    env = {
        "DATABASE_URL": dsn,
        "NOTIFY_PORT": str(port),
        "NOTIFY_ADMIN_TOKEN": admin_token,
        "NOTIFY_SECRET_KEY": secrets.token_urlsafe(32),
        "NOTIFY_DATA_DIR": str(folder / "data"),
        "NOTIFY_LOG_LEVEL": "WARNING",
        "NOTIFY_CALLBACK_ALLOW_HTTP": "true",  # the receiver: http on 127.0.0.1
        "NOTIFY_CALLBACK_ALLOW_PRIVATE": "true",
        "NOTIFY_RECEIPTS_VERIFY_SIGNATURE": "false",
        "NOTIFY_SIMULATED_RECEIPT_DELAY_MS": str(args.receipt_delay_ms),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    env.update(item.split("=", 1) for item in args.engine_env)
    sim_url = None
    if providers == "aws":
        sim = procs.start(
            "aws-simulator",
            [
                PY,
                "-m",
                "bench.simulators",
                "aws",
                "--engine-url",
                base,
                "--receipt-delay-ms",
                str(args.receipt_delay_ms),
            ],
        )
        sim_port = procs.listening_port("aws-simulator", sim)
        sim_url = f"http://127.0.0.1:{sim_port}"
        env.update(
            {
                "NOTIFY_EMAIL_PROVIDERS": "ses",
                "NOTIFY_SMS_PROVIDERS": "sns",
                "NOTIFY_AWS_ENDPOINT_URL": sim_url,
            }
        )
    engine = procs.start(f"engine-{providers}", [PY, "-m", "engine", "serve"], env, cwd=root)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if engine.poll() is not None:
            raise Failed(f"engine exited: {procs.tail(f'engine-{providers}')}")
        with contextlib.suppress(OSError, ValueError, httpx2.TransportError):
            if http("GET", base + "/_status/ready", timeout=2)[0] == 200:
                return engine, base, admin_token, sim_url
        time.sleep(0.2)
    raise Failed("engine not ready within 90 s")


def provision(
    base: str, token: str, n: int, callback_url: str | None, channel: str = "email"
) -> dict[str, str]:
    big = max(n * 10, 1_000_000)

    def ok(method: str, path: str, body: Any) -> Any:
        status, answer = http(method, base + path, token, body)
        if status not in (200, 201):
            raise Failed(f"{method} {path} -> {status} {answer}")
        return answer

    sid = ok(
        "POST",
        "/admin/services",
        {
            "name": f"e2e {time.strftime('%H:%M:%S')}",
            "email_from": "bench",
            "restricted": False,
            "rate_limit": big,
            "email_daily_limit": big,
            "sms_daily_limit": big,
            "email_annual_limit": big,
            "sms_annual_limit": big,
        },
    )["id"]
    template = ok(
        "POST",
        f"/admin/services/{sid}/templates",
        {"name": "e2e", "type": "email", "subject": "Hello ((name))", "content": EMAIL}
        if channel == "email"
        else {"name": "e2e", "type": "sms", "content": "Hello ((name)), your code is ((code))."},
    )["id"]
    key = ok("POST", f"/admin/services/{sid}/api-keys", {"name": "e2e", "key_type": "normal"})
    if callback_url:
        ok(
            "PUT",
            f"/admin/services/{sid}/callback",
            {"url": callback_url, "bearer_token": "e2e-callback-token"},
        )
    return {"service_id": sid, "template_id": template, "key": key["key"]}


def send_single(
    procs: Processes, base: str, ids: dict[str, str], args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    per, outs = -(-args.notifications // args.load_procs), []
    workers = []
    for w in range(args.load_procs):
        count = min(per, args.notifications - w * per)
        out = str(folder / f"load-{w}.json")
        outs.append(out)
        workers.append(
            procs.start(
                f"load-{w}",
                [
                    PY,
                    "-m",
                    "bench.loadgen",
                    "--url",
                    base,
                    "--key",
                    ids["key"],
                    "--template",
                    ids["template_id"],
                    "--channel",
                    args.channel,
                    "--first",
                    str(w * per),
                    "--count",
                    str(count),
                    "--connections",
                    str(max(1, args.connections // args.load_procs)),
                    "--rate",
                    str(args.rate / args.load_procs),
                    "--deadline",
                    str(args.timeout),
                    "--out",
                    out,
                ],
            )
        )
    for w in workers:
        w.wait(timeout=args.timeout + 30)
    results = [json.loads(Path(o).read_text()) for o in outs]
    latencies = array("d")
    for o in outs:
        with open(o + ".lat", "rb") as f:
            latencies.frombytes(f.read())
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    ordered = sorted(latencies)
    seconds = max(r["finished"] for r in results) - min(r["started"] for r in results)
    return {
        "created": sum(r["created"] for r in results),
        "api_errors": errors,
        "api_p50_ms": round(percentile(ordered, 0.5) * 1000, 2),
        "api_p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "api_requests_per_s": round(len(ordered) / max(seconds, 1e-9)),
    }


def send_bulk(base: str, ids: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    import jwt

    key, created, accept, jobs = ids["key"], 0, [], []
    for first in range(0, args.notifications, ROWS_PER_JOB):
        count = min(ROWS_PER_JOB, args.notifications - first)
        rows = [["email address", "name", "code"]] + [
            [f"user{i}@example.com", f"User {i}", str(i)] for i in range(first, first + count)
        ]
        token = jwt.encode({"iss": key[-73:-37], "iat": int(time.time())}, key[-36:], "HS256")
        started = time.time()
        status, answer = http(
            "POST",
            base + "/v2/notifications/bulk",
            token,
            {"name": f"e2e-{first}", "template_id": ids["template_id"], "rows": rows},
            timeout=120,
        )
        accept.append(time.time() - started)
        if status != 201:
            raise Failed(f"bulk job refused: {status} {str(answer)[:500]}")
        created += count
        jobs.append((answer["data"]["id"], started))
    return {"created": created, "bulk_accept_s": round(max(accept), 3), "jobs": jobs}


def percentile(ordered: Any, q: float) -> float:
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))]) if len(ordered) else 0.0
