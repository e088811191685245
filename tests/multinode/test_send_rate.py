"""The provider send rate is the deployment's: three engine processes on one database,
each with ``NOTIFY_PROVIDER_SEND_RATES=ses=30`` and a backlog, send 30 emails a second in
total to one SES endpoint, smoothly (issue 19). On main each process sent 30/s of its own,
in per-batch bursts: 90/s at the endpoint.

The endpoint is a loopback SES v2 stand-in (SendEmail / SendBulkEmail, answered as SES
answers) that records the arrival time of every email; no receipts (the rows stay
``sending``, which is all this test needs). Every wait is bounded; loopback only.
"""

from __future__ import annotations

import itertools
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from functools import partial

import httpx2
import msgspec
import pytest
import trio

from bench.simulators import JSON, Headers, asgi
from engine.http1.server import serve
from engine.store.store import Store
from tests.processes import engine_process, setup_email_service

pytestmark = pytest.mark.slow

RATE = 30.0  # the deployment's rate, emails/s
NODES = 3
COUNT = 900  # 30 s at the rate: enough queued on every node to saturate it


def max_in_window(times: list[float], width: float) -> int:
    """The most arrivals within any ``width`` seconds (``times`` sorted)."""
    start, best = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - width:
            start += 1
        best = max(best, end - start + 1)
    return best


class SesEndpoint:
    """Answers SES v2 sends with success and records each email's arrival time."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.all_arrived = trio.Event()  # set once COUNT emails have arrived

    async def handle(
        self, method: str, path: str, query: bytes, body: bytes, headers: dict[bytes, bytes]
    ) -> tuple[int, Headers, bytes]:
        now = time.monotonic()
        request = msgspec.json.decode(body) if body else {}
        if method == "POST" and path == "/v2/email/outbound-bulk-emails":
            entries = request.get("BulkEmailEntries") or []
            self.arrivals += [now] * len(entries)
            self._check()
            results = [{"Status": "SUCCESS", "MessageId": uuid.uuid4().hex} for _ in entries]
            return 200, JSON, msgspec.json.encode({"BulkEmailEntryResults": results})
        if method == "POST" and path == "/v2/email/outbound-emails":
            self.arrivals.append(now)
            self._check()
            return 200, JSON, msgspec.json.encode({"MessageId": uuid.uuid4().hex})
        return 404, JSON, b'{"message": "no such operation"}'

    def _check(self) -> None:
        if len(self.arrivals) >= COUNT:
            self.all_arrived.set()


async def _post_all(urls: list[str], template_id: str, key: str) -> int:
    """COUNT emails, round-robin over the nodes, 12 at a time; the 201s counted."""
    accepted = 0
    turn = itertools.count()

    async def sender(client: httpx2.AsyncClient) -> None:
        nonlocal accepted
        for _ in range(COUNT):  # bounded: the shared counter ends it
            i = next(turn)
            if i >= COUNT:
                return
            r = await client.post(
                f"{urls[i % len(urls)]}/v2/notifications/email",
                json={"email_address": f"user{i}@example.com", "template_id": template_id,
                      "personalisation": {"name": "A", "code": i}},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            accepted += 1

    headers = {"Authorization": f"ApiKey-v1 {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=10) as client,
        trio.open_nursery() as nursery,
    ):
        for _ in range(12):
            nursery.start_soon(sender, client)
    return accepted


async def test_three_nodes_send_at_the_deployment_rate(store: Store, database_url: str) -> None:
    endpoint = SesEndpoint()
    env = {
        "NOTIFY_EMAIL_PROVIDERS": "ses",
        "NOTIFY_PROVIDER_SEND_RATES": f"ses={RATE:g}",
        "AWS_ACCESS_KEY_ID": "pacing",
        "AWS_SECRET_ACCESS_KEY": "pacing",
    }
    with tempfile.TemporaryDirectory() as folder, trio.fail_after(110):
        async with trio.open_nursery() as nursery, AsyncExitStack() as stack:
            stopped = trio.Event()
            port = await nursery.start(
                partial(serve, asgi(endpoint.handle), host="127.0.0.1", port=0, shutdown=stopped)
            )
            env["NOTIFY_AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
            urls = []
            for _ in range(NODES):
                _, url = await stack.enter_async_context(
                    engine_process(database_url, folder, **env)
                )
                urls.append(url)
            template_id, key = await setup_email_service(urls[0])
            assert await _post_all(urls, template_id, key) == COUNT
            with trio.move_on_after(COUNT / RATE * 1.5 + 10):
                await endpoint.all_arrived.wait()
            await stack.aclose()  # the engines stop (SIGTERM) before the endpoint
            stopped.set()

    times = sorted(endpoint.arrivals)
    assert len(times) == COUNT, f"{len(times)} of {COUNT} emails reached the endpoint"
    first, last = times[0], times[-1]
    steady = [t for t in times if first + 2.0 <= t < last - 2.0]
    seen = len(steady) / (last - first - 4.0)
    busiest = max_in_window(times, 1.0)
    assert seen == pytest.approx(RATE, rel=0.05), f"{seen:.1f}/s at the endpoint"
    assert busiest <= 2 * RATE, f"{busiest} emails within one second"
