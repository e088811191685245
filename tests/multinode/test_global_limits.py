"""Limits are deployment-wide: 3 engine processes on one database (separate ports, load
spread round-robin) hold a service's rate limit, daily limit and annual limit within 5% in
total, as one process would. Before the budgets (engine.store.budgets) each process kept
its own: x3. Loopback only; every wait is bounded."""

from __future__ import annotations

import tempfile
import time
from collections import Counter

import httpx2
import trio

from engine.domain.leases import bucket_shape
from tests.processes import engine_processes, setup_service

CONCURRENCY = 24


async def _send(
    urls: list[str], key: str, template: str, total: int, seconds: float
) -> Counter[int]:
    """``total`` emails (or until ``seconds`` pass), round-robin over ``urls``."""
    answers: Counter[int] = Counter()
    clients = [httpx2.AsyncClient(base_url=u, timeout=10) for u in urls]
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while sent < total:
            i = sent
            sent += 1
            r = await clients[i % len(clients)].post(
                "/v2/notifications/email",
                headers={"Authorization": f"ApiKey-v1 {key}"},
                json={"email_address": f"u{i}@example.com", "template_id": template,
                      "personalisation": {"name": "A", "code": i}},
            )  # fmt: skip
            answers[r.status_code] += 1

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for _ in range(CONCURRENCY):
                nursery.start_soon(worker)
    for c in clients:
        await c.aclose()
    return answers


async def _nodes_hold(database_url: str, nodes: int, *, rate: bool, **env: str) -> None:
    with tempfile.TemporaryDirectory() as folder, trio.fail_after(150):
        async with engine_processes(database_url, folder, nodes, **env) as urls:
            big = {"rate_limit": 100_000, "email_daily_limit": 10**6, "email_annual_limit": 10**7}
            # (b) a daily limit of 1,000, and (c) an annual limit of 500.
            daily = await setup_service(urls[0], **{**big, "email_daily_limit": 1000})
            annual = await setup_service(urls[0], **{**big, "email_annual_limit": 500})
            got = await _send(urls, daily[1], daily[0], 1150, 40)
            assert set(got) == {201, 429}, got
            assert 0.95 * 1000 <= got[201] <= 1000, got
            got = await _send(urls, annual[1], annual[0], 575, 30)
            assert set(got) == {201, 429}, got
            assert 0.95 * 500 <= got[201] <= 500, got
            if not rate:
                return
            # (a) a rate limit of 600 a minute: a bucket of 201 and 10 a second, for ~8 s.
            rate_limited = await setup_service(urls[0], **{**big, "rate_limit": 600})
            started = time.monotonic()
            got = await _send(urls, rate_limited[1], rate_limited[0], 10**6, 8)
            elapsed = time.monotonic() - started
            capacity, per_second = bucket_shape(600)
            most = capacity + per_second * elapsed
            assert got[201] <= 1.05 * most, (got, most)
            assert got[201] >= 0.95 * (capacity + per_second * (elapsed - 1)), (got, most)
            assert got[429] > 0, got


async def test_three_engines_hold_the_rate_daily_and_annual_limits(database_url: str) -> None:
    await _nodes_hold(database_url, 3, rate=True)


async def test_two_workers_hold_them_too(database_url: str) -> None:
    await _nodes_hold(database_url, 1, rate=False, NOTIFY_WORKERS="2")
