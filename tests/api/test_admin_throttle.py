"""The admin token guessing throttle, pure (time stepped by hand), then on a served
engine: past the limit of failed guesses a client gets 429 in the Notify envelope, even
with the right token, which is not compared."""

from __future__ import annotations

import pytest
import trio

from engine.api.admin_throttle import GuessThrottle
from engine.domain.limits import TokenBucket
from tests.conftest import ADMIN_TOKEN, RunningEngine


def test_a_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket.full(2, 0.5, now=100.0)
    bucket.take(100.0)
    bucket.take(100.0)
    assert bucket.level(100.0) == 0
    assert bucket.seconds_until_token(100.0) == pytest.approx(2.0)
    assert bucket.level(101.0) == pytest.approx(0.5)
    assert bucket.level(1000.0) == 2


def test_a_client_is_held_after_ten_failures_and_let_go_as_tokens_return() -> None:
    throttle = GuessThrottle(now=0.0)
    for _ in range(10):
        assert throttle.retry_after("10.0.0.1", 1.0) == 0
        throttle.failed("10.0.0.1", 1.0)
    assert throttle.retry_after("10.0.0.1", 1.0) == pytest.approx(6.0)
    assert throttle.retry_after("10.0.0.2", 1.0) == 0  # others are not held
    assert throttle.retry_after("10.0.0.1", 6.9) > 0
    assert throttle.retry_after("10.0.0.1", 7.0) == 0  # one token back after 6 s
    throttle.failed("10.0.0.1", 7.0)
    assert throttle.retry_after("10.0.0.1", 7.0) > 0


def test_many_addresses_guessing_together_are_held_by_the_global_bucket() -> None:
    throttle = GuessThrottle(now=0.0)
    for i in range(100):
        throttle.failed(f"10.1.{i // 250}.{i % 250}", 0.0)
    assert throttle.retry_after("192.0.2.7", 0.0) == pytest.approx(0.5)  # 2 a second
    assert throttle.retry_after("192.0.2.7", 0.5) == 0


def test_memory_is_bounded_and_full_buckets_are_forgotten_first() -> None:
    throttle = GuessThrottle(now=0.0, max_clients=3, overall=(1000, 1000.0))
    for client in ("a", "b", "c"):
        throttle.failed(client, 0.0)
    throttle.failed("d", 0.0)  # all three still draining: d is held by the global bucket only
    assert throttle.tracked() == 3
    throttle.failed("e", 60.0)  # a, b and c have refilled: forgotten, e is tracked
    assert throttle.tracked() == 1


async def test_guessing_the_admin_token_is_throttled(running_engine: RunningEngine) -> None:
    with trio.fail_after(30):
        async with running_engine.client() as client:
            for _ in range(10):
                r = await client.get(
                    "/admin/services/00000000-0000-0000-0000-000000000000",
                    headers={"Authorization": "Bearer wrong-guess"},
                )
                assert r.status_code == 403, r.text
            # Past the limit: refused before the token is looked at, the right one too.
            r = await client.post(
                "/admin/services",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                json={"name": "after guesses", "email_from": "after.guesses"},
            )
    assert r.status_code == 429, r.text
    assert r.json() == {
        "status_code": 429,
        "errors": [{
            "error": "TooManyRequestsError",
            "message": "Too many failed admin authentications; retry later",
        }],
    }  # fmt: skip


async def test_a_correct_token_is_never_throttled(running_engine: RunningEngine) -> None:
    with trio.fail_after(30):
        async with running_engine.admin() as admin:
            for _ in range(15):
                r = await admin.get("/admin/services/00000000-0000-0000-0000-000000000000")
                assert r.status_code == 404, r.text
